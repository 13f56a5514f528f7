"""MQTT against a real mosquitto: events, counts, availability, last will, outages, TLS, discovery.

Each test starts its own broker (tests/outputs/conftest.py) and listens with a real paho client.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.analytics.events import DebounceOptions
from camapp.analytics.stage import Analytics
from camapp.config import load_config
from camapp.inference.model import Model, ModelOptions
from camapp.outputs.mqtt import MqttSink, label_topic, slug
from camapp.outputs.web import CameraInfo, WebOptions, WebSink
from camapp.pipeline import PipelineOptions
from camapp.sources import SourceOptions
from camapp.stats import PipelineStats
from tests.outputs.conftest import DETECTOR, Mosquitto, MqttProbe, finished, running, wait_until
from tests.outputs.test_web import get, parse_metrics

FILE_150 = PipelineOptions(mode="file", max_frames=150)
LIVE = SourceOptions(realtime=True, loop=True)


def mqtt_config(broker: Mosquitto, **keys: object) -> object:
    overrides = {"mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "mqtt.camera": "shelf", "mqtt.reconnect_min": 1,
                 "mqtt.reconnect_max": 2, **{f"mqtt.{k}": v for k, v in keys.items()}}
    return load_config(env={}, overrides=overrides).mqtt


def analytics(frames: int = 3) -> Analytics:
    """The analytics stage the pipeline runs; the sink reads its state, the pipeline feeds it."""
    return Analytics.for_events(DebounceOptions(frames))


@pytest.mark.slow
def test_events_counts_availability_and_discovery_reach_the_broker(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe], detector: Model, bottle_video: str
) -> None:
    probe = probe_factory(mosquitto.port, ["camapp/shelf/#", "homeassistant/#"])
    sink = MqttSink(mqtt_config(mosquitto, snapshot=True), analytics(), "ssd_mobilenet_v1")  # type: ignore[arg-type]
    sink.start()
    wait_until(sink.connected.is_set, 10, "camapp to connect")
    probe.wait_for("camapp/shelf/status", lambda m: m.text == "online")
    with running(bottle_video, detector, [sink], options=FILE_150, analytics=sink.analytics) as pipeline:
        wait_until(lambda: finished(pipeline), 60, "150 frames")
        appeared = probe.wait_for("camapp/shelf/events", lambda m: m.json()["event"] == "appeared")
        final = sink.analytics.state.counts["bottle"]
        probe.wait_for("camapp/shelf/bottle", lambda m: m.text == str(final))
    assert appeared.json()["label"] == "bottle" and appeared.json()["count"] == 3 and not appeared.retain
    events = [m.json() for m in probe.on("camapp/shelf/events")]
    assert len(events) == sum(sink.analytics.state.totals.values())  # every event, none twice
    assert {e["event"] for e in events} <= {"appeared", "count", "left"}
    probe.wait_for("camapp/shelf/status", lambda m: m.text == "offline")  # a clean stop says goodbye itself

    # A listener that comes later gets the retained state: availability, count, discovery.
    late = probe_factory(mosquitto.port, ["camapp/shelf/#", "homeassistant/#"])
    assert late.wait_for("camapp/shelf/status").retain and late.wait_for("camapp/shelf/status").text == "offline"
    assert late.wait_for("camapp/shelf/bottle").text == str(final)
    sensor = late.wait_for("homeassistant/sensor/shelf_bottle/config").json()
    assert sensor["state_topic"] == "camapp/shelf/bottle" and sensor["availability_topic"] == "camapp/shelf/status"
    assert sensor["payload_available"] == "online" and sensor["payload_not_available"] == "offline"
    assert sensor["unique_id"] == "camapp_shelf_bottle_sensor" and sensor["device"]["identifiers"] == ["camapp_shelf"]
    binary = late.wait_for("homeassistant/binary_sensor/shelf_bottle/config").json()
    assert binary["device_class"] == "occupancy" and binary["state_topic"] == "camapp/shelf/bottle"
    assert late.wait_for("homeassistant/sensor/shelf_last_event/config").json()["state_topic"] == "camapp/shelf/events"
    assert late.wait_for("homeassistant/camera/shelf_snapshot/config").json()["topic"] == "camapp/shelf/snapshot"
    snapshot = cv2.imdecode(np.frombuffer(late.wait_for("camapp/shelf/snapshot").payload, np.uint8), cv2.IMREAD_COLOR)
    assert snapshot is not None and snapshot.shape == (360, 640, 3)  # the annotated frame of the last event


def test_the_last_will_says_offline_when_camapp_is_killed(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe], models_dir: Path, bottle_video: str, tmp_path: Path
) -> None:
    probe = probe_factory(mosquitto.port, ["camapp/victim/status"])
    log = open(tmp_path / "camapp.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "camapp", "run", "--source", bottle_video, "--realtime", "--loop",
         "--model", str(models_dir / DETECTOR), "--labels", str(models_dir / "coco_labels.txt"),
         "--mqtt", f"127.0.0.1:{mosquitto.port}", "--camera-name", "victim"],
        stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
    )
    try:
        probe.wait_for("camapp/victim/status", lambda m: m.text == "online", timeout=60)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)  # no goodbye: only the broker can tell
        proc.wait(10)
        will = probe.wait_for("camapp/victim/status", lambda m: m.text == "offline", since=killed_at)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    assert will.at >= killed_at
    later = probe_factory(mosquitto.port, ["camapp/victim/status"])
    retained = later.wait_for("camapp/victim/status")
    assert retained.retain and retained.text == "offline"


@pytest.mark.slow
def test_a_broker_outage_never_stops_the_pipeline_and_mqtt_resumes_after_it(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe], detector: Model, bottle_video: str
) -> None:
    stats = PipelineStats()
    events = analytics(2)
    sink = MqttSink(mqtt_config(mosquitto, queue=4), events, "ssd")  # type: ignore[arg-type]
    sink.start()
    web = WebSink(WebOptions(port=0), CameraInfo("ssd", "bottle"), stats, events)
    web.start()
    web.registry.add(sink.metrics)
    web.status_extras.append(sink.report)
    probe = probe_factory(mosquitto.port, ["camapp/shelf/#"])
    with running(bottle_video, detector, [sink, web], stats, LIVE, analytics=events):
        probe.wait_for("camapp/shelf/events", timeout=30)

        mosquitto.stop()
        wait_until(lambda: not sink.connected.is_set(), 10, "camapp to notice the broker is gone")
        processed = stats.processed
        # Events keep coming, the queue of 4 overflows, the oldest are dropped and counted.
        wait_until(lambda: sink.worker.counters.dropped > 0, 60, "messages to be dropped during the outage")
        assert stats.processed > processed + 10  # frames kept flowing all along
        metrics = parse_metrics(get(web, "/metrics")[2].decode())
        assert metrics['camapp_output_dropped_total{output="mqtt"}'] > 0 and metrics["camapp_mqtt_connected"] == 0
        assert json.loads(get(web, "/api/status")[2])["mqtt"]["connected"] is False

        restarted = time.monotonic()
        mosquitto.start()  # same port, no persistence: the broker has forgotten everything
        wait_until(sink.connected.is_set, 30, "camapp to reconnect")
        probe.wait_for("camapp/shelf/status", lambda m: m.text == "online", since=restarted, timeout=30)
        probe.wait_for("camapp/shelf/events", since=restarted, timeout=60)
        processed_at_end = stats.processed
    assert processed_at_end > processed + 30
    assert sink.connects >= 2


@pytest.mark.slow
def test_a_broker_that_is_down_from_the_start_is_retried_without_holding_anything_up(
    tmp_path: Path, detector: Model, bottle_video: str, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Mosquitto(tmp_path)  # configured, never started: connections are refused
    sink = MqttSink(mqtt_config(broker, queue=3), analytics(1), "ssd")  # type: ignore[arg-type]
    sink.start()
    stats = PipelineStats()
    pipeline = running(bottle_video, detector, [sink], stats, options=FILE_150, analytics=sink.analytics)
    with caplog.at_level(logging.INFO, logger="camapp.outputs.mqtt"), pipeline as p:
        wait_until(lambda: finished(p), 60, "150 frames")
    assert stats.processed == 150 and not sink.connected.is_set()
    assert sink.worker.counters.dropped + sink.not_sent > 0
    assert sum("cannot reach" in r.message for r in caplog.records) == 1  # logged once, not once per retry


def make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl command."""
    paths = {name: folder / f"{name}.pem" for name in ("ca", "ca-key", "server", "server-key")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=camapp test CA",
            "-keyout", str(paths["ca-key"]), "-out", str(paths["ca"]))
    csr = folder / "server.csr"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(paths["server-key"]), "-out", str(csr))
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(paths["ca"]), "-CAkey", str(paths["ca-key"]), "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", str(paths["server"]))
    return paths


