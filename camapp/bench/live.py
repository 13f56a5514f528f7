"""The live-mode check of `camapp bench pipeline --realtime`: a source paced at its own frame rate.

A camera delivers frames at its rate whether or not inference keeps up. With the one-frame live
slot, a frame waits at most for the invoke in progress, so the frame-to-result latency should stay
within about 1.5x the invoke time (no queue of old frames), and an idle pipeline must not spin:
CPU per frame should stay close to what the same work costs when frames come as fast as possible.
"""

from __future__ import annotations

from typing import Any

from camapp.bench.measure import Stopwatch, percentiles
from camapp.bench.variants import BenchSink
from camapp.inference.model import Model
from camapp.pipeline import Pipeline, PipelineOptions
from camapp.sources import SourceOptions, open_source


def bench_live(model: Model, source: str, frames: int, work_cpu_ms: float) -> dict[str, Any]:
    src = open_source(source, SourceOptions(realtime=True))
    src.open()
    sink = BenchSink()
    try:
        pipeline = Pipeline(src, model, [sink], PipelineOptions(mode="live", max_frames=frames))
        watch = Stopwatch().start()
        summary = pipeline.run()
        measure = watch.stop(summary.frames_read)
    finally:
        src.close()
    invoke = pipeline.stages.hist["invoke"]
    invoke_p50 = invoke.percentile(50)
    to_sink = [d for d, _ in sink.delays]
    # Per frame: how much longer than its own invoke a frame took to reach the sink. A queue of
    # old frames would show here; a slow invoke (a cold core after 100 ms idle) would not.
    overhead = [d - inv for d, inv in sink.delays]
    return {
        "threads": model.options.threads,
        "source_fps": src.fps or 0.0,
        "frames_read": summary.frames_read,
        "processed": summary.processed,
        "skipped": summary.skipped,
        "latency_ms": {"p50": round(summary.latency_p50_ms, 3), "p95": round(summary.latency_p95_ms, 3)},
        "invoke_ms": {"p50": round(invoke_p50, 3), "p95": round(invoke.percentile(95), 3)},
        "latency_p95_over_invoke": round(summary.latency_p95_ms / invoke_p50, 3) if invoke_p50 else None,
        "latency_p95_over_invoke_p95": round(summary.latency_p95_ms / invoke.percentile(95), 3) if invoke.count else None,
        "to_sink_ms": percentiles(to_sink),
        "overhead_beyond_own_invoke_ms": percentiles(overhead),
        "to_sink_over_own_invoke_p95": percentiles([d / inv for d, inv in sink.delays if inv > 0])["p95"],
        "cpu_ms_per_frame": round(measure.cpu_ms_per_frame, 3),
        "work_cpu_ms_per_frame": round(work_cpu_ms, 3),
        "stages_ms": pipeline.stages.to_dict(),
        "results_attached_to_wrong_frame": sink.mismatched,
    }
