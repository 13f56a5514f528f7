"""What inference produces: plain dataclasses with a stable JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Task = Literal["classify", "detect"]

# Scores are shown with two decimals (overlay) and four (JSON). A class under half a percent would
# be drawn as "0.00": it is the padding of a 1001-way softmax (uniform would be 0.001), not an
# answer, and a quantised softmax steps in 1/256 (0.0039), so its first step up is dropped too.
# JSON and overlay share this one rule so what a consumer reads is what the picture showed.
MIN_SHOWN_SCORE = 0.005


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


@dataclass(frozen=True)
class Classification:
    class_id: int
    label: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"class_id": self.class_id, "label": self.label, "score": round(self.score, 4)}


def shown_classes(classes: list[Classification]) -> list[Classification]:
    """The classes worth showing: those that do not round to zero, and always the top-1.

    The top-1 stays even when tiny (a confused model over 1001 classes) so a result is never empty.
    """
    return classes[:1] + [c for c in classes[1:] if c.score >= MIN_SHOWN_SCORE]


@dataclass(frozen=True)
class Detection:
    class_id: int
    label: str
    score: float
    box: Box

    def to_dict(self, width: int, height: int) -> dict[str, Any]:
        return {
            "class_id": self.class_id,
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(v, 4) for v in (self.box.x0, self.box.y0, self.box.x1, self.box.y1)],
            "box_px": list(self.box.to_pixels(width, height)),
        }


@dataclass
class Results:
    """The outcome of one inference on one frame. frame_index ties it to exactly that frame."""

    task: Task
    source_id: str
    frame_index: int
    timestamp_ns: int
    width: int
    height: int
    inference_ms: float
    classes: list[Classification] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    @property
    def shown_classes(self) -> list[Classification]:
        """`classes` without the near-zero padding: what JSON and the overlay show (see MIN_SHOWN_SCORE)."""
        return shown_classes(self.classes)

    @property
    def labels(self) -> list[str]:
        if self.task == "detect":
            return [d.label for d in self.detections]
        return [c.label for c in self.classes[:1]]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source_id,
            "frame": self.frame_index,
            "width": self.width,
            "height": self.height,
            "inference_ms": round(self.inference_ms, 3),
        }
        if self.task == "classify":
            out["classes"] = [c.to_dict() for c in self.shown_classes]
        else:
            out["detections"] = [d.to_dict(self.width, self.height) for d in self.detections]
        return out
