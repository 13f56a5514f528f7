"""Fixtures for output tests: a real mosquitto broker, an MQTT listener, real models and pipelines.

Mosquitto is Debian's broker (scripts/test installs it). Each test gets its own broker on a free
port with a generated config, and can stop it and start it again on the same port to play an
outage. Pipelines run the real SSD detector on the shared videos in a thread; leaving the
`running()` block stops them and re-raises anything the worker raised (never swallowed).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from camapp.analytics.stage import Analytics
from camapp.inference.model import Model, ModelOptions
from camapp.outputs.base import Sink
from camapp.pipeline import Pipeline, PipelineOptions
from camapp.sources import SourceOptions, open_source
from camapp.stats import PipelineStats

DETECTOR = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll until condition() is truthy and return its value; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def mosquitto_binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("mosquitto is not installed: run scripts/test (it installs it) or apt-get install mosquitto")


class Mosquitto:
    """A real broker on 127.0.0.1:port; stop() and start() again keep the port (an outage)."""

    def __init__(self, folder: Path, settings: list[str] | None = None) -> None:
        """settings replace `allow_anonymous true` (e.g. TLS files and a password file)."""
        self.folder = folder
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", *(settings or ["allow_anonymous true"]), "persistence false"]
        if os.geteuid() == 0:
            lines.append(f"user {getpass.getuser()}")  # as root it would switch to a 'mosquitto' user that cannot read tmp files
        self.config.write_text("\n".join(lines) + "\n")
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._accepting, 10, f"mosquitto on port {self.port} ({self.log.read_text()[-500:]})")
        return self

    def _accepting(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"mosquitto exited: {self.log.read_text()[-1000:]}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path).start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttProbe:
    """A subscriber that records everything under `topics`; reconnects and resubscribes by itself."""

    def __init__(self, port: int, topics: list[str], host: str = "127.0.0.1", **auth: str) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self.topics = topics
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{time.monotonic_ns()}")
        if "cafile" in auth:
            self.client.tls_set(ca_certs=auth["cafile"])
        if "username" in auth:
            self.client.username_pw_set(auth["username"], auth.get("password"))
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in self.topics]
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic()))

    def on(self, topic: str, since: float = 0.0) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic and m.at >= since]

    def wait_for(self, topic: str, predicate: Callable[[Received], bool] = lambda m: True, since: float = 0.0,
                 timeout: float = 20.0) -> Received:
        return wait_until(lambda: next((m for m in self.on(topic, since) if predicate(m)), None), timeout, f"a message on {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def probe_factory() -> Iterator[Callable[..., MqttProbe]]:
    probes: list[MqttProbe] = []

    def make(port: int, topics: list[str], **auth: str) -> MqttProbe:
        probes.append(MqttProbe(port, topics, **auth))
        return probes[-1]

    yield make
    for p in probes:
        p.close()


@pytest.fixture(scope="session")
def detector(models_dir: Path) -> Model:
    """The real SSD-MobileNet V1 COCO detector (one pipeline at a time uses it)."""
    return Model(ModelOptions(path=str(models_dir / DETECTOR), labels=str(models_dir / "coco_labels.txt")))


@pytest.fixture(scope="session")
def bottle_video(videos_dir: Path) -> str:
    return str(videos_dir / "bottle-detection.mp4")


@pytest.fixture(scope="session")
def people_video(videos_dir: Path) -> str:
    return str(videos_dir / "one-by-one-person-detection.mp4")


@contextmanager
def running(
    source_uri: str,
    model: Model,
    sinks: list[Sink],
    stats: PipelineStats | None = None,
    source_options: SourceOptions | None = None,
    options: PipelineOptions | None = None,
    analytics: Analytics | None = None,
) -> Iterator[Pipeline]:
    """A real pipeline in a thread; on exit it is stopped, its sinks closed, and its error re-raised."""
    source = open_source(source_uri, source_options or SourceOptions())
    source.open()
    pipeline = Pipeline(source, model, sinks, options or PipelineOptions(), stats=stats or PipelineStats(), analytics=analytics)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            pipeline.run()
        except BaseException as exc:  # handed to the test thread below
            errors.append(exc)

    thread = threading.Thread(target=work, name="test-pipeline", daemon=True)
    thread.start()
    try:
        yield pipeline
    finally:
        pipeline.stop.set()
        thread.join(30)
        for sink in sinks:
            sink.close()
        source.close()
    assert not thread.is_alive(), "the pipeline did not stop"
    if errors:
        raise errors[0]


def finished(pipeline: Pipeline) -> bool:
    """True once a file-mode pipeline has handled its whole source."""
    return pipeline.stop.is_set()


@contextmanager
def camapp_run(cfg: Any, config_path: Path | None = None,
               before: Callable[[int, Any], None] | None = None) -> Iterator[tuple[int, Pipeline]]:
    """What `camapp run` builds from a config (camapp.commands.run), with the pipeline in a thread;
    yields the web view's port and the pipeline, and re-raises a pipeline error at the end.
    `before(port, controls)` runs once the web view is up, before the first frame is read."""
    from camapp.app import OutputContext, build_analytics, build_models, build_outputs, source_options
    from camapp.control import ControlChannel
    from camapp.outputs.web import WebSink

    stop, stats, controls = threading.Event(), PipelineStats(), ControlChannel()
    source = open_source(cfg.source.uri or "", source_options(cfg))
    models, arrangement = build_models(cfg, source)
    analytics = build_analytics(cfg, source)
    source.open()
    sinks = build_outputs(OutputContext(cfg, source, stats, analytics, stop, arrangement=arrangement, controls=controls,
                                        config_path=str(config_path) if config_path else None))
    p = cfg.pipeline
    pipeline = Pipeline(source, models, sinks, PipelineOptions(p.mode, p.every, p.max_frames), stop, stats, analytics, controls)
    errors: list[BaseException] = []
    web = next(s for s in sinks if isinstance(s, WebSink))
    if before is not None:
        before(web.server.port, controls)

    def work() -> None:
        try:
            pipeline.run()
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    thread = threading.Thread(target=work, name="test-pipeline", daemon=True)
    thread.start()
    try:
        yield web.server.port, pipeline
    finally:
        stop.set()
        thread.join(30)
        for sink in sinks:
            sink.close()
        source.close()
    if errors:
        raise errors[0]
