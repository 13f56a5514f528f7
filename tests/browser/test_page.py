"""The web view in a real browser: headless Chromium opens the page of a running `camapp run`.

camapp runs as a user would start it (a separate process, --http, a token from the environment);
Chromium loads the page with ?token=, the page's <img> shows the MJPEG stream and its script
polls /api/status. A screenshot is kept in artifacts/web_view_chromium.png for a human to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.cdp import Browser
from tests.outputs.conftest import DETECTOR, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
TOKEN = "browser-t0ken"


@pytest.fixture
def camapp_web(models_dir: Path, videos_dir: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path / "camapp.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "camapp", "run", "--source", str(videos_dir / "bottle-detection.mp4"), "--realtime", "--loop",
         "--model", str(models_dir / DETECTOR), "--labels", str(models_dir / "coco_labels.txt"), "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, env={**os.environ, "CAMAPP_HTTP_TOKEN": TOKEN},
    )
    try:
        wait_until(lambda: b"web view on" in (tmp_path / "camapp.log").read_bytes() or proc.poll() is not None, 60, "the web server")
        assert proc.poll() is None, (tmp_path / "camapp.log").read_text()
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


@pytest.mark.slow
def test_chromium_shows_the_live_annotated_stream_and_status_updates(camapp_web: str, tmp_path: Path) -> None:
    browser = Browser(tmp_path / "profile")
    try:
        tab = browser.open(camapp_web + "?token=" + TOKEN)
        js = browser.evaluate
        wait_until(lambda: js(tab, "document.getElementById('view').naturalWidth") == 640, 30, "the stream to show a frame")
        wait_until(lambda: js(tab, "document.getElementById('model').textContent") != "-", 30, "the first status poll")

        def frames() -> str:
            return str(js(tab, "document.getElementById('frames').textContent"))

        first = frames()
        second = wait_until(lambda: (now := frames()) != first and now, 30, "the status to update")
        wait_until(lambda: frames() not in (first, second), 30, "a second status poll, so the screenshot shows running numbers")
        page = js(tab, "({model: model.textContent, source: source.textContent, health: health.textContent,"
                       " results: results.innerText, fps: inference_fps.textContent, note: note.textContent,"
                       " height: view.naturalHeight, events: events.innerText})")
        artifacts = REPO / "artifacts"
        artifacts.mkdir(exist_ok=True)
        browser.screenshot(tab, artifacts / "web_view_chromium.png")
    finally:
        browser.close()
    assert page["model"] == DETECTOR.removesuffix(".tflite") and page["source"].endswith("bottle-detection.mp4")
    assert page["health"] == "frames flowing" and page["note"] == "" and page["height"] == 360
    assert "bottle" in page["results"] and "appeared bottle" in page["events"]
    assert float(page["fps"].split()[0]) > 5
    assert (artifacts / "web_view_chromium.png").stat().st_size > 20_000
