"""Tracks, zones and lines on the shared clips against ground truth made by looking at them.

The ground truth is in tests/analytics/data (times of every visit and every slot change, how it
was made, and the config the run uses). Each test runs `camapp run` on the whole clip with the real
SSD-MobileNet V1, exactly as a user would, and checks the events file: the counts exactly, the
times within what debouncing and a lost track's grace period allow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

DATA = Path(__file__).parent / "data"
MODEL = "ssd_mobilenet_v1_coco_quant"
# A change is seen once the detector sees it and it has held (debounce); an object that is gone is
# gone once its track expires (tracking.max_age, 1.5 s). Hands covering a bottle delay the rest.
LATE_S = 2.5
EARLY_S = 0.5
WALK_OUT_S = 1.0


def _run(videos_dir: Path, tmp_path: Path, truth: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    config = {**truth["config"], "tracking": {"state_file": str(tmp_path / "counts.json")}}
    (tmp_path / "camapp.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "camapp", "run", "--config", str(tmp_path / "camapp.yaml"), "--model", MODEL,
         "--source", str(videos_dir / truth["clip"]),
         "--events", str(tmp_path / "events.jsonl"), "--output", str(tmp_path / "results.jsonl")],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    return events, results, json.loads((tmp_path / "counts.json").read_text())


def _seconds(event: dict[str, Any], fps: float) -> float:
    return float(event["frame"]) / fps


def _near(seen: float, truth: float) -> bool:
    return truth - EARLY_S <= seen <= truth + LATE_S


@pytest.mark.slow
def test_people_clip_counts_every_visit_at_the_table_and_every_exit_to_the_right(videos_dir: Path, tmp_path: Path) -> None:
    truth = yaml.safe_load((DATA / "people_visits.yaml").read_text())
    visits = truth["visits"]
    events, results, saved = _run(videos_dir, tmp_path, truth)
    fps = 10.0

    entered = [e for e in events if e["event"] == "zone_entered"]
    left = [e for e in events if e["event"] == "zone_left"]
    crossed = [e for e in events if e["event"] == "line_crossed"]
    assert len(entered) == len(left) == len(visits) == 6
    assert [e["direction"] for e in crossed] == ["out"] * len([v for v in visits if v["exit"] == "right"])
    for visit, came, went, out in zip(visits, entered, left, crossed, strict=True):
        assert _near(_seconds(came, fps), visit["arrive"]), (came, visit)
        # The table zone is left and the line at x = 0.8 crossed during the walk out, which takes
        # about a second before the last frame at the edge ("leave").
        assert visit["leave"] - WALK_OUT_S <= _seconds(went, fps) <= visit["leave"] + LATE_S, (went, visit)
        assert visit["leave"] - WALK_OUT_S <= _seconds(out, fps) <= visit["leave"] + LATE_S, (out, visit)
        # One id per visit: the one that entered is the one that left and crossed the line.
        assert came["track_id"] == went["track_id"] == out["track_id"]
        assert abs(went["dwell_s"] - (visit["leave"] - visit["arrive"])) <= LATE_S
    assert len({e["track_id"] for e in entered}) == 6

    # Appear / leave follow tracks: the flickering "tv" appears once and never leaves, each person
    # appears and leaves once (without tracking the same detections give 27 "tv" appeared and 27 left).
    kinds = Counter((e["event"], e["label"]) for e in events if e["event"] in ("appeared", "left"))
    assert kinds == {("appeared", "tv"): 1, ("appeared", "person"): 6, ("left", "person"): 6}

    # The totals that last across a restart, and every person box in the results carries its id.
    assert saved["zones"] == {"table": {"visits": 6}}
    assert saved["lines"] == {"exit": {"in": 0, "out": 6}}
    people = [d for r in results for d in r["detections"] if d["label"] == "person" and d["score"] >= 0.5]
    assert people and sum(d.get("track_id") is not None for d in people) >= 0.97 * len(people)


@pytest.mark.slow
def test_bottle_clip_reports_each_slot_empty_and_occupied_when_it_was(videos_dir: Path, tmp_path: Path) -> None:
    truth = yaml.safe_load((DATA / "bottle_slots.yaml").read_text())
    events, _, saved = _run(videos_dir, tmp_path, truth)
    fps = 29.83

    for slot, changes in truth["slots"].items():
        seen = [(e["event"], _seconds(e, fps)) for e in events if e.get("zone") == slot]
        # Occupied from the start, then empty / occupied for every change in the ground truth.
        expected = ["zone_occupied"] + ["zone_empty", "zone_occupied"] * len(changes)
        assert [kind for kind, _ in seen] == expected, seen
        assert seen[0][1] < 1.0
        for change, (_, empty_at), (_, back_at) in zip(changes, seen[1::2], seen[2::2], strict=True):
            assert _near(empty_at, change["empty"]), (slot, empty_at, change)
            assert _near(back_at, change["occupied"]), (slot, back_at, change)
        assert saved["zones"][slot] == {"visits": 1 + len(changes)}
    assert not [e for e in events if e["event"] in ("zone_entered", "zone_left")]  # presence zones name no objects
