"""The one config schema, its defaults, and the one loader: YAML file < environment < command line.

Every key is declared once here with its default and meaning. Strict on purpose, because a
mistake in a service's config should stop it at start, not quietly change what it does: unknown
keys, unknown CAMAPP_* variables, keys written twice and yes/no where a number belongs are errors.
The environment form of a key is CAMAPP_<SECTION>_<KEY> in capitals (model.mirror is
CAMAPP_MODEL_MIRROR); text settings take the variable's value exactly as written. The two secrets
(http.token, mqtt.password) fall back to systemd credentials. Validators only validate: nothing
here opens a camera, a model or a URL.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union, cast, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from camapp.errors import ConfigError
from camapp.sources.redact import redact_url


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types an annotation admits: (int,) for int | None, (str, Literal[...]) for unions of them."""
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(m for arg in get_args(annotation) for m in _members(arg) if m is not type(None))
    return (annotation,)


def _is_number(annotation: Any) -> bool:
    return annotation in (int, float) or (
        get_origin(annotation) is Literal and any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in get_args(annotation))
    )


def _wants_number(annotation: Any) -> bool:
    """int, float or Literal[0, 1, 2] (optional or not), and no bool among them."""
    members = _members(annotation)
    return bool not in members and any(_is_number(m) for m in members)


def _is_text(annotation: Any) -> bool:
    """str or a Literal of strings (optional or not): a setting whose value is text as written."""
    members = _members(annotation)
    return bool(members) and all(m is str or (get_origin(m) is Literal and all(isinstance(v, str) for v in get_args(m))) for m in members)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # YAML reads yes/no/true/false as bools and pydantic's lax mode takes a bool as 1 or 0, so
        # `threads: true` meant one thread and `top_k: yes` one class. Numbers take numbers only;
        # a string of digits from the environment is still converted ("4" is 4).
        if isinstance(value, bool) and info.field_name and _wants_number(cls.model_fields[info.field_name].annotation):
            raise PydanticCustomError("bool_for_number", "expected a number, not true/false/yes/no")
        return value


class SourceConfig(Section):
    uri: str | None = Field(None, description="picam[:N], a webcam index or /dev/videoN, a file, folder, glob or rtsp/http URL")
    realtime: bool = Field(False, description="read files at their own frame rate instead of as fast as possible")
    loop: bool = Field(False, description="start a file again at its end")
    width: int | None = Field(None, ge=16, le=8192, description="requested capture width (cameras)")
    height: int | None = Field(None, ge=16, le=8192, description="requested capture height (cameras)")
    fps: float | None = Field(None, gt=0, le=1000, description="requested camera frame rate")
    lores_width: int = Field(320, ge=32, le=4096, description="Pi camera: width of the low-resolution inference stream")
    lores_height: int = Field(240, ge=32, le=4096, description="Pi camera: height of the low-resolution inference stream")


class ModelConfig(Section):
    name: str | None = Field(None, description="a .tflite path or a model id from models/manifest.yaml")
    labels: str | None = Field(None, description="labels file (plain lines or 'id name' lines)")
    task: str = Field("auto", description="auto reads it from the model's outputs; or classify, detect (the task registry)")
    threads: int | Literal["auto"] = Field(
        "auto", ge=1, le=64, description="threads per interpreter; auto: from the cores and pipeline.workers (docs/config.md)"
    )
    top_k: int = Field(5, ge=1, le=1000, description="classes reported per frame (classifiers)")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="minimum score of a detection")
    resize: Literal["stretch", "letterbox", "crop"] = Field("stretch", description="how a frame is fitted to the model input")
    interpolation: Literal["linear", "area", "nearest"] = Field("linear", description="resize filter")
    backbone: Literal["v1", "v2", "v3", "v3-small", "v3-large"] | None = Field(
        None, description="pick the manifest's model for this backbone"
    )
    alpha: float | None = Field(None, gt=0, le=2, description="MobileNet width multiplier, to narrow --backbone")
    resolution: int | None = Field(None, ge=32, le=1024, description="model input size, to narrow --backbone")
    mirror: str | None = Field(None, description="folder or http(s) base URL holding model files by name")
    cache_dir: str | None = Field(None, description="where pulled models are kept (default ~/.cache/camapp/models)")

    @field_validator("task")
    @classmethod
    def _task_is_registered(cls, value: str) -> str:
        from camapp.inference.tasks import check_task_name  # here: config stays quick to import

        return check_task_name(value)


