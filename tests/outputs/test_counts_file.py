"""Totals that last: zone visits and line totals written atomically while they change, and read
back by the next run (camapp.app.build_analytics)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from camapp.app import build_analytics
from camapp.config import load_config
from camapp.frames import Frame
from camapp.outputs.base import Delivery
from camapp.outputs.counts_file import CountsFileSink, load_counts
from tests.outputs.test_mqtt_zones import walk

CONFIG = """
zones:
  - {name: table, polygon: [[0.3, 0.0], [0.7, 0.0], [0.7, 1.0], [0.3, 1.0]], labels: [person], anchor: center, debounce_frames: 1}
lines:
  - {name: exit, start: [0.8, 1.0], end: [0.8, 0.0], labels: [person], anchor: center}
tracking: {min_hits: 1, state_file: STATE}
"""


def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "camapp.yaml"
    path.write_text(CONFIG.replace("STATE", str(tmp_path / "counts.json")))
    return load_config(str(path), env={})


class Feed:
    """walk() hands each frame's delivery to the counts file, as the output thread would."""

    def __init__(self, sink: CountsFileSink) -> None:
        self.sink = sink

    def write(self, item: Delivery) -> None:
        self.sink.write(item)


def test_totals_are_saved_while_they_change_and_restored_by_the_next_run(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    first = build_analytics(cfg)
    sink = CountsFileSink(str(tmp_path / "counts.json"), first, min_interval_s=0.0)
    sink.start()
    walk(Feed(sink), first, [0.1 + 0.05 * i for i in range(17)])  # through the zone and out over the line
    saved = json.loads((tmp_path / "counts.json").read_text())
    assert saved == {"version": 1, "zones": {"table": {"visits": 1}}, "lines": {"exit": {"in": 0, "out": 1}}}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".counts-")] == []  # no temporary file left
    sink.close()

    second = build_analytics(cfg)  # a restart: the same config reads the totals back
    assert second.state.zones["table"].visits == 1 and second.state.lines["exit"].exited == 1
    walk(Feed(CountsFileSink(str(tmp_path / "counts.json"), second)), second, [0.1 + 0.05 * i for i in range(17)], start=100)
    assert second.state.zones["table"].visits == 2 and second.state.lines["exit"].exited == 2


def test_a_reset_is_saved_too_although_it_sends_no_event(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    analytics = build_analytics(cfg)
    sink = CountsFileSink(str(tmp_path / "counts.json"), analytics, min_interval_s=0.0)
    sink.start()
    walk(Feed(sink), analytics, [0.1 + 0.05 * i for i in range(17)])
    analytics.reset()
    sink.write(Delivery(Frame(np.zeros((4, 4, 3), np.uint8), 99, 0, "t"), None, False))
    assert load_counts(str(tmp_path / "counts.json"))["zones"] == {"table": {"visits": 0}}


def test_writes_are_at_most_once_per_interval_and_close_writes_the_last_totals(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    analytics = build_analytics(cfg)
    sink = CountsFileSink(str(tmp_path / "counts.json"), analytics, min_interval_s=3600)
    sink.start()
    sink.write(Delivery(Frame(np.zeros((4, 4, 3), np.uint8), 0, 0, "t"), None, False))  # nothing changed: nothing written
    assert not (tmp_path / "counts.json").exists()
    walk(Feed(sink), analytics, [0.1 + 0.05 * i for i in range(17)])
    sink.close()
    assert load_counts(str(tmp_path / "counts.json"))["lines"] == {"exit": {"in": 0, "out": 1}}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": 99}'])
def test_a_file_that_cannot_be_used_is_logged_and_counting_starts_from_zero(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "counts.json").write_text(content)
    with caplog.at_level(logging.WARNING):
        analytics = build_analytics(config(tmp_path))
    assert analytics.state.zones["table"].visits == 0
    assert "totals start from 0" in caplog.text
