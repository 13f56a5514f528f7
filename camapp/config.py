"""The one config schema, its defaults, and the one loader: YAML file < environment < command line.

Every key is declared once here with its default and meaning; unknown keys are errors. The
environment form of a key is CAMAPP_<SECTION>_<KEY> in capitals (model.mirror is
CAMAPP_MODEL_MIRROR). Validators only validate: nothing here opens a camera, a model or a URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from camapp.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
    task: Literal["auto", "classify", "detect"] = Field("auto", description="auto reads it from the model's outputs")
    threads: int = Field(2, ge=1, le=64, description="interpreter threads")
    top_k: int = Field(5, ge=1, le=1000, description="classes reported per frame (classifiers)")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="minimum score of a detection")
    resize: Literal["stretch", "letterbox", "crop"] = Field("stretch", description="how a frame is fitted to the model input")
    interpolation: Literal["linear", "area", "nearest"] = Field("linear", description="resize filter")
    backbone: Literal["v1", "v2", "v3", "v3-small", "v3-large"] | None = Field(None, description="pick the manifest's model for this backbone")
    alpha: float | None = Field(None, gt=0, le=2, description="MobileNet width multiplier, to narrow --backbone")
    resolution: int | None = Field(None, ge=32, le=1024, description="model input size, to narrow --backbone")
    mirror: str | None = Field(None, description="folder or http(s) base URL holding model files by name")
    cache_dir: str | None = Field(None, description="where pulled models are kept (default ~/.cache/camapp/models)")


class PipelineConfig(Section):
    mode: Literal["auto", "live", "file"] = Field(
        "auto", description="live: always infer on the newest frame, skipping; file: every frame in order; auto: by source"
    )
    every: int = Field(1, ge=1, le=1000, description="run inference on every Nth frame, drawing the last result between")
    max_frames: int | None = Field(None, ge=1, description="stop after this many frames read")


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
    reconnect_min: float = Field(0.5, gt=0, le=3600, description="first wait in seconds before reopening a lost source; doubles per failed try")
    reconnect_max: float = Field(30.0, gt=0, le=86400, description="longest wait in seconds between two tries to reopen a lost source")
    stats_interval: float = Field(60.0, ge=0, le=86400, description="seconds between one-line stats summaries in the log; 0 turns them off")

    @model_validator(mode="after")
    def _backoff_order(self) -> ServiceConfig:
        if self.reconnect_max < self.reconnect_min:
            raise ValueError(f"reconnect_max ({self.reconnect_max}) must not be below reconnect_min ({self.reconnect_min})")
        return self


class Config(Section):
    source: SourceConfig = Field(default_factory=SourceConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)


ENV_PREFIX = "CAMAPP_"


def env_keys(model: type[BaseModel] = Config, prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Every leaf key's environment variable name -> its dotted path."""
    keys: dict[str, tuple[str, ...]] = {}
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.update(env_keys(ann, path))
        else:
            keys[ENV_PREFIX + "_".join(path).upper()] = path
    return keys


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _env_value(text: str) -> Any:
    # Parse like YAML so "true", "2" and "0.5" become typed; an unparsable value stays a string.
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


def _yaml_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at `loc`, or of its nearest ancestor that exists."""
    node, line = root, None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        line = node.start_mark.line + 1
        for key, value in node.value:
            if key.value == part:
                node, line = value, key.start_mark.line + 1
                break
        else:
            break
    return line


def read_yaml(path: str) -> tuple[dict[str, Any], yaml.Node | None]:
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' does not exist", "check the --config path")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML ({exc.problem})", "fix the syntax at that line") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from exc
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections", f"sections: {', '.join(Config.model_fields)}")
    return data, root


def load_config(
    path: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Merge file < environment < overrides (dotted keys such as 'model.threads') and validate."""
    data: dict[str, Any] = {}
    root: yaml.Node | None = None
    origin: dict[tuple[str, ...], str] = {}
    if path:
        data, root = read_yaml(path)
    env = os.environ if env is None else env
    known = env_keys()
    for name, value in env.items():
        if name in known:
            _set_path(data, known[name], _env_value(value))
            origin[known[name]] = f"environment variable {name}"
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_path(data, tuple(dotted.split(".")), value)
            origin[tuple(dotted.split("."))] = "command line"
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, path, root, origin) from None


def _config_error(exc: ValidationError, path: str | None, root: yaml.Node | None, origin: dict[tuple[str, ...], str]) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(str(p) for p in err["loc"])
    key = ".".join(loc)
    where = origin.get(loc)
    if where is None and path:
        line = _yaml_line(root, loc)
        where = f"{path} line {line}" if line else path
    where = f" ({where})" if where else ""
    if err["type"] == "extra_forbidden":
        parent = _section_model(loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent else ""
        return ConfigError(f"unknown config key '{key}'{where}", f"allowed keys here: {allowed}")
    msg = err["msg"]
    if "input" in err and err["type"] != "missing":
        msg += f", got {err['input']!r}"
    return ConfigError(f"config key '{key}'{where}: {msg}")


def _section_model(loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


SECRET_WORDS = ("password", "token", "secret", "key")


def effective_config(config: Config) -> dict[str, Any]:
    """The config as plain data with secrets masked, for check-config and logs."""

    def mask(node: Any, name: str = "") -> Any:
        if isinstance(node, dict):
            return {k: mask(v, k) for k, v in node.items()}
        if node and any(w in name.lower() for w in SECRET_WORDS) and name.lower() != "keyfile":
            return "***"
        return node

    return mask(config.model_dump(mode="json"))