@pytest.fixture
def tls_broker(tmp_path: Path) -> tuple[Mosquitto, dict[str, Path]]:
    certs = make_certificates(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "camera1", "pa55 word"], check=True, capture_output=True)
    settings = ["allow_anonymous false", f"password_file {passwords}", f"cafile {certs['ca']}",
                f"certfile {certs['server']}", f"keyfile {certs['server-key']}"]
    broker = Mosquitto(tmp_path, settings).start()
    yield broker, certs
    broker.stop()


@pytest.mark.slow
def test_tls_with_a_password_from_the_environment(
    tls_broker: tuple[Mosquitto, dict[str, Path]], probe_factory: Callable[..., MqttProbe], caplog: pytest.LogCaptureFixture
) -> None:
    broker, certs = tls_broker
    overrides = {"mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "mqtt.camera": "door", "mqtt.tls": True,
                 "mqtt.cafile": str(certs["ca"]), "mqtt.username": "camera1"}
    cfg = load_config(env={"CAMAPP_MQTT_PASSWORD": "pa55 word"}, overrides=overrides)
    probe = probe_factory(broker.port, ["camapp/door/status"], cafile=str(certs["ca"]), username="camera1", password="pa55 word")
    sink = MqttSink(cfg.mqtt, analytics(), "ssd")
    sink.start()
    try:
        wait_until(sink.connected.is_set, 15, "a TLS connection with the password")
        assert probe.wait_for("camapp/door/status").text == "online"
    finally:
        sink.close()

    wrong = load_config(env={"CAMAPP_MQTT_PASSWORD": "guess"}, overrides=overrides)
    with caplog.at_level(logging.ERROR, logger="camapp.outputs.mqtt"):
        sink = MqttSink(wrong.mqtt, analytics(), "ssd")
        sink.start()
        try:
            wait_until(lambda: any("refused" in r.message for r in caplog.records), 15, "the refusal to be logged")
            assert not sink.connected.is_set()
        finally:
            sink.close()


