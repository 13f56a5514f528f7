"""How frames pass from the capture thread to the inference worker.

Live sources use a one-frame LatestSlot: a new frame replaces one the worker has not taken yet,
and the replaced frame is counted as skipped, so inference always works on the newest view and no
queue of stale frames can build up. Files use a small blocking FrameQueue, so every frame is
processed, in order, whatever the speed.
"""

from __future__ import annotations

import queue
import threading

from camapp.frames import Frame

END = None  # put() by the capture thread when the source has no more frames


class LatestSlot:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self.replaced = 0

    def put(self, frame: Frame | None) -> int:
        """Store the frame (or END); returns how many unconsumed frames it replaced (0 or 1)."""
        with self._cond:
            if frame is None:
                self._ended = True
                self._cond.notify_all()
                return 0
            dropped = 1 if self._frame is not None else 0
            self.replaced += dropped
            self._frame = frame
            self._cond.notify_all()
            return dropped

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting for one; None at the end (or on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None or self._ended, timeout):
                return None
            frame, self._frame = self._frame, None
            return frame

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._frame is None


class FrameQueue:
    def __init__(self, maxsize: int = 4) -> None:
        self._q: queue.Queue[Frame | None] = queue.Queue(maxsize)
        self._ended = False

    def put(self, frame: Frame | None, stop: threading.Event | None = None) -> int:
        """Block until there is room (or `stop` is set): file mode never drops a frame."""
        while True:
            try:
                self._q.put(frame, timeout=0.1)
                return 0
            except queue.Full:
                if stop is not None and stop.is_set():
                    return 0

    def get(self, timeout: float | None = None) -> Frame | None:
        if self._ended:
            return None
        try:
            frame = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if frame is None:
            self._ended = True
        return frame

    @property
    def ended(self) -> bool:
        return self._ended
