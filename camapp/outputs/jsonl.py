"""One JSON line per processed frame, to a file or stdout."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from camapp.errors import OutputError
from camapp.frames import Frame, Image
from camapp.results import Results


class JsonLinesWriter:
    """A JSON-lines file, or stdout for '-'.

    Line buffered: every line reaches the disk (or the pipe) as it is written, so an interrupted
    run keeps everything it produced.
    """

    def __init__(self, target: str, what: str = "results", append: bool = False) -> None:
        self.target = target
        if target == "-":
            self._file: IO[str] = sys.stdout
            return
        try:
            self._file = open(target, "a" if append else "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as exc:
            raise OutputError(f"cannot write {what} to '{target}': {exc.strerror}", "check the folder exists and is writable") from exc

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        if self._file is sys.stdout:
            self._file.flush()

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()


class JsonLinesSink:
    wants_pixels = False

    def __init__(self, target: str) -> None:
        self.target = target
        self._writer = JsonLinesWriter(target)

    def write(self, frame: Frame, annotated: Image | None, results: Results | None, fresh: bool) -> None:
        if results is None or not fresh:
            return
        self._writer.write(results.to_dict())
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
