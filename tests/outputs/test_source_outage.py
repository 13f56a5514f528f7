"""A lost camera shows everywhere: /healthz, /api/status, /metrics, the page, MQTT availability; a reload renames the model.

The end-to-end tests run `camapp run` as a real process on a real MJPEG stream (tests/sources/
mjpeg_server.py) that the test takes away and brings back, with the real web server and a real
mosquitto broker, and read them as a supervisor, Prometheus and Home Assistant would. The
smaller ones drive a real SourceStatus through changed(), the call the reconnecting
source makes, to pin down exactly what each output says.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from camapp.outputs.mqtt import MqttSink
from camapp.sources.status import SourceState, SourceStatus
from camapp.stats import PipelineStats
from tests.outputs.conftest import DETECTOR, Mosquitto, MqttProbe, wait_until
from tests.outputs.test_mqtt import analytics, mqtt_config
from tests.outputs.test_web import make_web, parse_metrics
from tests.service_process import CamappProcess, NotifySocket
from tests.sources.mjpeg_server import MjpegServer, encode_jpegs, read_video_frames

CLASSIFIER = "mobilenet_v1_0.25_128_quant.tflite"
# A stalled stream counts as lost after 1 s (a cut one at once) and is reopened every 0.2..0.5 s.
FAST_RECONNECT = {"CAMAPP_SERVICE_STALL_TIMEOUT": "1", "CAMAPP_SERVICE_RECONNECT_MIN": "0.2", "CAMAPP_SERVICE_RECONNECT_MAX": "0.5"}


class Http:
    """GETs against a running camapp's web view; the port is the one it logged (it asked for port 0)."""

    def __init__(self, proc: CamappProcess) -> None:
        def logged_port() -> int | None:
            if proc.poll() is not None:
                raise AssertionError(f"camapp exited with {proc.poll()}:\n{proc.log()}")
            found = re.search(r"web view on http://127\.0\.0\.1:(\d+)/", proc.log())
            return int(found.group(1)) if found else None

        self.port: int = wait_until(logged_port, 60, "the web server to log its address")

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            res = conn.getresponse()
            return res.status, res.read()
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        return json.loads(self.get(path)[1])

    def metrics(self) -> dict[str, float]:
        return parse_metrics(self.get("/metrics")[1].decode())


def retained(probe_factory: Callable[..., MqttProbe], port: int, topic: str, predicate: Callable[[Any], bool]) -> Any:
    """What a subscriber that connects now (Home Assistant after a restart) is told: the retained message."""
    # Awaited, not slept for; 30 s because under a loaded CI machine the broker's answer to a new
    # subscriber took longer than 10 s (2 failures in 11 runs).
    return probe_factory(port, [topic]).wait_for(topic, lambda m: m.retain and predicate(m), timeout=30)


@pytest.fixture
def camera(videos_dir: Path) -> Iterator[MjpegServer]:
    """A network camera: the bottle clip's first frames over and over at 25 fps."""
    jpegs = encode_jpegs(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 24))
    with MjpegServer(jpegs, fps=25, repeat=True) as server:
        yield server


@pytest.fixture
def camapp_process(tmp_path: Path) -> Iterator[Callable[..., CamappProcess]]:
    procs: list[CamappProcess] = []

    def start(args: list[str], env: dict[str, str] | None = None) -> CamappProcess:
        procs.append(CamappProcess(["run", *args], tmp_path, env))
        return procs[-1]

    yield start
    for proc in procs:
        code, _ = proc.stop(timeout=10)
        assert code == 0, proc.log()


# -- end to end: `camapp run` with --http and --mqtt on a stream that goes away ----------------------


@pytest.mark.slow
def test_a_lost_stream_turns_healthz_status_metrics_and_mqtt_availability_and_back(
    camera: MjpegServer, mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe],
    camapp_process: Callable[..., CamappProcess], models_dir: Path,
) -> None:
    probe = probe_factory(mosquitto.port, ["camapp/shelf/#"])
    proc = camapp_process(["--source", camera.url, "--model", str(models_dir / CLASSIFIER), "--http", "127.0.0.1:0",
                           "--mqtt", f"127.0.0.1:{mosquitto.port}", "--camera-name", "shelf"], FAST_RECONNECT)
    web = Http(proc)
    wait_until(lambda: web.json("/api/status")["processed"] >= 5, 60, "frames through the pipeline")
    assert web.get("/healthz")[0] == 200 and web.json("/api/status")["source_state"] == "ok"
    probe.wait_for("camapp/shelf/status", lambda m: m.text == "online")
    assert web.metrics()["camapp_source_up"] == 1

    lost = time.monotonic()  # before: camapp may notice (and publish) while stop() still joins its threads
    camera.stop()  # the camera lost power: listening socket and stream gone
    wait_until(lambda: web.get("/healthz")[0] == 503, 15, "/healthz to turn 503")
    health = web.json("/healthz")
    assert health["status"] == "reconnecting" and "source lost" in health["reason"], health
    status = web.json("/api/status")
    assert status["source_state"] == "reconnecting" and status["healthy"] is False and status["reconnects"] == 0
    assert status["source_lost_s"] >= 0 and status["mqtt"]["availability"] == "offline"
    probe.wait_for("camapp/shelf/status", lambda m: m.text == "offline", since=lost, timeout=15)
    retained(probe_factory, mosquitto.port, "camapp/shelf/status", lambda m: m.text == "offline")  # HA: entities unavailable
    source = probe.wait_for("camapp/shelf/source", lambda m: m.json()["state"] == "reconnecting", since=lost)
    assert source.json()["reconnects"] == 0 and source.json()["since"] <= time.time()
    m = web.metrics()
    assert m["camapp_source_up"] == 0 and m["camapp_source_reconnects_total"] == 0

    back = time.monotonic()
    camera.start()  # back on the same address
    wait_until(lambda: web.get("/healthz")[0] == 200, 20, "/healthz to recover")
    status = web.json("/api/status")
    assert status["source_state"] == "ok" and status["reconnects"] >= 1 and status["source_lost_s"] is None
    probe.wait_for("camapp/shelf/status", lambda m: m.text == "online", since=back)
    assert probe.wait_for("camapp/shelf/source", lambda m: m.json()["state"] == "ok", since=back).json()["reconnects"] >= 1
    m = web.metrics()
    assert m["camapp_source_up"] == 1 and m["camapp_source_reconnects_total"] >= 1
    assert proc.log().count("stopped delivering frames") == 1, "logged once per outage, not once per try"


