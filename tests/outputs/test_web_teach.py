"""Teaching from the web page: the /api/teach routes, on a real pipeline built as `camapp run` builds it.

The whole flow runs a real classifier on the bottle clip at its own speed: two classes are recorded
from two stretches of it (three bottles, then two, played back to back), built with the V1
backbone, and Use now switches the running pipeline to the new model through the control channel;
/api/status then names the taught model and its labels. The other tests check the guards (token,
the refusal of changes without one, the Host check) and the one-line JSON errors without a model.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from camapp.config import Config
from camapp.frames import Frame
from camapp.outputs.base import Delivery
from camapp.outputs.web import CameraInfo, WebOptions, WebSink
from camapp.outputs.web.teach import TeachOptions, TeachPanel, default_dir, teach_options
from camapp.stats import PipelineStats
from tests.outputs.conftest import camapp_run as running_camapp
from tests.outputs.conftest import wait_until

TOKEN = "t3ach"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLASSIFIER = "mobilenet_v1_0.25_128_quant.tflite"  # what runs before the taught model: any classifier
BACKBONE = "mobilenet_v1_0.75_192_quant.tflite"
# Where each class is recorded from: frames into its stretch of the clip (tests/conftest.py).
THREE_FROM, TWO_FROM = 30, 9


def call(port: int, path: str, body: Any = None, headers: dict[str, str] | None = None, method: str | None = None,
         raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {**(headers if headers is not None else AUTH), **({"Content-Type": "application/json"} if data else {})}
        conn.request(method or ("POST" if data is not None else "GET"), path, body=data, headers=sent)
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def js(port: int, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    code, _, data = call(port, path, body, **kw)
    return code, json.loads(data)


def frame_now(port: int) -> int:
    status = js(port, "/api/status")[1]
    return status["results"]["frame"] if status["results"] else -1


def record(port: int, label: str, after_frame: int, count: int = 8) -> None:
    wait_until(lambda: frame_now(port) >= after_frame, 60, f"frame {after_frame}")
    code, body = js(port, "/api/teach/record", {"class": label, "count": count})
    assert code == 200 and body["recording"] == {"class": label, "taken": 0, "left": count}, body
    wait_until(lambda: js(port, "/api/teach")[1]["recording"] is None, 30, f"the recording of {label}")


@pytest.mark.slow
def test_record_two_classes_from_a_video_build_and_use_the_model_now(
    models_dir: Path, three_then_two_bottles: tuple[Path, dict[str, range]], tmp_path: Path
) -> None:
    clip, stretches = three_then_two_bottles
    cfg = Config.model_validate({
        "source": {"uri": str(clip), "realtime": True, "loop": True},
        "model": {"name": str(models_dir / CLASSIFIER), "labels": str(models_dir / "imagenet_labels.txt")},
        "http": {"listen": "127.0.0.1:0", "token": TOKEN},
        "teach": {"dir": str(tmp_path / "shelf"), "backbone": str(models_dir / BACKBONE)},
    })
    with running_camapp(cfg) as (port, _):
        state = js(port, "/api/teach")[1]
        assert [c["name"] for c in state["classes"]] == ["background"]  # offered from the start
        assert state["output"] == str(tmp_path / "shelf.tflite") and not state["built"]
        assert json.loads(call(port, "/api/status")[2])["teach"] is True  # the page shows its link
        for name in ("three", "two"):
            assert js(port, "/api/teach/class", {"action": "add", "class": name}) == (200, {"added": name})

        record(port, "three", stretches["three"].start + THREE_FROM)
        record(port, "two", stretches["two"].start + TWO_FROM)
        state = js(port, "/api/teach")[1]
        counts = {c["name"]: c["count"] for c in state["classes"]}
        assert counts == {"background": 0, "two": 8, "three": 8}
        assert sorted(p.name for p in (tmp_path / "shelf" / "three").iterdir()) == [f"{n:04d}.jpg" for n in range(1, 9)]
        thumb = next(c for c in state["classes"] if c["name"] == "three")["thumbs"][0]
        code, headers, jpeg = call(port, "/" + thumb)
        small = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert code == 200 and headers["content-type"] == "image/jpeg" and max(small.shape[:2]) == 96

        # Live bars, computed only while the page asks: from the class means of the examples so far.
        live = wait_until(lambda: (lv := js(port, "/api/teach/live")[1])["probabilities"] and lv, 30, "live probabilities")
        assert live["classes"] == ["three", "two"] and sum(live["probabilities"]) == pytest.approx(1.0, abs=1e-3)

        code, body = js(port, "/api/teach/build", {})
        assert code == 202 and body["build"]["state"] == "running"
        assert js(port, "/api/teach/build", {})[0] in (409, 202)  # a second one while it runs is refused (or it was done already)
        build = wait_until(lambda: (b := js(port, "/api/teach")[1]["build"])["state"] in ("done", "failed") and b, 60, "the build")
        assert build["state"] == "done", build
        assert build["report"]["counts"] == {"three": 8, "two": 8} and build["report"]["balanced_accuracy"] is not None
        assert "held-out accuracy" in build["text"] and set(build["labels"]) >= {"three", "two"}
        assert (tmp_path / "shelf.tflite").is_file() and (tmp_path / "shelf.teach.npz").is_file()

        code, body = js(port, "/api/teach/use", {})
        assert (code, body["model"], body["task"]) == (200, "shelf", "classify"), body
        status = wait_until(lambda: (s := js(port, "/api/status")[1])["model"] == "shelf" and s["results"]
                            and {c["label"] for c in s["results"]["classes"]} <= set(build["labels"]) and s, 20, "the taught model")
        labels = {c["label"] for c in status["results"]["classes"]}
        assert {"three", "two"} <= labels, status["results"]
        assert js(port, "/api/teach")[1]["used"] == str(tmp_path / "shelf.tflite")


# -- without a pipeline: the guards and the errors ---------------------------------------------------


@contextmanager
def panel_only(tmp_path: Path, token: str | None = TOKEN) -> Iterator[tuple[int, TeachPanel]]:
    web = WebSink(WebOptions(port=0, token=token), CameraInfo("m", "clip.mp4"), PipelineStats())
    panel = TeachPanel(TeachOptions(tmp_path / "ex", tmp_path / "ex.tflite", rate=1000.0), _no_backbone, None, None)
    web.server.httpd.app.teach = panel
    web.start()
    panel.start()
    try:
        yield web.server.port, panel
    finally:
        panel.close()
        web.close()


def _no_backbone() -> Any:
    raise AssertionError("these tests never embed")


def test_changes_need_the_token_and_without_a_configured_token_are_refused(tmp_path: Path) -> None:
    with panel_only(tmp_path) as (port, _):
        for path in ("/api/teach/record", "/api/teach/class", "/api/teach/build", "/api/teach/use"):
            assert call(port, path, {"action": "add", "class": "x"}, headers={})[0] == 401
            assert call(port, path, {"action": "add", "class": "x"}, headers={"Authorization": "Bearer wrong"})[0] == 401
            code, headers, _ = call(port, path, headers=AUTH, method="GET")  # GET never changes anything
            assert code == 405 and headers["allow"] == "POST"
        assert call(port, "/api/teach", headers={})[0] == 401 and call(port, "/teach", headers={})[0] == 401
        assert call(port, f"/api/teach?token={TOKEN}", headers={})[0] == 200
        code, headers, page = call(port, f"/teach?token={TOKEN}", headers={})
        csp = headers["content-security-policy"]
        assert code == 200 and b"Hold to record" in page and "script-src" in csp and "connect-src 'self'" in csp
        assert not (tmp_path / "ex" / "x").exists()
    with panel_only(tmp_path, token=None) as (port, _):
        # Without a token any page a LAN browser visits could post a form here: changes are refused.
        code, body = js(port, "/api/teach/class", {"action": "add", "class": "x"}, headers={})
        assert code == 403 and "http.token" in body["error"]
        code, _, _ = call(port, "/api/teach/record", raw=b"class=x&count=3", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert code == 403
        assert call(port, "/api/teach", headers={})[0] == 200  # reading is allowed, as for /api/status
        assert call(port, "/api/teach", headers={"Host": "evil.example"})[0] == 421  # DNS rebinding
        assert not (tmp_path / "ex" / "x").exists()


def test_bad_input_gets_a_one_line_json_error(tmp_path: Path) -> None:
    with panel_only(tmp_path) as (port, _):
        cases = [
            ("/api/teach/record", {"class": "nope", "count": 3}, 404, "no class 'nope'"),
            ("/api/teach/record", {"class": "../etc", "count": 3}, 400, "cannot be a folder"),
            ("/api/teach/record", {"class": ".hidden", "seconds": 1}, 400, "cannot be a folder"),
            ("/api/teach/record", {"class": "background"}, 400, "give \"seconds\""),
            ("/api/teach/record", {"class": "background", "count": 0}, 400, "\"count\" must be"),
            ("/api/teach/record", {"class": "background", "seconds": 999}, 400, "\"seconds\" must be"),
            ("/api/teach/record", {"class": 3, "seconds": 1}, 400, "as a string"),
            ("/api/teach/class", {"action": "add", "class": "background"}, 409, "exists already"),
            ("/api/teach/class", {"action": "explode", "class": "background"}, 400, "\"action\" must be"),
            ("/api/teach/class", {"action": "delete", "class": "nope"}, 404, "no class 'nope'"),
            ("/api/teach/build", {}, 400, "at least two classes"),
            ("/api/teach/use", {}, 409, "cannot switch models"),
        ]
        for path, body, status, text in cases:
            code, headers, data = call(port, path, body)
            assert (code, headers["content-type"]) == (status, "application/json"), (path, body, data)
            assert text in json.loads(data)["error"] and data.count(b"\n") == 0, (path, body, data)
        code, _, data = call(port, "/api/teach/record", raw=b"{not json")
        assert code == 400 and "not JSON" in json.loads(data)["error"]
        code, _, data = call(port, "/api/teach/record", raw=b"x" * 2000)
        assert code == 413
        queries = ("class=background&file=../../../etc/passwd", "class=..&file=0001.jpg", "class=background&file=0001.jpg",
                   "class=background")
        for query in queries:
            code, _, data = call(port, "/api/teach/thumb?" + query)
            assert code in (400, 404) and "error" in json.loads(data), query


def test_classes_are_added_renamed_and_deleted(tmp_path: Path) -> None:
    with panel_only(tmp_path) as (port, _):
        assert js(port, "/api/teach/class", {"action": "add", "class": "full shelf"}) == (200, {"added": "full shelf"})
        assert js(port, "/api/teach/class", {"action": "add", "class": "Full Shelf"})[0] == 409  # one folder on a case-blind disk
        renamed = js(port, "/api/teach/class", {"action": "rename", "class": "full shelf", "to": "full"})
        assert renamed == (200, {"renamed": "full shelf", "to": "full"})
        assert js(port, "/api/teach/class", {"action": "rename", "class": "full", "to": "background"})[0] == 409
        assert [c["name"] for c in js(port, "/api/teach")[1]["classes"]] == ["background", "full"]
        assert js(port, "/api/teach/class", {"action": "delete", "class": "full"}) == (200, {"deleted": "full"})
        assert [p.name for p in (tmp_path / "ex").iterdir()] == ["background"]


def test_recording_saves_frames_at_the_rate_and_does_nothing_while_idle(tmp_path: Path, videos_dir: Path) -> None:
    cap = cv2.VideoCapture(str(videos_dir / "bottle-detection.mp4"))
    frames = [Frame(cap.read()[1], i, time.monotonic_ns(), "clip") for i in range(3)]
    cap.release()
    with panel_only(tmp_path) as (port, panel):
        panel.options = TeachOptions(panel.options.root, panel.options.output, rate=20.0)
        for f in frames:
            panel.write(Delivery(f, None, True))
        assert not panel._saves and panel._probe_frame is None and panel._due == float("inf")  # idle: nothing kept, nothing due
        assert js(port, "/api/teach/record", {"class": "background", "count": 3})[0] == 200
        end = time.monotonic() + 10
        while js(port, "/api/teach")[1]["recording"] is not None and time.monotonic() < end:
            for f in frames:
                panel.write(Delivery(f, None, True))
                time.sleep(0.01)
        state = js(port, "/api/teach")[1]
        assert state["classes"][0]["count"] == 3 and state["recording"] is None
        # A held button: one second at a time, let go with seconds 0.
        assert js(port, "/api/teach/record", {"class": "background", "seconds": 1})[1]["recording"]["class"] == "background"
        assert js(port, "/api/teach/record", {"class": "background", "seconds": 0}) == (200, {"recording": None, "taken": 0})
        assert panel._due == float("inf")


def test_the_default_examples_folder_follows_the_service_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/camapp/door")
    assert default_dir() == Path("/var/lib/camapp/door/teach")
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    options = teach_options(Config())
    assert (options.root, options.output) == (tmp_path / "camapp" / "teach", tmp_path / "camapp" / "teach.tflite")
    options = teach_options(Config.model_validate({"teach": {"dir": "shelf", "unknown_below": "off", "head": "mean"}}))
    assert (options.root, options.output, options.floor, options.head) == (Path("shelf"), Path("shelf.tflite"), None, "mean")


def test_the_panel_is_built_only_with_the_web_view_and_when_enabled() -> None:
    from camapp.app import OUTPUTS, _is_on

    def built(data: dict[str, Any]) -> list[str]:
        cfg = Config.model_validate(data)
        return [build.__name__ for key, build in OUTPUTS if _is_on(cfg, key)]

    assert built({}) == []
    assert built({"http": {"listen": "127.0.0.1:0"}}) == ["_web", "_teach"]
    assert built({"http": {"listen": "127.0.0.1:0"}, "teach": {"enabled": False}}) == ["_web"]
    assert built({"teach": {"enabled": True}}) == []