class PipelineConfig(Section):
    mode: Literal["auto", "live", "file"] = Field(
        "auto", description="live: always infer on the newest frame, skipping; file: every frame in order; auto: by source"
    )
    every: int = Field(1, ge=1, le=1000, description="run inference on every Nth frame, drawing the last result between")
    max_frames: int | None = Field(None, ge=1, description="stop after this many frames read")
    workers: int | Literal["auto"] = Field(
        "auto", ge=1, le=16,
        description="interpreters working on frames in turn (one model in memory each); auto: by the source and the cores",
    )


class OutputConfig(Section):
    show: bool = Field(False, description="show a window (needs a display)")
    save: str | None = Field(None, description="annotated video (.mp4, .avi, .mkv) or a folder for annotated images")
    jsonl: str | None = Field(None, description="one JSON line per processed frame; '-' for stdout")
    overlay: bool = Field(True, description="draw results on saved and shown frames")
    hud: bool = Field(True, description="draw FPS and latency on frames")


LogLevel = Literal["debug", "info", "warning", "error"]


class LogConfig(Section):
    level: LogLevel = Field("info", description="log level")
    levels: dict[str, LogLevel] = Field(
        default_factory=dict, description="per-module levels over 'level', e.g. {camapp.sources: debug, camapp.outputs: warning}"
    )


class ServiceConfig(Section):
    """How `camapp run` behaves as a long-running service (systemd, reconnects, periodic stats)."""

    watchdog: bool = Field(True, description="send systemd WATCHDOG=1 pings while frames flow (only when the unit sets WatchdogSec)")
    reconnect: bool = Field(True, description="reopen a live source (camera, stream) that stops delivering; false ends the run instead")
    stall_timeout: float = Field(5.0, gt=0, le=3600, description="seconds without a frame before a live source counts as lost")
    reconnect_min: float = Field(0.5, gt=0, le=3600, description="seconds to wait before reopening a lost source, doubled per failed try")
    reconnect_max: float = Field(30.0, gt=0, le=86400, description="longest wait in seconds between two tries to reopen a lost source")
    stats_interval: float = Field(60.0, ge=0, le=86400, description="seconds between one-line stats summaries in the log; 0 turns them off")

    @model_validator(mode="after")
    def _backoff_order(self) -> ServiceConfig:
        if self.reconnect_max < self.reconnect_min:
            raise ValueError(f"reconnect_max ({self.reconnect_max}) must not be below reconnect_min ({self.reconnect_min})")
        return self


def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT', '[IPv6]:PORT' or a bare 'PORT' (which means 127.0.0.1: all interfaces must be asked for)."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(
            f"'{text}' is not HOST:PORT with a port up to 65535"
            " (e.g. 127.0.0.1:8080, 0.0.0.0:8080 for every interface, port 0 for any free one)"
        )
    if not host:
        raise ValueError(f"'{text}' has no host in HOST:PORT: write 127.0.0.1:{port}, or 0.0.0.0:{port} for every interface")
    return host, int(port)


_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


def _host_name(text: str) -> str:
    """A Host name as the web server compares it: lower case, no trailing dot, IPv6 without brackets."""
    name = text.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "*" or _HOST_NAME.fullmatch(name) or (":" in name and _is_ip(name)):
        return name
    raise ValueError(f"'{text}' is not a host name: write the name alone (camera.lan), without scheme, port or path")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_labels(data: Any) -> Any:
    # "person, car" from the environment or the command line means the list [person, car].
    if isinstance(data, dict) and isinstance(data.get("labels"), str):
        data = {**data, "labels": [x.strip() for x in data["labels"].split(",") if x.strip()]}
    return data


