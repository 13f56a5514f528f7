"""Timing helpers: wall time, CPU time of the whole process, resident memory, percentiles."""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Measure:
    """One timed run of `frames` frames."""

    frames: int
    seconds: float
    cpu_seconds: float  # user + system time of the whole process (every thread) over the run

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_frame(self) -> float:
        return self.cpu_seconds * 1000 / self.frames if self.frames else 0.0


class Stopwatch:
    """Wall and CPU time from start() to stop(frames)."""

    def start(self) -> Stopwatch:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()  # all threads of this process, including runtime and OpenCV pools
        return self

    def stop(self, frames: int) -> Measure:
        return Measure(frames, time.perf_counter() - self._wall, time.process_time() - self._cpu)


def percentiles(ms: list[float]) -> dict[str, float]:
    """mean, p50 and p95 (exact, from every sample) in milliseconds."""
    if not ms:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0}
    a = np.asarray(ms, dtype=np.float64)
    return {"mean": round(float(a.mean()), 4), "p50": round(float(np.percentile(a, 50)), 4), "p95": round(float(np.percentile(a, 95)), 4)}


def median(values: list[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64))) if values else 0.0


def rss_mb() -> float:
    """Resident memory now, from /proc (Linux); the peak from getrusage elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import cv2

    from camapp import __version__
    from camapp.inference.runtime import runtime_version

    return {
        "camapp": __version__,
        "runtime": runtime_version(),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def _cpu_name() -> str:
    """x86 says "model name"; a Raspberry Pi says "Model" (the board, e.g. "Raspberry Pi 4 Model B")."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields.get("model name") or fields.get("Model") or fields.get("Hardware") or platform.processor() or platform.machine()
