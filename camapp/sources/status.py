"""The live source's state, for whoever shows or reports it: a typed value and its observers.

The reconnecting source (camapp.sources.reconnect) is the only writer. The web page's health
and status, /metrics, MQTT availability and the service's stats line read `current`; MQTT also
observes changes, so it tells the broker at once instead of polling. Observers run on the
source's thread and must not block (MQTT only queues messages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceState:
    state: Literal["ok", "reconnecting"] = "ok"
    reconnects: int = 0  # times a lost live source was opened again and delivered frames
    lost_at: float | None = None  # time.monotonic() when the current outage began

    @property
    def up(self) -> bool:
        return self.state == "ok"


class SourceStatus:
    def __init__(self) -> None:
        self.current = SourceState()  # replaced whole (one attribute store): readers need no lock
        self._observers: list[Callable[[SourceState], None]] = []

    def observe(self, observer: Callable[[SourceState], None]) -> None:
        self._observers.append(observer)

    def changed(self, state: SourceState) -> None:
        self.current = state
        for observer in list(self._observers):
            try:
                observer(state)
            except Exception:  # noqa: BLE001 - an observer must never take the source down
                log.exception("a source state observer failed")
