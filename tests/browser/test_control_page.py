"""The page as the camera's control panel, in a real browser: headless Chromium drives a running `camapp run`.

camapp runs as a user starts it (a separate process, --config FILE, the token from the environment)
on the bottle clip at its own speed with the V1 classifier from the model mirror. Chromium opens the
page with ?token=, switches to V2 with the page's model picker while /healthz is polled (it must stay
200) and the stream keeps showing frames, applies settings, runs the backbone comparison (three
backbones on the live video), presses "use this one", saves to the config file, and a restarted
camapp starts with the saved model and settings. A page on another site that posts to the camera
with the token in its URL is refused. Screenshots: artifacts/web_control_chromium.png and
artifacts/web_control_compare.png (docs/img/web-control.png, which docs/web.md shows, is a copy).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser.cdp import Browser
from tests.outputs.conftest import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
TOKEN = "c0ntrol-t0ken"
V1, V2, V3 = "mobilenet_v1_0.75_192_quant", "mobilenet_v2_1.0_224_quant", "mobilenet_v3_small_1.0_224_uint8"


def api(base: str, path: str, token: bool = True, body: Any = None) -> tuple[int, Any]:
    """GET `path`, or POST `body` as JSON."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Authorization": f"Bearer {TOKEN}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@contextmanager
def camapp(config: Path, log_path: Path) -> Iterator[str]:
    port = free_port()
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "camapp", "run", "--config", str(config), "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, env={**os.environ, "CAMAPP_HTTP_TOKEN": TOKEN},
    )
    try:
        wait_until(lambda: b"web view on" in log_path.read_bytes() or proc.poll() is not None, 60, "the web server")
        assert proc.poll() is None, log_path.read_text()
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: api(base, "/api/status")[1]["results"], 30, "the first result")
        yield base
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


class HealthWatch:
    def __init__(self, base: str) -> None:
        self.base, self.codes, self._stop = base, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.codes.append(api(self.base, "/healthz", token=False)[0])
            time.sleep(0.05)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@contextmanager
