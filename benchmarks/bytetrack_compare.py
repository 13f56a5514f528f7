"""The same clips through roboflow's `trackers` (ByteTrack) and supervision's zones, for the
tracker decision in benchmarks/RESULTS.md ("Tracking, zones and lines"). Not part of camapp: run it
in a separate venv (`python -m venv /tmp/bt && /tmp/bt/bin/pip install trackers==2.6.1 supervision==0.31.2`).

    camapp run --source one-by-one-person-detection.mp4 --model ssd_mobilenet_v1_coco_quant --threshold 0.3 --output people.jsonl
    camapp run --source bottle-detection.mp4 --model ssd_mobilenet_v1_coco_quant --threshold 0.3 --output bottle.jsonl
    /tmp/bt/bin/python benchmarks/bytetrack_compare.py people people.jsonl
    /tmp/bt/bin/python benchmarks/bytetrack_compare.py bottle bottle.jsonl

It replays camapp's detections (>= 0.3) with camapp's duplicate merge in front, ByteTrack at
0.5 / 0.5 (bottles: 0.4, as in tests/analytics/data/bottle_slots.yaml), a lost buffer of 1.5 s,
PolygonZone / LineZone with centre anchors, and the same 3-frame + 0.5 s debounce on slot occupancy.
Prints visits per zone, (in, out) per line, each slot's occupied / empty changes, and the median ms.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
import supervision as sv  # type: ignore[import-not-found]
from trackers import ByteTrackTracker  # type: ignore[import-not-found]

Box = list[float]


def overlap(a: Box, b: Box) -> tuple[float, float]:
    """(IoU, share of a inside b), as camapp.analytics.tracking computes them."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    union = area_a + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return (inter / union if union > 0 else 0.0), (inter / area_a if area_a > 0 else 1.0)


def merge(dets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    for d in sorted(dets, key=lambda d: -d["score"]):
        if all(overlap(d["box"], k["box"])[0] < 0.5 and overlap(d["box"], k["box"])[1] < 0.8 for k in kept):
            kept.append(d)
    return kept


class Debounced:
    def __init__(self, value: int, frames: int, seconds: float) -> None:
        self.value, self.frames, self.seconds = value, frames, seconds
        self.candidate: int | None = None
        self.count, self.since = 0, 0.0

    def observe(self, value: int, t: float) -> tuple[int, int] | None:
        if value == self.value:
            self.candidate = None
            return None
        if self.candidate is None or value != self.candidate:
            self.candidate, self.count, self.since = value, 0, t
        self.count += 1
        if self.count >= self.frames and t - self.since >= self.seconds:
            old, self.value, self.candidate = self.value, value, None
            return old, value
        return None


def run(path: str, fps: float, zones: dict[str, list[list[float]]], lines: dict[str, tuple[list[float], list[float]]],
        class_id: int, high: float = 0.5, low: float = 0.3) -> tuple[Any, ...]:
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    w, h = rows[0]["width"], rows[0]["height"]
    tracker = ByteTrackTracker(lost_track_buffer=int(1.5 * fps), frame_rate=fps, track_activation_threshold=high,
                               minimum_consecutive_frames=3, high_conf_det_threshold=high)
    anchor = (sv.Position.CENTER,)
    polygons = {n: sv.PolygonZone((np.array(p) * [w, h]).astype(np.int64), triggering_anchors=anchor) for n, p in zones.items()}
    tripwires = {n: sv.LineZone(sv.Point(s[0] * w, s[1] * h), sv.Point(e[0] * w, e[1] * h), triggering_anchors=anchor)
                 for n, (s, e) in lines.items()}
    visits: dict[str, set[int]] = {n: set() for n in zones}
    occupancy = {n: Debounced(0, 3, 0.5) for n in zones}
    changes: dict[str, list[tuple[float, str]]] = {n: [] for n in zones}
    times = []
    for row in rows:
        dets = merge([d for d in row["detections"] if d["score"] >= low])
        t0 = time.perf_counter()
        if dets:
            xyxy = np.array([[d["box"][0] * w, d["box"][1] * h, d["box"][2] * w, d["box"][3] * h] for d in dets], dtype=np.float32)
            found = sv.Detections(xyxy=xyxy, confidence=np.array([d["score"] for d in dets], dtype=np.float32),
                                  class_id=np.array([d["class_id"] for d in dets]))
        else:
            found = sv.Detections.empty()
        tracked = tracker.update(found)
        if len(tracked):
            keep = [i for i in range(len(tracked)) if tracked.tracker_id[i] >= 0 and int(tracked.class_id[i]) == class_id]
            tracked = tracked[np.array(keep, dtype=int)]
        t = row["frame"] / fps
        for name, zone in polygons.items():
            inside = zone.trigger(tracked) if len(tracked) else np.zeros(0, bool)
            ids = {int(i) for i, yes in zip(tracked.tracker_id if len(tracked) else [], inside, strict=True) if yes}
            visits[name] |= ids
            change = occupancy[name].observe(len(ids), t)
            if change and (change[0] > 0) != (change[1] > 0):
                changes[name].append((round(t, 1), "occupied" if change[1] else "empty"))
        for line in tripwires.values():
            if len(tracked):
                line.trigger(tracked)
        times.append((time.perf_counter() - t0) * 1000)
    return ({n: len(v) for n, v in visits.items()}, {n: (x.in_count, x.out_count) for n, x in tripwires.items()}, changes,
            round(float(np.median(times)), 3))


SLOTS = {"slot-left": [[0, .15], [.3, .15], [.3, 1], [0, 1]], "slot-middle": [[.33, .15], [.66, .15], [.66, 1], [.33, 1]],
         "slot-right": [[.7, .15], [1, .15], [1, 1], [.7, 1]]}

if __name__ == "__main__":
    if sys.argv[1] == "people":
        print(run(sys.argv[2], 10, {"table": [[0.4, 0], [0.75, 0], [0.75, 1], [0.4, 1]]}, {"exit": ([0.8, 1.0], [0.8, 0.0])}, 0))
    else:
        print(run(sys.argv[2], 29.83, SLOTS, {}, 43, high=0.4))
