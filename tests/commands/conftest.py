"""Run the real command line as a user would: a separate process, real files, real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def error_lines(self) -> list[str]:
        """stderr lines written by camapp itself (the runtime's own INFO banner is not ours)."""
        return [ln for ln in self.stderr.splitlines() if ln.startswith("camapp")]


def run_camapp(*args: str, timeout: float = 180, env: dict[str, str] | None = None) -> CliResult:
    proc = subprocess.run(
        [sys.executable, "-m", "camapp", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def camapp_cli():
    return run_camapp


def assert_one_line_error(result: CliResult, code: int, *words: str) -> None:
    """The contract for bad input: the given exit code, one 'camapp: error:' line, no traceback."""
    assert result.code == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [ln for ln in result.error_lines if ln.startswith("camapp: error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
