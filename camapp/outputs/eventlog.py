"""Change events as JSON lines (--events): what a shelf camera tells a script, instead of every frame."""

from __future__ import annotations

import time

from camapp.events import EventStream
from camapp.frames import Frame, Image
from camapp.outputs.jsonl import JsonLinesWriter
from camapp.results import Results


class EventLogSink:
    wants_pixels = False

    def __init__(self, target: str, events: EventStream) -> None:
        self.target = target
        self.events = events
        self.written = 0
        self._writer = JsonLinesWriter(target, "events", append=True)

    def write(self, frame: Frame, annotated: Image | None, results: Results | None, fresh: bool) -> None:
        for event in self.events.events_for(results, fresh, time.time()):
            self._writer.write(event.to_dict())
            self.written += 1
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
