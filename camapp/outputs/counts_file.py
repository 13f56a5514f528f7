"""Zone visits and line totals kept across a restart, in a small JSON file (tracking.state_file).

A people counter that forgets the day's count whenever the service restarts (an update, a power
cut, the watchdog) is not a counter. Totals are read once at start (load_counts, by the composition
root) and written here, on the output thread, whenever they changed, at most once a second, and at
close. Each write goes to a temporary file in the same folder that then replaces the old one, so
a power cut leaves the old totals or the new ones, never half a file. The default path is relative,
so the service writes into its working directory, its state folder (/var/lib/camapp).
Occupancy is not kept: whoever was in view before the restart is seen afresh.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from camapp.analytics.stage import Analytics
from camapp.atomic import write_json_atomic
from camapp.outputs.base import Delivery, SinkBase

log = logging.getLogger(__name__)

VERSION = 1
MIN_INTERVAL_S = 1.0


def load_counts(path: str) -> dict[str, Any]:
    """What a previous run saved, or nothing (no file yet, or one that cannot be read: logged)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("counts file %s cannot be read (%s): totals start from 0", path, exc)
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        log.warning("counts file %s is not a camapp counts file: totals start from 0", path)
        return {}
    return data


def save_counts(path: str, data: dict[str, Any]) -> None:
    write_json_atomic(path, data)


class CountsFileSink(SinkBase):
    def __init__(self, path: str, analytics: Analytics, min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.path = path
        self.analytics = analytics
        self.min_interval_s = min_interval_s
        self._written: dict[str, Any] | None = None
        self._last_write = 0.0

    @property
    def name(self) -> str:
        return f"CountsFile {self.path}"

    def totals(self) -> dict[str, Any]:
        state = self.analytics.state
        return {
            "version": VERSION,
            "zones": {name: {"visits": c.visits} for name, c in state.zones.items()},
            "lines": {name: c.to_dict() for name, c in state.lines.items()},
        }

    def start(self) -> None:
        self._written = self.totals()  # what was restored: nothing new to write yet

    def write(self, item: Delivery) -> None:
        now = time.monotonic()
        if now - self._last_write >= self.min_interval_s:
            self._flush(now)

    def _flush(self, now: float) -> None:
        totals = self.totals()
        if totals != self._written:
            save_counts(self.path, totals)
            self._written, self._last_write = totals, now

    def report(self) -> dict[str, Any]:
        return {"counts_file": self.path}

    def close(self) -> None:
        self._flush(time.monotonic())
