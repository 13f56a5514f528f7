"""WebSink: the pipeline's view of the web server. write() is O(1) and never touches pixels."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import cv2

from camapp.analytics.stage import Analytics, AnalyticsState
from camapp.config import Config, parse_listen
from camapp.control import ControlChannel, ResetCounts
from camapp.frames import Frame, Image
from camapp.metrics import Metric, Registry, counter, gauge, per_label, pipeline_metrics
from camapp.outputs.base import Delivery, ModelChange, SinkBase, overlay_style
from camapp.outputs.web.broadcast import FrameBroadcaster
from camapp.outputs.web.history import History
from camapp.outputs.web.server import IDLE_TIMEOUT_S, REQUEST_TIMEOUT_S, RESET_WAIT_S, HostCheck, Limits, WebApp, WebServer
from camapp.overlay import Hud, OverlayStyle, render
from camapp.results import Results
from camapp.sources.status import SourceState, SourceStatus
from camapp.stats import PipelineStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    stall_seconds: float = 5.0
    stream_fps: float = 15.0
    jpeg_quality: int = 80
    stream_width: int | None = None
    max_clients: int = 32
    style: OverlayStyle = OverlayStyle()
    max_connections: int = 64
    allowed_hosts: tuple[str, ...] = ()
    request_timeout_s: float = REQUEST_TIMEOUT_S  # not config keys: tests shorten them
    idle_timeout_s: float = IDLE_TIMEOUT_S

    @classmethod
    def from_config(cls, cfg: Config) -> WebOptions:
        h = cfg.http
        assert h.listen is not None
        host, port = parse_listen(h.listen)
        return cls(host, port, h.token, h.stall_seconds, h.stream_fps, h.jpeg_quality, h.stream_width, h.max_clients,
                   overlay_style(cfg), h.max_connections, tuple(h.allowed_hosts))


@dataclass(frozen=True)
class CameraInfo:
    """What the page says about this camera."""

    model: str
    source: str
    source_fps: float | None = None
    camera: str | None = None


def load_page() -> bytes:
    return resources.files("camapp.outputs.web").joinpath("page.html").read_bytes()


class WebSink(SinkBase):
    # wants_pixels stays False: the encoder thread draws the overlay itself, and only when someone watches.

    def __init__(
        self,
        options: WebOptions,
        info: CameraInfo,
        stats: PipelineStats,
        analytics: Analytics | None = None,
        registry: Registry | None = None,
        source: SourceStatus | None = None,
        controls: ControlChannel | None = None,
    ) -> None:
        self.controls = controls  # where POST /api/reset sends ResetCounts
        self.options = options
        self.info = info
        self.stats = stats
        self.analytics = analytics
        self.source = source or SourceStatus()  # a file or a plain camera: always "ok"
        self.registry = registry or Registry()
        self.status_extras: list[Callable[[], dict[str, Any]]] = []  # other outputs' state (mqtt, ...)
        self.closers: list[Callable[[], None]] = []  # what the routes started (a comparison of models), ended at close
        self.latest: Results | None = None
        self.last_frame: Frame | None = None  # the newest frame, for a comparison of models (a reference, no copy)
        self.history = History(stats, self._objects_now)  # GET /api/history: sampled once a second in write()
        self._totals: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.broadcaster = FrameBroadcaster(self._render, options.jpeg_quality, options.stream_fps)
        self.registry.add(lambda: pipeline_metrics(self.stats, self.source.current))
        self.registry.add(self._metrics)
        limits = Limits(options.max_connections, options.request_timeout_s, options.idle_timeout_s)
        hosts = None if options.token else HostCheck(options.host, options.allowed_hosts)  # with a token, the token protects
        resets = controls is not None and analytics is not None and analytics.scene is not None
        app = WebApp(self.broadcaster, load_page(), self.status, self.health, self.registry.render, options.token,
                     options.max_clients, limits, hosts, self.reset_counts if resets else None)
        app.history = self.history.to_dict
        try:
            self.server = WebServer(app, options.host, options.port)
        except Exception:
            self.broadcaster.close()
            raise

    def start(self) -> None:
        """The port is bound by the constructor (so a taken port fails before anything runs); here
        the encoder and the server's threads start."""
        options = self.options
        self.broadcaster.start()
        self.server.start()
        exposed = "" if options.host in ("127.0.0.1", "localhost", "::1") else " (reachable from the network)"
        log.info("web view on %s%s%s", self.server.url, exposed, ", token required" if options.token else "")
        if options.token is None and exposed:
            log.warning("the web view is open to the network without a token: set http.token or CAMAPP_HTTP_TOKEN")

    # -- the pipeline side ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"web view {self.server.url}"

    def write(self, item: Delivery) -> None:
        frame, annotated, results, fresh = item.frame, item.annotated, item.results, item.fresh
        if results is not None and fresh:
            self.latest = results
            with self._lock:
                self._totals.update(results.labels)
        self.last_frame = frame
        self.history.tick(time.monotonic())
        self.broadcaster.offer(frame, annotated, results)

    def _objects_now(self) -> int | None:
        """Objects in view (detectors: the debounced counts when there are any); None for a classifier."""
        latest = self.latest
        if latest is None or latest.summary != "counts":
            return None
        if self.analytics is not None and self.analytics.enabled:
            return sum(self.analytics.state.counts.values())
        return len(latest.labels)

    def set_overlay(self, on: bool) -> None:
        """The stream's own drawing on or off (POST /api/settings): one attribute swap, read by the encoder."""
        self.options = replace(self.options, style=replace(self.options.style, overlay=on))

    def _render(self, frame: Frame, annotated: Image | None, results: Results | None) -> Image:
        """Runs on the encoder thread: the overlay is drawn here unless another sink already did."""
        o = self.options
        image = annotated
        if image is None:
            hud = Hud(self.stats.capture_fps(), self.stats.inference_fps(), self.stats.last_inference_ms)
            image = render(frame.image, results, o.style, hud)
        if o.stream_width and image.shape[1] > o.stream_width:
            h = round(image.shape[0] * o.stream_width / image.shape[1])
            image = cv2.resize(image, (o.stream_width, h), interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
        return image

    # -- what the routes serve ------------------------------------------------------------
    def reset_counts(self) -> bool:
        """Through the control channel, like every command: applied by the worker between two frames."""
        assert self.controls is not None
        applied = self.controls.send(ResetCounts()).wait(RESET_WAIT_S)
        log.info("counts reset from the web view" if applied else "a reset from the web view was not applied in time")
        return applied

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Unhealthy while a lost source is being reopened, when no frame came for stall_seconds, or
        when an output is stuck: the output thread has not taken a frame for stall_seconds although
        inference has newer ones, or a background output (snapshots) has held one item too long.

        Runs on an HTTP thread, so it still answers while the output thread (which also runs this
        sink's write) is blocked."""
        now = time.monotonic()
        st = self.stats
        stall = self.options.stall_seconds
        last = st.last_frame_at
        age = now - (last if last is not None else st.started)
        waiting = st.outputs_waiting(now)
        body: dict[str, Any] = {"status": "ok", "last_frame_age_s": round(age, 3), "frames_read": st.frames_read}
        source = self.source.current
        if not source.up:
            lost = now - (source.lost_at or now)
            body.update(status="reconnecting", reason=f"source lost {lost:.0f} s ago, reopening it ({source.reconnects} reconnects so far)")
        elif waiting > stall:  # before "stalled": in file mode a blocked output holds the source back too
            body.update(status="outputs_stuck", reason=f"outputs have not taken a frame for {waiting:.0f} s (newer frames are waiting)")
        elif age > stall:
            body.update(status="stalled", reason=f"no frame for {age:.0f} s (http.stall_seconds is {stall:g})")
        elif (stuck := st.stuck_worker(now)) is not None:
            body.update(status="outputs_stuck", reason=f"output {stuck[0]} busy with one item for {stuck[1]:.0f} s")
        return body["status"] == "ok", body

    def model_changed(self, change: ModelChange) -> None:
        """After a model change the page names the model now running (one attribute swap: no lock)."""
        self.info = replace(self.info, model=change.name)

    def status(self) -> dict[str, Any]:
        s = self.stats.summary()
        ok, health = self.health()
        results = self.latest
        out: dict[str, Any] = {
            "camera": self.info.camera,
            "model": self.info.model,
            "source": self.info.source,
            "source_fps": self.info.source_fps,
            "healthy": ok,
            "health": health["status"],
            "health_reason": health.get("reason"),
            "last_frame_age_s": health["last_frame_age_s"],
            "source_state": self.source.current.state,
            "reconnects": self.source.current.reconnects,
            "source_lost_s": _lost_for(self.source.current),
            **s.to_dict(),
            "capture_fps": round(self.stats.capture_fps(), 2),
            "inference_fps": round(self.stats.inference_fps(), 2),
            "inference_ms": round(self.stats.last_inference_ms, 3),
            "task": results.task if results else None,
            "results": results.to_dict() if results else None,
            "viewers": self.broadcaster.viewers,
        }
        if self.analytics is not None and self.analytics.enabled:
            state = self.analytics.state
            out["counts"] = state.counts
            out["top_class"] = state.top_class
            out["events"] = [e.to_dict() for e in reversed(state.recent)]
            if self.analytics.scene is not None:  # tracking on: zones, lines and the tracks now
                out["zones"] = {name: c.to_dict() for name, c in state.zones.items()}
                out["lines"] = {name: c.to_dict() for name, c in state.lines.items()}
                out["tracks"] = [{"track_id": t.id, "label": t.label, "box": [round(v, 4) for v in t.box]} for t in state.tracks]
        for extra in self.status_extras:
            out.update(extra())
        return out

    def _metrics(self) -> list[Metric]:
        c = self.broadcaster.counters
        with self._lock:
            totals = dict(self._totals)
        out = [
            per_label("camapp_detections_total", "Objects of each label over all processed frames (classifiers: frames it was top).",
                      "counter", totals),
            gauge("camapp_http_viewers", "MJPEG stream viewers connected now.", self.broadcaster.viewers),
            gauge("camapp_http_connections", "HTTP connections open now (viewers included).", self.server.connections.open),
            self._rejected(),
            counter("camapp_http_frames_encoded_total", "JPEGs encoded for the web view (once for all viewers).", c.encoded),
            counter("camapp_http_frames_skipped_total", "Stream frames slow viewers skipped for a newer one.", c.client_skipped),
            counter("camapp_output_errors_total", "Items an output failed to deliver.", c.errors, output="web"),
        ]
        if self.analytics is not None and self.analytics.enabled:
            state = self.analytics.state
            out.append(per_label("camapp_objects", "Debounced number of objects of each label in view now.", "gauge", state.counts))
            m = counter("camapp_events_total", "Change events emitted, by type.")
            for kind in ("appeared", "left", "count", "class_changed"):
                m.add(state.totals.get(kind, 0), type=kind)
            for kind in sorted(set(state.totals) - {"appeared", "left", "count", "class_changed"}):  # zones and lines
                m.add(state.totals[kind], type=kind)
            out.append(m)
            out += zone_metrics(state)
        return out

    def _rejected(self) -> Metric:
        m = counter("camapp_http_rejected_total", "HTTP connections refused: over max_connections (503), a Host not "
                    "allowed (421/400), a request too slow to arrive (408).")
        rejected = self.server.connections.rejected
        for reason in ("connections", "host", "slow"):
            m.add(rejected[reason], reason=reason)
        return m

    def close(self) -> None:
        for close in self.closers:
            close()
        self.broadcaster.close()
        self.server.close()


def zone_metrics(state: AnalyticsState) -> list[Metric]:
    """Occupancy and visits per zone, crossings per line and direction (empty without zones and lines)."""
    if not state.zones and not state.lines:
        return []
    occupancy = gauge("camapp_zone_occupancy", "Tracked objects (shelf zones: items) in each zone now.")
    visits = counter("camapp_zone_visits_total",
                     "Stays begun in each zone (presence zones: times it became occupied), since the last reset.")
    for name, z in state.zones.items():
        occupancy.add(z.occupancy, zone=name)
        visits.add(z.visits, zone=name)
    crossings = counter("camapp_line_crossings_total", "Tracked objects that crossed each line, by direction, since the last reset.")
    for name, c in state.lines.items():
        crossings.add(c.entered, line=name, direction="in")
        crossings.add(c.exited, line=name, direction="out")
    tracks = gauge("camapp_tracks", "Objects tracked now.", len(state.tracks))
    return [m for m in (occupancy, visits, crossings) if m.samples] + [tracks]


def _lost_for(source: SourceState) -> float | None:
    """Seconds since the source was lost while it is being reopened, None while it delivers."""
    return round(time.monotonic() - source.lost_at, 1) if not source.up and source.lost_at is not None else None
