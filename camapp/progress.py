"""Progress lines for long work (file runs, benchmarks, model downloads): the one place that draws them.

A progress line is for a person watching a terminal. When stderr is not a terminal (a systemd
service, a pipe, a log file, CI) nothing at all is written, not even a carriage return, so logs
and captured output stay clean. Lines are drawn by tqdm (already a dependency), at most a few
times per second, and erased when the work ends, so the summary line that follows starts on a
clean line. While a line is shown, log records are written above it instead of through it.

Nothing here is on a hot path: a file run is watched from a separate thread that polls a counter
(`watch`), and benchmarks advance once per step, never per invoke.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

REFRESH_S = 0.25  # at most four redraws a second: readable, and costs nothing measurable


def wanted(stream: IO[str] | None = None, quiet: bool = False) -> bool:
    """Progress only for a person at a terminal: not under --quiet, a pipe, a service or TERM=dumb."""
    stream = sys.stderr if stream is None else stream
    if quiet or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return False


class Progress:
    """One progress line on stderr, or nothing at all when `wanted()` says no.

    `total` may be None (a looping file, a download without a length): the line then shows the
    count and the rate but no ETA.
    """

    def __init__(
        self,
        desc: str,
        total: float | None = None,
        unit: str = "it",
        *,
        in_bytes: bool = False,
        stream: IO[str] | None = None,
        quiet: bool = False,
        draw_now: bool = True,
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._enabled = wanted(self._stream, quiet)
        self._settings = {
            "total": total,
            "desc": desc,
            "unit": unit,
            "unit_scale": in_bytes,
            "unit_divisor": 1024 if in_bytes else 1000,
        }
        self._bar: Any = None
        self._logs = contextlib.ExitStack()
        self.done: float = 0  # an int while only ints are added: tqdm shows "17/40", not "17.0/40"
        # draw_now=False: the line first appears with the first update or describe. LiteRT prints
        # its "Created TensorFlow Lite XNNPACK delegate" banner straight to fd 2 when the first
        # interpreter is made, and it would land in the middle of a line drawn before that.
        if self._enabled and draw_now:
            self._start()

    def _start(self) -> Any:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                **self._settings,
                initial=self.done,
                file=self._stream,
                leave=False,  # erased at the end: the summary line replaces it
                mininterval=REFRESH_S,
                dynamic_ncols=True,
                smoothing=0.1,  # FPS and ETA from the recent rate, but steady enough to read
            )
            self._logs.enter_context(_logs_above(self._bar, self._stream))
        return self._bar

    @property
    def enabled(self) -> bool:
        return self._enabled

    def update(self, n: float = 1) -> None:
        self.done += n
        if self._enabled:
            self._start().update(n)

    def set(self, done: float) -> None:
        """The absolute count (for a watcher that polls a counter)."""
        self.update(done - self.done)

    def describe(self, text: str) -> None:
        """What is being worked on now, drawn at once: called once per step of work (a model, a
        variant), never per frame or invoke, so a stale description would sit there for the whole step."""
        if not self._enabled:
            return
        if self._bar is None:
            self._settings["desc"] = text
            self._start()
        else:
            self._bar.set_description_str(text, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()  # leave=False: the line is erased
            self._bar = None
        self._logs.close()
        self._enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@contextlib.contextmanager
def watch(count: Callable[[], int], desc: str, total: int | None, unit: str = "frame") -> Iterator[Progress]:
    """A progress line fed by polling `count()` from its own thread, so the work itself never waits."""
    with Progress(desc, total, unit) as bar:
        if not bar.enabled:
            yield bar
            return
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(REFRESH_S):
                bar.set(count())

        thread = threading.Thread(target=poll, name="camapp-progress", daemon=True)
        thread.start()
        try:
            yield bar
        finally:
            stop.set()
            thread.join()


class _AboveBar:
    """A stream that writes log records above the progress line instead of through it."""

    def __init__(self, bar: Any, stream: IO[str]) -> None:
        self._bar, self._stream = bar, stream

    def write(self, text: str) -> None:
        self._bar.write(text, file=self._stream, end="")

    def flush(self) -> None:
        self._stream.flush()


@contextlib.contextmanager
def _logs_above(bar: Any, stream: IO[str]) -> Iterator[None]:
    """Point the root logger's handlers for this stream through the bar for as long as it is shown.
    A handler replaced meanwhile (config reload) is left as it is."""
    wrapper = _AboveBar(bar, stream)
    swapped = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
            handler.setStream(wrapper)  # type: ignore[arg-type]  # file-like is all it needs
            swapped.append(handler)
    try:
        yield
    finally:
        for handler in swapped:
            if handler.stream is wrapper:
                handler.setStream(stream)
