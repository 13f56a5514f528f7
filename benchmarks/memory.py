#!/usr/bin/env python3
"""Resident memory across 10,000 frames: the pipeline must not grow (issue 4, "memory stays flat").

Runs camapp's Pipeline on a looping video (file mode, as fast as it goes), with the overlay on and
a sink that takes every annotated frame, optionally with the web view and one MJPEG viewer, and
samples RSS every --every frames. Prints a JSON summary: RSS after warm-up, at the end, the
largest value, and the growth from warm-up to the end.

    python benchmarks/memory.py --model ssd_mobilenet_v1_coco_quant --frames 10000 [--web] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from camapp.app import model_options
from camapp.bench.measure import machine, rss_mb
from camapp.bench.variants import BenchSink, MjpegClient, web_sink
from camapp.config import load_config
from camapp.inference.model import Model
from camapp.pipeline import Pipeline, PipelineOptions
from camapp.sources import SourceOptions, open_source

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VIDEO = os.path.join(HERE, "..", "..", "shared", "videos", "one-by-one-person-detection.mp4")


class RssSampler(BenchSink):
    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self.samples: list[tuple[int, float]] = []

    def write(self, item):  # type: ignore[no-untyped-def]
        super().write(item)
        if self.frames % self.every == 0:
            self.samples.append((self.frames, round(rss_mb(), 2)))
        self.delays.clear()  # the sampler keeps nothing per frame itself


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=DEFAULT_VIDEO)
    p.add_argument("--model", default="ssd_mobilenet_v1_coco_quant")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--every", type=int, default=250, help="sample RSS every N frames")
    p.add_argument("--warmup", type=int, default=1000, help="frames before the reference sample")
    p.add_argument("--web", action="store_true", help="also serve the web view with one MJPEG viewer connected")
    p.add_argument("--json", help="write the samples and summary here")
    args = p.parse_args()

    cfg = load_config(overrides={"model.name": args.model, "model.threads": args.threads})
    model = Model(model_options(cfg.model))
    source = open_source(args.source, SourceOptions(loop=True))
    source.open()
    sampler = RssSampler(args.every)
    sinks: list = [sampler]
    client = None
    if args.web:
        web = web_sink(model, args.source)
        if web is None:
            print("the web output is not installed", file=sys.stderr)
            return 2
        sinks.append(web)
        web.start()  # as camapp.app.build_outputs does: the pipeline itself starts no output
        client = MjpegClient(web.server.host, web.server.port)
    start_rss, t0 = rss_mb(), time.perf_counter()
    try:
        summary = Pipeline(source, model, sinks, PipelineOptions(mode="file", max_frames=args.frames)).run()
    finally:
        if client is not None:
            client.close()
        for sink in sinks[1:]:
            sink.close()
        source.close()
    seconds = time.perf_counter() - t0
    ref = next(mb for n, mb in sampler.samples if n >= args.warmup)
    after = [mb for n, mb in sampler.samples if n >= args.warmup]
    result = {
        "benchmark": "memory",
        "host": machine(),
        "model": model.options.path,
        "threads": args.threads,
        "web_viewer": args.web,
        "frames": summary.processed,
        "seconds": round(seconds, 1),
        "rss_mb_before_run": round(start_rss, 2),
        "rss_mb_after_warmup": ref,
        "rss_mb_end": sampler.samples[-1][1],
        "rss_mb_max_after_warmup": max(after),
        "growth_mb_after_warmup": round(sampler.samples[-1][1] - ref, 2),
        "results_attached_to_wrong_frame": sampler.mismatched,
        "samples": sampler.samples,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
