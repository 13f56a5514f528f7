"""A sink that fails (full disk, folder removed, broker gone) degrades itself instead of ending the run.

A service that runs for months will meet a full SD card. Saving snapshots is then impossible, but
inference, the status page and MQTT still work, so the failing output is switched off with one
log line, tried again every `retry_after` seconds (log rotation or an operator may free space),
and announced once more when it works again.
"""

from __future__ import annotations

import logging
import time

from camapp.frames import Frame, Image
from camapp.outputs.base import Sink
from camapp.results import Results

log = logging.getLogger(__name__)


class GuardedSink:
    def __init__(self, sink: Sink, name: str | None = None, retry_after: float = 60.0) -> None:
        self.sink = sink
        self.name = name or type(sink).__name__
        self.retry_after = retry_after
        self.wants_pixels = sink.wants_pixels
        self.failed_at: float | None = None  # time.monotonic() of the failure while degraded
        self.failures = 0  # frames the sink could not take
        self.last_error = ""

    @property
    def degraded(self) -> bool:
        return self.failed_at is not None

    def write(self, frame: Frame, annotated: Image | None, results: Results | None, fresh: bool) -> None:
        now = time.monotonic()
        if self.failed_at is not None and now - self.failed_at < self.retry_after:
            self.failures += 1
            return
        try:
            self.sink.write(frame, annotated, results, fresh)
        except Exception as exc:  # noqa: BLE001 - whatever broke the output, the pipeline goes on
            self._failed(now, exc)
            return
        if self.failed_at is not None:
            log.info("output %s works again after %d skipped frames", self.name, self.failures)
            self.failed_at, self.failures = None, 0

    def _failed(self, now: float, exc: Exception) -> None:
        self.failures += 1
        first = self.failed_at is None
        self.failed_at = now
        self.last_error = str(exc) or type(exc).__name__
        if first:
            log.error("output %s failed: %s; stopped it, trying again every %g s", self.name, self.last_error, self.retry_after)
        else:
            log.debug("output %s still failing: %s", self.name, self.last_error)

    def close(self) -> None:
        try:
            self.sink.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort at shutdown
            log.error("output %s did not close cleanly: %s", self.name, exc)
