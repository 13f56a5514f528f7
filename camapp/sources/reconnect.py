"""Keep a live source running for months: notice when it stops delivering, reopen it with backoff.

A USB camera that is unplugged, a network stream that drops and a Pi camera that stops answering
all look the same from here: read() returns None, raises, or simply blocks. ReconnectingSource
wraps any live Source and turns each of those into one log line, a state the status page and MQTT
can show (camapp.sources.status: state and reconnects), and new tries with capped exponential backoff,
while the pipeline keeps waiting in read() as if the camera were merely slow.

Each try runs in a session thread that owns its source until it closes it: a read that blocks
(a stalled stream, a driver waiting for a camera that is gone) cannot block the pipeline, which
gives up on the session after `stall_timeout`. An abandoned session closes its own source once
the blocking call returns, so a capture is never released by one thread while another reads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from camapp.errors import SourceError
from camapp.frames import Frame, Size
from camapp.sources.base import Source
from camapp.sources.status import SourceState, SourceStatus
from camapp.stats import PipelineStats

log = logging.getLogger(__name__)

StateCallback = Callable[[str, str], None]  # (state, one-line description) on every change


@dataclass(frozen=True)
class ReconnectOptions:
    stall_timeout: float = 5.0  # seconds without a frame (or an open that takes longer) = lost
    backoff_min: float = 0.5  # first wait before reopening; doubled after every failed try
    backoff_max: float = 30.0  # the wait never grows past this
    max_bad_frames: int = 10  # unreadable frames in a row before the source counts as lost


def backoff_delays(low: float, high: float) -> Iterator[float]:
    """low, 2 low, 4 low, ... capped at high, forever."""
    delay = low
    while True:
        yield min(delay, high)
        delay = min(delay * 2, high)


def frame_problem(frame: Frame) -> str | None:
    """Why a frame cannot go down the pipeline (None when it can): the checks a corrupt buffer fails."""
    for name, image in (("image", frame.image), ("lores image", frame.lores)):
        if image is None and name == "lores image":
            continue
        if not isinstance(image, np.ndarray):
            return f"{name} is a {type(image).__name__}, not an array"
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            return f"{name} is {image.dtype} {image.shape}, not H x W x 3 uint8"
        if image.shape[0] < 2 or image.shape[1] < 2:
            return f"{name} is empty ({image.shape[1]}x{image.shape[0]})"
    return None


class _Session:
    """One try: (open,) read until cancelled or failed, then close. Runs in its own daemon thread."""

    def __init__(self, owner: ReconnectingSource, source: Source, number: int, is_open: bool) -> None:
        self.owner = owner
        self.source = source
        self.is_open = is_open
        self.cancelled = threading.Event()
        self.failure: str | None = None  # set (under the owner's lock) when the session ends
        self.delivered = 0
        self.thread = threading.Thread(target=self._run, name=f"camapp-source-{number}", daemon=True)

    def _run(self) -> None:
        try:
            if not self.is_open:
                self.source.open()
            self._read_loop()
        except Exception as exc:  # noqa: BLE001 - any failure of a try is reported, then retried
            self.owner._session_ended(self, str(exc) or type(exc).__name__)
        finally:
            try:
                self.source.close()
            except Exception:  # noqa: BLE001 - closing a lost device may fail too; nothing to do
                log.debug("closing %s failed", self.source.source_id, exc_info=True)

    def _read_loop(self) -> None:
        bad = empty = 0
        limit = self.owner.options.max_bad_frames
        while not self.cancelled.is_set():
            try:
                frame = self.source.read()
                problem = None if frame is None else frame_problem(frame)
            except SourceError:
                raise
            except Exception as exc:  # noqa: BLE001 - a corrupt buffer: skip the frame, not the source
                frame, problem = None, f"{type(exc).__name__}: {exc}"
            if frame is None and problem is None:
                # OpenCV returns no frame both for one JPEG it cannot decode in a stream and for a
                # stream or camera that is gone (then at once, every time): only a run of them ends it.
                empty += 1
                if empty >= limit:
                    self.owner._session_ended(self, f"it returned no frame {empty} times in a row")
                    return
                continue
            if problem is not None:
                bad += 1
                self.owner._bad_frame(problem)
                if bad >= limit:
                    self.owner._session_ended(self, f"{bad} unreadable frames in a row ({problem})")
                    return
                continue
            if empty:
                # Empty reads followed by a frame were frames the decoder could not decode (a
                # corrupt JPEG in a stream), not a lost source: count them as unreadable.
                self.owner._unreadable(empty)
            bad = empty = 0
            assert frame is not None
            self.owner._deliver(self, frame)


class ReconnectingSource:
    """A live Source that never ends on its own: it reopens the inner source until stop is set."""

    def __init__(
        self,
        factory: Callable[[], Source],
        options: ReconnectOptions | None = None,
        stop: threading.Event | None = None,
        stats: PipelineStats | None = None,
        on_state: StateCallback | None = None,
        status: SourceStatus | None = None,
    ) -> None:
        self.factory = factory  # builds a fresh, unopened inner source for every try
        self.options = options or ReconnectOptions()
        self.stop = stop or threading.Event()
        self.stats = stats  # counts frames it had to skip as unreadable
        self.on_state = on_state
        self.status = status or SourceStatus()  # what it tells the page, /metrics and MQTT
        self._first: Source | None = factory()
        self.source_id = self._first.source_id
        self._current: Source = self._first
        self._cond = threading.Condition()
        self._session: _Session | None = None
        self._frame: Frame | None = None
        self._progress_at = time.monotonic()  # last frame, or start of the current try
        self._index = 0
        self._sessions = 0
        self._closed = False
        self.state = "ok"
        self.reconnects = 0  # outages that ended with frames flowing again
        self.tries = 0  # reopen attempts, successful or not
        self.dropped = 0  # frames replaced before the pipeline took them (rare: it reads in a tight loop)
        self._lost_at: float | None = None
        self._outage_tries = 0
        self._bad_logged = False

    # -- Source protocol ---------------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        return True

    @property
    def fps(self) -> float | None:
        return self._current.fps

    @property
    def size(self) -> Size | None:
        return self._current.size

    def open(self) -> None:
        """Open the first try in the caller's thread, so a source that never works fails at start."""
        assert self._first is not None, "open() once"
        self._first.open()
        self._start_session(self._first, is_open=True)
        self._first = None

    def read(self) -> Frame | None:
        """The next frame, waiting through outages; None only once stop is set or close() ran."""
        delays: Iterator[float] | None = None
        while not self._should_end():
            frame, failure = self._wait_for_frame()
            if frame is not None:
                return frame
            if self._should_end():
                break
            self._lost(failure or f"no frame for {self.options.stall_timeout:g} s")
            if delays is None:
                delays = backoff_delays(self.options.backoff_min, self.options.backoff_max)
            if self.stop.wait(next(delays)) or self._closed:
                break
            self.tries += 1
            self._outage_tries += 1
            self._start_session(self.factory(), is_open=False)
        return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            session = self._session
            self._cond.notify_all()
        if session is not None:
            session.cancelled.set()
            # A session blocked in the driver closes its source itself when the call returns.
            session.thread.join(timeout=1.0)

    # -- waiting ------------------------------------------------------------------------------
    def _should_end(self) -> bool:
        return self._closed or self.stop.is_set()

    def _wait_for_frame(self) -> tuple[Frame | None, str | None]:
        with self._cond:
            session = self._session
            while self._frame is None and not self._should_end():
                if session is None or session.failure is not None:
                    return None, session.failure if session else "no source"
                remaining = self._progress_at + self.options.stall_timeout - time.monotonic()
                if remaining <= 0:
                    return None, None
                self._cond.wait(min(remaining, 0.1))  # short: stop is an Event, not this condition
            frame, self._frame = self._frame, None
        if frame is None:
            return None, None
        frame.index = self._index  # keep counting across reconnects: indices never go back
        self._index += 1
        return frame, None

    # -- called by session threads ---------------------------------------------------------------
    def _deliver(self, session: _Session, frame: Frame) -> None:
        with self._cond:
            if session is not self._session:
                return  # an abandoned try that came back to life: its frames are not wanted
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._progress_at = time.monotonic()
            session.delivered += 1
            back = self.state != "ok"
            if back:
                self.state = "ok"  # under the lock: the next frame must not count the same recovery again
            self._cond.notify_all()
        if back:
            self._recovered()

    def _session_ended(self, session: _Session, reason: str) -> None:
        with self._cond:
            session.failure = reason
            self._cond.notify_all()

    def _unreadable(self, n: int) -> None:
        if self.stats is not None:
            self.stats.frames_unreadable(n)

    def _bad_frame(self, problem: str) -> None:
        self._unreadable(1)
        if not self._bad_logged:  # once: a camera that sends garbage would otherwise flood the journal
            log.warning("skipping unreadable frames from %s (%s); counted, not logged again", self.source_id, problem)
            self._bad_logged = True

    # -- state ----------------------------------------------------------------------------------
    def _start_session(self, source: Source, is_open: bool) -> None:
        self._sessions += 1
        session = _Session(self, source, self._sessions, is_open)
        with self._cond:
            old, self._session = self._session, session
            self._current = source
            self._frame = None
            self._progress_at = time.monotonic()
        if old is not None:
            old.cancelled.set()
        session.thread.start()

    def _lost(self, reason: str) -> None:
        if self.state == "ok":
            self._lost_at = time.monotonic()
            self._outage_tries = 0
            self._set_state("reconnecting")
            log.warning(
                "source %s stopped delivering frames (%s); reopening it every %g..%g s until it is back",
                self.source_id,
                reason,
                self.options.backoff_min,
                self.options.backoff_max,
            )
            self._notify(f"source lost ({reason}), reconnecting")
        else:
            log.debug("reopening %s failed: %s", self.source_id, reason)
        if self._session is not None:
            self._session.cancelled.set()

    def _recovered(self) -> None:
        down = time.monotonic() - (self._lost_at or time.monotonic())
        self.reconnects += 1
        self._lost_at = None
        self._set_state("ok")
        log.info("source %s is back after %.1f s (%d tries, reconnect #%d)", self.source_id, down, self._outage_tries, self.reconnects)
        self._notify(f"source back after {down:.1f} s")

    def _set_state(self, state: str) -> None:
        self.state = state
        self.status.changed(SourceState("ok" if state == "ok" else "reconnecting", self.reconnects, self._lost_at))

    def _notify(self, text: str) -> None:
        if self.on_state is not None:
            try:
                self.on_state(self.state, text)
            except Exception:  # noqa: BLE001 - a status callback must never take the source down
                log.debug("source state callback failed", exc_info=True)