def other_site(camera: str, tmp_path: Path) -> Iterator[str]:
    """A page on another origin (localhost:OTHER) whose script posts a change to the camera, token in the URL."""
    site = tmp_path / "evil"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><title>evil</title><script>"
        f"fetch('{camera}/api/settings?token={TOKEN}', {{method: 'POST', mode: 'no-cors', body: '{{\"every\": 7}}'}})"
        ".then(() => document.title = 'sent', () => document.title = 'sent');</script>"
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Quiet(*a, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def bottle_config(path: Path, models_dir: Path, videos_dir: Path, model: str, **extra: Any) -> Path:
    """A config file: `model` on the bottle clip at its own speed, looping, one interpreter."""
    path.write_text(yaml.safe_dump({
        "source": {"uri": str(videos_dir / "bottle-detection.mp4"), "realtime": True, "loop": True},
        "model": {"name": model, "mirror": str(models_dir), "threads": 1},
        "pipeline": {"workers": 1},
        **extra,
    }))
    return path


def artifacts_dir() -> Path:
    """Where screenshots go (uploaded by CI; the docs keep copies in docs/img)."""
    folder = REPO / "artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def page_of(config: Path, tmp_path: Path) -> Iterator[tuple[Browser, str, str]]:
    """camapp started from `config`, and Chromium showing its page: (browser, camapp's address, the tab)."""
    browser = Browser(tmp_path / "profile")
    try:
        with camapp(config, tmp_path / "camapp.log") as base:
            yield browser, base, open_page(browser, base)
    finally:
        browser.close()


def open_page(browser: Browser, base: str) -> str:
    """The page in a new tab with the token, once the stream shows a frame."""
    tab = browser.open(base + "/?token=" + TOKEN)
    wait_until(lambda: browser.evaluate(tab, "document.getElementById('view').naturalWidth") == 640, 30, "the stream to show a frame")
    return tab


def click(browser: Browser, tab: str, selector: str) -> None:
    assert browser.evaluate(tab, f"(() => {{ const b = document.querySelector({json.dumps(selector)}); b.click(); return !!b; }})()")


@pytest.mark.slow
def test_the_page_switches_tunes_compares_and_saves(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    config = bottle_config(tmp_path / "camapp.yaml", models_dir, videos_dir, V1)
    artifacts = artifacts_dir()
    with page_of(config, tmp_path) as (browser, base, tab):
        js = browser.evaluate
        wait_until(lambda: js(tab, "!document.getElementById('controls').hidden && modelpick.options.length >= 3"), 30,
                   "the controls")
        assert js(tab, "model.textContent") == V1

        # Switch with the page's model picker while the stream flows and /healthz is watched.
        before = api(base, "/api/status")[1]["processed"]
        with HealthWatch(base) as health:
            js(tab, f"modelpick.value = {json.dumps(V2)}")
            click(browser, tab, "#model_use")
            wait_until(lambda: js(tab, "ctlmsg.textContent").startswith("now running " + V2), 30, "the switch")
            wait_until(lambda: js(tab, "model.textContent") == V2, 10, "the header to name the new model")
            wait_until(lambda: api(base, "/api/status")[1]["processed"] > before + 30, 20, "frames after the switch")
        assert health.codes and set(health.codes) == {200}, health.codes
        assert api(base, "/api/status")[1]["model"] == V2

        # Settings through the page's form.
        js(tab, "top_k.value = 3; every.value = 2")
        click(browser, tab, "#apply")
        wait_until(lambda: js(tab, "ctlmsg.textContent").startswith("applied"), 10, "the settings")
        assert api(base, "/api/controls")[1]["settings"]["top_k"] == 3

        # Live charts, drawn by the vendored uPlot.
        wait_until(lambda: js(tab, "!chartbox.hidden && document.querySelectorAll('.chart canvas').length") == 2, 20, "the charts")
        assert js(tab, "chart_objects.parentElement.hidden")  # a classifier counts no objects
        time.sleep(2.5)  # a few more points on the charts for the screenshot
        browser.screenshot(tab, artifacts / "web_control_chromium.png")

        # Compare three backbones on the live video, then "use this one".
        click(browser, tab, "#compare_run")
        wait_until(lambda: js(tab, "compare_state.textContent").startswith("done"), 90, "the comparison")
        rows = js(tab, "[...document.querySelectorAll('#compare tr')].slice(1).map(r => r.cells[0].textContent)")
        assert rows == [f"{V1} (v1)", f"{V2} (v2)", f"{V3} (v3-small)"], rows
        # ... and the chart of speed against the publisher's accuracy: a dot per model.
        assert js(tab, "!compare_chart.hidden && compare_chart.querySelectorAll('circle').length") == 3
        js(tab, "window.scrollTo(0, document.body.scrollHeight)")
        browser.screenshot(tab, artifacts / "web_control_compare.png")
        click(browser, tab, "#compare tr:nth-child(4) button")
        wait_until(lambda: js(tab, "model.textContent") == V3, 20, "the model chosen in the comparison")

        # Another site's page posts with the token in the URL: refused, nothing changes.
        with other_site(base, tmp_path) as evil:
            evil_tab = browser.open(evil)
            wait_until(lambda: js(evil_tab, "document.title") == "sent", 20, "the other site's post")
        assert api(base, "/api/controls")[1]["settings"]["every"] == 2
        wait_until(lambda: "/api/settings refused: a request from another site's page" in (tmp_path / "camapp.log").read_text(),
                   10, "the refusal in the log")

        # Save to the config file.
        click(browser, tab, "#save")
        wait_until(lambda: js(tab, "ctlmsg.textContent").startswith("saved "), 10, "the save")
    assert (tmp_path / "camapp.yaml.bak").is_file()
    with camapp(config, tmp_path / "camapp2.log") as base:  # the restart
        status, controls = api(base, "/api/status")[1], api(base, "/api/controls")[1]
        assert status["model"] == V3 and controls["settings"]["top_k"] == 3 and controls["settings"]["every"] == 2
        assert len(status["results"]["classes"]) == 3
    assert (artifacts / "web_control_chromium.png").stat().st_size > 20_000


@pytest.mark.slow
def test_snapshots_show_as_thumbnails_and_a_clip_plays_in_the_page(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    config = bottle_config(tmp_path / "camapp.yaml", models_dir, videos_dir, "ssd_mobilenet_v1_coco_quant",
                           snapshots={"dir": str(tmp_path / "shots"), "labels": ["bottle"], "clip_before": 1.0, "clip_after": 1.0})
    with page_of(config, tmp_path) as (browser, base, tab):
        js = browser.evaluate
        wait_until(lambda: js(tab, "!mediabox.hidden && document.querySelectorAll('#media .clip').length > 0 && "
                                   "[...document.querySelectorAll('#media img')].some(i => i.naturalWidth === 160)"), 40,
                   "a snapshot thumbnail and a clip on the page")
        assert js(tab, "!chart_objects.parentElement.hidden && chart_objects.querySelector('canvas') !== null")  # a detector counts
        wait_until(lambda: js(tab, "[...document.querySelectorAll('#events img.evthumb')].some(i => i.naturalWidth === 160)"), 20,
                   "an event with its snapshot's thumbnail")
        click(browser, tab, "#media a:has(.clip)")
        wait_until(lambda: js(tab, "(() => { const v = document.getElementById('playing'); "
                                   "return v && v.videoWidth > 0 && v.currentTime > 0.2; })()"), 20, "the clip to play")
        assert js(tab, "document.getElementById('playing').videoWidth") == 640
        js(tab, "mediabox.scrollIntoView()")
        browser.screenshot(tab, REPO / "artifacts" / "web_media_chromium.png")
        # On a phone: nothing wider than the screen, the controls reachable.
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
                     session=tab)
        time.sleep(0.5)
        assert js(tab, "document.documentElement.scrollWidth") <= 390
        js(tab, "window.scrollTo(0, 0)")
        browser.screenshot(tab, REPO / "artifacts" / "web_control_phone.png")
