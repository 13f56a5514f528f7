"""A sink that fails (full disk, folder removed, broker gone) degrades itself instead of ending the run.

A service that runs for months will meet a full SD card. Saving snapshots is then impossible, but
inference, the status page and MQTT still work, so the failing output is switched off with one
log line, tried again every `retry_after` seconds (log rotation or an operator may free space),
and announced once more when it works again.
"""

from __future__ import annotations

import logging
import time

from camapp.outputs.base import Delivery, ModelChange, Sink, SinkBase

log = logging.getLogger(__name__)


class GuardedSink(SinkBase):
    def __init__(self, sink: Sink, retry_after: float = 60.0) -> None:
        self.sink = sink
        self._name = sink.name
        self.retry_after = retry_after
        self.wants_pixels = sink.wants_pixels  # type: ignore[misc]
        self.failed_at: float | None = None  # time.monotonic() of the failure while degraded
        self.failures = 0  # frames the sink could not take
        self.last_error = ""

    @property
    def name(self) -> str:
        return self._name

    @property
    def degraded(self) -> bool:
        return self.failed_at is not None

    def write(self, item: Delivery) -> None:
        now = time.monotonic()
        if self.failed_at is not None and now - self.failed_at < self.retry_after:
            self.failures += 1
            return
        try:
            self.sink.write(item)
        except Exception as exc:  # noqa: BLE001 - whatever broke the output, the pipeline goes on
            self._failed(now, exc)
            return
        if self.failed_at is not None:
            log.info("output %s works again after %d skipped frames", self._name, self.failures)
            self.failed_at, self.failures = None, 0

    def _failed(self, now: float, exc: Exception) -> None:
        self.failures += 1
        first = self.failed_at is None
        self.failed_at = now
        self.last_error = str(exc) or type(exc).__name__
        if first:
            log.error("output %s failed: %s; stopped it, trying again every %g s", self._name, self.last_error, self.retry_after)
        else:
            log.debug("output %s still failing: %s", self._name, self.last_error)

    def start(self) -> None:
        self.sink.start()  # a sink that cannot start stops the run at once: nothing has run yet

    def model_changed(self, change: ModelChange) -> None:
        try:
            self.sink.model_changed(change)
        except Exception as exc:  # noqa: BLE001 - an output's hook must not stop the model change
            log.error("output %s did not take the model change: %s", self._name, exc)

    def close(self) -> None:
        try:
            self.sink.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort at shutdown
            log.error("output %s did not close cleanly: %s", self._name, exc)
