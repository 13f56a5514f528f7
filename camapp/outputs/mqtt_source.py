"""MQTT availability that follows the camera: "offline" while a lost live source is being reopened.

The MQTT sink only sees frames, and a lost source sends none, so the outage cannot be noticed in
write(). Instead it observes the source status (camapp.sources.status, written by the
reconnecting source) and publishes on each change. The observer runs on the source's thread and
only hands retained messages to paho, which queues them without blocking.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from camapp.sources.status import SourceStatus

Publish = Callable[[str, str], None]  # (topic, payload), retained


class SourceAvailability:
    def __init__(self, source: SourceStatus | None, status_topic: str, source_topic: str, publish: Publish,
                 connected: threading.Event) -> None:
        self.source = source or SourceStatus()  # without one (a sink used on its own) the source is always "ok"
        self.status_topic = status_topic
        self.source_topic = source_topic
        self.publish = publish
        self.connected = connected
        self._lock = threading.Lock()  # one publisher at a time: this thread or paho's on_connect
        self._sent: str | None = None  # the source state the broker was last told
        self._closed = False

    def start(self) -> None:
        self.source.observe(lambda _state: self.sync())

    @property
    def state(self) -> str:
        return self.source.current.state

    def availability(self) -> str:
        return "online" if self.state == "ok" else "offline"

    def sync(self, force: bool = False) -> None:
        """Publish status and source when the state changed, or always (force: a fresh connection)."""
        if self._closed:
            return
        with self._lock:
            state = self.state
            if not self.connected.is_set() or (state == self._sent and not force):
                return
            self.publish(self.status_topic, self.availability())
            self.publish(self.source_topic, json.dumps(self.describe(state), separators=(",", ":")))
            self._sent = state

    def describe(self, state: str) -> dict[str, Any]:
        current = self.source.current
        body: dict[str, Any] = {"state": state, "reconnects": current.reconnects}
        lost = current.lost_at
        if state != "ok" and lost is not None:
            body["since"] = round(time.time() - (time.monotonic() - lost), 3)  # wall clock, for people and HA
        return body

    def close(self) -> None:
        self._closed = True
