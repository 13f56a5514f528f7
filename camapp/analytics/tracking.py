"""A small multi-object tracker: detections in, the same objects with stable ids out.

Why our own and not roboflow's `trackers` (ByteTrack) with supervision: on the shared clips this
~200-line tracker gives the same visits and crossings, and adds nothing to install, where the two
libraries add ~430 MB with their dependencies on aarch64 and ~75 MB of resident memory, too much
for a 512 MB Pi Zero 2 W (benchmarks/RESULTS.md, "Tracking, zones and lines").

It keeps ByteTrack's two ideas that matter for SSD-MobileNet and drops the Kalman filter:
- two score levels: a track starts only from a detection of at least `high` (the model threshold),
  but is kept alive by weaker ones down to `low`, so a bottle scoring 0.45-0.55 stays one object
  instead of appearing and leaving every second;
- a lost track is kept for `max_age_s` of capture time and picks its object up again; after that it
  expires, so two people who come one after the other are two visits, not one.
Before matching, SSD's duplicate boxes (a full and a partial box of one person, two labels for one
object) are merged: class-agnostic NMS at `merge_iou`, and a box lying mostly (`merge_inside`)
inside a better one is dropped. Matching is greedy by IoU against each track's box moved by its
velocity, which is enough at camera frame rates where boxes overlap frame to frame.
Pure logic: time comes from the caller (capture time), so tests replay exact sequences.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from camapp.results import Box


@dataclass(frozen=True)
class TrackerOptions:
    high: float = 0.5  # a new track needs a detection this good
    low: float = 0.3  # a known track is continued by detections down to this score
    match_iou: float = 0.2  # least IoU between a track's predicted box and a detection
    max_age_s: float = 1.5  # a track not seen for this long is gone
    min_hits: int = 3  # frames a track must be seen before it counts (and gets its id)
    merge_iou: float = 0.5  # duplicate boxes: overlap at which the weaker one is merged away
    merge_inside: float = 0.8  # ... or the share of a box that lies inside a better one
    trail: int = 0  # past anchor points kept per track, for drawing


SMALL = 9  # pairs up to which matching stays in plain Python


@dataclass(frozen=True)
class Observation:
    """One detection as the tracker sees it; `index` is its place in the frame's detections."""

    index: int
    label: str
    score: float
    box: Box


def _corners(boxes: list[Box]) -> NDArray[np.float64]:
    return np.array([(b.x0, b.y0, b.x1, b.y1) for b in boxes], dtype=np.float64).reshape(-1, 4)


