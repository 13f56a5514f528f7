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
from pathlib import Path
from typing import Any

from camapp.analytics.events import DebounceOptions, EventDetector
from camapp.analytics.stage import Analytics
from camapp.analytics.tracking import TrackerOptions
from camapp.analytics.zones import LineSpec, ZoneSpec
from camapp.config import Config, LineConfig, ModelConfig, ZoneConfig
from camapp.control import ControlChannel
from camapp.errors import CamappError, ModelError, UsageError
from camapp.inference.model import Model
from camapp.inference.options import ModelOptions
from camapp.metrics import Registry
from camapp.models.resolve import resolve_model
from camapp.models.sidecar import apply_sidecar, check_input_size
from camapp.outputs.base import Sink, overlay_style
from camapp.pipeline import arrangements
from camapp.pipeline.arrangements import Remembered
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


def recall_arrangement(model_path: str, cores: int) -> Remembered | None:
    """What a bench stored for this model file, if any (hashing it only when a store exists)."""
    if not any(path.is_file() for path in arrangements.search_path()):
        return None
    from camapp.models.checksums import file_digests

    try:
        sha256 = file_digests(Path(model_path)).sha256
    except OSError:
        return None
    return arrangements.recall(sha256, cores)


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


def choose_arrangement(
    cfg: Config, paced_fps: float | None, invoke: float | None, cores: int, remembered: Remembered | None = None
) -> Arrangement:
    """workers x threads from the config, or, where it says auto, as measured or by rule.

    Throughput (several one-thread interpreters on frames in turn) when frames come faster than
    one interpreter takes them: a file read as fast as possible, or a paced source whose frame
    interval is shorter than one invoke. Latency (one interpreter, every core) otherwise: each
    frame then gets its result soonest. Measured on this 2-core VM: 2 x 1 ran SSD 14 % and V2 12 %
    faster on a file than 1 x 2 (benchmarks/RESULTS.md). In the throughput case, what
    `camapp bench pipeline --remember` measured best on this board for this model wins over the rule.
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
    if throughput and threads == "auto" and remembered is not None:
        return Arrangement(remembered.workers, remembered.threads, remembered.describe())
    n = min(2, cores) if throughput else 1
    t = threads if threads != "auto" else max(1, cores // n)
    return Arrangement(n, t, why)


def build_models(
    cfg: Config, source: Source | None = None, arrangement: Arrangement | None = None
) -> tuple[tuple[Model, ...], Arrangement]:
    """One model per worker (each its own interpreter), arranged by choose_arrangement unless given."""
    cores = cpu_cores()
    model_cfg = cfg.model
    if detection_threshold(cfg) != cfg.model.threshold:
        model_cfg = cfg.model.model_copy(update={"threshold": detection_threshold(cfg)})
    first = build_model(model_cfg)  # threads: the config's, or every core
    if arrangement is None:
        paced = source is not None and (source.is_live or cfg.source.realtime)
        fps = (source.fps or 30.0) if paced and source is not None else None
        auto = cfg.pipeline.workers == "auto" and cfg.model.threads == "auto"
        probe = invoke_ms(first) if fps is not None and cfg.pipeline.workers == "auto" else None
        arrangement = choose_arrangement(cfg, fps, probe, cores, recall_arrangement(first.options.path, cores) if auto else None)
    if arrangement.workers * arrangement.threads > cores:
        log.warning("%d workers x %d threads is more than this machine's %d cores: they will slow each other down",
                    arrangement.workers, arrangement.threads, cores)
    options = dataclasses.replace(first.options, threads=arrangement.threads)
    if options != first.options:
        first = Model(options)
    models = (first, *(Model(options) for _ in range(arrangement.workers - 1)))
    attach_crops(cfg, models, arrangement.threads)
    return models, arrangement


def attach_crops(cfg: Config, models: tuple[Model, ...], threads: int = 1) -> None:
    """Detect, then classify: each worker's detector gets its own classifier for the crops."""
    c = cfg.crops
    if not c.model:
        return
    from camapp.inference.crops import CropOptions, CropStage

    classifier_cfg = cfg.model.model_copy(update={"name": c.model, "labels": None, "backbone": None, "task": "classify"})
    options = CropOptions(frozenset(c.labels), c.padding, c.min_size, c.max_per_frame)
    for model in models:
        if model.task != "detect":
            raise UsageError(
                f"crops.model is set but the model is a {model.task} model", "crops classify what a detector finds: run a detector"
            )
        try:
            classifier = Model(dataclasses.replace(model_options(classifier_cfg, task="classify"), threads=threads))
        except ModelError as exc:
            raise ModelError(f"crops.model: {exc.message}", "give an image classifier, e.g. one built with camapp teach build") from exc
        model.crops = CropStage(classifier, options)
    log.info("crops: %s names the %s boxes", c.model, ", ".join(c.labels) if c.labels else "detected")


