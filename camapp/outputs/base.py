"""What an output is: a Sink gets one Delivery per frame, in frame order, on the output thread.

A Delivery names everything a sink may need about one frame, so no sink recomputes or probes
for it: the frame, its results (fresh, or reused under pipeline.every), the events the analytics
stage found in them, and the annotated image when some sink asked for pixels. Sinks subclass
SinkBase, which gives the lifecycle camapp calls on every sink (start, model_changed, report,
metrics, close) a default, so nothing is found by probing attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from camapp.analytics.events import Event
from camapp.config import Config
from camapp.control import ModelChange
from camapp.frames import Frame, Image
from camapp.metrics import Metric
from camapp.overlay import OverlayStyle
from camapp.results import Results


def overlay_style(cfg: Config) -> OverlayStyle:
    """The one overlay style of a run, from output.overlay, output.hud and model.top_k."""
    return OverlayStyle(cfg.output.overlay, cfg.output.hud, cfg.model.top_k)


@dataclass(frozen=True)
class Delivery:
    frame: Frame
    results: Results | None
    fresh: bool  # results were computed on this very frame (False when every-N reuses the last ones)
    events: tuple[Event, ...] = ()  # what the analytics stage found in these results (fresh frames only)
    annotated: Image | None = None  # the overlay, drawn once when some sink wants pixels


class Sink(Protocol):  # what the pipeline calls; SinkBase gives the rest of the lifecycle
    # True when the sink needs the annotated image; the overlay is drawn only if some sink does.
    wants_pixels: bool

    @property
    def name(self) -> str:
        """For log lines: what it is and where it writes ("VideoRecorder out.mp4")."""
        ...

    def start(self) -> None: ...
    def write(self, item: Delivery) -> None: ...
    def model_changed(self, change: ModelChange) -> None: ...
    def report(self) -> dict[str, Any]: ...
    def metrics(self) -> list[Metric]: ...
    def close(self) -> None: ...


class SinkBase:
    """Defaults for the Sink lifecycle: a sink overrides what it cares about."""

    wants_pixels = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def start(self) -> None:
        """Start threads and connections. Called once, after every output was built (a constructor
        only checks and prepares, so an output that cannot be built leaves nothing running)."""

    def write(self, item: Delivery) -> None:
        raise NotImplementedError

    def model_changed(self, change: ModelChange) -> None:
        """Called in frame order, before the first frame of the new model reaches write()."""

    def report(self) -> dict[str, Any]:
        """What this output adds to /api/status (read from an HTTP thread)."""
        return {}

    def metrics(self) -> list[Metric]:
        """Its Prometheus metrics for /metrics (read from an HTTP thread)."""
        return []

    def close(self) -> None:
        """Called once, after the last write()."""
