"""MQTT availability that follows the camera: "offline" while a lost live source is being reopened.

The MQTT sink only sees frames, and a lost source sends none, so the outage cannot be noticed in
write(). A small thread of its own compares PipelineStats.source_state (written by
sources.reconnect.ReconnectingSource) with what the broker was last told, a few times a second,
and publishes only on a change. It never touches the pipeline: it reads three attributes and
hands retained messages to paho, which queues them without blocking.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from camapp.stats import PipelineStats

POLL_S = 0.2  # how soon a change of the source state reaches the broker

Publish = Callable[[str, str], None]  # (topic, payload), retained


class SourceAvailability:
    def __init__(self, stats: PipelineStats | None, status_topic: str, source_topic: str, publish: Publish,
                 connected: threading.Event) -> None:
        self.stats = stats
        self.status_topic = status_topic
        self.source_topic = source_topic
        self.publish = publish
        self.connected = connected
        self._lock = threading.Lock()  # one publisher at a time: this thread or paho's on_connect
        self._sent: str | None = None  # the source state the broker was last told
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camapp-mqtt-source", daemon=True)

    def start(self) -> None:
        if self.stats is not None:  # without stats (a sink used on its own) the source is always "ok"
            self._thread.start()

    @property
    def state(self) -> str:
        return self.stats.source_state if self.stats is not None else "ok"

    def availability(self) -> str:
        return "online" if self.state == "ok" else "offline"

    def sync(self, force: bool = False) -> None:
        """Publish status and source when the state changed, or always (force: a fresh connection)."""
        with self._lock:
            state = self.state
            if not self.connected.is_set() or (state == self._sent and not force):
                return
            self.publish(self.status_topic, self.availability())
            self.publish(self.source_topic, json.dumps(self.describe(state), separators=(",", ":")))
            self._sent = state

    def describe(self, state: str) -> dict[str, Any]:
        body: dict[str, Any] = {"state": state, "reconnects": self.stats.reconnects if self.stats else 0}
        lost = self.stats.source_lost_at if self.stats else None
        if state != "ok" and lost is not None:
            body["since"] = round(time.time() - (time.monotonic() - lost), 3)  # wall clock, for people and HA
        return body

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self.sync()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
