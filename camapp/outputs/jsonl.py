"""One JSON line per processed frame, to a file or stdout."""

from __future__ import annotations

import json
import sys
from typing import IO

from camapp.errors import OutputError
from camapp.frames import Frame, Image
from camapp.results import Results


class JsonLinesSink:
    wants_pixels = False

    def __init__(self, target: str) -> None:
        self.target = target
        if target == "-":
            self._file: IO[str] = sys.stdout
        else:
            try:
                # Line buffering: every line reaches the disk as it is written, so an interrupted
                # run keeps everything it produced.
                self._file = open(target, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as exc:
                raise OutputError(f"cannot write results to '{target}': {exc.strerror}", "check the folder exists and is writable") from exc

    def write(self, frame: Frame, annotated: Image | None, results: Results | None, fresh: bool) -> None:
        if results is None or not fresh:
            return
        self._file.write(json.dumps(results.to_dict(), separators=(",", ":")) + "\n")
        if self._file is sys.stdout:
            self._file.flush()

    def close(self) -> None:
        if self._file is not sys.stdout:
            self._file.close()
