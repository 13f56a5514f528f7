"""`camapp bench pipeline`: what the pipeline costs around the model, measured in one run.

Variants, all on the same model, thread count and frames:
  invoke_only    (a) set_tensor + invoke on frames already decoded and preprocessed: the limit
  invoke_decode  (a) while another thread only decodes the video, a frame per invoke: the ceiling
                 that decoding alone leaves for c/a on this machine
  plain_loop     (b) read, convert, resize, invoke, draw, one frame at a time (plain.py)
  camapp         (c) camapp's Pipeline, file mode, overlay on, a sink that takes the annotated frame
  camapp_pool    (c) with as many interpreters of this thread count as the cores hold (2 x 1 on
                 2 cores): `pipeline.workers`; the result lists every workers x threads arrangement
  camapp_memory  (c) on frames decoded into memory first, as a camera's ISP hands them over
  camapp_web     (c) with the web view on and one MJPEG client connected

The variants run interleaved, round after round, and every figure is the median over rounds, so
a background job on the machine slows all of them alike instead of whichever ran at that moment;
ratios are medians of per-round ratios for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from camapp.app import cpu_cores
from camapp.bench.live import bench_live
from camapp.bench.measure import Measure, machine, median
from camapp.bench.plain import plain_loop
from camapp.bench.variants import (
    MEMORY_FRAMES,
    MemorySource,
    camapp_run,
    camapp_web_run,
    count_frames,
    decode_frames,
    invoke_beside_decoding,
    invoke_only,
)
from camapp.frames import Frame, Image
from camapp.inference.model import Model, ModelOptions
from camapp.progress import Progress
from camapp.sources import SourceOptions, open_source

VARIANTS = ("invoke_only", "invoke_decode", "plain_loop", "camapp", "camapp_pool", "camapp_memory", "camapp_web")


@dataclass(frozen=True)
class PipelineBenchOptions:
    source: str
    model: ModelOptions  # threads is overridden by `threads`
    threads: tuple[int, ...] = (2,)
    frames: int = 300
    rounds: int = 3
    encode: bool = False  # the sink JPEG-encodes every annotated frame (what a naive viewer would cost)
    web: bool = True  # run camapp_web when the web output is installed
    live_frames: int = 0  # > 0: also run live mode on the source paced at its own rate (--realtime)


# -- one thread count, all variants, interleaved rounds -----------------------------------
def bench_threads(opts: PipelineBenchOptions, threads: int, frames: int, memory: list[Image], progress: Progress) -> dict[str, Any]:
    model = Model(ModelOptions(**{**opts.model.__dict__, "threads": threads}))
    tensors = [model.new_input() for _ in range(min(len(memory), 16))]
    for image, tensor in zip(memory, tensors, strict=False):
        model.prepare(Frame(image, 0, 0, "bench"), tensor)
    invoke_only(model, tensors, 20)  # warm-up: first invokes pay for allocation and caches
    variants: dict[str, Callable[[], Any]] = {
        "invoke_only": lambda: invoke_only(model, tensors, frames),
        "invoke_decode": lambda: invoke_beside_decoding(model, tensors, open_source(opts.source, SourceOptions()), frames),
        "plain_loop": lambda: plain_loop(opts.source, model.options.path, model.labels, threads, frames, model.options.threshold),
        "camapp": lambda: camapp_run(model, open_source(opts.source, SourceOptions()), frames, opts.encode),
        "camapp_memory": lambda: camapp_run(model, MemorySource(memory, frames), frames, opts.encode),
    }
    workers = pool_size(threads)
    if workers > 1:  # the cores this thread count leaves free, filled with more interpreters
        pool = (model, *(Model(model.options) for _ in range(workers - 1)))
        variants["camapp_pool"] = lambda: camapp_run(pool, open_source(opts.source, SourceOptions()), frames, opts.encode)
    if opts.web:
        variants["camapp_web"] = lambda: camapp_web_run(model, opts.source, frames, opts.encode)  # None without the web output
    rounds: list[dict[str, Any]] = []
    for i in range(1, opts.rounds + 1):
        r: dict[str, Any] = {}
        for name, measure in variants.items():
            progress.describe(f"{threads} thread{'s' if threads > 1 else ''}, round {i}/{opts.rounds}: {name}")
            value = measure()
            if value is not None:
                r[name] = value
            progress.update()
        rounds.append(r)
    out = summarise(threads, rounds)
    if opts.live_frames:
        progress.describe(f"{threads} thread{'s' if threads > 1 else ''}: live mode, {opts.live_frames} frames at the video's own rate")
        out["live"] = bench_live(model, opts.source, opts.live_frames, out["cpu_ms_per_frame"]["camapp"])
        progress.update()
    return out


def pool_size(threads: int) -> int:
    """How many interpreters of `threads` threads fill this machine's cores."""
    return max(1, cpu_cores() // threads)


def steps(opts: PipelineBenchOptions) -> int:
    """Progress steps: one per variant and round, and the live run, for each thread count."""
    total = 0
    for t in opts.threads:
        per_round = len(VARIANTS) - (0 if opts.web else 1) - (0 if pool_size(t) > 1 else 1)
        total += opts.rounds * per_round + (1 if opts.live_frames else 0)
    return total


def _measure(value: Any) -> Measure:
    return value if isinstance(value, Measure) else value["measure"]


def summarise(threads: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    names = [v for v in VARIANTS if v in rounds[0]]
    fps = {v: round(median([_measure(r[v]).fps for r in rounds]), 2) for v in names}
    cpu = {v: round(median([_measure(r[v]).cpu_ms_per_frame for r in rounds]), 3) for v in names}

    def ratio(num: str, den: str) -> float | None:
        if num not in names or den not in names:
            return None
        return round(median([_measure(r[num]).fps / _measure(r[den]).fps for r in rounds]), 3)

    stages = {}
    for stage in rounds[0]["camapp"]["stages"]:
        per_round = [r["camapp"]["stages"].get(stage) for r in rounds]
        stages[stage] = {k: round(median([s[k] for s in per_round if s]), 4) for k in ("mean", "p50", "p95")}
    out: dict[str, Any] = {
        "threads": threads,
        "fps": fps,
        "ms_per_frame": {v: round(1000 / f, 3) if f else None for v, f in fps.items()},
        "cpu_ms_per_frame": cpu,
        "ratios": {
            "c/a": ratio("camapp", "invoke_only"),
            "c/b": ratio("camapp", "plain_loop"),
            "pool/a": ratio("camapp_pool", "invoke_only"),
            "pool/b": ratio("camapp_pool", "plain_loop"),
            "b/a": ratio("plain_loop", "invoke_only"),
            "c_memory/a": ratio("camapp_memory", "invoke_only"),
            "c_web/a": ratio("camapp_web", "invoke_only"),
            # The ceiling for c/a that decoding alone leaves (see invoke_beside_decoding).
            "a_decode/a": ratio("invoke_decode", "invoke_only"),
        },
        "decode_cpu_ms_per_frame": round(median([r["invoke_decode"]["decode_cpu_ms_per_frame"] for r in rounds]), 3),
        "camapp_stages_ms": stages,
        "camapp_latency_ms": {k: round(median([r["camapp"]["latency"][k] for r in rounds]), 3) for k in ("p50", "p95")},
        "results_attached_to_wrong_frame": sum(r[v]["mismatched"] for r in rounds for v in names if isinstance(r[v], dict)),
        "rounds_fps": [{v: round(_measure(r[v]).fps, 2) for v in names} for r in rounds],
    }
    if "camapp_web" in names:
        out["web"] = {
            "jpegs_encoded": median([r["camapp_web"]["jpegs_encoded"] for r in rounds]),
            "bytes_received": median([r["camapp_web"]["bytes_received"] for r in rounds]),  # by the viewer: it really watched
            "note": "one MJPEG client, default stream_fps",
        }
    return out


def bench_pipeline(opts: PipelineBenchOptions) -> dict[str, Any]:
    """All thread counts; the best one is the thread count at which camapp itself is fastest."""
    memory = decode_frames(opts.source, MEMORY_FRAMES)
    frames = count_frames(opts.source, opts.frames)
    with Progress("bench pipeline", steps(opts), "step", draw_now=False) as progress:  # after the first model loads
        runs = [bench_threads(opts, t, frames, memory, progress) for t in opts.threads]
    best = max(runs, key=lambda r: r["fps"]["camapp"])
    h, w = memory[0].shape[:2]
    arrangements = [
        {"workers": n, "threads": r["threads"], "fps": r["fps"][v]}
        for r in runs
        for v, n in (("camapp", 1), ("camapp_pool", pool_size(r["threads"])))
        if v in r["fps"]
    ]
    fastest = max(arrangements, key=lambda a: a["fps"])
    # Against the best of all thread counts: the single interpreter's own best rate, and the
    # plain loop's best, so the chosen arrangement is not flattered by a weak baseline.
    best_a = max(r["fps"]["invoke_only"] for r in runs)
    best_b = max(r["fps"]["plain_loop"] for r in runs)
    return {
        "benchmark": "pipeline",
        "source": {"path": opts.source, "width": w, "height": h, "frames": frames},
        "model": {"path": opts.model.path, "threads": list(opts.threads)},
        "rounds": opts.rounds,
        "encode": opts.encode,
        "host": machine(),
        "best_threads": best["threads"],
        "arrangements": sorted(arrangements, key=lambda a: -a["fps"]),
        "best_arrangement": {**fastest, "over_best_a": round(fastest["fps"] / best_a, 3), "over_best_b": round(fastest["fps"] / best_b, 3)},
        "best": {k: best[k] for k in ("fps", "ratios", "camapp_stages_ms", "camapp_latency_ms", "cpu_ms_per_frame", "live") if k in best},
        "runs": runs,
    }
