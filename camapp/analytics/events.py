"""Change events from a stream of Results: pure logic, no I/O, no clock of its own.

A shelf camera sees the same three bottles in every frame; listeners (MQTT, Home Assistant,
Node-RED, snapshots) want to hear only when something changes: an object appeared or left, how
many there are changed, the top class changed. Detectors flicker (a bottle scored 0.49 in one frame
and 0.51 in the next), so a change counts only once it has held for `min_frames` consecutive
processed frames AND `min_seconds` of capture time; a blip shorter than that is forgotten.

Presence and count are debounced separately, so "2, 3, 2, 3 bottles" never says "bottles left"
and a person who stays while a second one walks past yields one appeared and one left, not a storm.
Time comes from Results.timestamp_ns (capture time), so tests replay exact sequences. The
analytics stage (camapp.analytics.stage) runs the detector once per fresh result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from camapp.results import Results

EventType = Literal[
    "appeared", "left", "count", "class_changed",
    # from tracks, zones and lines (camapp.analytics.zones); they carry the fields below
    "zone_entered", "zone_left", "loitering", "zone_occupied", "zone_empty", "line_crossed",
]
V = TypeVar("V")


@dataclass(frozen=True)
class Event:
    type: EventType
    label: str
    count: int  # objects of `label` now (1 for a classifier's new top class, 0 after "left")
    previous: int | str | None  # the count before, or the previous top class
    frame_index: int
    timestamp_ns: int  # capture time (monotonic) of the frame that confirmed the change
    source_id: str
    time: float  # wall-clock seconds since the epoch, for listeners on other machines
    score: float | None = None  # the best score of `label` in that frame
    zone: str | None = None  # zone events: which zone (`count` is then its occupancy)
    line: str | None = None  # line_crossed: which line
    track_id: int | None = None  # the tracked object the event is about
    direction: str | None = None  # line_crossed: "in" or "out"
    dwell_s: float | None = None  # zone_left and loitering: seconds inside the zone

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event": self.type,
            "label": self.label,
            "count": self.count,
            "previous": self.previous,
            "frame": self.frame_index,
            "source": self.source_id,
            "time": round(self.time, 3),
        }
        if self.score is not None:
            out["score"] = round(self.score, 4)
        for key in ("zone", "line", "track_id", "direction"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.dwell_s is not None:
            out["dwell_s"] = round(self.dwell_s, 2)
        return out


@dataclass(frozen=True)
class DebounceOptions:
    min_frames: int = 3
    min_seconds: float = 0.0


class Debounced(Generic[V]):
    """A value that changes only after a new value has held for min_frames and min_seconds."""

    def __init__(self, initial: V, options: DebounceOptions) -> None:
        self.stable: V = initial
        self.options = options
        self._candidate: V | None = None
        self._frames = 0
        self._since_ns = 0

    def observe(self, value: V, t_ns: int) -> tuple[V, V] | None:
        """Feed one observation; returns (old, new) when the stable value changes."""
        if value == self.stable:
            self._candidate = None
            return None
        if self._candidate is None or value != self._candidate:
            self._candidate, self._frames, self._since_ns = value, 0, t_ns
        self._frames += 1
        held = (t_ns - self._since_ns) / 1e9
        if self._frames >= self.options.min_frames and held >= self.options.min_seconds:
            old, self.stable, self._candidate = self.stable, value, None
            return old, value
        return None


@dataclass
class _LabelState:
    present: Debounced[bool]
    count: Debounced[int]
    confirmed: bool = False  # has been present (debounced) at least once


@dataclass
class EventDetector:
    """Results in, the events they confirm out. `labels` limits which labels are watched."""

    options: DebounceOptions = field(default_factory=DebounceOptions)
    labels: frozenset[str] = frozenset()
    _states: dict[str, _LabelState] = field(default_factory=dict)
    _top: Debounced[str | None] | None = None

    def reset(self) -> None:
        """Forget every label and the top class (a model change: its labels are another world)."""
        self._states.clear()
        self._top = None

    def update(self, results: Results, wall_time: float, objects: list[tuple[str, float]] | None = None) -> list[Event]:
        """`objects` replaces the frame's own (label, score) list: with tracking on, the objects
        tracked now, so a detection that flickers below the threshold does not come and go."""
        if results.summary == "top_class":
            return self._update_class(results, wall_time)
        return self._update_counts(results, wall_time, results.scored_labels() if objects is None else objects)

    def watched(self, label: str) -> bool:
        return not self.labels or label in self.labels

    def counts(self) -> dict[str, int]:
        """The debounced count of every label confirmed so far (0 for labels that left)."""
        return {
            label: (s.count.stable if s.present.stable else 0)
            for label, s in sorted(self._states.items())
            if s.confirmed  # a blip that never held is not reported
        }

    @property
    def top_class(self) -> str | None:
        return self._top.stable if self._top is not None else None

    def _update_counts(self, results: Results, wall_time: float, scored: list[tuple[str, float]]) -> list[Event]:
        seen = Counter(label for label, _ in scored if self.watched(label))
        best: dict[str, float] = {}
        for label, score in scored:
            best[label] = max(best.get(label, 0.0), score)
        for label in seen:
            if label not in self._states:
                self._states[label] = _LabelState(Debounced(False, self.options), Debounced(0, self.options))
        events: list[Event] = []
        t = results.timestamp_ns

        def event(kind: EventType, label: str, count: int, previous: int) -> None:
            events.append(Event(kind, label, count, previous, results.frame_index, t, results.source_id, wall_time, best.get(label)))

        for label, state in sorted(self._states.items()):
            n = seen.get(label, 0)
            before = state.count.stable if state.present.stable else 0
            presence = state.present.observe(n > 0, t)
            counted = state.count.observe(n, t)
            if presence is not None:
                # The count follows presence at once, so "appeared" and the count topic agree.
                state.count.stable = n
                state.confirmed = True
                event("appeared" if presence[1] else "left", label, n, before)
            elif counted is not None and state.present.stable and counted[0] > 0 and counted[1] > 0:
                event("count", label, counted[1], counted[0])
        return events

    def _update_class(self, results: Results, wall_time: float) -> list[Event]:
        scored = results.scored_labels()
        top = scored[0] if scored else None
        label = top[0] if top is not None and self.watched(top[0]) else None
        if self._top is None:
            self._top = Debounced(None, self.options)
        change = self._top.observe(label, results.timestamp_ns)
        if change is None or change[1] is None:
            return []
        score = top[1] if top is not None else None
        r = results
        return [Event("class_changed", change[1], 1, change[0], r.frame_index, r.timestamp_ns, r.source_id, wall_time, score)]
