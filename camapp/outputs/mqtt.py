"""MQTT: availability with a last will, change events, per-label counts, snapshots, HA discovery.

Topics, under base = <prefix>/<camera>:
  base/status      "online" / "offline", retained; the broker publishes "offline" itself (last
                   will) when camapp dies without saying goodbye; "offline" too while a lost live
                   source is reopened (HA shows "unavailable", not stale counts; see mqtt_source)
  base/source      {"state": "ok"|"reconnecting", "reconnects": N[, "since": unix time]}, retained
  base/events      one JSON object per change event (see camapp.analytics.events)
  base/<label>     the debounced count of that label, retained (detectors)
  base/class       the debounced top class, retained (classifiers)
  base/snapshot    a JPEG of the frame of each event (optional)
  base/zones/<zone>  {"occupancy": N, "occupied": bool, "visits": N}, retained (docs/zones.md)
  base/lines/<line>  {"in": N, "out": N}, retained
  base/reset       subscribed: any message resets zone visits and line totals (the control channel)
  <discovery_prefix>/{sensor,binary_sensor,camera,button}/<camera>_<object>/config   Home Assistant

The pipeline thread only queues messages (BackgroundWorker: bounded, the oldest dropped and
counted when the broker is away). paho's own network thread connects, and reconnects with
exponential backoff (reconnect_delay_set + loop_start); retained state (status, discovery, counts)
is published again on every (re)connect, so a broker that restarted without persistence, or
messages dropped during an outage, leave no stale state behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from camapp import __version__
from camapp.analytics.events import Event
from camapp.analytics.stage import Analytics
from camapp.config import MqttConfig
from camapp.control import ControlChannel, ResetCounts
from camapp.errors import ConfigError
from camapp.frames import Frame, Image
from camapp.metrics import Metric, counter, gauge
from camapp.outputs.base import Delivery, ModelChange, SinkBase
from camapp.outputs.mqtt_source import SourceAvailability
from camapp.outputs.threaded import BackgroundWorker
from camapp.overlay import OverlayStyle, render
from camapp.results import Results, SummaryKind
from camapp.sources.status import SourceStatus

log = logging.getLogger(__name__)

RESERVED = frozenset({"status", "source", "events", "snapshot", "class", "zones", "lines", "reset"})


def slug(text: str) -> str:
    """A topic level and Home Assistant object id: letters, digits, '_' and '-' only."""
    return re.sub(r"[^a-z0-9_-]+", "_", text.strip().lower()).strip("_") or "unnamed"


def label_topic(label: str) -> str:
    s = slug(label)
    return f"label_{s}" if s in RESERVED else s


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes | str
    retain: bool = False


@dataclass(frozen=True)
class SnapshotJob:
    frame: Frame
    annotated: Image | None
    results: Results | None


class PublishFailed(Exception):
    pass


class MqttSink(SinkBase):
    # Snapshots are drawn and encoded on the MQTT thread, not by the pipeline's overlay.
    def __init__(
        self,
        cfg: MqttConfig,
        analytics: Analytics,
        model: str = "",
        source: SourceStatus | None = None,
        style: OverlayStyle | None = None,
        controls: ControlChannel | None = None,
    ) -> None:
        assert cfg.host is not None
        self.cfg = cfg
        self.controls = controls  # where base/reset sends ResetCounts (None: not subscribed)
        self._areas: dict[str, str] = {}  # zone / line topic -> the JSON last queued for it
        self.analytics = analytics
        self._area_names = self._names_of_areas()  # announced to Home Assistant on connect
        self.style = style or OverlayStyle()
        self.model = model
        self.camera = slug(cfg.camera or socket.gethostname())
        self.base = f"{cfg.prefix.rstrip('/')}/{self.camera}"
        self.status_topic = f"{self.base}/status"
        self.connected = threading.Event()
        self.connects = 0
        self.published = 0
        self.not_sent = 0  # still queued when camapp stopped while the broker was away
        self._closing = False
        self._lock = threading.Lock()
        self._labels: set[str] = set(cfg.labels)
        self._summary: SummaryKind | None = None  # how the running model's results are summarised
        self._was_failing = False
        # Before the client: paho's on_connect uses it as soon as loop_start() runs.
        self.source = SourceAvailability(source, self.status_topic, f"{self.base}/source", self._publish_retained, self.connected)
        self.client = self._make_client()
        self.worker: BackgroundWorker[Message | SnapshotJob] = BackgroundWorker("mqtt", self._deliver, cfg.queue)

    def start(self) -> None:
        cfg = self.cfg
        assert cfg.host is not None  # the constructor checked it
        self.worker.start()
        self.client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        self.client.loop_start()
        self.source.start()
        log.info("MQTT: publishing to %s:%d under %s/", cfg.host, cfg.port, self.base)

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id or f"camapp-{self.camera}")
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls:
            try:
                client.tls_set(ca_certs=cfg.cafile, certfile=cfg.certfile, keyfile=cfg.keyfile)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"mqtt TLS files cannot be used: {exc}", "check mqtt.cafile, mqtt.certfile and mqtt.keyfile") from exc
            client.tls_insecure_set(cfg.tls_insecure)
        client.reconnect_delay_set(max(1, round(cfg.reconnect_min)), max(1, round(cfg.reconnect_max)))
        # paho's own queue only holds messages in flight (the worker waits while disconnected), plus
        # the retained state re-sent on connect: bounded for safety, never the outage buffer.
        client.max_queued_messages_set(max(cfg.queue, 1000))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    @property
    def reset_topic(self) -> str:
        return f"{self.base}/reset"

    def _resets(self) -> bool:
        """Whether base/reset is listened to: with zones or lines, and a pipeline to send it to."""
        state = self.analytics.state
        return self.controls is not None and bool(state.zones or state.lines)

    # -- paho's network thread --------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            if not self._was_failing:
                log.error("MQTT: broker %s refused the connection: %s (check mqtt.username / password)", self.cfg.host, reason)
            self._was_failing = True
            return
        self._was_failing = False
        self.connects += 1
        log.info("MQTT: connected to %s:%d%s", self.cfg.host, self.cfg.port, " again" if self.connects > 1 else "")
        for msg in self._state_messages():
            client.publish(msg.topic, msg.payload, qos=1, retain=msg.retain)
        if self._resets():
            client.subscribe(self.reset_topic, qos=1)
        self.connected.set()
        self.source.sync(force=True)  # "online", or "offline" when the camera is lost right now

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and not self._closing:
            log.warning("MQTT: lost the broker (%s); reconnecting with backoff up to %.0f s", reason, self.cfg.reconnect_max)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: Any) -> None:
        # Only sent here, never waited for: paho's thread must keep serving the connection.
        if message.topic == self.reset_topic and self.controls is not None and not message.retain:
            log.info("MQTT: counts reset requested on %s", message.topic)
            self.controls.send(ResetCounts())

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if not self._was_failing:
            cfg = self.cfg
            log.warning("MQTT: cannot reach %s:%d; retrying with backoff up to %.0f s", cfg.host, cfg.port, cfg.reconnect_max)
        self._was_failing = True

    def _state_messages(self) -> list[Message]:
        """Everything retained, from camapp's own state: what a fresh broker must be told again."""
        with self._lock:
            labels = sorted(self._labels)
        msgs: list[Message] = []
        state = self.analytics.state  # this runs on paho's thread, while the pipeline updates it
        if self._summary != "top_class":
            for label in labels:
                msgs += self._discovery(label)
                msgs.append(Message(f"{self.base}/{label_topic(label)}", str(state.counts.get(label, 0)), True))
        top = state.top_class
        if top is not None:
            msgs.append(Message(f"{self.base}/class", top, True))
        msgs += [Message(topic, payload, True) for topic, payload in self._area_payloads().items()]
        return msgs + self._device_discovery() + self._area_discovery()

    def _publish_retained(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1, retain=True)

    @property
    def name(self) -> str:
        return f"mqtt {self.cfg.host}:{self.cfg.port}"

    def model_changed(self, change: ModelChange) -> None:
        """After a model change: the HA device names the new model, and discovery follows its task."""
        self.model = change.name
        self._summary = None  # set again from the next results: a classifier may have replaced a detector
        for msg in self._state_messages():
            self.worker.submit(msg)

    # -- the pipeline thread --------------------------------------------------------------
    def write(self, item: Delivery) -> None:
        events, results = item.events, item.results
        if self.analytics.scene is not None and (events or item.fresh):
            self._queue_area_changes()  # after events, and after a reset (which sends no event)
        if not events:
            return
        if results is not None and self._summary is None:
            self._summary = results.summary
            for msg in self._classifier_discovery() if results.summary == "top_class" else []:
                self.worker.submit(msg)
        for event in events:
            self._queue_event(event)
        if self.cfg.snapshot:
            self.worker.submit(SnapshotJob(item.frame, item.annotated, results))

    def _queue_event(self, event: Event) -> None:
        self.worker.submit(Message(f"{self.base}/events", json.dumps(event.to_dict(), separators=(",", ":"))))
        if event.zone is not None or event.line is not None:
            return  # its count is the zone's or the line's, published by _queue_area_changes
        if event.type == "class_changed":
            self.worker.submit(Message(f"{self.base}/class", event.label, True))
            return
        with self._lock:
            new = event.label not in self._labels
            self._labels.add(event.label)
        if new:
            for msg in self._discovery(event.label):
                self.worker.submit(msg)
        self.worker.submit(Message(f"{self.base}/{label_topic(event.label)}", str(event.count), True))

    def _area_payloads(self) -> dict[str, str]:
        state = self.analytics.state
        out = {f"{self.base}/zones/{name}": json.dumps(c.to_dict(), separators=(",", ":")) for name, c in state.zones.items()}
        out.update({f"{self.base}/lines/{name}": json.dumps(c.to_dict(), separators=(",", ":")) for name, c in state.lines.items()})
        return out

    def _names_of_areas(self) -> frozenset[tuple[str, str]]:
        state = self.analytics.state
        return frozenset([("zones", name) for name in state.zones] + [("lines", name) for name in state.lines])

    def _areas_redrawn(self) -> None:
        """Zones or lines changed while running (the web page's editor): Home Assistant is told of
        the new ones now, and the removed ones' entities and retained counts are cleared (an empty
        retained message deletes them)."""
        names = self._names_of_areas()
        gone, self._area_names = self._area_names - names, names
        for kind, name in sorted(gone):
            topic = f"{self.base}/{kind}/{name}"
            self._areas.pop(topic, None)
            self.worker.submit(Message(topic, "", True))
            if self.cfg.discovery:
                ids = ([("sensor", f"zone_{name}_occupancy"), ("binary_sensor", f"zone_{name}_occupied"), ("sensor", f"zone_{name}_visits")]
                       if kind == "zones" else [("sensor", f"line_{name}_{d}") for d in ("in", "out")])
                for component, object_id in ids:
                    self.worker.submit(Message(self._config(component, object_id, {}).topic, "", True))
        if self.connected.is_set():  # otherwise connecting announces them, and subscribes
            for msg in self._area_discovery():
                self.worker.submit(msg)
            if self._resets():
                self.client.subscribe(self.reset_topic, qos=1)

    def _queue_area_changes(self) -> None:
        if self._names_of_areas() != self._area_names:
            self._areas_redrawn()
        for topic, payload in self._area_payloads().items():
            if self._areas.get(topic) != payload:
                self._areas[topic] = payload
                self.worker.submit(Message(topic, payload, True))

    # -- the MQTT worker thread -----------------------------------------------------------
    def _deliver(self, item: Message | SnapshotJob) -> None:
        # Wait for the broker (the queue in front absorbs the outage), unless camapp is stopping.
        while not (self.connected.is_set() or self._closing):
            self.connected.wait(0.25)
        if not self.connected.is_set():
            self.not_sent += 1
            return
        msg = item if isinstance(item, Message) else self._snapshot_message(item)
        info = self.client.publish(msg.topic, msg.payload, qos=self.cfg.qos, retain=msg.retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishFailed(f"publish to {msg.topic}: {mqtt.error_string(info.rc)}")
        self.published += 1

    def _snapshot_message(self, job: SnapshotJob) -> Message:
        image = job.annotated if job.annotated is not None else render(job.frame.image, job.results, self.style)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise PublishFailed("cannot encode the snapshot")
        return Message(f"{self.base}/snapshot", buf.tobytes(), True)

    # -- Home Assistant discovery ---------------------------------------------------------
    def _common(self, unique: str) -> dict[str, Any]:
        return {
            "unique_id": f"camapp_{self.camera}_{unique}",
            "availability_topic": self.status_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {"identifiers": [f"camapp_{self.camera}"], "name": f"camapp {self.camera}", "manufacturer": "camapp",
                       "model": self.model or "camapp", "sw_version": __version__},
        }

    def _config(self, component: str, object_id: str, payload: dict[str, Any]) -> Message:
        topic = f"{self.cfg.discovery_prefix}/{component}/{self.camera}_{object_id}/config"
        return Message(topic, json.dumps({**payload, **self._common(f"{object_id}_{component}")}), True)

    def _discovery(self, label: str) -> list[Message]:
        if not self.cfg.discovery:
            return []
        state = f"{self.base}/{label_topic(label)}"
        return [
            self._config("sensor", slug(label), {"name": f"{label} count", "state_topic": state, "unit_of_measurement": "objects",
                                                 "state_class": "measurement", "icon": "mdi:counter"}),
            self._config("binary_sensor", slug(label), {"name": label, "state_topic": state, "device_class": "occupancy",
                                                        "value_template": "{{ 'ON' if value | int(0) > 0 else 'OFF' }}"}),
        ]

    def _classifier_discovery(self) -> list[Message]:
        if not self.cfg.discovery:
            return []
        return [self._config("sensor", "class", {"name": "top class", "state_topic": f"{self.base}/class", "icon": "mdi:tag"})]

    def _device_discovery(self) -> list[Message]:
        if not self.cfg.discovery:
            return []
        events = f"{self.base}/events"
        last = {"name": "last event", "state_topic": events, "json_attributes_topic": events,
                "value_template": "{{ value_json.event }} {{ value_json.label }}", "icon": "mdi:eye"}
        msgs = [self._config("sensor", "last_event", last)]
        if self.cfg.snapshot:
            msgs.append(self._config("camera", "snapshot", {"name": "snapshot", "topic": f"{self.base}/snapshot"}))
        if self._summary == "top_class":
            msgs += self._classifier_discovery()
        return msgs

    def _area_discovery(self) -> list[Message]:
        """Per zone: occupancy, occupied and visits; per line: in and out; one reset button."""
        state = self.analytics.state
        if not self.cfg.discovery or not (state.zones or state.lines):
            return []
        msgs = []
        for name in state.zones:
            topic = f"{self.base}/zones/{name}"
            msgs += [
                self._config("sensor", f"zone_{name}_occupancy", {
                    "name": f"{name} occupancy", "state_topic": topic, "value_template": "{{ value_json.occupancy }}",
                    "unit_of_measurement": "objects", "state_class": "measurement", "icon": "mdi:account-group"}),
                self._config("binary_sensor", f"zone_{name}_occupied", {
                    "name": f"{name} occupied", "state_topic": topic, "device_class": "occupancy",
                    "value_template": "{{ 'ON' if value_json.occupied else 'OFF' }}"}),
                self._config("sensor", f"zone_{name}_visits", {
                    "name": f"{name} visits", "state_topic": topic, "value_template": "{{ value_json.visits }}",
                    "state_class": "total_increasing", "icon": "mdi:counter"}),
            ]
        for name in state.lines:
            topic = f"{self.base}/lines/{name}"
            for direction in ("in", "out"):
                msgs.append(self._config("sensor", f"line_{name}_{direction}", {
                    "name": f"{name} {direction}", "state_topic": topic, "value_template": f"{{{{ value_json['{direction}'] }}}}",
                    "state_class": "total_increasing", "icon": "mdi:counter"}))
        if self.controls is not None:
            msgs.append(self._config("button", "reset_counts", {"name": "reset counts", "command_topic": self.reset_topic,
                                                                 "payload_press": "reset", "icon": "mdi:restart"}))
        return msgs

    # -- status, metrics, close -----------------------------------------------------------
    def report(self) -> dict[str, Any]:
        c = self.worker.counters
        return {"mqtt": {"connected": self.connected.is_set(), "broker": f"{self.cfg.host}:{self.cfg.port}", "topic": self.base,
                         "availability": self.source.availability(),
                         "published": self.published, "queued": self.worker.pending, "dropped": c.dropped + self.not_sent,
                         "errors": c.errors, "connects": self.connects}}

    def metrics(self) -> list[Metric]:
        c = self.worker.counters
        return [
            gauge("camapp_mqtt_connected", "1 while connected to the MQTT broker.", int(self.connected.is_set())),
            counter("camapp_mqtt_published_total", "MQTT messages handed to the broker connection.", self.published),
            counter("camapp_mqtt_connects_total", "Successful connections to the broker (reconnects included).", self.connects),
            counter("camapp_output_dropped_total", "Items an output threw away because its queue was full.", c.dropped + self.not_sent,
                    output="mqtt"),
            counter("camapp_output_errors_total", "Items an output failed to deliver.", c.errors, output="mqtt"),
        ]

    def close(self) -> None:
        self.source.close()
        if self.connected.is_set():
            self.worker.join(2.0)  # what is queued gets a short chance to go out
        self._closing = True
        self.worker.close(timeout=2.0)
        if self.connected.is_set():
            with contextlib.suppress(RuntimeError, ValueError):  # the broker went away meanwhile
                self.client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()
