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

import dataclasses
import logging
import os
import socket
import threading
import time
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
        threads=cfg.threads if isinstance(cfg.threads, int) else cpu_cores(),
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


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may use (a container, taskset)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Arrangement:
    """How many interpreters work on frames in turn, with how many threads each, and why."""

    workers: int
    threads: int
    why: str

    def to_dict(self) -> dict[str, object]:
        return {"workers": self.workers, "threads": self.threads, "why": self.why}


PROBE_INVOKES = 5


def invoke_ms(model: Model) -> float:
    """The model's own invoke time on this board, on a blank input: the median of a few."""
    import numpy as np

    blank = np.zeros(model.info.input.shape, model.info.input.dtype)
    times = []
    for _ in range(PROBE_INVOKES + 1):
        model.interpreter.set_tensor(model.info.input.index, blank)
        t0 = time.perf_counter()
        model.invoke()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times[1:])[len(times[1:]) // 2]  # the first invoke warms up


def choose_arrangement(cfg: Config, paced_fps: float | None, invoke: float | None, cores: int) -> Arrangement:
    """workers x threads from the config, or by rule where it says auto.

    Throughput (several one-thread interpreters on frames in turn) when frames come faster than
    one interpreter takes them: a file read as fast as possible, or a paced source whose frame
    interval is shorter than one invoke. Latency (one interpreter, every core) otherwise: each
    frame then gets its result soonest. Measured on this 2-core VM: 2 x 1 ran SSD 14 % and V2 12 %
    faster on a file than 1 x 2 (benchmarks/RESULTS.md).
    """
    workers, threads = cfg.pipeline.workers, cfg.model.threads
    if workers != "auto":
        t = threads if threads != "auto" else max(1, cores // workers)
        return Arrangement(workers, t, "set in the config" if threads != "auto" else f"{workers} workers set, {cores} cores")
    if paced_fps is None:
        why = "frames come as fast as they are read (a file): interpreters take them in turn"
        throughput = True
    elif invoke is not None and invoke * paced_fps / 1000 > 1.0:
        why = f"{paced_fps:.0f} fps arrive faster than one {invoke:.1f} ms invoke: interpreters take them in turn"
        throughput = True
    else:
        shown = f"{invoke:.1f} ms" if invoke is not None else "unknown"
        why = f"one invoke ({shown}) keeps up with {paced_fps:.0f} fps: one interpreter on every core, for the lowest latency"
        throughput = False
    n = min(2, cores) if throughput else 1
    t = threads if threads != "auto" else max(1, cores // n)
    return Arrangement(n, t, why)


def build_models(
    cfg: Config, source: Source | None = None, arrangement: Arrangement | None = None
) -> tuple[tuple[Model, ...], Arrangement]:
    """One model per worker (each its own interpreter), arranged by choose_arrangement unless given."""
    cores = cpu_cores()
    first = build_model(cfg.model)  # threads: the config's, or every core
    if arrangement is None:
        paced = source is not None and (source.is_live or cfg.source.realtime)
        fps = (source.fps or 30.0) if paced and source is not None else None
        probe = invoke_ms(first) if fps is not None and cfg.pipeline.workers == "auto" else None
        arrangement = choose_arrangement(cfg, fps, probe, cores)
    if arrangement.workers * arrangement.threads > cores:
        log.warning("%d workers x %d threads is more than this machine's %d cores: they will slow each other down",
                    arrangement.workers, arrangement.threads, cores)
    options = dataclasses.replace(first.options, threads=arrangement.threads)
    if options != first.options:
        first = Model(options)
    return (first, *(Model(options) for _ in range(arrangement.workers - 1))), arrangement


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
    arrangement: Arrangement | None = None  # shown in /api/status: what was chosen and why
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
    if ctx.arrangement is not None:
        chosen = ctx.arrangement.to_dict()
        web.status_extras.append(lambda: {"interpreters": chosen})
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
