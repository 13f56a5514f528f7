"""The composition root: the one place that builds camapp's parts from the config.

Every command builds its model here (build_model: resolve the id or file, apply the file's own
sidecar, load, check the input size), so `run`, the service, `bench` and `classify` / `detect`
load a model the same way. `camapp run` also builds its source, analytics stage, control channel
and outputs here. Outputs are registered by the config key that turns them on (OUTPUTS): a new
output is one builder function and one entry there.

The pieces are wired here and nowhere else: the web view learns the other outputs' status and
metrics, the snapshot worker is watched for /healthz, and the service wrapping (reconnecting
source, guarded outputs, the watchdog) is applied by camapp.service.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from camapp.analytics.events import DebounceOptions
from camapp.analytics.stage import Analytics
from camapp.config import Config, ModelConfig
from camapp.errors import UsageError
from camapp.inference.model import Model
from camapp.inference.options import ModelOptions
from camapp.metrics import Registry
from camapp.models.resolve import resolve_model
from camapp.models.sidecar import apply_sidecar, check_input_size
from camapp.outputs.base import Sink, overlay_style
from camapp.sources import SourceOptions
from camapp.sources.base import Source
from camapp.sources.status import SourceStatus
from camapp.stats import PipelineStats

log = logging.getLogger("camapp")


# -- models -----------------------------------------------------------------------------------------


def model_options(cfg: ModelConfig, task: str | None = None) -> ModelOptions:
    """Resolve --model / --backbone to a file and build the options for loading it."""
    name = cfg.name
    if not name and cfg.backbone:
        from camapp.models.zoo import DEFAULT_TASK, select_model  # the model-zoo selection, by backbone / alpha / resolution

        name = select_model(cfg.backbone, task or (cfg.task if cfg.task != "auto" else DEFAULT_TASK), cfg.alpha, cfg.resolution)
    if not name:
        raise UsageError("no model given", "use --model FILE.tflite or a model id (camapp models list), or --backbone v1|v2|v3")
    resolved = resolve_model(name, cfg.labels, cfg.cache_dir, cfg.mirror)
    options = ModelOptions(
        path=resolved.path,
        labels=resolved.labels,
        task=cfg.task if task is None else task,
        threads=cfg.threads,
        top_k=cfg.top_k,
        threshold=cfg.threshold,
        resize=cfg.resize,
        interpolation=cfg.interpolation,
    )
    if resolved.entry is not None:
        return options
    # Your own model: a my.yaml beside my.tflite fills in what the user did not set.
    return apply_sidecar(options, cfg.model_fields_set | ({"task"} if task else set()))


def build_model(cfg: ModelConfig, task: str | None = None) -> Model:
    model = Model(model_options(cfg, task))
    check_input_size(model.options.path, model.info.input_width, model.info.input_height)
    log.info("model %s: %s, input %s", model.options.path, model.task, model.info.input.describe())
    return model


def build_models(cfg: Config, workers: int | None = None) -> tuple[Model, ...]:
    """One model per worker of the pipeline (pipeline.workers): each its own interpreter."""
    n = workers or cfg.pipeline.workers
    cores = os.cpu_count() or 1
    if n * cfg.model.threads > cores:
        log.warning("%d workers x %d threads is more than this machine's %d cores: they will slow each other down",
                    n, cfg.model.threads, cores)
    first = build_model(cfg.model)
    return (first, *(Model(first.options) for _ in range(n - 1)))


def model_name(cfg: Config) -> str:
    """What pages and Home Assistant call the model: its id, or its file name without .tflite."""
    name = cfg.model.name or (f"backbone {cfg.model.backbone}" if cfg.model.backbone else "")
    base = os.path.basename(name)
    return base[:-7] if base.endswith(".tflite") else base


# -- the source and the analytics stage -------------------------------------------------------------


def source_options(cfg: Config) -> SourceOptions:
    s = cfg.source
    return SourceOptions(s.width, s.height, s.fps, s.realtime, s.loop, s.lores_width, s.lores_height)


def wants_events(cfg: Config) -> bool:
    """Outputs that show or send change events (the web page lists them too)."""
    return bool(cfg.events.output or cfg.mqtt.host or cfg.snapshots.dir or cfg.http.listen)


def build_analytics(cfg: Config) -> Analytics:
    if not wants_events(cfg):
        return Analytics()  # nothing consumes events: the stage does nothing on the worker
    e = cfg.events
    return Analytics.for_events(DebounceOptions(e.debounce_frames, e.debounce_seconds), frozenset(e.labels))


# -- outputs ----------------------------------------------------------------------------------------


@dataclass
class OutputContext:
    """What output builders may use: the config and the run's shared parts."""

    cfg: Config
    source: Source
    stats: PipelineStats
    analytics: Analytics
    stop: threading.Event
    source_status: SourceStatus = field(default_factory=SourceStatus)  # the reconnecting source's state
    built: list[Sink] = field(default_factory=list)  # the outputs built so far, in OUTPUTS order


