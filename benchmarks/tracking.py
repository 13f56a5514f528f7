"""Per-frame cost of tracking + zones + lines (camapp.analytics.scene) with 1, 10 and 20 boxes.

    python benchmarks/tracking.py [--frames 3000] [--json out.json]

Boxes walk across the frame (each at its own speed and row, some leave and new ones come), through
two zones and over two lines, so matching, zone tests and crossing checks all do real work. Times
the whole analytics stage as the worker runs it (Analytics.update: tracker, zones, lines, events,
the published state and the overlay description), per frame, after 200 warm-up frames.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from camapp.analytics.events import DebounceOptions, EventDetector
from camapp.analytics.scene import Scene
from camapp.analytics.stage import Analytics
from camapp.analytics.tracking import TrackerOptions
from camapp.analytics.zones import LineSpec, ZoneSpec
from camapp.inference.tasks.detect import Detection, DetectResults
from camapp.results import Box

WARMUP = 200


def stage() -> Analytics:
    zones = [
        ZoneSpec("left", ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)), anchor="center", debounce=DebounceOptions(3)),
        ZoneSpec("shelf", ((0.5, 0.2), (0.9, 0.2), (0.9, 0.8), (0.6, 0.8), (0.5, 0.5)), anchor="center", events="presence"),
    ]
    lines = [LineSpec("door", (0.0, 0.6), (1.0, 0.6), anchor="center"), LineSpec("exit", (0.75, 1.0), (0.75, 0.0), anchor="center")]
    return Analytics(EventDetector(DebounceOptions(3)), scene=Scene(TrackerOptions(), zones, lines))


def frames(boxes: int, count: int, seed: int = 1) -> list[DetectResults]:
    rng = random.Random(seed)
    objects = [[rng.random(), rng.random() * 0.8, rng.uniform(-0.01, 0.01), rng.uniform(-0.005, 0.005)] for _ in range(boxes)]
    out = []
    for n in range(count):
        dets = []
        for i, o in enumerate(objects):
            o[0] += o[2]
            o[1] += o[3]
            if not (0.0 <= o[0] <= 0.95 and 0.0 <= o[1] <= 0.85):  # gone at an edge: someone new comes in
                o[:] = [rng.random() * 0.9, rng.random() * 0.8, rng.uniform(-0.01, 0.01), rng.uniform(-0.005, 0.005)]
            score = 0.4 + 0.5 * rng.random()  # some weak ones: the second matching pass runs too
            dets.append(Detection(0, "person", score, Box(o[0], o[1], o[0] + 0.05, o[1] + 0.15)))
            del i
        dets.sort(key=lambda d: -d.score)
        out.append(DetectResults("bench", n, n * 33_333_333, 640, 480, 1.0, dets))
    return out


def measure(boxes: int, count: int) -> dict[str, float]:
    a = stage()
    seq = frames(boxes, count + WARMUP)
    times = []
    for n, results in enumerate(seq):
        t0 = time.perf_counter()
        a.update(results, 0.0)
        if n >= WARMUP:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"boxes": boxes, "p50_ms": round(statistics.median(times), 4), "p95_ms": round(times[int(0.95 * len(times))], 4),
            "mean_ms": round(statistics.fmean(times), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = [measure(n, args.frames) for n in (1, 10, 20)]
    for row in rows:
        print(f"{row['boxes']:>3} boxes: p50 {row['p50_ms']:.3f} ms, p95 {row['p95_ms']:.3f} ms, mean {row['mean_ms']:.3f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
