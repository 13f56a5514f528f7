"""camapp bench models / camapp bench pipeline: which model fits this device, and what camapp costs around it."""

from __future__ import annotations

import argparse
import json
import os

from camapp.app import model_options
from camapp.commands import COMMANDS
from camapp.commands.common import add_common_args, build_config
from camapp.errors import EXIT_OK, UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help=COMMANDS["bench"][1], description=__doc__)
    bench = p.add_subparsers(dest="bench_command", metavar="WHAT")
    bench.required = True
    _models_parser(bench)
    _pipeline_parser(bench)


def _models_parser(bench: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = bench.add_parser("models", help="invoke latency, size and accuracy of each model", description="Benchmark models.")
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="model ids (camapp models list) or .tflite files; none: every model already on this machine (cache, mirror folder)",
    )
    p.add_argument("--cached", action="store_true", help="add every model in the cache (only the cache when no MODEL is named)")
    p.add_argument("--threads", default="1,2", help="interpreter thread counts, comma-separated (default 1,2)")
    p.add_argument("--runs", type=int, default=50, help="timed invokes per model and thread count (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="invokes run first and discarded (default 10)")
    p.add_argument("--images", metavar="DIR|CSV", help="labelled images for top-1/top-5: DIR/<label>/*.jpg or a CSV of file,label")
    p.add_argument("--labels", "-l", help="labels file for .tflite files the manifest does not know")
    p.add_argument("--csv", metavar="FILE", help="write one row per model and thread count")
    p.add_argument("--json", metavar="FILE", help="write everything as JSON ('-' prints it instead of the table)")
    p.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    p.add_argument("--plot", metavar="PNG", help="draw latency against accuracy: classifiers (V1 / V2 / V3) and detectors")
    add_common_args(p)
    p.set_defaults(handler=run_models)


def _pipeline_parser(bench: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = bench.add_parser(
        "pipeline",
        help="camapp's pipeline against bare inference and the plain loop",
        description="Measure (a) invoke only, (b) the plain sequential loop and (c) camapp's pipeline on one video, in one run.",
    )
    p.add_argument("--source", "-s", required=True, help="a video file")
    p.add_argument("--model", "-m", help="a .tflite file or a model id")
    p.add_argument("--labels", "-l", help="labels file (default: the model's own)")
    p.add_argument(
        "--threads",
        default="auto",
        help="interpreter thread counts, comma-separated (default auto: 1, 2, 4 ... up to the cores, so every workers x threads "
        "arrangement that fills the board is measured); the best is reported",
    )
    p.add_argument(
        "--remember",
        nargs="?",
        const="",
        metavar="FILE",
        help="store the fastest arrangement for this model, so workers: auto and threads: auto use it on files and fast cameras "
        "(default FILE: ~/.local/state/camapp/arrangements.json, or /var/lib/camapp/arrangements.json for the service when run as root)",
    )
    p.add_argument("--frames", type=int, default=300, help="frames per variant and round (default 300)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; figures are medians (default 3)")
    p.add_argument("--realtime", action="store_true", help="also run live mode with the video paced at its own frame rate")
    p.add_argument("--live-frames", type=int, default=200, dest="live_frames", help="frames for --realtime (default 200)")
    p.add_argument("--encode", action="store_true", help="the sink JPEG-encodes every annotated frame")
    p.add_argument("--no-web", action="store_false", dest="web", help="skip the variant with an MJPEG viewer")
    p.add_argument("--json", metavar="FILE", help="write everything as JSON ('-' prints it instead of the table)")
    add_common_args(p)
    p.set_defaults(handler=run_pipeline)


def every_thread_count(cores: int) -> tuple[int, ...]:
    """1, 2, 4 ... up to the cores, and the cores themselves (3 on a 3-core container)."""
    counts = {cores}
    t = 1
    while t < cores:
        counts.add(t)
        t *= 2
    return tuple(sorted(counts))


def parse_threads(text: str) -> tuple[int, ...]:
    if text.strip() == "auto":
        from camapp.app import cpu_cores

        return every_thread_count(cpu_cores())
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 or v > 64 for v in values):
        raise UsageError(
            f"--threads '{text}' is not a list of thread counts", "give numbers from 1 to 64, comma-separated: --threads 1,2,4"
        )
    return values


def _at_least(name: str, value: int, low: int) -> int:
    if value < low:
        raise UsageError(f"--{name} must be at least {low}, got {value}")
    return value


def _emit(result: dict, table: str, json_path: str | None) -> None:  # type: ignore[type-arg]
    from camapp.bench.report import write_json

    if json_path == "-":
        print(json.dumps(result, indent=2))
        return
    print(table)
    if json_path:
        write_json(result, json_path)


def run_models(args: argparse.Namespace) -> int:
    from camapp.bench.models import ModelsBenchOptions, bench_models
    from camapp.bench.plot import save_plot
    from camapp.bench.report import models_markdown, models_table, write_models_csv, write_text

    cfg = build_config(args, {})
    opts = ModelsBenchOptions(
        models=tuple(args.models),
        cached=args.cached,
        threads=parse_threads(args.threads),
        runs=_at_least("runs", args.runs, 1),
        warmup=_at_least("warmup", args.warmup, 0),
        images=args.images,
        labels=args.labels,
        cache_dir=cfg.model.cache_dir,
        mirror=cfg.model.mirror,
    )
    result = bench_models(opts)
    _emit(result, models_table(result), args.json)
    if args.csv:
        write_models_csv(result["rows"], args.csv)
    if args.markdown:
        write_text(models_markdown(result), args.markdown, "Markdown table")
    if args.plot:
        threads = ",".join(str(t) for t in opts.threads)
        save_plot(result["rows"], args.plot, f"MobileNet latency vs accuracy on {result['host']['cpu']} (threads {threads}, fastest shown)")
    return EXIT_OK


def run_pipeline(args: argparse.Namespace) -> int:
    from camapp.bench.pipeline import PipelineBenchOptions, bench_pipeline
    from camapp.bench.report import pipeline_table
    from camapp.sources.spec import parse_source

    if parse_source(args.source).kind != "video" or not os.path.isfile(args.source):
        raise UsageError(
            f"--source '{args.source}' is not a video file", "bench pipeline replays a file for every variant: give an .mp4, .mkv or .avi"
        )
    cfg = build_config(args, {"model": "model.name", "labels": "model.labels"})
    opts = PipelineBenchOptions(
        source=args.source,
        model=model_options(cfg.model),
        threads=parse_threads(args.threads),
        frames=_at_least("frames", args.frames, 10),
        rounds=_at_least("rounds", args.rounds, 1),
        encode=args.encode,
        web=args.web,
        live_frames=_at_least("live-frames", args.live_frames, 10) if args.realtime else 0,
    )
    result = bench_pipeline(opts)
    _emit(result, pipeline_table(result), args.json)
    if args.remember is not None:
        _remember(result, opts.model.path, args.source, args.remember or None)
    return EXIT_OK


def _remember(result: dict, model_path: str, source: str, path: str | None) -> None:  # type: ignore[type-arg]
    import datetime
    from pathlib import Path

    from camapp.app import cpu_cores
    from camapp.models.checksums import file_digests
    from camapp.pipeline.arrangements import Remembered, remember

    best = result["best_arrangement"]
    src = result["source"]
    choice = Remembered(
        model=os.path.basename(model_path),
        sha256=file_digests(Path(model_path)).sha256,
        cores=cpu_cores(),
        workers=int(best["workers"]),
        threads=int(best["threads"]),
        fps=round(float(best["fps"]), 1),
        measured=datetime.date.today().isoformat(),
        source=f"{src['width']}x{src['height']} {os.path.basename(source)}",
    )
    try:
        stored = remember(choice, Path(path) if path else None)
    except OSError as exc:
        raise UsageError(f"cannot store the arrangement: {exc}", "run as a user who can write there, or without --remember") from exc
    print(f"remembered {choice.workers} x {choice.threads} for {choice.model} on {choice.cores} cores in {stored}: "
          "workers: auto and threads: auto use it for files and cameras faster than one invoke")
