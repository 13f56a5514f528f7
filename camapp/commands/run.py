"""camapp run: the live loop on any source, with outputs."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Any

from camapp import progress
from camapp.app import Arrangement, OutputContext, build_analytics, build_models, build_outputs, model_name, source_options
from camapp.commands import COMMANDS
from camapp.commands.common import CROPS_ARGS, MODEL_ARGS, add_common_args, add_crops_args, add_model_args, build_config, count_or_auto
from camapp.config import Config
from camapp.control import ControlChannel, ModelChange, SwitchModel
from camapp.errors import EXIT_INTERRUPTED, EXIT_OK
from camapp.logs import setup_logging
from camapp.outputs.base import Sink, overlay_style
from camapp.pipeline import Pipeline, PipelineOptions
from camapp.pipeline.loop import single_threaded_opencv
from camapp.service import ServiceContext
from camapp.sources import open_source
from camapp.sources.base import Source
from camapp.sources.length import expected_frames
from camapp.sources.redact import redact_url
from camapp.stats import PipelineStats

log = logging.getLogger("camapp")

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



RUN_ARGS = {
    **MODEL_ARGS,
    "source": "source.uri",
    "realtime": "source.realtime",
    "loop": "source.loop",
    "width": "source.width",
    "height": "source.height",
    "fps": "source.fps",
    "mode": "pipeline.mode",
    "every": "pipeline.every",
    "max_frames": "pipeline.max_frames",
    "workers": "pipeline.workers",
    **CROPS_ARGS,
    "show": "output.show",
    "save": "output.save",
    "output": "output.jsonl",
    "no_overlay": "output.overlay",
    **SMARTCAM_ARGS,
}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help=COMMANDS["run"][1], description="Run the live loop.")
    g = p.add_argument_group("source")
    g.add_argument("--source", "-s", help="picam[:N] | N | /dev/videoN | file | folder | glob | rtsp://… | http://…")
    g.add_argument("--realtime", action="store_true", default=None, help="read files at their own frame rate")
    g.add_argument("--loop", action="store_true", default=None, help="start files again at their end")
    g.add_argument("--width", type=int, help="requested camera width")
    g.add_argument("--height", type=int, help="requested camera height")
    g.add_argument("--fps", type=float, help="requested camera frame rate")
    add_model_args(p)
    g = p.add_argument_group("pipeline")
    g.add_argument("--mode", choices=["auto", "live", "file"], help="live: newest frame, skip the rest; file: every frame")
    g.add_argument("--every", type=int, help="run inference on every Nth frame, drawing the last result between")
    g.add_argument("--max-frames", type=int, dest="max_frames", help="stop after N frames")
    g.add_argument("--workers", type=count_or_auto, metavar="N|auto",
                   help="interpreters working on frames in turn (default auto: several on a file, one on a slow camera)")
    add_crops_args(p)
    g = p.add_argument_group("outputs")
    g.add_argument("--show", action="store_true", default=None, help="show a window")
    g.add_argument("--save", help="annotated video (.mp4/.avi/.mkv) or folder for annotated images")
    g.add_argument("--output", "-o", help="JSON lines of results ('-' for stdout)")
    g.add_argument("--no-overlay", action="store_const", const=False, dest="no_overlay", help="save and show frames without drawing")
    add_smartcam_args(p)
    add_common_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args, RUN_ARGS)
    if not cfg.source.uri:
        from camapp.errors import UsageError

        raise UsageError("no source given", "use --source picam, 0, /dev/video0, a file, a folder or a URL")
    uri = cfg.source.uri
    setup_logging(cfg.log.level, bool(getattr(args, "debug", False)), cfg.log.levels)
    stop = threading.Event()
    stats = PipelineStats()
    # systemd notify / watchdog, reconnecting live sources, degrading outputs, SIGHUP, stats lines.
    service = ServiceContext(cfg, stats, stop)
    # Before any thread uses OpenCV (a reconnecting source starts its reader on open): resizing
    # OpenCV's pool while another thread is inside it can crash (camapp.pipeline.loop).
    single_threaded_opencv()
    source = service.source(lambda: open_source(uri, source_options(cfg)))
    models, arrangement = build_models(cfg, source)
    model = models[0]
    log.info("%d interpreter%s x %d thread%s: %s", arrangement.workers, "s" if arrangement.workers > 1 else "",
             arrangement.threads, "s" if arrangement.threads > 1 else "", arrangement.why)
    analytics, controls = build_analytics(cfg, source), ControlChannel()
    received = _stop_on_signals(stop)
    source.open()
    sinks: list[Sink] = []
    try:
        config_path = getattr(args, "config", None) or os.environ.get("CAMAPP_CONFIG") or None  # the page saves changes into it
        sinks = service.sinks(build_outputs(OutputContext(cfg, source, stats, analytics, stop, service.source_status, arrangement,
                                                          controls=controls, config_path=config_path)))
        p = cfg.pipeline
        options = PipelineOptions(p.mode, p.every, p.max_frames, overlay_style(cfg))
        pipeline = Pipeline(source, models, sinks, options, stop, stats, analytics, controls)
        workers = f", {len(models)} workers" if len(models) > 1 else ""
        status = f"running {model.options.path} on {source.source_id} ({'live' if pipeline.live else 'file'} mode{workers})"
        log.info("%s", status)
        service.started(status, lambda: _reload(args, controls, cfg, arrangement))
        with file_progress(source, cfg, stats):  # [progress] frames / total, FPS, ETA; terminals only
            summary = pipeline.run()
    finally:
        service.stopping()
        for sink in sinks:
            sink.close()
        source.close()
    print(summary.line(), file=sys.stderr)
    # Ctrl-C ends the run cleanly (outputs closed, summary printed) and still exits 130 like any
    # interrupted program; SIGTERM is how systemd stops the service, a normal end.
    return EXIT_INTERRUPTED if signal.SIGINT in received else EXIT_OK


RELOAD_APPLY_TIMEOUT_S = 30.0  # the worker applies commands between frames: a frame takes far less


def _reload(args: argparse.Namespace, controls: ControlChannel, running: Config, arrangement: Arrangement) -> str:
    """SIGHUP (in the reload thread): the config again and a fresh model, sent through the control
    channel; raising (a bad config, a model that fails to load) keeps the old one running."""
    cfg = build_config(args, RUN_ARGS)
    models, _ = build_models(cfg, arrangement=arrangement)  # the pool's size is fixed for the run
    model = models[0]
    ticket = controls.send(SwitchModel(models, ModelChange(model_name(cfg), model.task)))
    if not ticket.wait(RELOAD_APPLY_TIMEOUT_S):
        raise RuntimeError("the pipeline did not take the new model (it is stopping or stuck)")
    setup_logging(cfg.log.level, bool(getattr(args, "debug", False)), cfg.log.levels)
    unapplied = [name for name in ("source", "pipeline", "output", "service") if getattr(cfg, name) != getattr(running, name)]
    if unapplied:
        log.warning("reload: changes to %s take effect at the next restart", ", ".join(unapplied))
    log.info("reload: now running %s", model.options.path)
    return f"running {model.options.path} on {redact_url(running.source.uri or '')} (reloaded)"


def _stop_on_signals(stop: threading.Event) -> list[int]:
    """SIGTERM and SIGINT stop the pipeline between frames; returns the signals received so far."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        received.append(signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return received


def file_progress(source: Source, cfg: Config, stats: PipelineStats) -> contextlib.AbstractContextManager[progress.Progress | None]:
    """`camapp run` on a file or images: frames done / total, FPS and ETA. Cameras and streams
    get none: they never end, and the web view or the periodic stats line covers them."""
    if source.is_live or not progress.wanted():
        return contextlib.nullcontext()
    total = expected_frames(cfg.source.uri or "", cfg.source.loop, cfg.pipeline.max_frames)
    return progress.watch(lambda: stats.frames_read, "frames", total)
