"""Change events as JSON lines (--events): what a shelf camera tells a script, instead of every frame."""

from __future__ import annotations

import json
import sys
import time
from typing import IO

from camapp.errors import OutputError
from camapp.events import EventStream
from camapp.frames import Frame, Image
from camapp.results import Results


class EventLogSink:
    wants_pixels = False

    def __init__(self, target: str, events: EventStream) -> None:
        self.target = target
        self.events = events
        self.written = 0
        if target == "-":
            self._file: IO[str] = sys.stdout
        else:
            try:
                # Line buffered: each event is on disk (or in the pipe) as soon as it happens.
                self._file = open(target, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as exc:
                raise OutputError(f"cannot write events to '{target}': {exc.strerror}", "check the folder exists and is writable") from exc

    def write(self, frame: Frame, annotated: Image | None, results: Results | None, fresh: bool) -> None:
        for event in self.events.events_for(results, fresh, time.time()):
            self._file.write(json.dumps(event.to_dict(), separators=(",", ":")) + "\n")
            self.written += 1
        if self._file is sys.stdout:
            self._file.flush()

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()