def model_name(cfg: Config) -> str:
    """What pages and Home Assistant call the model: its id (also when chosen by --backbone), or its
    file name without .tflite."""
    name = cfg.model.name or ""
    if not name and cfg.model.backbone:
        from camapp.models.zoo import DEFAULT_TASK, select_model

        m = cfg.model
        try:
            name = select_model(str(m.backbone), m.task if m.task != "auto" else DEFAULT_TASK, m.alpha, m.resolution)
        except CamappError:
            name = f"backbone {m.backbone}"
    base = os.path.basename(name)
    return base[:-7] if base.endswith(".tflite") else base


# -- the source and the analytics stage -------------------------------------------------------------


def source_options(cfg: Config) -> SourceOptions:
    s = cfg.source
    return SourceOptions(s.width, s.height, s.fps, s.realtime, s.loop, s.lores_width, s.lores_height)


def wants_events(cfg: Config) -> bool:
    """Outputs that show or send change events (the web page lists them too)."""
    return bool(cfg.events.output or cfg.mqtt.host or cfg.snapshots.dir or cfg.http.listen)


def build_analytics(cfg: Config, source: Source | None = None) -> Analytics:
    if cfg.tracking_on:
        analytics = _tracked_analytics(cfg)
    elif not wants_events(cfg):
        return Analytics()  # nothing consumes events: the stage does nothing on the worker
    else:
        e = cfg.events
        analytics = Analytics.for_events(DebounceOptions(e.debounce_frames, e.debounce_seconds), frozenset(e.labels))
    if source is not None and not source.is_live:
        # Tracks (from the start, or from zones drawn on the web page) run on a file's own clock
        # (frame / fps), not the reading's: read as fast as possible, 1.5 s of wall time would be
        # 15 s of video, and dwell times would be nonsense. Read at first use: the source opens after this.
        analytics.media_fps = lambda: source.fps
    return analytics


def tracker_options(cfg: Config, threshold: float | None = None) -> TrackerOptions:
    """The tracker's options; `threshold`: the one new tracks need now (default model.threshold)."""
    t = cfg.tracking
    high = cfg.model.threshold if threshold is None else threshold
    return TrackerOptions(
        high=high, low=min(t.low_threshold, high), match_iou=t.match_iou,
        max_age_s=t.max_age, min_hits=t.min_hits, merge_iou=t.merge_iou, merge_inside=t.merge_inside, trail=t.trail,
    )


def _tracked_analytics(cfg: Config) -> Analytics:
    """Tracks, zones and lines (docs/zones.md), with the totals a previous run left, if any."""
    from camapp.analytics.scene import Scene

    scene = Scene(tracker_options(cfg), *area_specs(cfg.zones, cfg.lines))
    if cfg.tracking.state_file:
        from camapp.outputs.counts_file import load_counts

        scene.restore(load_counts(cfg.tracking.state_file))
    e = cfg.events
    return Analytics(EventDetector(DebounceOptions(e.debounce_frames, e.debounce_seconds), frozenset(e.labels)), scene=scene)


def area_specs(zones: list[ZoneConfig], lines: list[LineConfig]) -> tuple[list[ZoneSpec], list[LineSpec]]:
    """Zones and lines as the analytics stage counts them, from the config (or the web page's editor)."""
    return (
        [ZoneSpec(z.name, tuple(z.polygon), frozenset(z.labels), z.anchor, DebounceOptions(z.debounce_frames, z.debounce_seconds),
                  z.loiter_seconds, z.events) for z in zones],
        [LineSpec(x.name, x.start, x.end, frozenset(x.labels), x.anchor) for x in lines],
    )


def detection_threshold(cfg: Config) -> float:
    """What the detector reports: with tracking on, weak boxes too (down to tracking.low_threshold),
    which only continue a known track; the results keep them only then (camapp.analytics.tracking)."""
    return min(cfg.model.threshold, cfg.tracking.low_threshold) if cfg.tracking_on else cfg.model.threshold


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
    controls: ControlChannel | None = None  # commands back into the pipeline (the reset from the web view and MQTT)
    config_path: str | None = None  # the config file the run was started with (the web page saves changes into it)


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

    return MqttSink(ctx.cfg.mqtt, ctx.analytics, model_name(ctx.cfg), ctx.source_status, overlay_style(ctx.cfg), ctx.controls)


def _snapshots(ctx: OutputContext) -> Sink:
    from camapp.outputs.snapshots import SnapshotSink

    snaps = SnapshotSink(ctx.cfg.snapshots, overlay_style(ctx.cfg))
    # /healthz and the watchdog report it stuck once one file takes too long (a frozen SD card).
    # MQTT's worker is not watched: it waits for the broker on purpose, shown as disconnected.
    ctx.stats.watch(snaps.worker)
    return snaps