class HttpConfig(Section):
    """The web view: page, MJPEG stream, snapshot, status JSON, health and Prometheus metrics."""

    listen: str | None = Field(None, description="HOST:PORT to serve on (off when unset); 0.0.0.0:PORT exposes it to the whole network")
    token: str | None = Field(None, description="require this token (Authorization: Bearer or ?token=) for everything but /healthz")
    stall_seconds: float = Field(5.0, gt=0, le=3600, description="/healthz turns 503 when no frame arrived for this many seconds")
    stream_fps: float = Field(15.0, ge=0, le=240, description="most frames per second encoded for viewers; 0 encodes every processed frame")
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of the stream and /snapshot.jpg")
    stream_width: int | None = Field(None, ge=64, le=8192, description="scale stream frames down to this width (saves CPU and bandwidth)")
    max_clients: int = Field(32, ge=1, le=1024, description="most simultaneous stream viewers; more get 503")
    max_connections: int = Field(64, ge=1, le=4096, description="most open HTTP connections (viewers included); more get 503 at once")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="without a token, Host names accepted besides IP addresses, localhost and this machine's names; '*' any",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: Any) -> Any:
        if isinstance(value, str):  # "cam.lan, shelf" from the environment
            value = [x for x in value.split(",") if x.strip()]
        if isinstance(value, list):
            value = [_host_name(x) if isinstance(x, str) else x for x in value]
        return value

    @field_validator("listen", mode="before")
    @classmethod
    def _listen_is_host_port(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # CAMAPP_HTTP_LISTEN=8080 arrives as the number 8080
        if isinstance(value, str):
            parse_listen(value)
        return value


class CropsConfig(Section):
    """Detect, then classify: a classifier names what is inside each detected box (camapp.inference.crops)."""

    model: str | None = Field(None, description="a classifier (.tflite or model id, e.g. one built by camapp teach) for the crops")
    labels: list[str] = Field(default_factory=list, description="classify only boxes with these detector labels (empty: all)")
    padding: float = Field(0.1, ge=0.0, le=1.0, description="context added around a box, as a fraction of its width and height")
    min_size: int = Field(24, ge=1, le=4096, description="boxes smaller than this many pixels (either side) are not classified")
    max_per_frame: int = Field(10, ge=1, le=100, description="classify at most this many boxes per frame (best scores first)")

    _labels = model_validator(mode="before")(_split_labels)


class EventsConfig(Section):
    """Change events (appeared / left / count / class_changed) instead of one line per frame."""

    output: str | None = Field(None, description="JSON lines of events to this file; '-' for stdout")
    labels: list[str] = Field(default_factory=list, description="watch only these labels (empty: all)")
    debounce_frames: int = Field(3, ge=1, le=10000, description="a change must hold for this many processed frames")
    debounce_seconds: float = Field(0.0, ge=0, le=3600, description="... and for this many seconds of capture time")

    _labels = model_validator(mode="before")(_split_labels)


class MqttConfig(Section):
    """MQTT: availability, events, per-label counts, snapshots and Home Assistant discovery."""

    host: str | None = Field(None, description="broker host name or address (MQTT off when unset)")
    port: int = Field(1883, ge=1, le=65535, description="broker port (usually 8883 with tls)")
    camera: str | None = Field(None, description="this camera's name in topics and Home Assistant (default: the host name)")
    prefix: str = Field("camapp", min_length=1, description="first level of every topic: <prefix>/<camera>/...")
    username: str | None = Field(None, description="broker user name")
    password: str | None = Field(None, description="broker password (better set CAMAPP_MQTT_PASSWORD than write it here)")
    tls: bool = Field(False, description="connect with TLS")
    cafile: str | None = Field(None, description="CA certificate file for tls (default: the system's CAs)")
    certfile: str | None = Field(None, description="client certificate file for tls client authentication")
    keyfile: str | None = Field(None, description="client key file for tls client authentication")
    tls_insecure: bool = Field(False, description="accept a broker certificate whose host name does not match (testing only)")
    client_id: str | None = Field(None, description="MQTT client id (default: camapp-<camera>)")
    qos: Literal[0, 1, 2] = Field(1, description="QoS of events and counts")
    keepalive: int = Field(30, ge=5, le=3600, description="seconds between keepalive pings; the last will fires after 1.5x this")
    queue: int = Field(100, ge=1, le=100000, description="messages held while the broker is unreachable; older ones are dropped")
    reconnect_min: float = Field(1.0, gt=0, le=3600, description="first wait in seconds before reconnecting; doubles per failed try")
    reconnect_max: float = Field(60.0, gt=0, le=86400, description="longest wait in seconds between reconnect tries")
    discovery: bool = Field(True, description="publish Home Assistant MQTT discovery configs")
    discovery_prefix: str = Field("homeassistant", min_length=1, description="Home Assistant's discovery prefix")
    labels: list[str] = Field(default_factory=list, description="labels announced to Home Assistant at start (others when first seen)")
    snapshot: bool = Field(False, description="publish a JPEG to <prefix>/<camera>/snapshot on every event")

    _labels = model_validator(mode="before")(_split_labels)

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_max < self.reconnect_min:
            raise ValueError(f"reconnect_max ({self.reconnect_max}) must not be below reconnect_min ({self.reconnect_min})")
        if any(ch in self.prefix + (self.camera or "") for ch in "+#"):
            raise ValueError("prefix and camera must not contain the MQTT wildcards '+' or '#'")
        return self


class SnapshotsConfig(Section):
    """JPEGs when chosen labels appear, optional clips around events, and how long they are kept."""

    dir: str | None = Field(None, description="folder for snapshots and clips (off when unset)")
    labels: list[str] = Field(default_factory=list, description="snapshot when one of these appears (empty: any event)")
    clip_before: float = Field(
        0.0, ge=0, le=60, description="seconds of video kept before an event for a clip (0 and clip_after 0: no clips)"
    )
    clip_after: float = Field(0.0, ge=0, le=600, description="seconds of video recorded after an event")
    clip_fps: float = Field(10.0, gt=0, le=60, description="frame rate of clips (the pre-event buffer keeps this many frames per second)")
    max_files: int | None = Field(500, ge=1, description="keep at most this many files (oldest deleted first)")
    max_age_hours: float | None = Field(None, gt=0, description="delete files older than this")
    max_mb: float | None = Field(1000.0, gt=0, description="keep the folder under this many megabytes")
    jpeg_quality: int = Field(90, ge=10, le=100, description="JPEG quality of snapshots")

    _labels = model_validator(mode="before")(_split_labels)


def _point(value: Any, what: str) -> tuple[float, float]:
    """[x, y] normalised to the frame: 0..1 each (pixels would tie the config to one resolution)."""
    if (
        not isinstance(value, (list, tuple)) or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{what} must be [x, y] with numbers from 0 to 1, got {value!r}")
    x, y = float(value[0]), float(value[1])
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"{what} {[x, y]} is outside the frame: x and y go from 0 (left, top) to 1 (right, bottom)")
    return x, y


_AREA_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _area_name(value: str) -> str:
    # The name is part of MQTT topics and Home Assistant ids: no spaces, slashes or wildcards.
    if not _AREA_NAME.fullmatch(value):
        raise ValueError(f"'{value}' is not a valid name: use letters, digits, '_' and '-' (it becomes part of MQTT topics)")
    return value


Anchor = Literal["bottom_center", "center"]


class ZoneConfig(Section):
    """A polygon in which tracked objects are counted (docs/zones.md)."""

    name: str = Field(description="the zone's name, unique among zones (letters, digits, _ and -)")
    polygon: list[tuple[float, float]] = Field(description="at least three [x, y] points, 0..1 of the frame's width and height")
    labels: list[str] = Field(default_factory=list, description="count only these labels (empty: any label)")
    anchor: Anchor = Field(
        "bottom_center", description="the point of a box that must be inside: bottom_center (floors) or center (shelves, overhead)"
    )
    events: Literal["tracks", "presence"] = Field(
        "tracks", description="tracks: zone_entered / zone_left per object; presence: zone_occupied / zone_empty only (shelf slots)"
    )
    debounce_frames: int = Field(3, ge=1, le=10000, description="inside / outside must hold this many processed frames")
    debounce_seconds: float = Field(0.0, ge=0, le=3600, description="... and this many seconds")
    loiter_seconds: float | None = Field(None, gt=0, le=86400, description="a loitering event once an object stays this long (null: never)")

    _labels = model_validator(mode="before")(_split_labels)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _area_name(value)

    @field_validator("polygon", mode="before")
    @classmethod
    def _polygon(cls, value: Any) -> Any:
        if not isinstance(value, list) or len(value) < 3:
            raise ValueError("a polygon needs at least three [x, y] points")
        points = [_point(p, f"point {i + 1}") for i, p in enumerate(value)]
        area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True))
        if abs(area) < 1e-6:
            raise ValueError("the polygon has no area: its points lie on one line")
        return points


