"""What inference produces: one Results per processed frame, with a stable JSON form.

Every task (camapp.inference.tasks: classify, detect) subclasses Results with its own payload
(classes, detections) and says how that payload serialises, draws and summarises. Code that
handles every task (sinks, events, the web view) uses only what is declared here, so a new task
needs no change outside its own module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from camapp.frames import Image

# How a task's results are summarised for events, MQTT and the web page:
#   counts     how many of each label are in view (objects come and go: "appeared", "left", "count")
#   top_class  the one label the whole frame is (the class changes: "class_changed")
SummaryKind = Literal["counts", "top_class"]


@dataclass(frozen=True)
class Box:
    """A box normalised to the source frame: 0..1, x to the right, y down."""

    x0: float
    y0: float
    x1: float
    y1: float

    def clipped(self) -> Box:
        def clip(v: float) -> float:
            return min(1.0, max(0.0, v))

        return Box(clip(self.x0), clip(self.y0), clip(self.x1), clip(self.y1))

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        return (
            round(self.x0 * width),
            round(self.y0 * height),
            round(self.x1 * width),
            round(self.y1 * height),
        )

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)


class Drawable(Protocol):
    """Something drawn over a frame besides its results (the zones and lines of camapp.analytics)."""

    def draw(self, image: Image) -> None: ...


@dataclass
class Results(ABC):
    """The outcome of one inference on one frame. frame_index ties it to exactly that frame."""

    source_id: str
    frame_index: int
    timestamp_ns: int
    width: int
    height: int
    inference_ms: float

    task: ClassVar[str]  # the registry's name for the task that made it
    summary: ClassVar[SummaryKind]
    # Set by the analytics stage on the worker, before the hand-off: drawn after the results, never serialised.
    overlays: tuple[Drawable, ...] = field(default=(), init=False, repr=False, compare=False)

    @abstractmethod
    def scored_labels(self) -> list[tuple[str, float]]:
        """What the frame holds, best first: every object (counts) or the top class alone (top_class)."""

    @abstractmethod
    def payload(self) -> dict[str, Any]:
        """The task's own part of the JSON line ("classes", "detections")."""

    @abstractmethod
    def draw(self, image: Image, top_k: int) -> None:
        """Draw the results onto `image` in place (camapp.overlay.annotate gives it a copy)."""

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.scored_labels()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source_id,
            "frame": self.frame_index,
            "width": self.width,
            "height": self.height,
            "inference_ms": round(self.inference_ms, 3),
            **self.payload(),
        }
