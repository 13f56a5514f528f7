"""Change events as JSON lines (--events): what a shelf camera tells a script, instead of every frame."""

from __future__ import annotations

from camapp.outputs.base import Delivery, SinkBase
from camapp.outputs.jsonl import JsonLinesWriter


class EventLogSink(SinkBase):
    def __init__(self, target: str) -> None:
        self.target = target
        self.written = 0
        self._writer = JsonLinesWriter(target, "events", append=True)

    @property
    def name(self) -> str:
        return f"events {self.target}"

    def write(self, item: Delivery) -> None:
        for event in item.events:
            self._writer.write(event.to_dict())
            self.written += 1
        if item.events:
            self._writer.flush()

    def close(self) -> None:
        self._writer.close()
