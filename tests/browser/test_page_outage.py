"""The page in a real browser while the camera is away: the header says "reconnecting…", then counts the reconnect.

`camapp run` reads a real MJPEG stream (tests/sources/mjpeg_server.py) that the test takes away and
brings back; headless Chromium keeps the page open throughout, as someone watching would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.cdp import Browser
from tests.outputs.test_source_outage import CLASSIFIER, FAST_RECONNECT, Http
from tests.service_process import CamappProcess, wait_until
from tests.sources.mjpeg_server import MjpegServer, encode_jpegs, read_video_frames


@pytest.mark.slow
def test_the_header_shows_reconnecting_while_the_stream_is_lost_and_the_reconnect_after(
    tmp_path: Path, videos_dir: Path, models_dir: Path
) -> None:
    jpegs = encode_jpegs(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 24))
    with MjpegServer(jpegs, fps=25, repeat=True) as camera:
        proc = CamappProcess(["run", "--source", camera.url, "--model", str(models_dir / CLASSIFIER), "--http", "127.0.0.1:0"],
                             tmp_path, FAST_RECONNECT)
        browser = Browser(tmp_path / "profile")
        try:
            url = f"http://127.0.0.1:{Http(proc).port}/"
            tab = browser.open(url)

            def header() -> tuple[str, str]:
                got = browser.evaluate(tab, "window.health ? [health.textContent, health.className] : null")
                return (got[0], got[1]) if got else ("", "")  # null while the page is still loading

            wait_until(lambda: header() == ("frames flowing", "ok"), 30, "the page's first status", proc)
            camera.stop()
            wait_until(lambda: header()[0].startswith("reconnecting\u2026 source lost"), 15, "the header to say reconnecting", proc)
            assert header()[1] == "bad" and header()[0].endswith(" ago")
            camera.start()
            back = re.compile(r"frames flowing \(\d+ reconnects?\)")  # one outage: 1, unless the stream flickered
            wait_until(lambda: bool(back.fullmatch(header()[0])) and header()[1] == "ok", 20, "the header after the reconnect", proc)
            code, _ = proc.stop(timeout=10)
        finally:
            browser.close()
            proc.kill()
    assert code == 0, proc.log()
