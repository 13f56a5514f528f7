"""The zones:, lines: and tracking: keys: validated at load, every error naming the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from camapp.app import detection_threshold, tracker_options
from camapp.config import load_config
from camapp.errors import ConfigError

TABLE = "zones:\n  - name: table\n    polygon: [[0.3, 0.0], [0.8, 0.0], [0.8, 1.0], [0.3, 1.0]]\n    labels: [person]\n"
EXIT = "lines:\n  - name: exit\n    start: [0.8, 0.0]\n    end: [0.8, 1.0]\n"


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "camapp.yaml"
    path.write_text(text)
    return load_config(str(path), env={})


def test_the_issue_example_loads_and_turns_tracking_and_the_counts_file_on(tmp_path: Path) -> None:
    cfg = load(tmp_path, TABLE + EXIT)
    zone, line = cfg.zones[0], cfg.lines[0]
    assert (zone.name, zone.polygon[1], zone.labels) == ("table", (0.8, 0.0), ["person"])
    assert (zone.anchor, zone.events) == ("bottom_center", "tracks")
    assert (line.start, line.end, line.labels) == ((0.8, 0.0), (0.8, 1.0), [])  # no labels: any label
    assert cfg.tracking_on and cfg.tracking.state_file == "camapp-counts.json"
    assert not load(tmp_path, "").tracking_on and load(tmp_path, "").tracking.state_file is None
    # The web page's controls can draw zones while running: their totals are kept the same way.
    web = load(tmp_path, "http:\n  listen: 127.0.0.1:8080\n  token: t0ken\n")
    assert not web.tracking_on and web.tracking.state_file == "camapp-counts.json"
    assert load(tmp_path, TABLE + "tracking:\n  state_file: null\n").tracking.state_file is None  # counts not kept
    assert not load(tmp_path, TABLE + "tracking:\n  enabled: false\n").tracking_on


def test_with_tracking_the_detector_reports_weak_boxes_that_only_continue_tracks(tmp_path: Path) -> None:
    cfg = load(tmp_path, TABLE + "model:\n  threshold: 0.6\ntracking:\n  low_threshold: 0.25\n")
    assert detection_threshold(cfg) == 0.25
    options = tracker_options(cfg)
    assert (options.high, options.low) == (0.6, 0.25)
    assert detection_threshold(load(tmp_path, "model:\n  threshold: 0.6\n")) == 0.6  # no tracking: as set


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("zones: [{name: a, polygon: [[0, 0], [1, 0]]}]", "zones.0.polygon", "at least three"),
        ("zones: [{name: a, polygon: [[0, 0], [1.2, 0], [1, 1]]}]", "zones.0.polygon", "outside the frame"),
        ("zones: [{name: a, polygon: [[0, 0], [0.5, 0.5], [1, 1]]}]", "zones.0.polygon", "no area"),
        ("zones: [{name: a, polygon: [[0, 0], [640, 0], [640, 480]]}]", "zones.0.polygon", "0 (left, top) to 1"),
        ("zones: [{name: 'a b', polygon: [[0, 0], [1, 0], [1, 1]]}]", "zones.0.name", "letters, digits"),
        ("zones: [{name: a, polygon: [[0, 0], [1, 0], [1, 1]], anchor: top}]", "zones.0.anchor", "'bottom_center' or 'center'"),
        ("zones: [{name: a, polygon: [[0, 0], [1, 0], [1, 1]], colour: red}]", "zones.0.colour", "allowed keys here"),
        ("zones: [{name: a, polygon: [[0, 0], [1, 0], [1, 1]]}, {name: a, polygon: [[0, 0], [1, 0], [1, 1]]}]", "zones", "used twice"),
        ("lines: [{name: x, start: [0, 0], end: [0, 0]}]", "lines.0", "same point"),
        ("lines: [{name: x, start: [0, 0, 1], end: [1, 1]}]", "lines.0.start", "[x, y]"),
        ("tracking: {max_age: 0}", "tracking.max_age", "greater than 0"),
    ],
)
def test_bad_zones_and_lines_are_one_error_naming_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text + "\n")
    assert f"'{key}'" in err.value.message and "line 1" in err.value.message
    assert words in err.value.message + (err.value.hint or "")
