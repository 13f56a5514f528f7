"""The headless smart-camera outputs, built together because they share one event stream.

--events (JSON lines of changes), --mqtt, --snapshots and --http all see the same debounced
events (one EventDetector, see camapp.events.EventStream), and the web server's /metrics and
/api/status also report the others' queues and connections. Heavy imports (paho) happen only when
the output is asked for.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from camapp.config import Config
from camapp.events import DebounceOptions, EventDetector, EventStream
from camapp.outputs.base import Sink
from camapp.sources.base import Source
from camapp.stats import PipelineStats

# argparse dest -> config key, merged into `camapp run`'s mapping.
SMARTCAM_ARGS = {
    "http": "http.listen",
    "events": "events.output",
    "mqtt": "mqtt.host",
    "mqtt_port": "mqtt.port",
    "camera_name": "mqtt.camera",
    "snapshots": "snapshots.dir",
    "snapshot_labels": "snapshots.labels",
}


class _HostPort(argparse.Action):
    """--mqtt HOST[:PORT] sets mqtt.host and, when given, mqtt.port."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, option: str | None = None) -> None:
        host, sep, port = str(value).rpartition(":")
        if sep and port.isdigit() and host and not host.endswith(":"):
            ns.mqtt_port = int(port)
        else:
            host = str(value)
        setattr(ns, self.dest, host.strip("[]"))


def add_smartcam_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("smart camera (see docs/web.md and docs/mqtt.md)")
    g.add_argument("--http", metavar="HOST:PORT", help="serve the web view, stream, status, /healthz and /metrics (e.g. 127.0.0.1:8080)")
    g.add_argument("--events", nargs="?", const="-", metavar="PATH", help="JSON lines of change events only (default stdout)")
    g.add_argument("--mqtt", action=_HostPort, metavar="HOST[:PORT]", help="publish status, events and counts to this MQTT broker")
    g.add_argument("--camera-name", dest="camera_name", metavar="NAME", help="this camera's name in MQTT topics and Home Assistant")
    g.add_argument("--snapshots", metavar="DIR", help="save a JPEG (and optional clip) when chosen labels appear")
    g.add_argument("--snapshot-labels", dest="snapshot_labels", metavar="A,B", help="labels that trigger snapshots (default: any)")
    p.set_defaults(mqtt_port=None)


def model_name(cfg: Config) -> str:
    name = cfg.model.name or (f"backbone {cfg.model.backbone}" if cfg.model.backbone else "")
    base = os.path.basename(name)
    return base[:-7] if base.endswith(".tflite") else base


def announce_model(sinks: list[Sink], name: str) -> None:
    """After a SIGHUP reload: outputs that name the model (web page, MQTT device) name the new one."""
    for sink in sinks:
        inner = getattr(sink, "sink", sink)  # service.sinks() wraps each output in a GuardedSink
        hook = getattr(inner, "model_changed", None)
        if callable(hook):
            hook(name)


def build_smartcam_sinks(cfg: Config, source: Source, stats: PipelineStats) -> list[Sink]:
    if not (cfg.events.output or cfg.mqtt.host or cfg.snapshots.dir or cfg.http.listen):
        return []
    e = cfg.events
    stream = EventStream(EventDetector(DebounceOptions(e.debounce_frames, e.debounce_seconds), frozenset(e.labels)))
    sinks: list[Any] = []
    try:
        _build(cfg, source, stats, stream, sinks)
    except BaseException:
        for sink in reversed(sinks):
            sink.close()
        raise
    return sinks


def _build(cfg: Config, source: Source, stats: PipelineStats, stream: EventStream, sinks: list[Any]) -> None:
    from camapp.metrics import Registry

    registry = Registry()
    extras = []
    if cfg.events.output:
        from camapp.outputs.eventlog import EventLogSink

        sinks.append(EventLogSink(cfg.events.output, stream))
    if cfg.mqtt.host:
        from camapp.outputs.mqtt import MqttSink

        mqtt = MqttSink(cfg.mqtt, stream, model_name(cfg), stats)
        registry.add(mqtt.metrics)
        extras.append(mqtt.status)
        sinks.append(mqtt)
    if cfg.snapshots.dir:
        from camapp.outputs.snapshots import SnapshotSink

        snaps = SnapshotSink(cfg.snapshots, stream, cfg.output.overlay)
        registry.add(snaps.metrics)
        # /healthz and the watchdog report it stuck once one file takes too long (a frozen SD card).
        # MQTT's worker is not watched: it waits for the broker on purpose, shown as disconnected.
        stats.watch(snaps.worker)
        sinks.append(snaps)
    if cfg.http.listen:
        from camapp.outputs.web import CameraInfo, WebOptions, WebSink

        info = CameraInfo(model_name(cfg), source.source_id, source.fps, cfg.mqtt.camera or socket.gethostname())
        web = WebSink(WebOptions.from_config(cfg), info, stats, stream, registry)
        web.status_extras.extend(extras)
        sinks.append(web)
