"""A pseudo-terminal for tests: what a person at a terminal would see on camapp's stderr.

with Terminal() as term:            # in-process: term.stream is a text file on the terminal
    ...write to term.stream...
term.text                           # everything that reached the screen

result = run_in_terminal("run", "--source", ...)   # the real CLI, stderr on a terminal
result.code, result.stdout, result.screen
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import IO


class Terminal:
    def __init__(self, columns: int = 120, rows: int = 40) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stream: IO[str] = open(os.dup(self.slave), "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close_slave

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end is closed
                return
            if not data:
                return
            self._chunks.append(data)

    def close_slave(self) -> None:
        """Our ends of the terminal; the reader stops once a child's copies are closed too."""
        if not self.stream.closed:
            self.stream.close()
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def finish(self, timeout: float = 10) -> str:
        self.close_slave()
        self._reader.join(timeout)
        return self.text

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", "replace")

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.finish()
        os.close(self.master)


@dataclass
class TerminalResult:
    code: int
    stdout: str
    screen: str  # stderr as the terminal received it: carriage returns, erased lines and all


def run_in_terminal(*args: str, timeout: float = 180, env: dict[str, str] | None = None) -> TerminalResult:
    """camapp with stderr on a terminal (stdout stays a pipe, as in `camapp ... > out.json`)."""
    with Terminal() as term:
        proc = subprocess.Popen(
            [sys.executable, "-m", "camapp", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=term.slave,
            env={**os.environ, "TERM": "xterm", **(env or {})},
            text=True,
        )
        term.close_slave()
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        screen = term.finish()
    return TerminalResult(proc.returncode, stdout, screen)


def screen_lines(screen: str) -> list[str]:
    """What each line finally shows once carriage returns let later text overwrite earlier text
    (tqdm redraws and erases its single line that way); trailing blanks dropped."""
    out = []
    for line in screen.replace("\r\n", "\n").split("\n"):
        shown: list[str] = []
        for segment in line.split("\r"):
            shown[: len(segment)] = segment
        out.append("".join(shown).rstrip())
    return out
