"""Counters, rolling rates and latency percentiles in constant memory (a service runs for months)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

# A background output may hold one item this long before it counts as stuck: one item can be a
# whole clip to encode, seconds on a Pi, so it gets far longer than a frame does (http.stall_seconds).
WORKER_STUCK_S = 30.0


class BusyOutput(Protocol):
    """What stuck-output checks read of a background output (camapp.outputs.threaded.BackgroundWorker)."""

    name: str

    @property
    def busy_since(self) -> float | None: ...


class LatencyHistogram:
    """Log-spaced buckets from 10 us to ~100 s, 2 % apart: percentiles to within 2 %, fixed size."""

    RATIO = 1.02
    LOW_MS = 0.01

    def __init__(self) -> None:
        self.n_buckets = int(math.log(1e7) / math.log(self.RATIO)) + 2
        self.counts = [0] * self.n_buckets
        self.count = 0
        self.total = 0.0

    def add(self, ms: float) -> None:
        i = 0 if ms <= self.LOW_MS else min(self.n_buckets - 1, int(math.log(ms / self.LOW_MS) / math.log(self.RATIO)) + 1)
        self.counts[i] += 1
        self.count += 1
        self.total += ms

    def percentile(self, p: float) -> float:
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                # The geometric middle of the bucket.
                return self.LOW_MS * self.RATIO ** (i - 0.5) if i else self.LOW_MS
        return self.LOW_MS * self.RATIO ** (self.n_buckets - 1)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class RateMeter:
    """Events per second over the last `window` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._times: deque[float] = deque(maxlen=4096)

    def tick(self, now: float | None = None) -> None:
        self._times.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass
class Summary:
    frames_read: int
    processed: int
    skipped: int
    seconds: float
    inference_p50_ms: float
    inference_p95_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    not_delivered: int = 0  # processed, but dropped before the outputs (live mode, outputs too slow)

    @property
    def mean_fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        behind = f" ({self.not_delivered} of them not written: the outputs fell behind)" if self.not_delivered else ""
        return (
            f"frames read {self.frames_read}, processed {self.processed}{behind}, skipped {self.skipped}, "
            f"mean FPS {self.mean_fps:.1f}, inference ms p50 {self.inference_p50_ms:.1f} / p95 {self.inference_p95_ms:.1f}"
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "frames_read": self.frames_read,
            "processed": self.processed,
            "skipped": self.skipped,
            "not_delivered": self.not_delivered,
            "seconds": round(self.seconds, 3),
            "mean_fps": round(self.mean_fps, 2),
            "inference_ms_p50": round(self.inference_p50_ms, 3),
            "inference_ms_p95": round(self.inference_p95_ms, 3),
            "latency_ms_p50": round(self.latency_p50_ms, 3),
            "latency_ms_p95": round(self.latency_p95_ms, 3),
        }


class PipelineStats:
    """Shared between the capture thread (writes frames_read / skipped), the worker (the rest) and
    the output thread (last_output_at)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames_read = 0
        self.skipped = 0
        self.processed = 0
        self.inference = LatencyHistogram()
        self.latency = LatencyHistogram()  # capture -> results ready
        self.capture_rate = RateMeter()
        self.inference_rate = RateMeter()
        self.last_inference_ms = 0.0
        self.started = time.monotonic()
        self.last_frame_at: float | None = None
        self.last_processed_at: float | None = None  # time.monotonic() of the last frame through inference
        # time.monotonic() when the output thread last took a frame to hand to the sinks: one float
        # store per frame, no lock (a reader sees the old or the new value). None until it starts.
        self.last_output_at: float | None = None
        self._watched: list[tuple[BusyOutput, float]] = []
        self.unreadable = 0  # frames the source could not decode or delivered broken, skipped
        self.not_delivered = 0  # processed frames the outputs never got (live mode: they fell behind)

    def frames_unreadable(self, n: int = 1) -> None:
        with self._lock:
            self.unreadable += n

    def frame_read(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames_read += 1
            self.last_frame_at = now
            self.capture_rate.tick(now)

    def frames_skipped(self, n: int = 1) -> None:
        with self._lock:
            self.skipped += n

    def frame_processed(self, inference_ms: float, latency_ms: float) -> None:
        """A frame went through inference; latency_ms runs from its capture to its results."""
        now = time.monotonic()
        with self._lock:
            self.processed += 1
            self.latency.add(latency_ms)
            self.inference.add(inference_ms)
            self.inference_rate.tick(now)
            self.last_inference_ms = inference_ms
            self.last_processed_at = now

    def watch(self, output: BusyOutput, stuck_after: float = WORKER_STUCK_S) -> None:
        """Have /healthz and the watchdog report `output` once it holds one item for `stuck_after` s."""
        self._watched.append((output, stuck_after))

    def outputs_waiting(self, now: float) -> float:
        """Seconds since the output thread took a frame while inference has produced newer ones: how
        long the outputs have been stuck on one frame, 0 while they keep up.

        The output thread takes each frame within microseconds of its results (it waits on the
        queue), so a frame processed after the last take is one the outputs are not taking. In
        live mode the worker goes on processing; in file mode it then blocks, and capture too."""
        took, processed = self.last_output_at, self.last_processed_at
        if took is None or processed is None or processed <= took:
            return 0.0
        return now - took

    def stuck_worker(self, now: float) -> tuple[str, float] | None:
        """(name, seconds) of the watched background output busy longest beyond its limit, or None."""
        worst: tuple[str, float] | None = None
        for output, limit in self._watched:
            since = output.busy_since
            if since is not None and now - since > limit and (worst is None or now - since > worst[1]):
                worst = (output.name, now - since)
        return worst

    def capture_fps(self) -> float:
        with self._lock:
            return self.capture_rate.rate()

    def inference_fps(self) -> float:
        with self._lock:
            return self.inference_rate.rate()

    def summary(self) -> Summary:
        with self._lock:
            return Summary(
                self.frames_read, self.processed, self.skipped, time.monotonic() - self.started,
                self.inference.percentile(50), self.inference.percentile(95),
                self.latency.percentile(50), self.latency.percentile(95), self.not_delivered,
            )
