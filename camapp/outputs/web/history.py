"""GET /api/history: the last minutes of FPS, invoke time, latency and object counts, one sample a second.

Sampled from the web sink's write() on the output thread: one clock compare per frame, and once a
second a few reads of counters camapp keeps anyway. Invoke time and capture-to-result latency are the
percentiles of the frames of that second alone (the difference of the run's histograms between two
samples), not of the whole run, so a chart shows a change when it happens.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from camapp.stats import LatencyHistogram, PipelineStats

INTERVAL_S = 1.0
KEEP = 300  # five minutes at one sample a second
FIELDS = ("time", "capture_fps", "inference_fps", "invoke_ms_p50", "invoke_ms_p95", "latency_ms_p50", "latency_ms_p95", "objects")


def _window_percentiles(now: list[int], before: list[int], ps: tuple[float, ...]) -> list[float | None]:
    """Percentiles of the samples added between two copies of a LatencyHistogram's buckets."""
    diff = [a - b for a, b in zip(now, before, strict=True)]
    count = sum(diff)
    if count <= 0:
        return [None for _ in ps]
    window = LatencyHistogram()
    window.counts, window.count = diff, count
    return [round(window.percentile(p), 3) for p in ps]


class History:
    def __init__(self, stats: PipelineStats, objects: Callable[[], int | None], keep: int = KEEP, interval_s: float = INTERVAL_S) -> None:
        self.stats = stats
        self.objects = objects  # objects in view now (the debounced counts, or the latest result's labels)
        self.interval_s = interval_s
        self._rows: deque[tuple[Any, ...]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._due = 0.0
        self._inference: list[int] = [0] * LatencyHistogram().n_buckets
        self._latency: list[int] = list(self._inference)

    def tick(self, now: float) -> None:
        """Per frame, on the output thread: a sample when one is due, else nothing."""
        if now < self._due:
            return
        self._due = now + self.interval_s
        self.sample()

    def sample(self) -> None:
        st = self.stats
        inference, latency = list(st.inference.counts), list(st.latency.counts)
        inv = _window_percentiles(inference, self._inference, (50, 95))
        lat = _window_percentiles(latency, self._latency, (50, 95))
        self._inference, self._latency = inference, latency
        row = (round(time.time(), 3), round(st.capture_fps(), 2), round(st.inference_fps(), 2), *inv, *lat, self.objects())
        with self._lock:
            self._rows.append(row)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            rows = list(self._rows)
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in FIELDS]
        series = {name: list(col) for name, col in zip(FIELDS, columns, strict=True)}
        return {"interval_s": self.interval_s, "keep": self._rows.maxlen, **series}
