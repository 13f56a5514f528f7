"""Tracks, zones and lines for one stream of detections: the part of the analytics stage that
needs to know which box is which object.

It gives each detection of a frame its `track_id` (the detections merged away as duplicates, and
weak ones that continue no track, are dropped from the results), feeds the tracks to every zone
and line, and turns what they found into events in the usual format. It runs on the inference
worker in frame order (camapp.analytics.stage), so results carry their ids before any output
sees them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from camapp.analytics.events import Event
from camapp.analytics.tracking import Observation, Track, Tracker, TrackerOptions
from camapp.analytics.zones import LineCounter, LineSpec, ZoneCounter, ZoneSpec
from camapp.frames import Image
from camapp.inference.tasks.detect import DetectResults
from camapp.overlay import class_colour, draw_trail, draw_tripwire, draw_zone


@dataclass(frozen=True)
class ZoneCount:
    occupancy: int  # objects (or items) in it now
    visits: int  # stays begun (tracks) or times it became occupied (presence), since the last reset

    @property
    def occupied(self) -> bool:
        return self.occupancy > 0

    def to_dict(self) -> dict[str, Any]:
        return {"occupancy": self.occupancy, "occupied": self.occupied, "visits": self.visits}


@dataclass(frozen=True)
class LineCount:
    entered: int  # crossings "in"
    exited: int  # crossings "out"

    def to_dict(self) -> dict[str, Any]:
        return {"in": self.entered, "out": self.exited}


@dataclass(frozen=True)
class TrackView:
    """A track as drawn and shown: immutable, for other threads."""

    id: int
    label: str
    box: tuple[float, float, float, float]
    trail: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class SceneOverlay:
    """Zones and lines with their live counts, and track trails, as drawn on one frame."""

    zones: tuple[tuple[tuple[tuple[float, float], ...], str], ...]
    lines: tuple[tuple[tuple[float, float], tuple[float, float], str], ...]
    trails: tuple[tuple[int, tuple[tuple[float, float], ...]], ...] = ()

    def draw(self, image: Image) -> None:
        for polygon, text in self.zones:
            draw_zone(image, polygon, text)
        for start, end, text in self.lines:
            draw_tripwire(image, start, end, text)
        for track_id, points in self.trails:
            draw_trail(image, points, class_colour(track_id))


def zone_text(zone: ZoneCounter) -> str:
    n = zone.occupancy
    if zone.spec.events == "presence":
        return f"{zone.spec.name}: {n}" if n else f"{zone.spec.name}: empty"
    return f"{zone.spec.name}: {n} now, {zone.visits} visit{'' if zone.visits == 1 else 's'}"


class Scene:
    def __init__(self, options: TrackerOptions, zones: list[ZoneSpec], lines: list[LineSpec]) -> None:
        self.tracker = Tracker(options)
        self._low = options.low  # tracking.low_threshold, or the threshold if that was lower
        self._last_ns = 0
        self.zones = [ZoneCounter(z) for z in zones]
        self.lines = [LineCounter(line) for line in lines]

    def reset_tracks(self) -> None:
        """A model change: its boxes are another world. Totals stay."""
        self.tracker.reset()
        for zone in self.zones:
            zone.reset_tracks()
        for line in self.lines:
            line.reset_tracks()

    def reset_counts(self) -> None:
        self.reset_tracks()
        for zone in self.zones:
            zone.visits = 0
        for line in self.lines:
            line.crossed = {"in": 0, "out": 0}

    def retune(self, threshold: float) -> float:
        """A new threshold for new tracks (the web page's); returns the score known tracks go on down to."""
        o = self.tracker.options
        self.tracker.options = dataclasses.replace(o, high=threshold, low=min(self._low, threshold))
        return self.tracker.options.low

    def set_areas(self, zones: list[ZoneSpec], lines: list[LineSpec]) -> None:
        """New zones and lines, drawn on the web page; tracks go on. One that keeps its name and
        shape goes on as it was; a redrawn one keeps its totals and sees the objects in it anew
        (those inside it now enter it); a new one starts at 0; a removed one is forgotten."""
        zones_now = {z.spec.name: z for z in self.zones}
        lines_now = {x.spec.name: x for x in self.lines}
        self.zones = [self._zone(spec, zones_now.get(spec.name)) for spec in zones]
        self.lines = [self._line(spec, lines_now.get(spec.name)) for spec in lines]

    @staticmethod
    def _zone(spec: ZoneSpec, old: ZoneCounter | None) -> ZoneCounter:
        if old is not None and old.spec == spec:
            return old
        zone = ZoneCounter(spec)
        zone.visits = old.visits if old is not None else 0
        return zone

    @staticmethod
    def _line(spec: LineSpec, old: LineCounter | None) -> LineCounter:
        if old is not None and old.spec == spec:
            return old
        line = LineCounter(spec)
        if old is not None:
            line.crossed = dict(old.crossed)
        return line

    def restore(self, saved: dict[str, Any]) -> None:
        """Totals from a previous run (camapp.outputs.counts_file); unknown names are ignored."""
        zones, lines = saved.get("zones", {}), saved.get("lines", {})
        for zone in self.zones:
            entry = zones.get(zone.spec.name)
            if isinstance(entry, dict) and isinstance(entry.get("visits"), int):
                zone.visits = entry["visits"]
        for line in self.lines:
            entry = lines.get(line.spec.name)
            if isinstance(entry, dict):
                line.crossed = {k: int(entry.get(k, 0)) for k in ("in", "out")}

    def zone_counts(self) -> dict[str, ZoneCount]:
        return {z.spec.name: ZoneCount(z.occupancy, z.visits) for z in self.zones}

    def line_counts(self) -> dict[str, LineCount]:
        return {line.spec.name: LineCount(line.crossed["in"], line.crossed["out"]) for line in self.lines}

    def tracks(self) -> tuple[TrackView, ...]:
        return tuple(
            TrackView(t.id, t.label, (t.box.x0, t.box.y0, t.box.x1, t.box.y1), tuple(t.trail))
            for t in self.tracker.alive()
            if t.id is not None
        )

    def update(self, results: DetectResults, wall_time: float, t_ns: int | None = None) -> tuple[list[tuple[str, float]], list[Event]]:
        """Track the frame's detections (setting their track_id in place) and return the objects
        tracked now as (label, score) for the change events, and the zone and line events.
        `t_ns` is the stream's time of the frame (default: its capture time)."""
        observations = [Observation(i, d.name, d.score, d.box) for i, d in enumerate(results.detections)]
        t = results.timestamp_ns if t_ns is None else t_ns
        if t < self._last_ns:
            self.reset_tracks()  # time went back (another source, a file started again): no track could ever expire
        self._last_ns = t
        update = self.tracker.update(observations, t)
        # The results are still only the worker's: ids are set before any other thread sees them.
        results.detections = [
            dataclasses.replace(d, track_id=update.assigned[i].id if i in update.assigned else None)
            for i, d in enumerate(results.detections)
            if i in update.kept
        ]
        alive = self.tracker.alive()
        events: list[Event] = []

        def event(kind: Any, label: str, count: int, previous: int, track: Track | None, **extra: Any) -> None:
            events.append(
                Event(kind, label, count, previous, results.frame_index, t, results.source_id, wall_time,
                      track.score if track is not None else None, track_id=track.id if track is not None else None, **extra)
            )

        for zone in self.zones:
            for f in zone.update(alive, update.ended, t):
                label = f.track.label if f.track is not None else ",".join(sorted(zone.spec.labels)) or "any"
                event(f.kind, label, f.occupancy, f.previous, f.track, zone=zone.spec.name, dwell_s=f.dwell_s)
        for line in self.lines:
            for track, direction in line.update(alive, update.ended, t):
                counts = line.crossed
                n = counts[direction]
                event("line_crossed", track.label, n, n - 1, track, line=line.spec.name, direction=direction)
        results.overlays = (self.overlay(),)
        return [(tr.label, tr.score) for tr in alive], events

    def overlay(self) -> SceneOverlay:
        return SceneOverlay(
            tuple((z.spec.polygon, zone_text(z)) for z in self.zones),
            tuple((x.spec.start, x.spec.end, f"{x.spec.name}: in {x.crossed['in']} out {x.crossed['out']}") for x in self.lines),
            tuple((t.id, tuple(t.trail)) for t in self.tracker.alive() if t.id is not None and len(t.trail) > 1),
        )
