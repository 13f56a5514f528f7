"""OpenCV's and FFmpeg's own log lines stay out of the terminal unless --debug; skipped frames are counted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from camapp.logs import quiet_native_logs
from tests.outputs.test_web import parse_metrics
from tests.sources.mjpeg_server import MjpegServer, closed_port, encode_jpegs, read_video_frames


def test_opencv_and_ffmpeg_are_quiet_unless_debug_and_a_users_choice_is_kept() -> None:
    env: dict[str, str] = {}
    quiet_native_logs(debug=False, env=env)
    assert env == {"OPENCV_LOG_LEVEL": "OFF", "OPENCV_FFMPEG_LOGLEVEL": "-8"}
    debug: dict[str, str] = {}
    quiet_native_logs(debug=True, env=debug)
    assert debug == {}
    mine = {"OPENCV_LOG_LEVEL": "INFO"}
    quiet_native_logs(debug=False, env=mine)
    assert mine["OPENCV_LOG_LEVEL"] == "INFO"


def native_lines(stderr: str) -> list[str]:
    """Lines OpenCV ('[ WARN:0@...', '[ERROR:...') and FFmpeg ('[mjpeg @ 0x...') print themselves."""
    return [line for line in stderr.splitlines() if line.startswith("[")]


def test_a_missing_camera_is_camapps_one_line_and_nothing_from_opencv() -> None:
    # As a user starts it: no OpenCV log variables inherited from camapp code run in this process.
    env = {k: v for k, v in os.environ.items() if k not in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")}
    proc = subprocess.run([sys.executable, "-m", "camapp", "run", "--source", "/dev/video57", "--model", "ssd_mobilenet_v1_coco_quant"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)
    assert proc.returncode == 3
    assert native_lines(proc.stderr) == []
    assert [line for line in proc.stderr.splitlines() if line.startswith("camapp: error:")] != []
    debug = subprocess.run([sys.executable, "-m", "camapp", "run", "--source", "/dev/video57", "--model", "ssd_mobilenet_v1_coco_quant",
                            "--debug"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)
    assert native_lines(debug.stderr) != []  # --debug still shows what the libraries said


def corrupt_stream(videos_dir) -> list[bytes]:
    """Good JPEGs with undecodable ones between them, as a flaky IP camera sends."""
    good = encode_jpegs(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 8))
    rng = random.Random(3)
    garbage = [b"\xff\xd8" + bytes(rng.randrange(256) for _ in range(4000)) + b"\xff\xd9" for _ in range(2)]
    return [frame for jpeg in good for frame in (jpeg, *garbage)]


@pytest.mark.slow
def test_corrupt_jpegs_in_a_stream_print_nothing_and_are_counted_in_metrics(videos_dir) -> None:
    port = closed_port()
    with MjpegServer(corrupt_stream(videos_dir), fps=30, repeat=True) as camera:
        proc = subprocess.Popen(
            [sys.executable, "-m", "camapp", "run", "--source", camera.url, "--model", "ssd_mobilenet_v1_coco_quant",
             "--http", f"127.0.0.1:{port}", "--threads", "1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            unreadable = 0.0
            deadline = time.monotonic() + 60
            while unreadable < 6 and time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                        unreadable = parse_metrics(response.read().decode()).get("camapp_frames_unreadable_total", 0)
                except OSError:
                    pass  # not listening yet
                time.sleep(0.2)  # polling a metrics endpoint, as Prometheus does
            proc.send_signal(signal.SIGTERM)
            stderr = proc.communicate(timeout=30)[1]
        finally:
            proc.kill()
    assert unreadable >= 6, stderr
    assert native_lines(stderr) == [], stderr
