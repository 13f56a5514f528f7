"""Slow output work behind a small bounded queue and its own thread, so it never stalls the pipeline.

The inference worker calls sinks inline; anything that may block (a broker that is down, a full
disk, a JPEG encode for an MQTT snapshot) is handed to a BackgroundWorker instead. When the queue
is full the OLDEST item is dropped and counted: for events and snapshots the newest ones matter
most, and a burst after an outage should describe now, not the start of the outage. Failures are
logged once per change of state (working -> dropping -> working), not once per item, so a broker
that is down for a night does not fill the journal.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()  # put by close(): the thread ends once it reaches it


@dataclass
class WorkerCounters:
    """What /metrics reports for each background output."""

    submitted: int = 0
    done: int = 0
    dropped: int = 0  # items thrown away because the queue was full (or closed)
    errors: int = 0  # items whose handler raised


class BackgroundWorker(Generic[T]):
    """Run handler(item) on a thread, in order, for items submitted from the pipeline."""

    def __init__(self, name: str, handler: Callable[[T], None], maxsize: int = 32) -> None:
        self.name = name
        self.handler = handler
        self.counters = WorkerCounters()
        self._q: queue.Queue[object] = queue.Queue(maxsize=max(1, maxsize))
        self._lock = threading.Lock()
        self._dropping = False
        self._failing = False
        self._closed = False
        # time.monotonic() when the handler took the current item, None while idle: read by
        # /healthz and the watchdog (PipelineStats.watch) to tell a frozen disk from a slow one.
        self.busy_since: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"camapp-{name}", daemon=True)

    def start(self) -> BackgroundWorker[T]:
        """Start the thread (items submitted before wait for it). Returns the worker, for chaining."""
        if not self._thread.is_alive() and not self._closed:
            self._thread.start()
        return self

    def submit(self, item: T) -> bool:
        """Queue an item without ever blocking; False when an item had to be dropped for it."""
        with self._lock:
            if self._closed:
                self.counters.dropped += 1
                return False
            self.counters.submitted += 1
            dropped = False
            while True:
                try:
                    self._q.put_nowait(item)
                    break
                except queue.Full:
                    try:
                        self._q.get_nowait()  # the oldest item makes room for the newest
                        self._q.task_done()
                        self.counters.dropped += 1
                        dropped = True
                    except queue.Empty:
                        pass
            if dropped and not self._dropping:
                log.warning("%s: queue full, dropping the oldest items until it catches up", self.name)
                self._dropping = True
            return not dropped

    def _run(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is _STOP:
                    return
                self.busy_since = time.monotonic()
                self._handle(item)  # type: ignore[arg-type]
            finally:
                self.busy_since = None
                self._q.task_done()
            self._note_caught_up()

    def _note_caught_up(self) -> None:
        with self._lock:
            if self._dropping and self._q.empty():
                self._dropping = False
                log.info("%s: caught up, no longer dropping (%d dropped so far)", self.name, self.counters.dropped)

    def _handle(self, item: T) -> None:
        try:
            self.handler(item)
        except Exception as exc:  # a broken output degrades itself; it never reaches the pipeline
            with self._lock:
                self.counters.errors += 1
            if not self._failing:
                log.error("%s failed: %s: %s (will keep trying with new items)", self.name, type(exc).__name__, exc)
            self._failing = True
            return
        with self._lock:
            self.counters.done += 1
        if self._failing:
            log.info("%s: working again", self.name)
            self._failing = False

    @property
    def pending(self) -> int:
        return self._q.qsize()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until every queued item has been handled; True if so."""
        deadline = time.monotonic() + timeout
        while self._q.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Finish what is queued (up to `timeout` seconds), then stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if not self._thread.is_alive():
            return  # never started: nothing runs, nothing to wait for
        try:
            self._q.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("%s: still busy after %.0f s; %d items not written", self.name, timeout, self._q.qsize())
            return
        self._thread.join(timeout)
