"""The web view with zones and lines: counts and tracks in /api/status and /metrics, and the
token-protected POST /api/reset, which goes through the control channel like every command."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from camapp.analytics.stage import Analytics
from camapp.control import ControlChannel, ResetCounts
from camapp.outputs.web import CameraInfo, WebOptions, WebSink
from camapp.stats import PipelineStats
from tests.outputs.test_mqtt_zones import tracked, walk
from tests.outputs.test_web import get, parse_metrics

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class NullSink:
    """walk() hands deliveries to a sink; here nobody but the web view's own state matters."""

    def write(self, item: object) -> None:
        pass


@contextmanager
def web_with_zones(token: str | None = TOKEN) -> Iterator[tuple[WebSink, Analytics, ControlChannel]]:
    analytics, controls = tracked(), ControlChannel()
    web = WebSink(WebOptions(port=0, token=token), CameraInfo("ssd", "clip.mp4", 10.0, "door"), PipelineStats(), analytics,
                  controls=controls)
    web.start()
    try:
        yield web, analytics, controls
    finally:
        web.close()


@contextmanager
def worker(analytics: Analytics, controls: ControlChannel) -> Iterator[list[object]]:
    """What camapp.pipeline.pool does between two frames: take commands, apply them, finish their tickets."""
    applied: list[object] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.01):
            for command, ticket in controls.take():
                if isinstance(command, ResetCounts):
                    analytics.reset()
                applied.append(command)
                ticket.finish(True)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield applied
    finally:
        stop.set()
        thread.join(5)


def test_status_and_metrics_show_zone_occupancy_visits_line_totals_and_tracks() -> None:
    with web_with_zones() as (web, analytics, _):
        walk(NullSink(), analytics, [0.1 + 0.05 * i for i in range(9)])  # x from 0.1 to 0.5: standing in the zone
        code, _, body = get(web, "/api/status", AUTH)
        status = json.loads(body)
        assert code == 200
        assert status["zones"] == {"table": {"occupancy": 1, "occupied": True, "visits": 1}}
        assert status["lines"] == {"exit": {"in": 0, "out": 0}}
        assert [(t["track_id"], t["label"]) for t in status["tracks"]] == [(1, "person")]
        walk(NullSink(), analytics, [0.55 + 0.05 * i for i in range(8)], start=9)  # on to 0.9: out of the zone, over the line
        metrics = parse_metrics(get(web, "/metrics", AUTH)[2].decode())
        assert metrics['camapp_zone_occupancy{zone="table"}'] == 0
        assert metrics['camapp_zone_visits_total{zone="table"}'] == 1
        assert metrics['camapp_line_crossings_total{line="exit",direction="out"}'] == 1
        assert metrics['camapp_line_crossings_total{line="exit",direction="in"}'] == 0
        assert metrics['camapp_events_total{type="line_crossed"}'] == 1
        assert metrics["camapp_tracks"] == 1


def test_post_api_reset_with_the_token_zeroes_the_totals_through_the_control_channel() -> None:
    with web_with_zones() as (web, analytics, controls), worker(analytics, controls) as applied:
        walk(NullSink(), analytics, [0.1 + 0.05 * i for i in range(17)])
        assert analytics.state.lines["exit"].exited == 1
        code, _, body = get(web, "/api/reset", AUTH, method="POST")
        assert (code, json.loads(body)) == (200, {"reset": True})
        assert [type(c) for c in applied] == [ResetCounts]
        status = json.loads(get(web, "/api/status", AUTH)[2])
        assert status["zones"]["table"]["visits"] == 0 and status["lines"]["exit"] == {"in": 0, "out": 0}


def test_reset_is_refused_without_the_token_without_a_configured_token_and_by_get() -> None:
    with web_with_zones() as (web, analytics, controls):
        assert get(web, "/api/reset", method="POST")[0] == 401
        assert get(web, "/api/reset", {"Authorization": "Bearer wrong"}, method="POST")[0] == 401
        code, headers, _ = get(web, "/api/reset", AUTH)  # GET never changes anything
        assert code == 405 and headers["allow"] == "POST"
        assert controls.take() == []
    with web_with_zones(token=None) as (web, analytics, controls):
        # Without a token any page a LAN browser visits could post a form here: the route is closed.
        code, _, body = get(web, "/api/reset", method="POST")
        assert code == 403 and b"http.token" in body
        assert controls.take() == []


def test_reset_answers_503_when_no_worker_applies_it_in_time(monkeypatch: object) -> None:
    import camapp.outputs.web.sink as sink_module

    monkeypatch.setattr(sink_module, "RESET_WAIT_S", 0.2)  # type: ignore[attr-defined]
    with web_with_zones() as (web, _, controls):
        assert get(web, "/api/reset", AUTH, method="POST")[0] == 503
        assert len(controls.take()) == 1  # sent, but nobody took it
