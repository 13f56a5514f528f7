"""Recordings and clips play in a real browser, whole or cut off by SIGKILL.

headless Chromium loads each file into a <video> element from a local HTTP server and plays it to
the end at 16x speed, counting the frames it presents. OpenCV's old mp4v file is the control: the
same check must reject it, or it would prove nothing.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import pytest

from camapp.outputs.video_file import open_video_file
from tests.browser.cdp import Browser
from tests.outputs.conftest import wait_until

FRAMES = 120  # 4 s at 30 fps

PAGE = """<!doctype html><video id=v muted></video><script>
window.play = src => new Promise(done => {
  const v = document.getElementById('v'); let frames = 0;
  const count = () => { frames++; v.requestVideoFrameCallback(count); };
  v.requestVideoFrameCallback(count);
  v.onerror = () => done({error: v.error.code, currentTime: v.currentTime, frames});
  v.onloadedmetadata = () => { v.playbackRate = 16; v.play().catch(e => done({error: String(e)})); };
  v.onended = () => done({width: v.videoWidth, height: v.videoHeight, duration: v.duration, frames});
  setTimeout(() => done({timeout: true, currentTime: v.currentTime}), 20000);
  v.src = src;
});
</script>"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    (tmp_path / "page.html").write_text(PAGE)
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", tmp_path
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def record(path: Path, video: Path) -> None:
    cap = cv2.VideoCapture(str(video))
    out = open_video_file(str(path), 30.0, 640, 360)
    for _ in range(FRAMES):
        out.write(cap.read()[1])
    out.close()
    cap.release()


KILLED_WRITER = """
import sys, cv2
from camapp.outputs.video_file import open_video_file
cap, out = cv2.VideoCapture(sys.argv[1]), open_video_file(sys.argv[2], 30.0, 640, 360)
for n in range(1, 10_000):
    out.write(cap.read()[1])
    print(n, flush=True)
"""


def record_until_killed(path: Path, video: Path, frames: int) -> int:
    """Frames written by a process that got SIGKILL right after writing `frames` (or a few more)."""
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(video), str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    written = 0
    for line in proc.stdout:
        written = int(line)
        if written >= frames:
            proc.kill()
            break
    proc.wait()
    return written


@pytest.mark.slow
def test_chromium_plays_recordings_whole_and_killed_but_not_opencvs_mp4v(served: tuple[str, Path], videos_dir: Path) -> None:
    url, folder = served
    record(folder / "whole.mp4", videos_dir / "bottle-detection.mp4")
    killed_after = record_until_killed(folder / "killed.mp4", videos_dir / "bottle-detection.mp4", 75)
    cap = cv2.VideoCapture(str(videos_dir / "bottle-detection.mp4"))
    old = cv2.VideoWriter(str(folder / "mp4v.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (640, 360))
    for _ in range(30):
        old.write(cap.read()[1])
    old.release()

    browser = Browser(folder / "profile")
    try:
        tab = browser.open(url + "page.html")
        wait_until(lambda: browser.evaluate(tab, "typeof play") == "function", 30, "the page to load")
        played = {}
        for name in ("whole.mp4", "killed.mp4", "mp4v.mp4"):
            reply = browser.send("Runtime.evaluate", {"expression": f"play('{name}')", "awaitPromise": True, "returnByValue": True},
                                 session=tab, timeout=40)
            played[name] = reply["result"]["value"]
    finally:
        browser.close()

    whole, killed = played["whole.mp4"], played["killed.mp4"]
    assert (whole["width"], whole["height"]) == (640, 360) and whole["duration"] == pytest.approx(FRAMES / 30, abs=0.05), played
    assert whole["frames"] > 0, played
    # Played to its end without an error, losing at most the 0.2 s fragment being made.
    assert killed.get("width") == 640 and (killed_after - 7) / 30 <= killed["duration"] <= killed_after / 30 + 0.05, played
    assert played["mp4v.mp4"]["error"] == 4, "MEDIA_ERR_SRC_NOT_SUPPORTED: the check can tell a file browsers cannot play"
