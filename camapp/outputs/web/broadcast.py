"""One JPEG per frame for every viewer, none when nobody watches, and never a wait for the pipeline.

The pipeline thread only offers (frame, annotated, results) to a one-item slot: O(1), no pixels
touched. An encoder thread takes the newest offer, draws the overlay if no other sink already did,
encodes it once, and publishes it under a sequence number. Each viewer's thread waits for a
sequence number newer than the one it last sent and sends the newest JPEG: a slow viewer simply
skips frames (counted), and nothing it does can reach the encoder or the pipeline.

Demand-driven: with no stream viewer and no /snapshot.jpg request waiting, offer() returns at once
and no frame is drawn or encoded. `max_fps` caps the encode rate: a 100 FPS desktop pipeline does
not need 100 JPEGs a second for a monitoring page, and the CPU it saves goes to inference.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2

from camapp.frames import Frame, Image
from camapp.results import Results

log = logging.getLogger(__name__)

Render = Callable[[Frame, Image | None, Results | None], Image]


@dataclass
class BroadcastCounters:
    offered: int = 0  # frames handed to the encoder
    replaced: int = 0  # offers replaced by a newer one before the encoder took them
    encoded: int = 0  # JPEGs produced (each one sent to every viewer)
    client_skipped: int = 0  # frames a slow viewer never got because a newer one was ready
    errors: int = 0


class FrameBroadcaster:
    def __init__(self, render: Render, quality: int = 80, max_fps: float = 15.0) -> None:
        self.render = render
        self.quality = quality
        self.period = 1.0 / max_fps if max_fps > 0 else 0.0
        self.counters = BroadcastCounters()
        self._cond = threading.Condition()
        self._pending: tuple[Frame, Image | None, Results | None] | None = None
        self._jpeg: bytes | None = None
        self._seq = 0
        self._encoded_at = 0.0
        self._viewers = 0
        self._snapshot_waiters = 0
        self._next_due = 0.0
        self._closed = False
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="camapp-web-encoder", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    # -- the pipeline side ----------------------------------------------------------------
    def offer(self, frame: Frame, annotated: Image | None, results: Results | None) -> None:
        # Unlocked reads: a stale answer costs at most one frame drawn or not drawn.
        if not (self._viewers or self._snapshot_waiters):
            return
        if self.period and not self._snapshot_waiters:
            now = time.monotonic()
            # A quarter-period of slack so a 30 FPS source is not cut to 10 FPS by jitter.
            if now < self._next_due - self.period / 4:
                return
            self._next_due = max(self._next_due, now - self.period) + self.period
        with self._cond:
            if self._pending is not None:
                self.counters.replaced += 1
            self._pending = (frame, annotated, results)
            self.counters.offered += 1
            self._cond.notify_all()

    # -- the encoder thread ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    return
                job, self._pending = self._pending, None
            assert job is not None
            jpeg = self._encode(*job)
            if jpeg is None:
                continue
            with self._cond:
                self._jpeg, self._seq, self._encoded_at = jpeg, self._seq + 1, time.monotonic()
                self.counters.encoded += 1
                self._cond.notify_all()

    def _encode(self, frame: Frame, annotated: Image | None, results: Results | None) -> bytes | None:
        try:
            image = self.render(frame, annotated, results)
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                raise RuntimeError("cv2.imencode returned no image")
        except Exception as exc:  # the web view degrades; the pipeline never hears of it
            self.counters.errors += 1
            if not self._failing:
                log.error("web view: cannot encode frame %d: %s: %s", frame.index, type(exc).__name__, exc)
                self._failing = True
            return None
        if self._failing:
            log.info("web view: encoding frames again")
            self._failing = False
        return buf.tobytes()

    # -- the viewer side ------------------------------------------------------------------
    @property
    def viewers(self) -> int:
        return self._viewers

    def add_viewer(self, limit: int) -> int | None:
        """Register a stream viewer; returns the sequence number to start after, or None if full."""
        with self._cond:
            if self._viewers >= limit:
                return None
            self._viewers += 1
            # A frame from this second is shown at once; an older one (nobody was watching) is not.
            fresh = self._jpeg is not None and time.monotonic() - self._encoded_at < 1.0
            return self._seq - 1 if fresh else self._seq

    def remove_viewer(self) -> None:
        with self._cond:
            self._viewers -= 1

    def next_frame(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """The newest JPEG once its sequence number is above `after`; None on timeout or close."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._seq > after or self._closed, timeout) or self._closed:
                return None
            assert self._jpeg is not None
            if after > 0 and self._seq > after + 1:
                self.counters.client_skipped += self._seq - after - 1
            return self._seq, self._jpeg

    def snapshot(self, timeout: float) -> bytes | None:
        """A JPEG of a current frame: the stream's newest if it is recent, else one made for this request."""
        with self._cond:
            max_age = max(2 * self.period, 0.5)
            if self._jpeg is not None and time.monotonic() - self._encoded_at <= max_age:
                return self._jpeg
            seq = self._seq
            self._snapshot_waiters += 1
            try:
                self._cond.wait_for(lambda: self._seq > seq or self._closed, timeout)
            finally:
                self._snapshot_waiters -= 1
            return self._jpeg if self._seq > seq else None

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