def _counts_file(ctx: OutputContext) -> Sink:
    from camapp.outputs.counts_file import CountsFileSink

    return CountsFileSink(ctx.cfg.tracking.state_file or "", ctx.analytics)


def _web(ctx: OutputContext) -> Sink:
    from camapp.outputs.web import CameraInfo, WebOptions, WebSink

    cfg, source = ctx.cfg, ctx.source
    registry = Registry()
    for other in ctx.built:  # built before it (OUTPUTS order): their metrics and status join the page's
        registry.add(other.metrics)
    info = CameraInfo(model_name(cfg), source.source_id, source.fps, cfg.mqtt.camera or socket.gethostname())
    web = WebSink(WebOptions.from_config(cfg), info, ctx.stats, ctx.analytics, registry, ctx.source_status, ctx.controls)
    web.status_extras.extend(other.report for other in ctx.built)
    if ctx.arrangement is not None:
        chosen = ctx.arrangement.to_dict()
        web.status_extras.append(lambda: {"interpreters": chosen})
    if cfg.snapshots.dir:  # the page lists the snapshots and clips, and plays them
        from camapp.outputs.web.media import MediaRoutes

        web.server.httpd.app.media = MediaRoutes(Path(cfg.snapshots.dir).expanduser())
        web.status_extras.append(lambda: {"media": True})
    if ctx.controls is not None:
        web.server.httpd.app.control = panel = _control_panel(ctx, web)
        web.closers.append(panel.close)
        changes = bool(cfg.http.token)  # without a token every change is refused (403): the page shows no controls
        web.status_extras.append(lambda: {"controls": changes})
    return web


def _control_panel(ctx: OutputContext, web: Sink) -> Any:
    """The page's controls (docs/web.md): a model switch is built here as every run builds one, and
    sent through the control channel like a SIGHUP reload or the teach panel's Use now."""
    from camapp.control import ModelChange, SetAreas, SwitchModel
    from camapp.outputs.web import WebSink
    from camapp.outputs.web.compare import Comparison
    from camapp.outputs.web.control_api import Areas, ControlHooks, ControlPanel, ModelChoice, Settings

    assert isinstance(web, WebSink) and ctx.controls is not None
    cfg = ctx.cfg

    def switch(choice: ModelChoice, now: Settings) -> SwitchModel:
        update = {"name": choice.name, "backbone": choice.backbone, "task": choice.task, "threshold": now.threshold,
                  "top_k": now.top_k}
        if choice.name or choice.backbone != cfg.model.backbone:
            update.update(alpha=None, resolution=None)
        if choice.name != cfg.model.name:
            update["labels"] = None  # the old model's labels would not fit another one
        use = cfg.model_copy(update={"model": cfg.model.model_copy(update=update)})
        if ctx.analytics.scene is not None and not use.tracking_on:  # zones drawn on the page started tracking
            use = use.model_copy(update={"tracking": use.tracking.model_copy(update={"enabled": True})})
        models, _ = build_models(use, arrangement=ctx.arrangement)  # as many interpreters as the run has
        return SwitchModel(models, ModelChange(model_name(use), models[0].task))

    def load_one(model_id: str) -> Model:
        one = cfg.model.model_copy(update={"name": model_id, "backbone": None, "labels": None, "task": "auto", "threads": 1,
                                           "alpha": None, "resolution": None})
        return build_model(one)

    def task_now() -> str:
        latest = web.latest
        return latest.task if latest is not None else (cfg.model.task if cfg.model.task != "auto" else "classify")

    def set_areas(zones: list[ZoneConfig], lines: list[LineConfig], now: Settings) -> SetAreas:
        zone_specs, line_specs = area_specs(zones, lines)
        return SetAreas(tuple(zone_specs), tuple(line_specs), tracker_options(cfg, now.threshold))

    comparison = Comparison(lambda every_size: compare_candidates(cfg, task_now(), every_size), lambda: web.last_frame, load_one)
    m, p = cfg.model, cfg.pipeline
    hooks = ControlHooks(
        switch=switch,
        models=lambda: available_models(cfg),
        snapshot=lambda: web.broadcaster.snapshot(timeout=3.0),
        web_overlay=web.set_overlay,
        snapshots_dir=Path(cfg.snapshots.dir).expanduser() if cfg.snapshots.dir else None,
        config_path=Path(ctx.config_path) if ctx.config_path else None,
        comparison=comparison,
        # Zones drawn on the page count from the next frame; a run that had none starts tracking.
        areas=set_areas,
        shown=lambda: web.info.model,
    )
    settings = Settings(m.threshold, m.top_k, p.every, cfg.output.overlay)
    choice = ModelChoice(m.name, m.backbone if not m.name else None, m.task)
    return ControlPanel(ctx.controls, hooks, settings, choice, Areas(list(cfg.zones), list(cfg.lines)))


