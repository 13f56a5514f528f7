"""The analytics stage: what the results of a frame mean over time, computed once, on the worker.

It runs right after inference, once per fresh result, before the hand-off to the outputs (which
drops items in live mode when outputs fall behind): so every event is found whatever the outputs
do, and every sink sees the same events, carried with the frame (camapp.outputs.base.Delivery).
Today that is change events (camapp.analytics.events); tracks, zones and counts come next.

State for readers on other threads (the web page, /metrics, MQTT's reconnect) is published as an
immutable snapshot after each update, so a reader never takes a lock the worker waits on.
On a model change the stage is reset: the new model's labels are another world.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

from camapp.analytics.events import DebounceOptions, Event, EventDetector
from camapp.results import Results


@dataclass(frozen=True)
class AnalyticsState:
    counts: dict[str, int] = field(default_factory=dict)  # debounced objects per label in view now (0 for labels that left)
    top_class: str | None = None  # classifiers: the debounced top class
    recent: tuple[Event, ...] = ()  # oldest first
    totals: dict[str, int] = field(default_factory=dict)  # events so far, by type


class Analytics:
    def __init__(self, detector: EventDetector | None = None, keep: int = 20) -> None:
        self.detector = detector  # None: nobody consumes events, the stage costs nothing
        self._recent: deque[Event] = deque(maxlen=keep)
        self._totals: Counter[str] = Counter()
        self.state = AnalyticsState()

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
        events = tuple(self.detector.update(results, time.time() if wall_time is None else wall_time))
        if events:  # counts and the top class change only with an event: nothing new to publish otherwise
            self._recent.extend(events)
            self._totals.update(e.type for e in events)
            self._publish()
        return events

    def reset(self) -> None:
        """A model change: counts and the top class start again; event totals and history stay."""
        if self.detector is not None:
            self.detector.reset()
        self._publish()

    def _publish(self) -> None:
        d = self.detector
        if d is None:
            return
        self.state = AnalyticsState(d.counts(), d.top_class, tuple(self._recent), dict(self._totals))