def _results_file(ctx: OutputContext) -> Sink:
    from camapp.outputs.jsonl import JsonLinesSink

    return JsonLinesSink(ctx.cfg.output.jsonl or "-")


def _recording(ctx: OutputContext) -> Sink:
    from camapp.outputs.recorder import ImageFolderRecorder, VideoRecorder, is_video_path

    save = ctx.cfg.output.save or ""
    return VideoRecorder(save, ctx.source.fps, ctx.source.is_live) if is_video_path(save) else ImageFolderRecorder(save)


def _window(ctx: OutputContext) -> Sink:
    from camapp.outputs.window import WindowSink

    return WindowSink("camapp", ctx.stop)


def _events_file(ctx: OutputContext) -> Sink:
    from camapp.outputs.eventlog import EventLogSink

    return EventLogSink(ctx.cfg.events.output or "-")


def _mqtt(ctx: OutputContext) -> Sink:
    from camapp.outputs.mqtt import MqttSink

    return MqttSink(ctx.cfg.mqtt, ctx.analytics, model_name(ctx.cfg), ctx.source_status, overlay_style(ctx.cfg))


def _snapshots(ctx: OutputContext) -> Sink:
    from camapp.outputs.snapshots import SnapshotSink

    snaps = SnapshotSink(ctx.cfg.snapshots, overlay_style(ctx.cfg))
    # /healthz and the watchdog report it stuck once one file takes too long (a frozen SD card).
    # MQTT's worker is not watched: it waits for the broker on purpose, shown as disconnected.
    ctx.stats.watch(snaps.worker)
    return snaps


def _web(ctx: OutputContext) -> Sink:
    from camapp.outputs.web import CameraInfo, WebOptions, WebSink

    cfg, source = ctx.cfg, ctx.source
    registry = Registry()
    for other in ctx.built:  # built before it (OUTPUTS order): their metrics and status join the page's
        registry.add(other.metrics)
    info = CameraInfo(model_name(cfg), source.source_id, source.fps, cfg.mqtt.camera or socket.gethostname())
    web = WebSink(WebOptions.from_config(cfg), info, ctx.stats, ctx.analytics, registry, ctx.source_status)
    web.status_extras.extend(other.report for other in ctx.built)
    return web


# The config key that turns each output on, and its builder; the web view comes last, so it can
# show every other output's status and metrics.
OUTPUTS: list[tuple[str, Callable[[OutputContext], Sink]]] = [
    ("output.jsonl", _results_file),
    ("output.save", _recording),
    ("output.show", _window),
    ("events.output", _events_file),
    ("mqtt.host", _mqtt),
    ("snapshots.dir", _snapshots),
    ("http.listen", _web),
]


def _is_on(cfg: Config, key: str) -> bool:
    section, name = key.split(".")
    return bool(getattr(getattr(cfg, section), name))


def build_outputs(ctx: OutputContext) -> list[Sink]:
    """Every output the config turns on, in OUTPUTS order, started once all are built; all closed
    again if one cannot be built or started."""
    try:
        for key, build in OUTPUTS:
            if _is_on(ctx.cfg, key):
                ctx.built.append(build(ctx))
        for sink in ctx.built:
            sink.start()
    except BaseException:
        for sink in reversed(ctx.built):
            sink.close()
        raise
    return list(ctx.built)