class LineConfig(Section):
    """A line across which tracked objects are counted in and out (docs/zones.md)."""

    name: str = Field(description="the line's name, unique among lines (letters, digits, _ and -)")
    start: tuple[float, float] = Field(description="[x, y], 0..1; standing here and looking at end, crossing to the left is in")
    end: tuple[float, float] = Field(description="[x, y], 0..1")
    labels: list[str] = Field(default_factory=list, description="count only these labels (empty: any label)")
    anchor: Anchor = Field("bottom_center", description="the point of a box that crosses: bottom_center (floors) or center")

    _labels = model_validator(mode="before")(_split_labels)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _area_name(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _in_frame(cls, value: Any, info: ValidationInfo) -> Any:
        return _point(value, str(info.field_name))

    @model_validator(mode="after")
    def _has_length(self) -> LineConfig:
        if abs(self.start[0] - self.end[0]) + abs(self.start[1] - self.end[1]) < 1e-3:
            raise ValueError("start and end are the same point: a line needs two different points")
        return self


class TrackingConfig(Section):
    """The tracker behind zones, lines and track ids (camapp.analytics.tracking)."""

    enabled: Literal["auto"] | bool = Field("auto", description="auto: on when zones or lines exist; true: track ids without zones")
    low_threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="detections down to this score continue a track (new tracks need model.threshold)"
    )
    max_age: float = Field(1.5, gt=0, le=600, description="seconds a lost track is kept before its object counts as gone")
    min_hits: int = Field(3, ge=1, le=100, description="frames an object must be seen before it is tracked (gets an id)")
    match_iou: float = Field(0.2, gt=0, le=1, description="least overlap of a track's predicted box and a detection to match")
    merge_iou: float = Field(0.5, gt=0, le=1, description="duplicate boxes overlapping this much (any label) are merged")
    merge_inside: float = Field(0.8, gt=0, le=1, description="a box lying this much inside a better one is merged into it")
    trail: int = Field(0, ge=0, le=200, description="past positions drawn per track (0: none)")
    state_file: str | None = Field(
        None, description="zone visits and line totals kept across restarts (default with zones or lines, or the web page's "
        "controls, which can draw them: camapp-counts.json in the working directory, the state folder for the service); null: not kept"
    )


