"""The analytics stage: what the results of a frame mean over time, computed once, on the worker.

It runs right after inference, once per fresh result, before the hand-off to the outputs (which
drops items in live mode when outputs fall behind): so every event is found whatever the outputs
do, and every sink sees the same events, carried with the frame (camapp.outputs.base.Delivery).
That is change events (camapp.analytics.events) and, when zones or lines are configured, tracks,
zones and line counts (camapp.analytics.scene); with tracking on, appeared / left follow tracks,
so a detection that flickers around the threshold does not come and go.

State for readers on other threads (the web page, /metrics, MQTT's reconnect) is published as an
immutable snapshot after each update, so a reader never takes a lock the worker waits on.
On a model change the stage is reset: the new model's labels are another world.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from camapp.analytics.events import DebounceOptions, Event, EventDetector
from camapp.analytics.scene import LineCount, Scene, TrackView, ZoneCount
from camapp.analytics.tracking import TrackerOptions
from camapp.analytics.zones import LineSpec, ZoneSpec
from camapp.inference.tasks.detect import DetectResults
from camapp.results import Results


@dataclass(frozen=True)
class AnalyticsState:
    counts: dict[str, int] = field(default_factory=dict)  # debounced objects per label in view now (0 for labels that left)
    top_class: str | None = None  # classifiers: the debounced top class
    recent: tuple[Event, ...] = ()  # oldest first
    totals: dict[str, int] = field(default_factory=dict)  # events so far, by type
    zones: dict[str, ZoneCount] = field(default_factory=dict)  # per zone: occupancy now, visits
    lines: dict[str, LineCount] = field(default_factory=dict)  # per line: crossings in and out
    tracks: tuple[TrackView, ...] = ()  # the tracked objects now (for drawing and the status)


class Analytics:
    def __init__(self, detector: EventDetector | None = None, keep: int = 20, scene: Scene | None = None) -> None:
        self.detector = detector  # None: nobody consumes events, the stage costs nothing
        self.scene = scene  # None: no tracking (no zones, no lines, tracking off)
        # Files: the video's own frame rate, so tracks and dwell times run on video time (frame / fps).
        self.media_fps: Callable[[], float | None] | None = None
        self._recent: deque[Event] = deque(maxlen=keep)
        self._totals: Counter[str] = Counter()
        self.state = AnalyticsState()
        if scene is not None:
            self._publish()

    @classmethod
    def for_events(cls, options: DebounceOptions, labels: frozenset[str] = frozenset(), keep: int = 20) -> Analytics:
        return cls(EventDetector(options, labels), keep)

    @property
    def enabled(self) -> bool:
        return self.detector is not None

    def update(self, results: Results, wall_time: float | None = None) -> tuple[Event, ...]:
        """The events `results` confirm (call once per fresh result, in frame order)."""
        if self.detector is None:
            return ()
        wall = time.time() if wall_time is None else wall_time
        if self.scene is not None and isinstance(results, DetectResults):
            fps = self.media_fps() if self.media_fps is not None else None
            t_ns = round(results.frame_index * 1e9 / fps) if fps else results.timestamp_ns
            objects, found = self.scene.update(results, wall, t_ns)
            events = tuple(self.detector.update(results, wall, objects)) + tuple(found)
            tracked = True
        else:
            events, tracked = tuple(self.detector.update(results, wall)), False
        if events:
            self._recent.extend(events)
            self._totals.update(e.type for e in events)
        # Counts and the top class change only with an event; tracks move every frame.
        if events or tracked:
            self._publish()
        return events

    def reset(self) -> None:
        """A model change or ResetCounts (the control channel): counts, the top class and tracks
        start again, and so do zone visits and line totals (see reset_tracks for a model change
        that keeps them); event totals and history stay."""
        if self.detector is not None:
            self.detector.reset()
        if self.scene is not None:
            self.scene.reset_counts()
        self._publish()

    def reset_tracks(self) -> None:
        """Forget tracks and what is in view, keeping zone visits and line totals."""
        if self.detector is not None:
            self.detector.reset()
        if self.scene is not None:
            self.scene.reset_tracks()
        self._publish()

    def set_areas(self, zones: Sequence[ZoneSpec], lines: Sequence[LineSpec], tracker: TrackerOptions) -> None:
        """Count in these zones and across these lines from now on (the web page's editor, through
        the control channel). A run without tracking starts it (with `tracker`); a zone or line that
        keeps its name keeps its totals (camapp.analytics.scene.Scene.set_areas)."""
        if self.detector is None:
            return  # nothing consumes events (no web page either): the command cannot come from anywhere
        if self.scene is None:
            self.scene = Scene(tracker, list(zones), list(lines))
        else:
            self.scene.set_areas(list(zones), list(lines))
        self._publish()

    def reading_threshold(self, shown: float) -> float:
        """The score a detector must report down to for `shown` (the page's threshold): with
        tracking on, new tracks need `shown` and known ones go on with weaker boxes, as at start
        (camapp.app.detection_threshold); without, `shown` itself."""
        if self.scene is None:
            return shown
        return self.scene.retune(shown)

    def _publish(self) -> None:
        d = self.detector
        if d is None:
            return
        sc = self.scene
        self.state = AnalyticsState(
            d.counts(), d.top_class, tuple(self._recent), dict(self._totals),
            sc.zone_counts() if sc else {}, sc.line_counts() if sc else {}, sc.tracks() if sc else (),
        )
