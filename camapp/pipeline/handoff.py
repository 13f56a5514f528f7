"""How items pass between the pipeline's threads (capture -> inference worker -> outputs).

Live sources use a one-item LatestSlot: a new frame replaces one the worker has not taken yet,
and the replaced frame is counted as skipped, so inference always works on the newest view and no
queue of stale frames can build up. Files use a small blocking FrameQueue, so every frame is
processed, in order, whatever the speed; it is bounded by bytes as well as by items, so 1080p
frames (6 MB each) queue fewer at a time than 640x360 ones (0.7 MB) and memory stays flat on a
512 MB board whatever the resolution. Between the worker and the output thread a FrameQueue
blocks in file mode (every annotated frame reaches the sinks) and drops its oldest item in live
mode (a slow recorder must never hold up inference).

Waiting is always on a condition variable, never a poll loop: an idle pipeline costs no CPU.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

END = None  # put() by the producer when there is nothing more to come


class LatestSlot(Generic[T]):
    """One item; put() replaces an item that was not taken yet, get() waits for one."""

    def __init__(self, on_drop: Callable[[T], None] | None = None) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._ended = False
        self._on_drop = on_drop  # gets each replaced item back, e.g. to recycle its buffers
        self.replaced = 0

    def put(self, item: T | None) -> int:
        """Store the item (or END); returns how many unconsumed items it replaced (0 or 1)."""
        with self._cond:
            if item is None:
                self._ended = True
                self._cond.notify_all()
                return 0
            old, self._item = self._item, item
            self._cond.notify_all()
            if old is None:
                return 0
            self.replaced += 1
        if self._on_drop is not None:
            self._on_drop(old)
        return 1

    def get(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting for one; None at the end (or on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._item is not None or self._ended, timeout):
                return None
            item, self._item = self._item, None
            return item

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._item is None


class FrameQueue(Generic[T]):
    """A bounded FIFO. When full, put() either waits ("block") or drops the oldest item ("drop_oldest").

    Full means `maxsize` items, or, when `size_of` is given, items whose sizes add up to
    `max_bytes` (one item is always let in, however large, so a huge frame cannot deadlock).
    Items for which `precious` is true (a model-change notice among frames) are never dropped;
    the oldest other item goes instead, or none when there is no other.
    """

    def __init__(
        self,
        maxsize: int = 4,
        overflow: Literal["block", "drop_oldest"] = "block",
        on_drop: Callable[[T], None] | None = None,
        precious: Callable[[T], bool] | None = None,
        size_of: Callable[[T], int] | None = None,
        max_bytes: int = 0,
    ) -> None:
        self.maxsize = max(1, maxsize)
        self.max_bytes = max_bytes if size_of is not None else 0
        self._size_of = size_of
        self._bytes = 0  # sum of size_of() over the queued items
        self.overflow = overflow
        self._on_drop = on_drop
        self._precious = precious
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._end_posted = False
        self._ended = False
        self.dropped = 0

    def put(self, item: T | None, stop: threading.Event | None = None) -> int:
        """Append the item (or END); returns how many items were dropped for it (0 or 1).

        In "block" mode this waits for room, giving up (without storing the item) once `stop` is
        set, so a consumer that died cannot hang the producer.
        """
        dropped: T | None = None
        with self._cond:
            if item is None:
                self._end_posted = True
                self._cond.notify_all()
                return 0
            size = self._size_of(item) if self._size_of is not None else 0
            if self.overflow == "block":
                while self._full(size):
                    if stop is not None and stop.is_set():
                        return 0
                    self._cond.wait(0.1 if stop is not None else None)
            elif self._full(size):
                dropped = self._drop_oldest()
            self._items.append(item)
            self._bytes += size
            self._cond.notify_all()
        if dropped is not None and self._on_drop is not None:
            self._on_drop(dropped)
        return 0 if dropped is None else 1

    def _full(self, incoming: int) -> bool:
        if len(self._items) >= self.maxsize:
            return True
        return bool(self.max_bytes) and bool(self._items) and self._bytes + incoming > self.max_bytes

    def _drop_oldest(self) -> T | None:
        for i, candidate in enumerate(self._items):
            if self._precious is None or not self._precious(candidate):
                del self._items[i]
                self._forget(candidate)
                self.dropped += 1
                return candidate
        return None

    def _forget(self, item: T) -> None:
        if self._size_of is not None:
            self._bytes -= self._size_of(item)

    @property
    def queued_bytes(self) -> int:
        with self._cond:
            return self._bytes

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting for one; None at the end (or on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items) or self._end_posted, timeout):
                return None
            if not self._items:
                self._ended = True
                return None
            item = self._items.popleft()
            self._forget(item)
            self._cond.notify_all()  # room for a blocked put()
            return item

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def ended(self) -> bool:
        """True once END was taken: everything put before it has been consumed."""
        with self._cond:
            return self._ended or (self._end_posted and not self._items)
