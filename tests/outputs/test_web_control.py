"""The page's controls through their HTTP API, on a real pipeline built as `camapp run` builds it.

A classifier runs on the bottle clip at its own speed (looping) while the tests switch the model
(by backbone, by id, and to files that do not load), tune it, take a snapshot, compare three
backbones on the live frames, and save the changes into the run's config file, which a second run
then starts from. /healthz is polled throughout a switch: it must stay 200.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from camapp.config import Config, load_config
from camapp.control import ControlChannel
from camapp.outputs.web import CameraInfo, WebOptions, WebSink
from camapp.pipeline import Pipeline
from camapp.stats import PipelineStats
from tests.outputs.conftest import camapp_run as running_camapp
from tests.outputs.conftest import wait_until

TOKEN = "c0ntrol"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
V1, V2, V3 = "mobilenet_v1_0.75_192_quant", "mobilenet_v2_1.0_224_quant", "mobilenet_v3_small_1.0_224_uint8"
POSTS = ("/api/model", "/api/settings", "/api/snapshot", "/api/config/save", "/api/compare", "/api/reset")


def call(port: int, path: str, body: Any = None, headers: dict[str, str] | None = None, method: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method or ("POST" if data is not None else "GET"), path, body=data, headers=AUTH if headers is None else headers)
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def js(port: int, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    code, data = call(port, path, body, **kw)
    return code, json.loads(data)


def config_data(models_dir: Path, videos_dir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "source": {"uri": str(videos_dir / "bottle-detection.mp4"), "realtime": True, "loop": True},
        "model": {"name": V1, "mirror": str(models_dir), "threads": 1},
        "pipeline": {"workers": 1},
        "http": {"listen": "127.0.0.1:0", "token": TOKEN},
        **extra,
    }


@contextmanager
def camapp_run(cfg: Config, config_path: Path | None = None) -> Iterator[tuple[int, Pipeline]]:
    """A running camapp (tests/outputs/conftest.py), once it has a first result."""
    with running_camapp(cfg, config_path) as (port, pipeline):
        wait_until(lambda: js(port, "/api/status")[1]["results"], 30, "the first result")
        yield port, pipeline


def processed(port: int) -> int:
    return int(js(port, "/api/status")[1]["processed"])


class HealthWatch:
    """Polls /healthz every 50 ms in a thread: every answer must be 200."""

    def __init__(self, port: int) -> None:
        self.port, self.codes, self._stop = port, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.codes.append(call(self.port, "/healthz", headers={})[0])
            time.sleep(0.05)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.mark.slow
def test_switch_the_model_live_and_a_failed_switch_keeps_the_old_one(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    cfg = Config.model_validate(config_data(models_dir, videos_dir))
    with camapp_run(cfg) as (port, pipeline):
        assert js(port, "/api/status")[1]["model"] == V1
        # A slow load (2 s, as a big model on a Pi): the old model keeps running meanwhile.
        panel = next(s for s in pipeline.sinks if isinstance(s, WebSink)).server.httpd.app.control
        load = panel.hooks.switch
        panel.hooks.switch = lambda *a: (time.sleep(2.0), load(*a))[1]
        before = processed(port)
        with HealthWatch(port) as health:
            code, body = js(port, "/api/model", {"backbone": "v2", "task": "classify"})
            during = processed(port) - before  # frames the old model processed while the new one loaded
            assert (code, body["model"], body["task"]) == (200, V2, "classify"), body
            assert body["load_s"] >= 2.0 and during > 30, (body, during)
            now = processed(port)
            wait_until(lambda: processed(port) > now + 30, 20, "frames after the switch")
        panel.hooks.switch = load
        assert len(health.codes) > 20 and set(health.codes) == {200}, health.codes  # /healthz stayed 200 throughout
        status = js(port, "/api/status")[1]
        assert status["model"] == V2 and status["healthy"]
        assert js(port, "/api/controls")[1]["model"] == {"backbone": "v2", "task": "classify"}

        # Models that do not load: the one-line error, the old model keeps running, frames keep flowing.
        (tmp_path / "junk.tflite").write_bytes(b"not a model at all")
        for request, words in (({"model": str(tmp_path / "missing.tflite")}, "missing.tflite"),
                               ({"model": str(tmp_path / "junk.tflite")}, "not a TFLite model"),
                               ({"model": "mobilenet_v9_nothing"}, "mobilenet_v9_nothing")):
            code, body = js(port, "/api/model", request)
            assert code == 422 and words in body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"], body
        now = processed(port)
        wait_until(lambda: processed(port) > now + 10, 20, "frames after the failed switches")
        assert js(port, "/api/status")[1]["model"] == V2

        code, body = js(port, "/api/model", {"model": V1})  # by id
        assert (code, body["model"]) == (200, V1)
        assert js(port, "/api/status")[1]["model"] == V1

        for request, words in (({"backbone": "v9"}, "backbone must be one of v1, v2, v3"), ({}, 'give {"model"'),
                               ({"model": V1, "backbone": "v2"}, "either model or backbone"), ({"modle": V1}, "unknown key 'modle'"),
                               ({"backbone": "v1", "task": "segment"}, "task must be one of classify, detect")):
            code, body = js(port, "/api/model", request)
            assert code == 400 and words in body["error"], body


@pytest.mark.slow
def test_settings_apply_at_once_and_bad_values_name_the_key(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    cfg = Config.model_validate(config_data(models_dir, videos_dir))
    with camapp_run(cfg) as (port, pipeline):
        assert js(port, "/api/status")[1]["controls"] is True  # the page shows its controls (a token is set)
        code, body = js(port, "/api/settings", {"top_k": 2, "every": 3, "overlay": False, "threshold": 0.25})
        assert code == 200 and body["settings"] == {"threshold": 0.25, "top_k": 2, "every": 3, "overlay": False}, body
        assert pipeline.options.every == 3 and pipeline.options.style.overlay is False
        wait_until(lambda: len(js(port, "/api/status")[1]["results"]["classes"]) == 2, 10, "two classes per result")
        assert js(port, "/api/controls")[1]["settings"]["top_k"] == 2
        for request, words in (({"threshold": 1.5}, "threshold must be a number from 0 to 1, got 1.5"),
                               ({"top_k": 0}, "top_k must be a whole number from 1 to 100, got 0"),
                               ({"every": 2.5}, "every must be a whole number from 1 to 1000, got 2.5"),
                               ({"every": "2"}, 'every must be a whole number from 1 to 1000, got "2"'),
                               ({"overlay": "yes"}, 'overlay must be true or false, got "yes"'),
                               ({"fps": 3}, "unknown setting 'fps': allowed are threshold, top_k, every, overlay"),
                               ({}, "give at least one setting")):
            code, body = js(port, "/api/settings", request)
            assert code == 400 and words in body["error"], body
        code, body = call(port, "/api/settings", method="POST", headers={**AUTH, "Content-Length": "0"})
        assert code == 400
        assert pipeline.options.every == 3  # nothing of the refused requests was applied

        # Snapshot now: no snapshots folder in this run.
        code, body = js(port, "/api/snapshot", {})
        assert code == 409 and "snapshots.dir" in body["error"]
        # No config file: nothing to save into.
        code, body = js(port, "/api/config/save", {})
        assert code == 409 and "--config" in body["error"]
        history = wait_until(lambda: (h := js(port, "/api/history")[1]) and len(h["time"]) >= 2 and h, 10, "two history samples")
        assert set(history) >= {"time", "capture_fps", "inference_fps", "invoke_ms_p50", "latency_ms_p50", "objects"}
        assert len(history["time"]) == len(history["inference_fps"]) and history["inference_fps"][-1] > 5


@pytest.mark.slow
def test_snapshot_now_writes_a_jpeg_into_the_snapshots_folder(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    cfg = Config.model_validate(config_data(models_dir, videos_dir, snapshots={"dir": str(tmp_path / "shots")}))
    with camapp_run(cfg) as (port, _):
        code, body = js(port, "/api/snapshot", {})
        assert code == 200, body
        saved = Path(body["saved"])
        assert saved.parent == tmp_path / "shots" and saved.read_bytes()[:2] == b"\xff\xd8" and body["bytes"] == saved.stat().st_size


def test_changes_need_the_token_and_are_refused_from_another_site() -> None:
    web = WebSink(WebOptions(port=0, token=TOKEN), CameraInfo("m", "clip.mp4"), PipelineStats(), controls=ControlChannel())
    web.server.httpd.app.control = _Panel()
    web.start()
    try:
        port = web.server.port
        for path in POSTS:
            assert call(port, path, {}, headers={})[0] == 401, path
            assert call(port, path, {}, headers={"Authorization": "Bearer wrong"})[0] == 401, path
            if path != "/api/compare":  # GET /api/compare reads the comparison's state
                assert call(port, path, method="GET")[0] == 405, path
            # With the token, but from another site's page: refused before anything is read.
            for cross in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                          {"Sec-Fetch-Site": "same-site"}, {"Origin": f"http://127.0.0.1:{port + 1}"}):
                code, body = js(port, path, {}, headers={**AUTH, **cross})
                assert code == 403 and "another site" in body["error"], (path, cross, body)
        assert _Panel.calls == []
        # The page itself (same origin) and scripts (no Origin) get through.
        same = {**AUTH, "Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
        assert call(port, "/api/settings", {"every": 2}, headers=same)[0] == 200
        assert call(port, "/api/settings", {"every": 2})[0] == 200
        proxied = {**AUTH, "Origin": "https://cam.example", "X-Forwarded-Host": "cam.example", "Sec-Fetch-Site": "same-origin"}
        assert call(port, "/api/settings", {"every": 2}, headers=proxied)[0] == 200  # behind a TLS reverse proxy
        assert call(port, "/api/settings", {"every": 2}, headers={**proxied, "X-Forwarded-Host": "other.example"})[0] == 403
        assert call(port, "/api/controls", headers={})[0] == 401 and call(port, "/api/history", headers={})[0] == 401
        assert call(port, f"/api/history?token={TOKEN}", headers={})[0] == 200
    finally:
        web.close()
    web = WebSink(WebOptions(port=0), CameraInfo("m", "clip.mp4"), PipelineStats(), controls=ControlChannel())
    web.server.httpd.app.control = _Panel()
    web.start()
    try:  # without a configured token every change is refused: any page a LAN browser visits could post a form
        for path in ("/api/model", "/api/settings", "/api/snapshot", "/api/config/save", "/api/compare"):
            code, body = js(web.server.port, path, {}, headers={})
            assert code == 403 and "http.token" in body["error"], (path, body)
        assert call(web.server.port, "/api/controls", headers={})[0] == 200  # reading is allowed, as for /api/status
    finally:
        web.close()


class _Panel:
    calls: list[str] = []

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[Any, str, bytes]:
        from http import HTTPStatus

        if method == "POST" and path != "/api/settings":
            _Panel.calls.append(path)
        return HTTPStatus.OK, "application/json", b"{}"


@pytest.mark.slow
def test_compare_three_backbones_on_the_live_video_then_use_one(models_dir: Path, videos_dir: Path) -> None:
    cfg = Config.model_validate(config_data(models_dir, videos_dir))
    with camapp_run(cfg) as (port, _):
        code, body = js(port, "/api/compare", {})
        assert code == 202 and body["state"] == "running" and body["models"] == [V1, V2, V3], body
        assert js(port, "/api/compare", {})[0] == 409  # one at a time
        before = processed(port)
        done = wait_until(lambda: (c := js(port, "/api/compare")[1])["state"] in ("done", "failed") and c, 60, "the comparison")
        assert done["state"] == "done", done
        assert processed(port) > before + 30  # the pipeline kept running beside it
        rows = {r["id"]: r for r in done["rows"]}
        assert list(rows) == [V1, V2, V3] and [r["backbone"] for r in done["rows"]] == ["v1", "v2", "v3-small"]
        for r in done["rows"]:
            assert r["error"] is None and r["runs"] >= done["frames"] and 0 < r["ms_p50"] <= r["ms_p95"], r
            assert r["fps"] > 1 and r["size"] > 100_000 and r["accuracy"].startswith("top-1 ") and r["top"], r
            assert 0 <= r["agreement"] <= 100
        code, body = js(port, "/api/compare", {"models": ["nope"]})
        assert code == 400 and body["error"].startswith("not available here: nope (available: ") and V1 in body["error"]
        code, body = js(port, "/api/compare", {"all": "yes"})
        assert code == 400 and body["error"] == 'all must be true or false, got "yes"'
        code, body = js(port, "/api/model", {"model": V3})  # "use this one"
        assert (code, body["model"]) == (200, V3)
        assert js(port, "/api/status")[1]["model"] == V3


@pytest.mark.slow
def test_a_saved_change_survives_a_restart(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "camapp.yaml"
    original = "# my camera\n" + yaml.safe_dump(config_data(models_dir, videos_dir, model={"name": V1, "mirror": str(models_dir),
                                                                                          "threads": 1, "threshold": 0.6}))
    path.write_text(original)
    path.chmod(0o600)  # it may hold the token: saving keeps it private
    with camapp_run(load_config(str(path)), path) as (port, _):
        assert js(port, "/api/controls")[1]["unsaved"] == {}
        assert js(port, "/api/model", {"backbone": "v2", "task": "classify"})[0] == 200
        assert js(port, "/api/settings", {"top_k": 3, "every": 2, "threshold": 0.4})[0] == 200
        assert js(port, "/api/controls")[1]["unsaved"] == {"model.backbone": "v2", "model.task": "classify", "model.threshold": 0.4,
                                                            "model.top_k": 3, "pipeline.every": 2}
        code, body = js(port, "/api/config/save", {})
        assert code == 200 and body["saved"] == str(path) and body["backup"] == str(path) + ".bak", body
        assert js(port, "/api/controls")[1]["unsaved"] == {}
    assert (tmp_path / "camapp.yaml.bak").read_text() == original  # the previous file kept
    assert path.stat().st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically: no temporary left
    saved = yaml.safe_load(path.read_text())
    assert saved["model"]["backbone"] == "v2" and "name" not in saved["model"] and saved["pipeline"]["every"] == 2
    with camapp_run(load_config(str(path)), path) as (port, pipeline):  # the restart
        status = js(port, "/api/status")[1]
        controls = js(port, "/api/controls")[1]
        assert status["model"] == V2 and len(status["results"]["classes"]) == 3
        assert controls["settings"] == {"threshold": 0.4, "top_k": 3, "every": 2, "overlay": True}
        assert pipeline.options.every == 2


def test_agreement_is_the_share_of_frames_another_model_gave_the_same_top_result() -> None:
    from camapp.outputs.web.compare import Candidate, _Row, _table

    def row(name: str, tops: list[str]) -> _Row:
        return _Row(Candidate(name, name, "classify", 1, "-"), tops=tops)

    table = _table([row("a", ["x", "x", "y", "z"]), row("b", ["x", "y", "y", "q"]), row("c", ["w", "w", "w", "w"]), row("d", [])])
    assert [r["agreement"] for r in table] == [50.0, 50.0, 0.0, None]
    assert table[0]["top"] == [{"label": "x", "frames": 2}, {"label": "y", "frames": 1}, {"label": "z", "frames": 1}]
    assert _table([row("alone", ["x"])])[0]["agreement"] is None  # nothing to agree with


@pytest.mark.slow
def test_the_page_lists_snapshots_and_clips_and_serves_only_those(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    cfg = Config.model_validate(config_data(models_dir, videos_dir, model={"name": "ssd_mobilenet_v1_coco_quant", "mirror": str(models_dir),
                                                                           "threads": 1},
                                            snapshots={"dir": str(shots), "labels": ["bottle"], "clip_before": 0.5, "clip_after": 0.5}))
    (tmp_path / "secret.txt").write_text("not for the web")
    with camapp_run(cfg) as (port, _):
        assert js(port, "/api/status")[1]["media"] is True
        listing = wait_until(lambda: (m := js(port, "/api/media")[1]) and {f["kind"] for f in m["files"]} == {"snapshot", "clip"} and m,
                             30, "a snapshot and a clip")
        snap = next(f for f in listing["files"] if f["kind"] == "snapshot")
        clip = next(f for f in listing["files"] if f["kind"] == "clip")
        assert snap["label"] == "bottle" and snap["name"].startswith("snapshot_") and abs(snap["time"] - time.time()) < 30
        code, jpeg = call(port, "/" + snap["thumb"])
        assert code == 200 and jpeg[:2] == b"\xff\xd8" and len(jpeg) < (shots / snap["name"]).stat().st_size
        code, data = call(port, "/" + clip["url"])
        assert code == 200 and data == (shots / clip["name"]).read_bytes() and data[4:8] == b"ftyp"
        for name in ("../secret.txt", "secret.txt", "%2e%2e/secret.txt", "", snap["name"] + ".part", "/etc/passwd"):
            code, body = js(port, f"/api/media/file?name={name}")
            assert code == 404 and "no snapshot or clip named" in body["error"], name
        assert call(port, "/api/media", headers={})[0] == 401
        code, body = js(port, "/api/media/thumb?name=" + clip["name"])
        assert code == 400


def test_compare_offers_one_model_per_backbone_or_every_size_of_the_task(models_dir: Path, tmp_path: Path) -> None:
    from camapp.app import compare_candidates

    cfg = Config.model_validate({"model": {"mirror": str(models_dir), "cache_dir": str(tmp_path / "empty-cache")}})
    one = compare_candidates(cfg, "classify")
    assert [(c.id, c.backbone) for c in one] == [(V1, "v1"), (V2, "v2"), (V3, "v3-small")]
    assert all(c.size and c.accuracy.startswith("top-1 ") for c in one)
    every = [c.id for c in compare_candidates(cfg, "classify", every_size=True)]
    assert {V1, V2, V3, "mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant"} <= set(every) and len(every) > 3
    assert [c.id for c in compare_candidates(cfg, "detect")] == ["ssd_mobilenet_v1_coco_quant"]


def test_a_switch_answers_once_the_page_names_the_new_model_not_just_once_the_worker_took_it() -> None:
    """The worker takes a SwitchModel between two frames; the outputs hear of it a moment later on
    the output thread. A 200 promises /api/status names the new model, so the answer waits for that."""
    from camapp.control import ModelChange, SwitchModel
    from camapp.outputs.web.api import switch_model

    controls = ControlChannel()
    names = iter(["old", "old", "old", "new"])
    asked: list[str] = []

    def shown() -> str:
        asked.append(next(names, "new"))
        return asked[-1]

    def worker() -> None:  # takes the command, as camapp.pipeline.pool does between two frames
        wait_until(lambda: [ticket.finish(True) for _, ticket in controls.take()], 5, "the command")

    threading.Thread(target=worker, daemon=True).start()
    assert switch_model(controls, SwitchModel(object(), ModelChange("new", "classify")), 5.0, shown)
    assert asked == ["old", "old", "old", "new"]
    # A worker that never takes it: False after the timeout, and the page is not asked.
    asked.clear()
    assert not switch_model(ControlChannel(), SwitchModel(object(), ModelChange("new", "classify")), 0.05, shown) and asked == []
