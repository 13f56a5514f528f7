"""Zones and lines over MQTT against a real mosquitto: retained counts, Home Assistant discovery for
each zone and line, and the reset command, which goes into the pipeline's control channel."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from camapp.analytics.events import DebounceOptions, EventDetector
from camapp.analytics.scene import Scene
from camapp.analytics.stage import Analytics
from camapp.analytics.tracking import TrackerOptions
from camapp.analytics.zones import LineSpec, ZoneSpec
from camapp.control import ControlChannel, ResetCounts
from camapp.frames import Frame
from camapp.inference.tasks.detect import Detection, DetectResults
from camapp.outputs.base import Delivery
from camapp.outputs.mqtt import MqttSink
from camapp.results import Box
from tests.outputs.conftest import Mosquitto, MqttProbe, wait_until
from tests.outputs.test_mqtt import mqtt_config

SQUARE = ((0.3, 0.0), (0.7, 0.0), (0.7, 1.0), (0.3, 1.0))
IMAGE = np.zeros((36, 64, 3), np.uint8)


def tracked() -> Analytics:
    scene = Scene(TrackerOptions(min_hits=1), [ZoneSpec("table", SQUARE, frozenset({"person"}), "center", DebounceOptions(1))],
                  [LineSpec("exit", (0.8, 1.0), (0.8, 0.0), frozenset({"person"}), "center")])
    return Analytics(EventDetector(DebounceOptions(1)), scene=scene)


class Writer(Protocol):
    def write(self, item: Delivery) -> None: ...


def walk(sink: Writer, analytics: Analytics, xs: list[float], start: int = 0) -> None:
    """A person walking through the table zone and out across the exit line, one frame per x (10 fps)."""
    for n, x in enumerate(xs, start):
        dets = [Detection(0, "person", 0.9, Box(x - 0.1, 0.1, x + 0.1, 0.9))] if x >= 0 else []
        results = DetectResults("test", n, n * 100_000_000, 64, 36, 1.0, dets)
        events = analytics.update(results, wall_time=1000.0 + n)
        sink.write(Delivery(Frame(IMAGE, n, n * 100_000_000, "test"), results, True, events))


@contextmanager
def connected(mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe],
              analytics: Analytics) -> Iterator[tuple[MqttSink, ControlChannel, MqttProbe]]:
    """An MQTT output of `analytics` connected to the broker, its control channel, and a probe
    listening to the camera's topics and Home Assistant's."""
    controls = ControlChannel()
    probe = probe_factory(mosquitto.port, ["camapp/shelf/#", "homeassistant/#"])
    sink = MqttSink(mqtt_config(mosquitto), analytics, "ssd", controls=controls)  # type: ignore[arg-type]
    sink.start()
    try:
        wait_until(sink.connected.is_set, 10, "camapp to connect")
        yield sink, controls, probe
    finally:
        sink.close()


def test_zone_and_line_counts_are_retained_announced_to_home_assistant_and_reset_by_a_command(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe]
) -> None:
    analytics = tracked()
    with connected(mosquitto, probe_factory, analytics) as (sink, controls, probe):
        walk(sink, analytics, [0.1 + 0.05 * i for i in range(17)] + [-1.0] * 20)  # x from 0.1 to 0.9, then gone
        zone = probe.wait_for("camapp/shelf/zones/table", lambda m: m.json()["visits"] == 1 and m.json()["occupancy"] == 0)
        line = probe.wait_for("camapp/shelf/lines/exit", lambda m: m.json() == {"in": 0, "out": 1})
        assert zone.json() == {"occupancy": 0, "occupied": False, "visits": 1} and line.json() == {"in": 0, "out": 1}
        late = probe_factory(mosquitto.port, ["camapp/shelf/zones/#", "camapp/shelf/lines/#"])  # a listener that comes later
        assert late.wait_for("camapp/shelf/zones/table").retain and late.wait_for("camapp/shelf/lines/exit").retain
        probe.wait_for("camapp/shelf/zones/table", lambda m: m.json()["occupied"])  # while the person stood there
        events = [m.json() for m in probe.on("camapp/shelf/events")]
        kinds = [(e["event"], e.get("zone") or e.get("line")) for e in events if "zone" in e or "line" in e]
        assert kinds == [("zone_entered", "table"), ("zone_left", "table"), ("line_crossed", "exit")]
        # The label's own count topic still counts people in view, not the zone's occupancy or the line's total.
        assert [m.text for m in probe.on("camapp/shelf/person")] == ["1", "0"]

        # Home Assistant: occupancy, occupied and visits per zone; in and out per line; a reset button.
        ha = "homeassistant"
        occupancy = probe.wait_for(f"{ha}/sensor/shelf_zone_table_occupancy/config").json()
        assert occupancy["state_topic"] == "camapp/shelf/zones/table" and occupancy["value_template"] == "{{ value_json.occupancy }}"
        occupied = probe.wait_for(f"{ha}/binary_sensor/shelf_zone_table_occupied/config").json()
        assert occupied["device_class"] == "occupancy" and "value_json.occupied" in occupied["value_template"]
        visits = probe.wait_for(f"{ha}/sensor/shelf_zone_table_visits/config").json()
        assert visits["state_class"] == "total_increasing" and visits["availability_topic"] == "camapp/shelf/status"
        for direction in ("in", "out"):
            sensor = probe.wait_for(f"{ha}/sensor/shelf_line_exit_{direction}/config").json()
            assert sensor["state_topic"] == "camapp/shelf/lines/exit" and f"'{direction}'" in sensor["value_template"]
            assert sensor["unique_id"] == f"camapp_shelf_line_exit_{direction}_sensor"
        button = probe.wait_for(f"{ha}/button/shelf_reset_counts/config").json()
        assert button["command_topic"] == "camapp/shelf/reset"

        # The button (or anyone) publishes to the reset topic: the command reaches the control channel ...
        probe.client.publish("camapp/shelf/reset", "reset", qos=1)
        taken = wait_until(controls.take, 10, "the reset command")
        assert [type(command) for command, _ in taken] == [ResetCounts]
        # ... the worker applies it (as camapp.pipeline.pool does) and the next frame publishes the zeros.
        analytics.reset()
        since = time.monotonic()
        walk(sink, analytics, [-1.0], start=100)
        probe.wait_for("camapp/shelf/zones/table", lambda m: m.json()["visits"] == 0, since=since)
        probe.wait_for("camapp/shelf/lines/exit", lambda m: m.json() == {"in": 0, "out": 0}, since=since)


def test_without_zones_nothing_new_is_published_or_subscribed(mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe]) -> None:
    analytics = Analytics.for_events(DebounceOptions(1))
    with connected(mosquitto, probe_factory, analytics) as (sink, controls, probe):
        probe.wait_for("homeassistant/sensor/shelf_last_event/config")
        probe.client.publish("camapp/shelf/reset", "reset", qos=1)
        time.sleep(0.5)
        assert controls.take() == []
        assert not [m for m in probe.messages if "/zones/" in m.topic or "/lines/" in m.topic or "/button/" in m.topic]


def test_zones_drawn_while_running_are_announced_and_removed_ones_cleared(
    mosquitto: Mosquitto, probe_factory: Callable[..., MqttProbe]
) -> None:
    """The web page's editor changes the zones of a run that started without any (SetAreas, applied
    by the worker as camapp.pipeline.pool does): Home Assistant hears of them at once, the reset
    topic is listened to, and a zone taken away leaves no entity or retained count behind."""
    analytics = Analytics.for_events(DebounceOptions(1))
    with connected(mosquitto, probe_factory, analytics) as (sink, controls, probe):
        table = ZoneSpec("table", SQUARE, frozenset({"person"}), "center", DebounceOptions(1))
        analytics.set_areas([table], [], TrackerOptions(min_hits=1))
        walk(sink, analytics, [0.5] * 3)
        config_topic = "homeassistant/sensor/shelf_zone_table_occupancy/config"
        assert probe.wait_for(config_topic).json()["state_topic"] == "camapp/shelf/zones/table"
        probe.wait_for("camapp/shelf/zones/table", lambda m: m.json()["occupied"])
        probe.wait_for("homeassistant/button/shelf_reset_counts/config")
        since = time.monotonic()
        probe.client.publish("camapp/shelf/reset", "reset", qos=1)
        assert [type(c) for c, _ in wait_until(controls.take, 10, "the reset command")] == [ResetCounts]

        analytics.set_areas([], [LineSpec("exit", (0.8, 1.0), (0.8, 0.0))], TrackerOptions(min_hits=1))
        walk(sink, analytics, [0.5], start=3)
        probe.wait_for("homeassistant/sensor/shelf_line_exit_in/config", since=since)
        for topic in (config_topic, "homeassistant/binary_sensor/shelf_zone_table_occupied/config", "camapp/shelf/zones/table"):
            probe.wait_for(topic, lambda m: m.payload == b"", since=since)  # an empty retained message deletes it
        late = probe_factory(mosquitto.port, ["camapp/shelf/zones/#", "homeassistant/+/+/config"])  # what a new listener sees
        late.wait_for("homeassistant/sensor/shelf_line_exit_out/config")
        assert not [m for m in late.messages if "zone_table" in m.topic or "/zones/" in m.topic]
