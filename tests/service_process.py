"""Helpers for service tests: `camapp run` as a real process, and a real systemd NOTIFY_SOCKET.

NotifySocket is what systemd does for a Type=notify unit, minus systemd: an AF_UNIX datagram
socket whose address goes into the child's $NOTIFY_SOCKET; every datagram the child sends is kept
with the time it arrived. CamappProcess starts `python -m camapp run ...`, keeps its stderr in a
file (a pipe could fill up and block the child), and stops it with a real SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition", proc: CamappProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"camapp exited with {proc.poll()} while waiting for {what}:\n{proc.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f":\n{proc.log()}" if proc else ""))
        time.sleep(0.05)


class NotifySocket:
    """An sd_notify receiver; abstract=True uses the Linux abstract namespace ('@name')."""

    def __init__(self, folder: Path | None = None, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"camapp-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            assert folder is not None
            path = folder / "notify.sock"
            self.sock.bind(str(path))
            self.address = str(path)
        self.sock.settimeout(0.2)
        self.received: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.received.append((time.monotonic(), data.decode()))

    def messages(self, since: float = 0.0) -> list[str]:
        with self._lock:
            return [m for t, m in self.received if t >= since]

    def fields(self, since: float = 0.0) -> list[str]:
        """Every KEY=VALUE line received, in order."""
        return [line for m in self.messages(since) for line in m.split("\n")]

    def count(self, line: str, since: float = 0.0) -> int:
        return self.fields(since).count(line)

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        self._thread.join(timeout=2)


class CamappProcess:
    def __init__(self, args: list[str], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.stderr_path = workdir / "camapp-stderr.log"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        # A clean environment for what matters: no systemd variables leak in from the test runner.
        base = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "JOURNAL_STREAM")
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "camapp", *args],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            env={**base, **(env or {})},
            cwd=workdir,
        )
        self.pid = self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def send(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> tuple[int, float]:
        """SIGTERM, then wait; returns (exit code, seconds it took). Kills it (and fails) on a timeout."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"camapp did not stop within {timeout} s of SIGTERM:\n{self.log()}") from None
        finally:
            self._stderr.close()
        return code, time.monotonic() - t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSON lines file that is still being written."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in lines if line.strip()]
