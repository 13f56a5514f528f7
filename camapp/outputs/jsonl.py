"""One JSON line per processed frame, to a file or stdout."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from camapp.errors import OutputError
from camapp.outputs.base import Delivery, SinkBase
from camapp.outputs.naming import create_new_file

log = logging.getLogger(__name__)


class JsonLinesWriter:
    """A JSON-lines file (a new one, or appended to), or stdout for '-'.

    Every line is one os.write() as it is made, so an interrupted run keeps everything it
    produced, and only whole lines: a write the disk cannot take (full, or failing) is cut back
    to the end of the last complete line before the error is raised, so a reader never meets half
    a record. A file to append to that ends in half a line (a power cut) gets that tail cut off.
    """

    def __init__(self, target: str, what: str = "results", append: bool = False) -> None:
        self.target = self.path = target
        self.what = what
        self._fd: int | None = None
        if target == "-":
            return
        try:
            if append:
                self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
            else:
                self._fd, self.path = create_new_file(target)
            self._end = os.fstat(self._fd).st_size
        except OSError as exc:
            raise OutputError(f"cannot write {what} to '{target}': {exc.strerror}", "check the folder exists and is writable") from exc
        if self._end:
            self._drop_half_line()

    def _drop_half_line(self) -> None:
        assert self._fd is not None
        start = max(0, self._end - 65536)
        with open(self.path, "rb") as f:
            f.seek(start)
            tail = f.read()
        newline = tail.rfind(b"\n")
        if newline == len(tail) - 1 or (newline < 0 and start > 0):
            return  # whole lines, or one line longer than 64 KB: leave the file alone
        cut = start + newline + 1
        os.ftruncate(self._fd, cut)
        log.warning("%s ended in half a line (%d bytes, from a run that was cut off): removed it", self.path, self._end - cut)
        self._end = cut

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        if self._fd is None:
            sys.stdout.write(line)
            return
        data = line.encode("utf-8")
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # a short write: the disk took part of the line
                written += os.write(self._fd, data[written:])
        except OSError as exc:
            self._cut_back()
            raise OutputError(
                f"cannot write {self.what} to '{self.path}': {exc.strerror or exc}; it ends with the last complete line",
                "free some space; lines are written again once it has room",
            ) from exc
        self._end += len(data)

    def _cut_back(self) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._end)
        except OSError as exc:
            log.error("could not remove half a line from %s: %s", self.path, exc.strerror or exc)

    def flush(self) -> None:
        if self._fd is None:
            sys.stdout.flush()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class JsonLinesSink(SinkBase):
    def __init__(self, target: str) -> None:
        self._writer = JsonLinesWriter(target)
        self.target = self._writer.path  # the file written (numbered when the name was taken)

    @property
    def name(self) -> str:
        return f"results {self.target}"

    def write(self, item: Delivery) -> None:
        if item.results is None or not item.fresh:
            return
        self._writer.write(item.results.to_dict())
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