def overlaps(a: NDArray[np.float64], b: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """For every pair (row of a, row of b): their IoU, and the share of a's box lying inside b's.

    One array expression instead of a Python loop per pair: 20 boxes against 30 tracks are 600
    pairs per frame, which cost 1.6 ms in plain Python here, too much for a Pi."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0.0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0.0, None)
    inter = ix * iy
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
        inside = np.where(area_a[:, None] > 0, inter / area_a[:, None], 1.0)
    return iou, inside


def merge_duplicates(observations: list[Observation], merge_iou: float, merge_inside: float) -> list[Observation]:
    """The best box of each object: a box overlapping a better one (any label) is dropped."""
    ranked = sorted(observations, key=lambda o: -o.score)
    if len(ranked) < 2:
        return ranked
    corners = _corners([o.box for o in ranked])
    iou, inside = overlaps(corners, corners)
    duplicate = (iou >= merge_iou) | (inside >= merge_inside)
    kept: list[int] = []
    for i in range(len(ranked)):
        if not kept or not duplicate[i, kept].any():
            kept.append(i)
    return [ranked[i] for i in kept]


@dataclass
class Track:
    key: int  # internal, from the first frame
    box: Box
    first_ns: int
    last_ns: int
    scores: dict[str, float] = field(default_factory=dict)  # summed score per label: the label is the best sum
    hits: int = 1
    id: int | None = None  # given once the track is confirmed: ids count objects, not blips
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre, frame widths / heights per second
    score: float = 0.0  # the last matched detection's score
    seen_now: bool = True  # matched in the latest frame
    trail: deque[tuple[float, float]] = field(default_factory=deque)
    label: str = ""  # the label with the best summed score, kept up to date by the tracker

    def __post_init__(self) -> None:
        if not self.label and self.scores:
            self.label = max(self.scores.items(), key=lambda kv: kv[1])[0]

    @property
    def confirmed(self) -> bool:
        return self.id is not None

    def predicted(self, t_ns: int) -> Box:
        dt = (t_ns - self.last_ns) / 1e9
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        b = self.box
        return Box(b.x0 + dx, b.y0 + dy, b.x1 + dx, b.y1 + dy)


def _centre(b: Box) -> tuple[float, float]:
    return (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2


@dataclass
class TrackUpdate:
    """What one frame did: which detection belongs to which track, and which tracks ended."""

    assigned: dict[int, Track]  # detection index -> its track (kept detections only)
    kept: set[int]  # indexes of the detections that survive the merge and the score rules
    ended: list[Track]  # tracks that expired in this frame (confirmed ones only)


class Tracker:
    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self.tracks: list[Track] = []
        self._next_key = 1
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (ids go on counting: an id is never given twice in a run)."""
        self.tracks.clear()

    def alive(self) -> list[Track]:
        """Confirmed tracks, whether seen in this frame or briefly lost."""
        return [t for t in self.tracks if t.confirmed]

    def update(self, observations: list[Observation], t_ns: int) -> TrackUpdate:
        o = self.options
        candidates = merge_duplicates([x for x in observations if x.score >= o.low], o.merge_iou, o.merge_inside)
        high = [x for x in candidates if x.score >= o.high]
        low = [x for x in candidates if x.score < o.high]
        for track in self.tracks:
            track.seen_now = False
        assigned: dict[int, Track] = {}
        # ByteTrack's order: good detections first (to every track), then weak ones to what is left.
        unmatched_high = self._match(high, self.tracks, t_ns, assigned)
        self._match(low, [t for t in self.tracks if not t.seen_now], t_ns, assigned)
        for obs in unmatched_high:
            track = Track(self._next_key, obs.box, t_ns, t_ns, {obs.label: obs.score}, score=obs.score)
            self._next_key += 1
            self._confirm(track)
            self.tracks.append(track)
            assigned[obs.index] = track
        ended: list[Track] = []
        survivors: list[Track] = []
        for track in self.tracks:
            if track.seen_now:
                survivors.append(track)
            elif not track.confirmed:
                continue  # a blip that never held: forgotten at once, as ByteTrack does
            elif (t_ns - track.last_ns) / 1e9 > o.max_age_s:
                ended.append(track)
            else:
                survivors.append(track)
        self.tracks = survivors
        # Weak detections are shown only while they continue a track; good ones always.
        kept = {x.index for x in high} | {i for i, t in assigned.items() if t.confirmed}
        return TrackUpdate({i: t for i, t in assigned.items() if i in kept}, kept, ended)

    def _match(self, observations: list[Observation], tracks: list[Track], t_ns: int, assigned: dict[int, Track]) -> list[Observation]:
        """Greedy IoU matching, best pairs first; returns the observations left over."""
        free = [t for t in tracks if not t.seen_now]
        if not observations or not free:
            return observations
        predicted = [t.predicted(t_ns) for t in free]
        gate = self.options.match_iou
        if len(free) * len(observations) <= SMALL:  # numpy's fixed cost is more than a few pairs in Python
            pairs = [(p.iou(o.box), ti, oi) for ti, p in enumerate(predicted) for oi, o in enumerate(observations)]
            ranked = [(ti, oi) for iou_, ti, oi in sorted(pairs, key=lambda x: -x[0]) if iou_ >= gate]
        else:
            iou, _ = overlaps(_corners(predicted), _corners([o.box for o in observations]))
            rows, cols = np.nonzero(iou >= gate)
            order = np.argsort(-iou[rows, cols], kind="stable")
            ranked = list(zip(rows[order].tolist(), cols[order].tolist(), strict=True))
        used_tracks: set[int] = set()
        used_obs: set[int] = set()
        for ti, oi in ranked:
            if ti in used_tracks or oi in used_obs:
                continue
            used_tracks.add(ti)
            used_obs.add(oi)
            self._continue(free[ti], observations[oi], t_ns)
            assigned[observations[oi].index] = free[ti]
        return [obs for oi, obs in enumerate(observations) if oi not in used_obs]

    def _continue(self, track: Track, obs: Observation, t_ns: int) -> None:
        dt = (t_ns - track.last_ns) / 1e9
        if dt > 0:
            (cx0, cy0), (cx1, cy1) = _centre(track.box), _centre(obs.box)
            vx, vy = (cx1 - cx0) / dt, (cy1 - cy0) / dt
            # Smoothed: one jumpy box (a partial detection) must not throw the prediction off.
            # The first match sets it outright: a new track has no velocity to smooth.
            k = 1.0 if track.hits == 1 else 0.5
            track.velocity = ((1 - k) * track.velocity[0] + k * vx, (1 - k) * track.velocity[1] + k * vy)
        track.box, track.last_ns, track.score, track.seen_now = obs.box, t_ns, obs.score, True
        track.scores[obs.label] = total = track.scores.get(obs.label, 0.0) + obs.score
        if obs.label != track.label and total > track.scores.get(track.label, 0.0):
            track.label = obs.label
        track.hits += 1
        self._confirm(track)
        if self.options.trail:
            track.trail.append(_centre(obs.box))
            while len(track.trail) > self.options.trail:
                track.trail.popleft()

    def _confirm(self, track: Track) -> None:
        if track.id is None and track.hits >= self.options.min_hits:
            track.id = self._next_id
            self._next_id += 1