def available_models(cfg: Config) -> list[dict[str, Any]]:
    """The zoo's models that can run here without a download: cached, in the system folder, or in a folder mirror."""
    from camapp.models.manifest import load_manifest
    from camapp.models.store import ModelStore, folder_mirror_file
    from camapp.models.zoo import accuracy_text

    store = ModelStore.create(cfg.model.cache_dir, cfg.model.mirror)
    out = []
    for entry in load_manifest().values():
        path = store.find(entry)
        where = store.describe_location(entry) if path else None
        if path is None and (path := folder_mirror_file(entry, store)) is not None:
            where = "mirror"
        if path is None:
            continue
        out.append({"id": entry.id, "task": entry.task, "backbone": entry.backbone, "alpha": entry.alpha, "resolution": entry.resolution,
                    "size": entry.size or path.stat().st_size, "accuracy": accuracy_text(entry), "where": where, "default": entry.default})
    return sorted(out, key=lambda r: (r["task"], r["backbone"], -(r["alpha"] or 0), -(r["resolution"] or 0), r["id"]))


def compare_candidates(cfg: Config, task: str, every_size: bool = False) -> list[Any]:
    """One model per backbone for this task, of those available here: the one --backbone picks when
    it is available, else the largest available; with `every_size`, every available model of the task."""
    from camapp.models.zoo import family, select_model
    from camapp.outputs.web.compare import Candidate

    here = [r for r in available_models(cfg) if r["task"] == task]
    out = []
    for backbone in ("v1", "v2", "v3-small", "v3-large"):
        pool = [r for r in here if r["backbone"] in family(backbone)]
        if not pool:
            continue
        try:
            preferred = select_model(backbone, task)
        except CamappError:
            preferred = ""
        picks = pool if every_size else [next((r for r in pool if r["id"] == preferred), pool[0])]
        for pick in picks:
            out.append(Candidate(pick["id"], pick["backbone"], task, pick["size"], pick["accuracy"], pick["alpha"], pick["resolution"]))
    return out


def _teach(ctx: OutputContext) -> Sink:
    """The teach panel (docs/teach.md): its routes join the web view's; Use now switches models here."""
    from camapp.control import ModelChange, SwitchModel
    from camapp.outputs.web import WebSink
    from camapp.outputs.web.teach import TeachPanel, teach_options

    cfg, t = ctx.cfg, ctx.cfg.teach
    web = next(s for s in ctx.built if isinstance(s, WebSink))

    def backbone() -> ModelOptions:
        zoo = t.backbone in ("v1", "v2", "v3", "v3-small", "v3-large")
        chosen = {"backbone": t.backbone} if zoo else {"name": t.backbone}
        return model_options(ModelConfig(**chosen, task="classify", mirror=cfg.model.mirror, cache_dir=cfg.model.cache_dir), "classify")

    def load(path: Path) -> SwitchModel:
        # The taught file with its own sidecar: none of the running model's settings but threads and top_k.
        taught = ModelConfig(name=str(path), task="classify", top_k=cfg.model.top_k)
        if isinstance(cfg.model.threads, int):
            taught = taught.model_copy(update={"threads": cfg.model.threads})
        use = cfg.model_copy(update={"model": taught, "crops": type(cfg.crops)()})
        models, _ = build_models(use, arrangement=ctx.arrangement)  # as many interpreters as the run has
        return SwitchModel(models, ModelChange(model_name(use), models[0].task))

    panel = TeachPanel(teach_options(cfg), backbone, ctx.controls, load, shown=lambda: web.info.model)
    web.server.httpd.app.teach = panel  # served from now on: /teach and /api/teach/*
    web.status_extras.append(lambda: {"teach": True})  # the page shows its link
    return panel


# The config key that turns each output on (several: all of them), and its builder; the web view
# comes last but for the teach panel it serves, so it can show every other output's status and metrics.
OUTPUTS: list[tuple[str, Callable[[OutputContext], Sink]]] = [
    ("output.jsonl", _results_file),
    ("output.save", _recording),
    ("output.show", _window),
    ("events.output", _events_file),
    ("mqtt.host", _mqtt),
    ("snapshots.dir", _snapshots),
    ("tracking.state_file", _counts_file),
    ("http.listen", _web),
    ("http.listen,teach.enabled", _teach),
]


def _is_on(cfg: Config, keys: str) -> bool:
    return all(bool(getattr(getattr(cfg, section), name)) for section, name in (key.split(".") for key in keys.split(",")))


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