def test_a_classifier_publishes_its_top_class(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe], models_dir: Path, videos_dir: Path
) -> None:
    model = Model(ModelOptions(path=str(models_dir / "mobilenet_v1_0.75_192_quant.tflite"), labels=str(models_dir / "imagenet_labels.txt")))
    probe = probe_factory(mosquitto.port, ["camapp/shelf/#", "homeassistant/#"])
    sink = MqttSink(mqtt_config(mosquitto), analytics(3), "mobilenet")  # type: ignore[arg-type]
    sink.start()
    wait_until(sink.connected.is_set, 10, "camapp to connect")
    clip = str(videos_dir / "asl_gestures_book.mkv")
    with running(clip, model, [sink], options=PipelineOptions(mode="file"), analytics=sink.analytics) as pipeline:
        wait_until(lambda: finished(pipeline), 60, "the whole clip")
        top = sink.analytics.state.top_class
        assert top is not None
        probe.wait_for("camapp/shelf/class", lambda m: m.text == top)
    changes = [m.json() for m in probe.on("camapp/shelf/events")]
    assert changes and all(e["event"] == "class_changed" for e in changes) and changes[-1]["label"] == top
    assert probe.wait_for("homeassistant/sensor/shelf_class/config").json()["state_topic"] == "camapp/shelf/class"


def test_labels_become_safe_topic_levels_and_object_ids() -> None:
    assert slug("dining table") == "dining_table" and slug("Living Room/Cam#1") == "living_room_cam_1"
    assert label_topic("hot dog") == "hot_dog" and label_topic("status") == "label_status"  # never clobbers base/status
    assert os.sep not in slug("../../x") and "+" not in slug("a+b")
