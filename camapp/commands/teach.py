"""camapp teach add / build: examples from a camera, a video segment or a folder, then a model."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from camapp.commands.common import add_common_args, build_config
from camapp.errors import EXIT_OK, UsageError
from camapp.frames import Image

log = logging.getLogger("camapp")

DEFAULT_BACKBONE = "v2"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("teach", help="teach your own classes: add examples, build a classifier from them",
                       description="Few-shot classifiers on a MobileNet's embeddings, built on this machine in seconds.")
    teach = p.add_subparsers(dest="teach_command", metavar="{add,build}", required=True)

    a = teach.add_parser("add", help="add examples of one class from a camera, a video segment or a folder of images",
                         description="Frames go into DIR/CLASS/ as numbered JPEGs after the ones already there.")
    a.add_argument("examples", metavar="DIR", help="the examples folder (one sub-folder per class; created if missing)")
    a.add_argument("label", metavar="CLASS", help="the class the frames show (its folder name); 'background' for the empty scene")
    a.add_argument("--source", "-s", required=True, help="picam, a webcam number, a video file or URL, or a folder of images")
    a.add_argument("--count", "-n", type=int, default=20, help="how many frames to take (default 20)")
    a.add_argument("--every", type=float, default=0.25, help="live sources: seconds between frames (default 0.25)")
    a.add_argument("--start", type=float, default=0.0, help="video files: first second to take frames from (default 0)")
    a.add_argument("--end", type=float, help="video files: last second (default: the end); frames are spread evenly between")
    a.add_argument("--delay", type=float, default=0.0, help="live sources: seconds to wait before the first frame (time to pose)")
    add_common_args(a)
    a.set_defaults(handler=run_add)

    b = teach.add_parser("build", help="build a classifier .tflite from the examples and report its held-out accuracy",
                         description="Cuts the backbone at its pre-logits layer, fits a head on the examples' embeddings "
                         "and writes one ordinary .tflite with the labels inside.")
    b.add_argument("examples", metavar="DIR", help="the examples folder: one sub-folder of images per class")
    b.add_argument("--output", "-o", required=True, help="the model to write, e.g. shelf.tflite")
    b.add_argument("--model", "-m", help="the backbone: a classifier .tflite or model id (default: --backbone v2)")
    b.add_argument("--backbone", choices=["v1", "v2", "v3", "v3-small"],
                   help=f"pick the zoo's classifier for this backbone (default {DEFAULT_BACKBONE})")
    b.add_argument("--alpha", type=float, help="narrow --backbone to this width multiplier")
    b.add_argument("--resolution", type=int, help="narrow --backbone to this input size")
    b.add_argument("--resize", choices=["stretch", "letterbox", "crop"], help="how images are fitted to the input (kept with the model)")
    b.add_argument("--threads", type=int, help="interpreter threads for embedding (default: every core)")
    b.add_argument("--head", choices=["fit", "mean"], default="fit",
                   help="fit: vectors fitted to separate the classes (default); mean: the class means, most robust to light changes")
    b.add_argument("--unknown-below", dest="unknown_below", default="auto", metavar="auto|off|COSINE",
                   help="answer 'unknown' when no class is this similar (default auto: 98%% of the examples pass)")
    b.add_argument("--json", metavar="FILE", help="write the report as JSON ('-' prints it instead)")
    add_common_args(b)
    b.set_defaults(handler=run_build)


# -- add --------------------------------------------------------------------------------------------


def _frames_from(source_text: str, args: argparse.Namespace) -> Iterator[Image]:
    from camapp.sources import SourceOptions, open_source
    from camapp.sources.spec import parse_source

    spec = parse_source(source_text)
    source = open_source(source_text, SourceOptions())
    source.open()
    try:
        if spec.kind == "video":
            yield from _segment(source, args)
        elif spec.kind == "images":
            taken = 0
            while taken < args.count and (frame := source.read()) is not None:
                yield frame.image
                taken += 1
        else:
            yield from _live(source, args)
    finally:
        source.close()


def _segment(source, args: argparse.Namespace) -> Iterator[Image]:  # type: ignore[no-untyped-def]
    """`count` frames spread evenly over [start, end] of a video file."""
    from camapp.sources.length import expected_frames

    fps = source.fps or 30.0
    total = expected_frames(args.source, False, None)
    first = int(round(args.start * fps))
    last = int(args.end * fps) if args.end is not None else (total - 1 if total else None)
    if last is None:
        raise UsageError(f"'{args.source}' does not say how long it is", "give --end SECONDS")
    if total is not None:
        last = min(last, total - 1)
    if last < first:
        raise UsageError(f"--start {args.start} is after the end of the segment ({last / fps:.1f} s)", "give a --start before --end")
    count = min(args.count, last - first + 1)
    wanted = {first + round(i * (last - first) / max(1, count - 1)) for i in range(count)} if count > 1 else {first}
    while (frame := source.read()) is not None and frame.index <= last:
        if frame.index in wanted:
            yield frame.image


def _live(source, args: argparse.Namespace) -> Iterator[Image]:  # type: ignore[no-untyped-def]
    if args.delay > 0:
        print(f"camapp: taking {args.count} frames in {args.delay:g} s", file=sys.stderr)
        end = time.monotonic() + args.delay
        while time.monotonic() < end and source.read() is not None:
            pass  # keep reading: a camera's exposure settles, and no stale buffered frame is taken
    taken = 0
    due = 0.0
    while taken < args.count and (frame := source.read()) is not None:
        now = time.monotonic()
        if now >= due:
            yield frame.image
            taken += 1
            due = now + args.every


def run_add(args: argparse.Namespace) -> int:
    from camapp.teach.dataset import add_examples, check_class_name

    build_config(args, {})  # the log settings, and a config file's errors, as for every command
    check_class_name(args.label)
    if args.count < 1:
        raise UsageError(f"--count must be at least 1, got {args.count}")
    if args.every < 0 or args.delay < 0 or args.start < 0:
        raise UsageError("--every, --delay and --start cannot be negative")
    written = add_examples(args.examples, args.label, _frames_from(args.source, args))
    if not written:
        raise UsageError(f"no frames came from '{args.source}'", "check the source, --start and --end")
    folder = Path(args.examples) / args.label
    total = sum(1 for _ in folder.glob("*.jpg"))
    print(f"added {len(written)} examples to {folder} ({total} in all): {written[0].name} .. {written[-1].name}")
    return EXIT_OK


# -- build ------------------------------------------------------------------------------------------


def _floor(text: str) -> float | None | str:
    if text in ("auto", "off"):
        return None if text == "off" else "auto"
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -1.0 <= value <= 1.0:
        raise UsageError(f"--unknown-below '{text}' is not auto, off or a cosine", "give auto, off or a number from -1 to 1, e.g. 0.6")
    return value


def run_build(args: argparse.Namespace) -> int:
    from camapp.app import cpu_cores, model_options
    from camapp.progress import Progress
    from camapp.teach.build import BuildOptions, build, teach_file
    from camapp.teach.evaluate import format_report

    floor = _floor(args.unknown_below)
    mapping = {"model": "model.name", "backbone": "model.backbone", "alpha": "model.alpha", "resolution": "model.resolution",
               "resize": "model.resize"}
    extra = {"model.task": "classify"}
    if not args.model and not args.backbone:
        extra["model.backbone"] = DEFAULT_BACKBONE
    cfg = build_config(args, mapping, extra)
    if cfg.model.name and args.backbone is None and not args.model:
        extra.pop("model.backbone", None)  # a config file's model.name is the backbone asked for
        cfg = build_config(args, mapping, extra)
    backbone = model_options(cfg.model, task="classify")
    if args.threads:
        from dataclasses import replace

        backbone = replace(backbone, threads=args.threads)
    elif not isinstance(cfg.model.threads, int):
        from dataclasses import replace

        backbone = replace(backbone, threads=cpu_cores())
    output = Path(args.output)
    from camapp.teach.dataset import read_dataset

    count = len(read_dataset(args.examples).examples)  # a one-line error for a bad folder before the model loads
    with Progress("teach build: embedding", count, "example", draw_now=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.set(done)

        result = build(BuildOptions(Path(args.examples), output, backbone, args.head, floor), progress)
    report = result.report
    if args.json == "-":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
        for path in result.skipped:
            print(f"warning: skipped {path}: not an image camapp can read")
        s = result.seconds
        print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB, {len(result.head.labels)} outputs: {', '.join(result.head.labels)}) "
              f"and {teach_file(output).name}; {result.embedded} examples embedded in {s['embed']:.1f} s, "
              f"head fitted in {s['train']:.2f} s")
        print(f"use it: camapp run --model {output} --source ...   or   camapp classify --model {output} IMAGE")
        if args.json:
            Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return EXIT_OK
