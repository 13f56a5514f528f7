"""Prometheus text exposition (format 0.0.4), written by hand.

Why not prometheus-client: every number /metrics shows already lives somewhere (PipelineStats,
the event stream, each output's counters), so the client's own registry would be a second copy kept
in sync, or custom collectors wrapping what is here anyway. The text format is a few lines of
code, needs nothing installed on the Pi, and is read at scrape time, so the pipeline pays nothing
between scrapes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from camapp.sources.status import SourceState
from camapp.stats import LatencyHistogram, PipelineStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Histogram bucket bounds in seconds: from a fast classifier on a desktop (1 ms) to a big
# detector on a Pi Zero (several seconds).
LATENCY_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Sample:
    suffix: str  # "" or "_bucket" / "_sum" / "_count"
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class Metric:
    name: str
    kind: Kind
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> Metric:
        self.samples.append(Sample(suffix, tuple(labels.items()), value))
        return self


def counter(name: str, help: str, value: float | None = None, **labels: str) -> Metric:  # noqa: A002 - Prometheus' word
    m = Metric(name, "counter", help)
    return m.add(value, **labels) if value is not None else m


def gauge(name: str, help: str, value: float | None = None, **labels: str) -> Metric:  # noqa: A002
    m = Metric(name, "gauge", help)
    return m.add(value, **labels) if value is not None else m


def histogram_seconds(name: str, help: str, hist: LatencyHistogram, bounds_s: Iterable[float] = LATENCY_BOUNDS_S) -> Metric:  # noqa: A002
    """Fold camapp's fine log-spaced millisecond histogram into Prometheus' cumulative buckets.

    A fine bucket is counted under `le` when its upper edge is at most `le`, so each bound is
    exact to within the fine buckets' 2 % width.
    """
    counts = list(hist.counts)  # one consistent copy: the worker may add while we read
    total_ms = hist.total
    edges_ms = [hist.LOW_MS * hist.RATIO**i for i in range(len(counts))]
    m = Metric(name, "histogram", help)
    running, i = 0, 0
    for bound in bounds_s:
        while i < len(counts) and edges_ms[i] <= bound * 1000 * (1 + 1e-9):
            running += counts[i]
            i += 1
        m.add(running, "_bucket", le=_number(bound))
    n = sum(counts)
    m.add(n, "_bucket", le="+Inf")
    m.add(total_ms / 1000, "_sum")
    m.add(n, "_count")
    return m


def pipeline_metrics(stats: PipelineStats, source: SourceState | None = None, now: float | None = None) -> list[Metric]:
    now = time.monotonic() if now is None else now
    source = source or SourceState()
    last = stats.last_frame_at
    return [
        counter("camapp_frames_read_total", "Frames read from the source.", stats.frames_read),
        counter("camapp_frames_skipped_total", "Frames dropped because inference was busy (live mode).", stats.skipped),
        counter("camapp_frames_processed_total", "Frames that went through inference.", stats.processed),
        counter("camapp_frames_unreadable_total", "Frames the source could not decode or delivered broken, skipped.",
                stats.unreadable),
        gauge("camapp_capture_fps", "Frames read per second, over the last seconds.", round(stats.capture_fps(), 3)),
        gauge("camapp_inference_fps", "Inferences per second, over the last seconds.", round(stats.inference_fps(), 3)),
        gauge("camapp_last_frame_age_seconds", "Seconds since the source delivered a frame (-1 before the first).",
              round(now - last, 3) if last is not None else -1),
        histogram_seconds("camapp_inference_seconds", "Time the interpreter took per inference.", stats.inference),
        histogram_seconds("camapp_latency_seconds", "From frame capture to its results.", stats.latency),
        gauge("camapp_uptime_seconds", "Seconds since the pipeline started.", round(now - stats.started, 3)),
        gauge("camapp_source_up", "1 while the source delivers, 0 while a lost live source is being reopened.",
              int(source.up)),
        counter("camapp_source_reconnects_total", "Times a lost live source was reopened and delivered frames again.",
                source.reconnects),
    ]


def per_label(name: str, help: str, kind: Kind, values: Mapping[str, float]) -> Metric:  # noqa: A002
    m = Metric(name, kind, help)
    for label, value in sorted(values.items()):
        m.add(value, label=label)
    return m


Collector = Callable[[], Iterable[Metric]]


class Registry:
    """Collectors called at scrape time. Outputs add theirs; metrics of one name are merged."""

    def __init__(self) -> None:
        self._collectors: list[Collector] = []

    def add(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def collect(self) -> list[Metric]:
        merged: dict[str, Metric] = {}
        for collect in self._collectors:
            for metric in collect():
                have = merged.setdefault(metric.name, Metric(metric.name, metric.kind, metric.help))
                have.samples.extend(metric.samples)
        return list(merged.values())

    def render(self) -> str:
        return render(self.collect())


def render(metrics: Iterable[Metric]) -> str:
    lines: list[str] = []
    for m in metrics:
        lines.append(f"# HELP {m.name} {_escape_help(m.help)}")
        lines.append(f"# TYPE {m.name} {m.kind}")
        for s in m.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in s.labels)
            lines.append(f"{m.name}{s.suffix}{{{labels}}} {_number(s.value)}" if labels else f"{m.name}{s.suffix} {_number(s.value)}")
    return "\n".join(lines) + "\n"


def _number(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int) or (math.isfinite(v) and float(v).is_integer() and abs(v) < 1e15):
        return str(int(v))
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")
