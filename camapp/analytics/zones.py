"""Zones and lines over tracks: who is where, for how long, and how many went by which way.

Coordinates are normalised to the frame (0..1, x right, y down), so a zone drawn once fits every
resolution. Each zone and line tests one anchor point per tracked object: the bottom centre of its
box for floors (where the feet are), the centre for shelves and overhead views.

- A zone keeps, per track, whether it is inside, debounced like every other change (`min_frames`
  and `min_seconds`), so a box that jitters on the edge does not enter and leave ten times. A track
  that is briefly lost keeps its state; one that expires leaves with its dwell time.
- A zone with `events: presence` (a shelf slot) reports only occupied / empty and an item count,
  not who: SSD's ids for still objects carry no meaning there.
- A line counts a crossing when a track's side of it changes and its path really went through the
  segment (not past its end). The anchor must be `margin` away from the line to count as on a side,
  so a box sitting on the line does not count in-out-in. Direction: standing on `start` and looking
  at `end`, crossing to the left is "in", to the right "out".
Pure logic, no clock of its own: time is the frame's capture time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from camapp.analytics.events import Debounced, DebounceOptions
from camapp.analytics.tracking import Track
from camapp.results import Box

Point = tuple[float, float]
Anchor = Literal["bottom_center", "center"]


def anchor_point(box: Box, anchor: Anchor) -> Point:
    cx = (box.x0 + box.x1) / 2
    return (cx, box.y1) if anchor == "bottom_center" else (cx, (box.y0 + box.y1) / 2)


def point_in_polygon(p: Point, polygon: tuple[Point, ...]) -> bool:
    """Even-odd rule; a point exactly on an edge may fall either way (debouncing absorbs it)."""
    x, y = p
    inside = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _cross(a: Point, b: Point, p: Point) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    return (d1 * d2 <= 0) and (d3 * d4 <= 0) and not (d1 == d2 == 0)


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    polygon: tuple[Point, ...]
    labels: frozenset[str] = frozenset()  # empty: any label
    anchor: Anchor = "bottom_center"
    debounce: DebounceOptions = field(default_factory=DebounceOptions)
    loiter_s: float | None = None  # a "loitering" event once a track has stayed this long
    events: Literal["tracks", "presence"] = "tracks"

    def wants(self, label: str) -> bool:
        return not self.labels or label in self.labels


@dataclass(frozen=True)
class LineSpec:
    name: str
    start: Point
    end: Point
    labels: frozenset[str] = frozenset()
    anchor: Anchor = "bottom_center"
    margin: float = 0.02  # normalised distance from the line before a side counts

    def wants(self, label: str) -> bool:
        return not self.labels or label in self.labels

    def side(self, p: Point) -> int:
        """-1 left of start->end (as seen from start), +1 right, 0 within the margin."""
        (ax, ay), (bx, by) = self.start, self.end
        length = ((bx - ax) ** 2 + (by - ay) ** 2) ** 0.5
        distance = _cross(self.start, self.end, p) / length if length > 0 else 0.0
        # y grows downwards, so a negative cross product is on the left as seen from start.
        return 0 if abs(distance) < self.margin else (-1 if distance < 0 else 1)


@dataclass(frozen=True)
class ZoneFinding:
    """What a zone did in one frame, for the stage to turn into events."""

    kind: Literal["zone_entered", "zone_left", "loitering", "zone_occupied", "zone_empty"]
    track: Track | None
    occupancy: int
    previous: int
    dwell_s: float | None = None


@dataclass
class _Stay:
    inside: Debounced[bool]
    since_ns: int = 0  # when the stay began (the first frame inside, not when debouncing confirmed it)
    first_inside_ns: int | None = None
    first_outside_ns: int | None = None  # and when it ended: the first frame outside
    loitered: bool = False


class ZoneCounter:
    def __init__(self, spec: ZoneSpec) -> None:
        self.spec = spec
        self.visits = 0  # stays begun (tracks) or times it became occupied (presence)
        self._stays: dict[int, _Stay] = {}
        self._count: Debounced[int] = Debounced(0, spec.debounce)
        self._inside = 0  # stays whose debounced state is inside (kept up to date, not counted per call)

    @property
    def occupancy(self) -> int:
        return self._count.stable if self.spec.events == "presence" else self._inside

    def reset_tracks(self) -> None:
        self._stays.clear()
        self._count = Debounced(0, self.spec.debounce)
        self._inside = 0

    def update(self, tracks: list[Track], ended: list[Track], t_ns: int) -> list[ZoneFinding]:
        spec = self.spec
        if spec.events == "presence":
            return self._update_presence(tracks, t_ns)
        found: list[ZoneFinding] = []
        for track in tracks:
            if not track.seen_now or not spec.wants(track.label) or track.id is None:
                continue  # a lost track keeps its state until it is seen again or expires
            inside_now = point_in_polygon(anchor_point(track.box, spec.anchor), spec.polygon)
            stay = self._stays.get(track.id)
            if stay is None:
                stay = self._stays[track.id] = _Stay(Debounced(False, spec.debounce))
            if inside_now and stay.first_inside_ns is None:
                stay.first_inside_ns = t_ns
            elif not inside_now and not stay.inside.stable:
                stay.first_inside_ns = None
            if inside_now:
                stay.first_outside_ns = None
            elif stay.first_outside_ns is None:
                stay.first_outside_ns = t_ns
            before = self._inside
            change = stay.inside.observe(inside_now, t_ns)
            if change is not None and change[1]:
                stay.since_ns, stay.loitered = stay.first_inside_ns or t_ns, False
                self.visits += 1
                self._inside += 1
                found.append(ZoneFinding("zone_entered", track, self._inside, before))
            elif change is not None:
                found.append(self._left(track, stay, stay.first_outside_ns or t_ns, before))
            if stay.inside.stable and not stay.loitered and spec.loiter_s is not None and (t_ns - stay.since_ns) / 1e9 >= spec.loiter_s:
                stay.loitered = True
                found.append(ZoneFinding("loitering", track, self.occupancy, self.occupancy, (t_ns - stay.since_ns) / 1e9))
        for track in ended:
            stay = self._stays.pop(track.id, None) if track.id is not None else None
            if stay is not None and stay.inside.stable:
                found.append(self._left(track, stay, track.last_ns, self._inside))
        return found

    def _left(self, track: Track, stay: _Stay, t_ns: int, before: int) -> ZoneFinding:
        stay.first_inside_ns, stay.inside.stable = None, False
        self._inside -= 1
        return ZoneFinding("zone_left", track, self._inside, before, max(0.0, (t_ns - stay.since_ns) / 1e9))

    def _update_presence(self, tracks: list[Track], t_ns: int) -> list[ZoneFinding]:
        spec = self.spec
        n = sum(
            1 for t in tracks if spec.wants(t.label) and point_in_polygon(anchor_point(t.box, spec.anchor), spec.polygon)
        )
        change = self._count.observe(n, t_ns)
        if change is None or (change[0] > 0) == (change[1] > 0):
            return []  # the item count changed but not empty / occupied: the count is in the status
        if change[1] > 0:
            self.visits += 1
        return [ZoneFinding("zone_occupied" if change[1] > 0 else "zone_empty", None, change[1], change[0])]


@dataclass
class _Side:
    side: Debounced[int]
    point: Point  # where the track last was on its stable side


class LineCounter:
    def __init__(self, spec: LineSpec, debounce: DebounceOptions | None = None) -> None:
        self.spec = spec
        self.debounce = debounce or DebounceOptions(min_frames=2)
        self.crossed = {"in": 0, "out": 0}
        self._sides: dict[int, _Side] = {}

    def reset_tracks(self) -> None:
        self._sides.clear()

    def update(self, tracks: list[Track], ended: list[Track], t_ns: int) -> list[tuple[Track, str]]:
        """(track, "in" | "out") for each crossing confirmed in this frame."""
        spec = self.spec
        crossings: list[tuple[Track, str]] = []
        for track in tracks:
            if not track.seen_now or track.id is None or not spec.wants(track.label):
                continue  # a lost track keeps its side: it is still the same object when seen again
            p = anchor_point(track.box, spec.anchor)
            side = spec.side(p)
            state = self._sides.get(track.id)
            if state is None:
                if side != 0:
                    self._sides[track.id] = _Side(Debounced(side, self.debounce), p)
                continue
            if side == 0:
                continue
            before = state.side.stable
            change = state.side.observe(side, t_ns)
            if change is None:
                if side == before:
                    state.point = p
                continue
            # The path from where it last stood on the old side to here must pass through the
            # segment itself: walking round the end of a short line is not a crossing.
            if segments_intersect(state.point, p, spec.start, spec.end):
                direction = "in" if change[1] < 0 else "out"
                self.crossed[direction] += 1
                crossings.append((track, direction))
            state.point = p
        for track in ended:
            if track.id is not None:
                self._sides.pop(track.id, None)
        return crossings