class TeachConfig(Section):
    """Teaching from the web page (docs/teach.md): on whenever http is on and the panel is enabled."""

    enabled: bool = Field(True, description="serve the teach panel (/teach) with the web view")
    dir: str | None = Field(
        None, description="the examples folder, one sub-folder per class (default: teach/ in the service's state folder, "
        "else ~/.local/share/camapp/teach)"
    )
    output: str | None = Field(None, description="the model Build writes (default: the examples folder's name + .tflite beside it)")
    backbone: str = Field("v2", min_length=1, description="v1, v2, v3 (the zoo's classifier) or a classifier .tflite or model id")
    head: Literal["fit", "mean"] = Field("fit", description="fit: vectors fitted to separate the classes; mean: the class means")
    unknown_below: float | Literal["auto", "off"] = Field(
        "auto", description="answer 'unknown' below this cosine (auto: from the examples)"
    )
    rate: float = Field(4.0, gt=0, le=30, description="frames saved per second while the record button is held")
    live_fps: float = Field(2.0, gt=0, le=30, description="most embeddings per second for the live bars (only while the panel is open)")

    @field_validator("unknown_below")
    @classmethod
    def _cosine(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not -1.0 <= value <= 1.0:
            raise ValueError("a cosine goes from -1 to 1")
        return value


class Config(Section):
    source: SourceConfig = Field(default_factory=SourceConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    crops: CropsConfig = Field(default_factory=CropsConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    snapshots: SnapshotsConfig = Field(default_factory=SnapshotsConfig)
    zones: list[ZoneConfig] = Field(default_factory=list, description="polygons in which tracked objects are counted (docs/zones.md)")
    lines: list[LineConfig] = Field(default_factory=list, description="lines across which tracked objects are counted in and out")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    teach: TeachConfig = Field(default_factory=TeachConfig)

    @field_validator("zones", "lines")
    @classmethod
    def _unique_names(cls, items: list[Any]) -> list[Any]:
        names = [item.name for item in items]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"the name '{twice[0]}' is used twice; every one needs its own name")
        return items

    @model_validator(mode="after")
    def _counts_file(self) -> Config:
        drawable = bool(self.http.listen and self.http.token)  # the web page's controls can draw zones while running
        if (self.zones or self.lines or drawable) and "state_file" not in self.tracking.model_fields_set:
            # Counts that last are the point of zones and lines; `state_file: null` turns it off.
            # Nothing is written while there are none (camapp.outputs.counts_file).
            self.tracking.state_file = "camapp-counts.json"
        return self

    @property
    def tracking_on(self) -> bool:
        on = self.tracking.enabled
        return bool(self.zones or self.lines) if on == "auto" else bool(on)


ENV_PREFIX = "CAMAPP_"

# The one list of CAMAPP_* variables that are not config keys, each with who reads it. Every other
# CAMAPP_* name in the environment must be a config key (CAMAPP_<SECTION>_<KEY>), so that a typo
# (CAMAPP_MODEL_THREADS without its S) is an error instead of doing nothing. docs/config.md lists both.
NON_CONFIG_ENV: dict[str, str] = {
    "CAMAPP_CONFIG": "the config file when --config is not given",
    "CAMAPP_RUNTIME": "force the interpreter runtime: ai_edge_litert or tflite_runtime",
    "CAMAPP_MANIFEST": "another model manifest instead of models/manifest.yaml",
    "CAMAPP_VENV": "scripts/camapp and scripts/test: the virtualenv to create and use",
    "CAMAPP_PYTHON": "scripts/camapp: the Python that creates the virtualenv",
    "CAMAPP_SHARED": "tests and benchmarks: the folder of shared test models, images and videos",
    "CAMAPP_REQUIRE_SERVICES": "tests (CI): fail instead of skipping when mosquitto, chromium or systemd is missing",
    "CAMAPP_TEST_WORKERS": "scripts/test: test processes run side by side (default 2; 1: one process)",
    "CAMAPP_EXPORT_PYTHON": "tests: the Python with ai-edge-litert that writes taught models for the tflite-runtime tests",
}
ENV_DOCS = "docs/config.md"

# systemd credentials ($CREDENTIALS_DIRECTORY/<name>, from LoadCredential= in the unit) -> config key.
CREDENTIALS: dict[str, tuple[str, ...]] = {"http_token": ("http", "token"), "mqtt_password": ("mqtt", "password")}


def _leaf_fields(model: type[BaseModel] = Config, prefix: tuple[str, ...] = ()) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Every leaf key's environment variable name -> (its dotted path, its type annotation)."""
    leaves: dict[str, tuple[tuple[str, ...], Any]] = {}
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            leaves.update(_leaf_fields(ann, path))
        else:
            leaves[ENV_PREFIX + "_".join(path).upper()] = (path, ann)
    return leaves


def env_keys(model: type[BaseModel] = Config, prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Every leaf key's environment variable name -> its dotted path."""
    return {name: path for name, (path, _) in _leaf_fields(model, prefix).items()}


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _get_path(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _env_value(text: str, annotation: Any) -> Any:
    # A text setting (token, password, path, name) takes the value exactly as written: read as YAML,
    # '#t0k&n', 'null' and '~' became None (no auth), 'abc #def' became 'abc' and '0123' the number 123.
    if _is_text(annotation):
        return text
    if get_origin(annotation) is list and not text.lstrip().startswith("["):
        return text  # "person, car" is split at the commas by the section; as YAML, "yes" became True
    # Typed settings (numbers, yes/no, lists, mappings) are read like a YAML value: "4" is 4, "true" is True.
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _unknown_env(name: str, known: list[str]) -> ConfigError:
    best = difflib.get_close_matches(name, known, n=1, cutoff=0.0)
    near = difflib.get_close_matches(name, best, n=1, cutoff=0.6)
    guess = f" (did you mean {near[0]}?)" if near else f" (closest known name: {best[0]})" if best else ""
    return ConfigError(
        f"unknown environment variable {name}{guess}",
        f"config keys are CAMAPP_<SECTION>_<KEY>; {ENV_DOCS} lists every valid CAMAPP_* name (unset this one or fix its name)",
    )


def read_credential(directory: str, name: str) -> str | None:
    """The systemd credential `name` (one trailing newline stripped, as `echo` adds one), or None."""
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the credential {path}: {exc}", "check LoadCredential= in the unit") from exc
    text = text[:-1] if text.endswith("\n") else text
    if not text:
        # An empty token would mean no token at all, which is never what a credential was set up for.
        raise ConfigError(f"the credential {path} is empty", f"put the secret in the file LoadCredential={name}:... names")
    return text


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that it records every key written twice in one mapping: plain
    PyYAML keeps the last one silently, so a second `threads:` further down won unseen."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[yaml.MappingNode, Any, int, int]] = []  # (mapping, key, first line, second line)
        self._written: dict[int, list[tuple[yaml.Node, yaml.Node]]] = {}

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Merge keys (`<<: *base`) copy another mapping's keys into node.value in place. Remember the
        # keys written here first: only those can be duplicates (overriding a merged key is what << is for).
        self._written.setdefault(id(node), list(node.value))
        super().flatten_mapping(node)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in self._written.get(id(node), node.value):
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                try:
                    if key in first:
                        self.duplicates.append((node, key, first[key], line))
                    else:
                        first[key] = line
                except TypeError:
                    pass  # an unhashable key: the base class reports it
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def _node_paths(root: yaml.Node) -> dict[int, tuple[str, ...]]:
    """id(mapping node) -> its dotted path from the root, to name a duplicate key in full."""
    paths: dict[int, tuple[str, ...]] = {}
    stack: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())]
    while stack:  # iterative: aliases and deep nesting must not recurse without end
        node, path = stack.pop()
        if id(node) in paths:
            continue
        paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            stack.extend((v, (*path, str(k.value) if isinstance(k, yaml.ScalarNode) else "?")) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, (*path, str(i))) for i, v in enumerate(node.value))
    return paths


def _yaml_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of its nearest ancestor that exists."""
    node, line = root, None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        line = node.start_mark.line + 1
        # The last match: of a key written twice, YAML keeps (and the error is about) the second.
        found = [(key, value) for key, value in node.value if key.value == part]
        if not found:
            break
        key, node = found[-1]
        line = key.start_mark.line + 1
    return line


def _printable(loc: tuple[str, ...]) -> str:
    return ".".join(part if part.isprintable() else repr(part) for part in loc)  # a key with a newline stays on one line


def read_yaml(path: str) -> tuple[dict[str, Any], yaml.Node | None, list[ConfigError]]:
    """The file's data, its node tree (for line numbers) and its duplicate keys, one error each."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' does not exist", "check the --config path")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        loader = _UniqueKeyLoader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
            paths = _node_paths(root) if root is not None and loader.duplicates else {}
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({exc.problem or exc.context})", "fix the syntax at that line") from exc
    except yaml.reader.ReaderError as exc:
        # Not a MarkedYAMLError: it knows the character position only, so count the lines up to it.
        line = text.count("\n", 0, max(0, exc.position)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise ConfigError(f"{path} line {line}: invalid YAML ({exc.reason}: U+{char:04X})", "remove that character") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: invalid YAML (nested too deeply)", "a config is a few levels of sections and keys") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from exc
    duplicates = [
        ConfigError(
            f"duplicate key '{_printable((*paths.get(id(node), ()), str(key)))}' ({path} line {first} and line {second})",
            "YAML would silently keep the second value; keep only one of them",
        )
        for node, key, first, second in sorted(loader.duplicates, key=lambda d: d[3])
    ]
    if data is None:
        return {}, None, duplicates
    if not isinstance(data, dict):
        at = f" line {root.start_mark.line + 1}" if root is not None else ""
        raise ConfigError(f"{path}{at}: the top level must be a mapping of sections", f"sections: {', '.join(Config.model_fields)}")
    return data, root, duplicates


@dataclass
class ConfigCheck:
    """Everything one load learnt: the merged data, where each value came from, and every problem.

    load_config() raises the problems; check-config prints them all and checks the files named."""

    path: str | None
    data: dict[str, Any] = field(default_factory=dict)
    root: yaml.Node | None = None
    origin: dict[tuple[str, ...], str] = field(default_factory=dict)
    problems: list[ConfigError] = field(default_factory=list)
    config: Config | None = None

    def where(self, loc: tuple[str, ...]) -> str:
        """' (environment variable X)', ' (FILE line N)' or '' for the value at `loc`."""
        for n in range(len(loc), 0, -1):
            if loc[:n] in self.origin:
                return f" ({self.origin[loc[:n]]})"
        if self.path:
            line = _yaml_line(self.root, loc)
            return f" ({self.path} line {line})" if line else f" ({self.path})"
        return ""


def inspect_config(
    path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ConfigCheck:
    """Merge file < environment < overrides (dotted keys such as 'model.threads'), then systemd
    credentials for secrets left unset, and validate; every problem is collected, none raised.
    A file that is not YAML at all still raises: nothing after it could be checked."""
    check = ConfigCheck(path)
    if path:
        check.data, check.root, duplicates = read_yaml(path)
        check.problems.extend(duplicates)
    env = os.environ if env is None else env
    leaves = _leaf_fields()
    for name, text in env.items():
        if name in leaves:
            if text == "":
                continue  # `CAMAPP_HTTP_TOKEN=` in an env file means unset, never "turn the token off"
            key, annotation = leaves[name]
            _set_path(check.data, key, _env_value(text, annotation))
            check.origin[key] = f"environment variable {name}"
        elif name.startswith(ENV_PREFIX) and name not in NON_CONFIG_ENV:
            check.problems.append(_unknown_env(name, [*leaves, *NON_CONFIG_ENV]))
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_path(check.data, tuple(dotted.split(".")), value)
            check.origin[tuple(dotted.split("."))] = "command line"
    # A credential is the unit's default for its secret: any value written on purpose (YAML, an
    # environment variable, the command line) wins, exactly as every other layer overrides the one
    # below it, so `CAMAPP_HTTP_TOKEN=x camapp run` still tests a token by hand on a configured Pi.
    directory = env.get("CREDENTIALS_DIRECTORY")
    for name, key in CREDENTIALS.items() if directory else ():
        if _get_path(check.data, key) is None:
            try:
                secret = read_credential(str(directory), name)
            except ConfigError as exc:
                check.problems.append(exc)
                continue
            if secret is not None:
                _set_path(check.data, key, secret)
                check.origin[key] = f"credential {os.path.join(str(directory), name)}"
    try:
        check.config = Config.model_validate(check.data)
    except ValidationError as exc:
        check.problems.extend(_schema_error(err, check) for err in exc.errors())
    return check


def load_config(
    path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Merge file < environment < overrides (dotted keys such as 'model.threads'), fill unset secrets
    from systemd credentials, and validate; the first problem is raised as one line."""
    check = inspect_config(path, env, overrides)
    if check.problems:
        first = check.problems[0]
        if len(check.problems) == 1:
            raise first
        # Errors stay one line: the first, and how to see the rest at once.
        more = f"camapp check-config {path} lists them all" if path else "fix this one first"
        raise ConfigError(first.message, f"{first.hint + '; ' if first.hint else ''}{len(check.problems) - 1} more problem(s): {more}")
    assert check.config is not None
    return check.config


def parse_areas(data: Mapping[str, Any]) -> tuple[list[ZoneConfig], list[LineConfig]]:
    """Zones and lines given as config data ({"zones": [...], "lines": [...]}, as the web page's
    editor sends them), checked by the same schema as a config file; the first problem is raised
    as one line naming the key ('zones.0.polygon') and what is allowed."""
    unknown = sorted(set(data) - {"zones", "lines"})
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'", "give zones and lines: {\"zones\": [...], \"lines\": [...]}")
    check = ConfigCheck(None, {k: data[k] for k in ("zones", "lines") if k in data})
    try:
        config = Config.model_validate(check.data)
    except ValidationError as exc:
        raise _schema_error(exc.errors()[0], check) from None
    return config.zones, config.lines


def area_data(zones: list[ZoneConfig], lines: list[LineConfig]) -> dict[str, list[dict[str, Any]]]:
    """Zones and lines as plain config data (defaults left out, points as [x, y] lists), for a
    config file and the web page's editor."""

    def plain(area: Section) -> dict[str, Any]:
        out = area.model_dump(exclude_defaults=True)
        for key in ("polygon", "start", "end"):
            if key in out:
                out[key] = [list(p) for p in out[key]] if key == "polygon" else list(out[key])
        return out

    return {"zones": [plain(z) for z in zones], "lines": [plain(x) for x in lines]}


def _schema_error(err: Any, check: ConfigCheck) -> ConfigError:
    loc = tuple(str(p) for p in err["loc"])
    where = check.where(_field_named_in(loc, err, check.data))
    if err["type"] == "extra_forbidden":
        parent = _section_model(loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else ""
        return ConfigError(f"unknown config key '{_printable(loc)}'{where}", f"allowed keys here: {allowed}")
    msg = err["msg"]
    given = err.get("input")
    if "input" in err and err["type"] != "missing" and not isinstance(given, dict) and not _holds_sections(given):
        msg += f", got {given!r}"  # a value, not a whole section or list of zones that would bury the message
        if err["type"] == "string_type" and isinstance(err["input"], (int, float, bool)) and "line" in where:
            msg += " (YAML read it as a number or yes/no: put it in quotes)"
    return ConfigError(f"config key '{_printable(loc)}'{where}: {msg}")


def _field_named_in(loc: tuple[str, ...], err: Any, data: Mapping[str, Any]) -> tuple[str, ...]:
    """A section-wide check (a model validator) fails on the whole section; point at the first of
    its keys that the message names (and that was set, if any was) instead, so the line number or
    the variable shows the value to change."""
    section = _section_model(loc)
    if section is None:
        return loc
    msg = str(err.get("msg", ""))
    named = [(m.start(), name) for name in section.model_fields if (m := re.search(rf"\b{re.escape(name)}\b", msg))]
    named.sort(key=lambda pos_name: (_get_path(data, (*loc, pos_name[1])) is None, pos_name[0]))
    return (*loc, named[0][1]) if named else loc


def _section_model(loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    items: type[BaseModel] | None = None  # the model of a list's items (zones, lines): the next part is an index
    for part in loc:
        if items is not None and part.isdigit():
            model, items = items, None
            continue
        field_info = model.model_fields.get(part)
        annotation = field_info.annotation if field_info is not None else None
        if get_origin(annotation) is list and _is_model(get_args(annotation)[0]):
            items = get_args(annotation)[0]
            continue
        if not _is_model(annotation):
            return None
        model = cast("type[BaseModel]", annotation)
    return model if items is None else None


def _holds_sections(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(item, dict) for item in value)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


SECRET_WORDS = ("password", "token", "secret", "key")


def effective_config(config: Config) -> dict[str, Any]:
    """The config as plain data with secrets masked, for check-config and logs."""

    def mask(node: Any, name: str = "") -> Any:
        if isinstance(node, dict):
            return {k: mask(v, k) for k, v in node.items()}
        if node and any(w in name.lower() for w in SECRET_WORDS) and name.lower() != "keyfile":
            return "***"
        if isinstance(node, str) and "://" in node:
            return redact_url(node)  # rtsp://user:password@camera: the password is a secret too
        return node

    return mask(config.model_dump(mode="json"))