@pytest.mark.slow
def test_after_a_sighup_reload_the_page_and_the_mqtt_device_name_the_new_model(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe], camapp_process: Callable[..., CamappProcess],
    models_dir: Path, videos_dir: Path, tmp_path: Path,
) -> None:
    config = tmp_path / "camapp.yaml"

    def write_config(model: str, labels: str = "") -> None:
        config.write_text(f"source:\n  uri: {videos_dir / 'bottle-detection.mp4'}\n  loop: true\n  realtime: true\n"
                          f"model:\n  name: {models_dir / model}\n" + (f"  labels: {models_dir / labels}\n" if labels else "")
                          + "mqtt:\n  camera: shelf\n")

    write_config(CLASSIFIER)
    probe = probe_factory(mosquitto.port, ["camapp/shelf/#", "homeassistant/#"])
    notify = NotifySocket(tmp_path)
    try:
        proc = camapp_process(["--config", str(config), "--http", "127.0.0.1:0", "--mqtt", f"127.0.0.1:{mosquitto.port}"],
                              {"NOTIFY_SOCKET": notify.address})
        web = Http(proc)
        wait_until(lambda: web.json("/api/status")["processed"] >= 3, 60, "the classifier running")
        assert web.json("/api/status")["model"] == "mobilenet_v1_0.25_128_quant"
        device_topic = "homeassistant/sensor/shelf_last_event/config"
        probe.wait_for(device_topic, lambda m: m.json()["device"]["model"] == "mobilenet_v1_0.25_128_quant")

        write_config(DETECTOR, "coco_labels.txt")
        sent = time.monotonic()
        proc.send(signal.SIGHUP)
        wait_until(lambda: notify.count("READY=1", since=sent) == 1, 60, "the reload")
        new_name = DETECTOR.removesuffix(".tflite")
        assert web.json("/api/status")["model"] == new_name
        probe.wait_for(device_topic, lambda m: m.json()["device"]["model"] == new_name, since=sent)
        retained(probe_factory, mosquitto.port, device_topic, lambda m: m.json()["device"]["model"] == new_name)
        wait_until(lambda: (web.json("/api/status")["results"] or {}).get("detections") is not None, 30, "detector results")
        probe.wait_for("homeassistant/sensor/shelf_bottle/config", lambda m: m.json()["device"]["model"] == new_name, since=sent)
    finally:
        notify.close()


# -- what each output says, driven through SourceStatus.changed -------------------------------------


def test_healthz_status_and_metrics_while_the_source_is_being_reopened() -> None:
    stats, source = PipelineStats(), SourceStatus()
    web = make_web(stats, source=source)
    try:
        stats.frame_read()
        assert web.health()[0] is True and web.status()["source_state"] == "ok" and web.status()["source_lost_s"] is None
        source.changed(SourceState("reconnecting", 2, time.monotonic() - 4.0))
        ok, body = web.health()
        assert not ok and body["status"] == "reconnecting" and body["reason"] == "source lost 4 s ago, reopening it (2 reconnects so far)"
        status = web.status()
        assert status["health"] == "reconnecting" and status["reconnects"] == 2 and 4.0 <= status["source_lost_s"] < 10
        m = parse_metrics(web.registry.render())
        assert m["camapp_source_up"] == 0 and m["camapp_source_reconnects_total"] == 2
        source.changed(SourceState("ok", 3, None))
        stats.frame_read()
        ok, body = web.health()
        assert ok and body["status"] == "ok" and "reason" not in body
        assert parse_metrics(web.registry.render())["camapp_source_up"] == 1
    finally:
        web.close()


@pytest.mark.slow
def test_a_broker_that_comes_back_during_an_outage_is_told_offline_not_online(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe]
) -> None:
    status = SourceStatus()
    sink = MqttSink(mqtt_config(mosquitto), analytics(), "ssd", status)  # type: ignore[arg-type]
    sink.start()
    try:
        wait_until(sink.connected.is_set, 10, "camapp to connect")
        probe = probe_factory(mosquitto.port, ["camapp/shelf/#"])
        probe.wait_for("camapp/shelf/status", lambda m: m.text == "online")
        mosquitto.stop()
        status.changed(SourceState("reconnecting", 0, time.monotonic()))  # the camera goes too, while the broker is away
        back = time.monotonic()
        mosquitto.start()  # no persistence: the broker forgot every retained message
        probe.wait_for("camapp/shelf/status", lambda m: m.text == "offline", since=back)
        assert not [m for m in probe.on("camapp/shelf/status", since=back) if m.text == "online"]
        retained(probe_factory, mosquitto.port, "camapp/shelf/status", lambda m: m.text == "offline")
        assert probe.wait_for("camapp/shelf/source", since=back).json()["state"] == "reconnecting"
        status.changed(SourceState("ok", 1, None))
        probe.wait_for("camapp/shelf/status", lambda m: m.text == "online", since=back)
        assert sink.report()["mqtt"]["availability"] == "online"
    finally:
        sink.close()
