"""Zones and lines drawn on the web page: GET / POST /api/zones on a real pipeline built as `camapp run` builds it.

The page's editor sends zones and lines as config data; they are checked by the config's own schema,
sent through the control channel and counted from the next frame, and saved into the config file
with the other changes. The people clip, with zones posted before its first frame to a run that had
none, must give exactly the ground truth that the same zones in a config file give
(tests/analytics/data/people_visits.yaml, tests/analytics/test_clips.py).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from camapp.config import load_config
from camapp.control import ControlChannel
from tests.outputs.conftest import camapp_run, wait_until
from tests.outputs.test_web_control import AUTH, TOKEN, call, js

TRUTH = yaml.safe_load((Path(__file__).parents[1] / "analytics" / "data" / "people_visits.yaml").read_text())
SSD = "ssd_mobilenet_v1_coco_quant"
SHELF = {"name": "shelf", "polygon": [[0.0, 0.15], [1.0, 0.15], [1.0, 1.0], [0.0, 1.0]], "labels": ["bottle"],
         "anchor": "center", "events": "presence"}
DOOR = {"name": "door", "start": [0.5, 0.0], "end": [0.5, 1.0]}


def write_config(path: Path, models_dir: Path, source: dict[str, Any], **extra: Any) -> Path:
    path.write_text(yaml.safe_dump({
        "source": source, "model": {"name": SSD, "mirror": str(models_dir), "threads": 1}, "pipeline": {"workers": 1},
        "http": {"listen": "127.0.0.1:0", "token": TOKEN}, **extra,
    }))
    return path


def until_done(port: int) -> dict[str, Any]:
    """The status once a file source has ended (the count of processed frames stops growing)."""
    last = -1
    while True:
        status = js(port, "/api/status")[1]
        if status["processed"] == last:
            return status
        last = status["processed"]
        time.sleep(1.0)


@pytest.mark.slow
def test_zones_posted_to_a_run_without_any_count_the_people_clip_exactly_as_configured_zones_do(
    models_dir: Path, videos_dir: Path, tmp_path: Path
) -> None:
    events_file = tmp_path / "events.jsonl"
    config = write_config(tmp_path / "camapp.yaml", models_dir, {"uri": str(videos_dir / TRUTH["clip"])},
                          events={"output": str(events_file)}, tracking={"state_file": str(tmp_path / "counts.json")})
    answer: dict[str, Any] = {}

    def post_before_the_first_frame(port: int, controls: ControlChannel) -> None:
        body = {"zones": TRUTH["config"]["zones"], "lines": TRUTH["config"]["lines"]}
        poster = threading.Thread(target=lambda: answer.update(reply=js(port, "/api/zones", body)))
        poster.start()
        wait_until(lambda: controls._queue.qsize() > 0, 10, "the zones in the control channel")
        answer["poster"] = poster

    with camapp_run(load_config(str(config)), config, before=post_before_the_first_frame) as (port, _):
        answer["poster"].join(30)
        code, reply = answer["reply"]
        assert code == 200, reply
        assert [z["name"] for z in reply["zones"]] == ["table"] and [x["name"] for x in reply["lines"]] == ["exit"]
        assert set(reply["unsaved"]) == {"zones", "lines"}
        status = until_done(port)

    assert status["processed"] == 1394
    assert status["zones"]["table"]["visits"] == 6 and status["zones"]["table"]["occupancy"] == 0
    assert status["lines"]["exit"] == {"in": 0, "out": 6}
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    entered = [e for e in events if e["event"] == "zone_entered"]
    left = [e for e in events if e["event"] == "zone_left"]
    crossed = [e for e in events if e["event"] == "line_crossed"]
    assert len(entered) == len(left) == len(crossed) == len(TRUTH["visits"]) == 6
    assert {e["direction"] for e in crossed} == {"out"}
    for visit, came, went, out in zip(TRUTH["visits"], entered, left, crossed, strict=True):
        # One id per visit, seen arriving when the ground truth says (debouncing makes it late, never early).
        assert came["track_id"] == went["track_id"] == out["track_id"]
        assert visit["arrive"] - 0.5 <= came["frame"] / 10 <= visit["arrive"] + 2.5, (came, visit)
        assert visit["leave"] - 1.0 <= went["frame"] / 10 <= visit["leave"] + 2.5, (went, visit)


def test_zones_are_checked_applied_live_kept_by_name_and_saved_into_the_config_for_the_next_run(
    models_dir: Path, videos_dir: Path, tmp_path: Path
) -> None:
    bottles = {"uri": str(videos_dir / "bottle-detection.mp4"), "realtime": True, "loop": True}
    counts = tmp_path / "counts.json"
    config = write_config(tmp_path / "camapp.yaml", models_dir, bottles, tracking={"state_file": str(counts)})
    with camapp_run(load_config(str(config)), config) as (port, _):
        wait_until(lambda: js(port, "/api/status")[1]["results"], 30, "the first result")
        assert js(port, "/api/zones") == (200, {"zones": [], "lines": []})
        assert "zones" not in js(port, "/api/status")[1]  # no tracking yet

        # Refused with the config's own one-line message naming the key; nothing changes.
        code, reply = js(port, "/api/zones", {"zones": [{**SHELF, "polygon": [[0, 0], [1, 1]]}]})
        assert code == 422 and reply["error"].startswith("config key 'zones.0.polygon'") and "three" in reply["error"]
        code, reply = js(port, "/api/zones", {"zones": [{**SHELF, "colour": "red"}]})
        assert code == 422 and "zones.0.colour" in reply["error"] and "polygon" in reply["error"]  # names the allowed keys
        code, reply = js(port, "/api/zones", {"zones": [SHELF, SHELF]})
        assert code == 422 and "'shelf' is used twice" in reply["error"]
        code, reply = js(port, "/api/zones", {"areas": []})
        assert code == 422 and "unknown key 'areas'" in reply["error"]
        # Changes need the token, and a page on another site is refused even with it.
        assert call(port, "/api/zones", {"zones": [SHELF]}, headers={})[0] == 401
        assert call(port, "/api/zones", {"zones": [SHELF]}, headers={**AUTH, "Origin": "http://evil.example"})[0] == 403
        assert js(port, "/api/zones") == (200, {"zones": [], "lines": []})

        # Applied from the next frame: the three bottles stand in the shelf zone.
        code, reply = js(port, "/api/zones", {"zones": [SHELF]})
        assert code == 200 and reply["zones"] == [SHELF] and reply["lines"] == []
        wait_until(lambda: js(port, "/api/status")[1].get("zones", {}).get("shelf", {}).get("occupied"), 20, "the shelf occupied")
        visits = js(port, "/api/status")[1]["zones"]["shelf"]["visits"]
        assert visits >= 1
        # A line added on its own leaves the zones as they are, and the zone kept its name, so its totals.
        code, reply = js(port, "/api/zones", {"lines": [DOOR]})
        assert code == 200 and reply["zones"] == [SHELF] and reply["lines"] == [DOOR]
        status = js(port, "/api/status")[1]
        assert status["zones"]["shelf"]["visits"] >= visits and status["lines"] == {"door": {"in": 0, "out": 0}}

        code, saved = js(port, "/api/config/save", {})
        assert code == 200 and set(saved["changed"]) == {"zones", "lines"}
        assert js(port, "/api/controls")[1]["unsaved"] == {}
        visits = js(port, "/api/status")[1]["zones"]["shelf"]["visits"]

    # The totals of zones drawn while running are kept like those of configured ones ...
    assert json.loads(counts.read_text())["zones"] == {"shelf": {"visits": visits}}

    # The saved file is a config like any other: the next run starts with the zone and the line.
    data = yaml.safe_load(config.read_text())
    assert data["zones"] == [SHELF] and data["lines"] == [DOOR]
    assert (tmp_path / "camapp.yaml.bak").exists() and "zones" not in yaml.safe_load((tmp_path / "camapp.yaml.bak").read_text())
    again = load_config(str(config))
    assert again.tracking_on and [z.name for z in again.zones] == ["shelf"]
    with camapp_run(again, config) as (port, _):
        assert js(port, "/api/zones") == (200, {"zones": [SHELF], "lines": [DOOR]})
        wait_until(lambda: js(port, "/api/status")[1].get("zones", {}).get("shelf", {}).get("occupied"), 20, "the shelf occupied")
        assert js(port, "/api/status")[1]["zones"]["shelf"]["visits"] >= visits  # ... and restored at the next start
        # Removing every zone and line, saved, takes the keys out of the file.
        assert js(port, "/api/zones", {"zones": [], "lines": []})[0] == 200
        assert js(port, "/api/config/save", {})[0] == 200
    assert "zones" not in yaml.safe_load(config.read_text()) and "lines" not in yaml.safe_load(config.read_text())
