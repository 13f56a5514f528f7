"""A password in the source URL appears nowhere: logs, errors, /api/status, the page, /metrics,
events, JSON lines, MQTT (Home Assistant discovery included). Real MJPEG server, real broker."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.outputs.conftest import Mosquitto, MqttProbe, free_port
from tests.sources.mjpeg_server import MjpegServer, closed_port, encode_jpegs, read_video_frames

PASSWORD = "Pa55-w0rd-XYZ"
TOKEN = "t0k3n-QRS"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode(errors="replace")


@pytest.mark.slow
def test_a_password_in_the_source_url_is_in_no_output(videos_dir, tmp_path: Path, mosquitto: Mosquitto) -> None:
    jpegs = encode_jpegs(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 30))
    http_port = free_port()
    probe = MqttProbe(mosquitto.port, ["#"])
    with MjpegServer(jpegs, fps=25, repeat=True) as camera:
        url = camera.url.replace("http://", f"http://viewer:{PASSWORD}@") + f"?token={TOKEN}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "camapp", "run", "--source", url, "--model", "ssd_mobilenet_v1_coco_quant", "--threads", "1",
             "--http", f"127.0.0.1:{http_port}", "--events", str(tmp_path / "events.jsonl"), "--output", str(tmp_path / "results.jsonl"),
             "--mqtt", f"127.0.0.1:{mosquitto.port}", "--camera-name", "door", "--debug"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            shown: list[str] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    status = _get(f"http://127.0.0.1:{http_port}/api/status")
                except OSError:
                    time.sleep(0.2)  # not listening yet
                    continue
                if '"processed": 0' not in status:
                    break
                time.sleep(0.2)
            shown += [status, _get(f"http://127.0.0.1:{http_port}/"), _get(f"http://127.0.0.1:{http_port}/metrics")]
            camera.drop_clients()  # a reconnect: its log lines name the source too
            deadline = time.monotonic() + 45
            while '"reconnects": 0' in _get(f"http://127.0.0.1:{http_port}/api/status") and time.monotonic() < deadline:
                time.sleep(0.2)
            shown.append(_get(f"http://127.0.0.1:{http_port}/api/status"))
            proc.send_signal(signal.SIGTERM)
            stderr = proc.communicate(timeout=30)[1]
        finally:
            proc.kill()
            probe.close()
    shown.append(stderr)
    shown += [(tmp_path / name).read_text() for name in ("events.jsonl", "results.jsonl")]
    shown += [m.payload.decode(errors="replace") + m.topic for m in probe.messages]
    assert probe.messages and "viewer:***@" in status  # the outputs did run and show the masked URL
    for text in shown:
        assert PASSWORD not in text and TOKEN not in text


def test_a_stream_that_cannot_be_opened_is_reported_without_its_password() -> None:
    url = f"rtsp://admin:{PASSWORD}@127.0.0.1:{closed_port()}/live?token={TOKEN}"
    proc = subprocess.run([sys.executable, "-m", "camapp", "run", "--source", url, "--model", "ssd_mobilenet_v1_coco_quant"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 3, proc.stderr
    assert "admin:***@" in proc.stderr and PASSWORD not in proc.stderr and TOKEN not in proc.stderr
