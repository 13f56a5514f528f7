"""Object detection: an SSD's four post-processed outputs -> boxes with labels in frame coordinates."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from camapp.errors import ModelError
from camapp.frames import Frame, Image
from camapp.inference.labels import Labels, fit_detector_labels
from camapp.inference.options import ModelOptions
from camapp.inference.preprocess import Transform
from camapp.inference.tasks.classify import Classification
from camapp.inference.tensors import ModelInfo, TensorInfo
from camapp.overlay import class_colour, draw_label, style_for
from camapp.results import Box, Results, SummaryKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    class_id: int
    label: str
    score: float
    box: Box
    # What a second classifier named inside the box (detect, then classify: camapp.inference.crops).
    kind: Classification | None = None
    # The tracked object this box is (camapp.analytics.tracking), when tracking is on; None: not tracked (yet).
    track_id: int | None = None

    @property
    def name(self) -> str:
        """What events, counts and MQTT call it: the crop's class when it has one ("full"), else the label."""
        return self.kind.label if self.kind is not None else self.label

    def to_dict(self, width: int, height: int) -> dict[str, Any]:
        out = {
            "class_id": self.class_id,
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(v, 4) for v in (self.box.x0, self.box.y0, self.box.x1, self.box.y1)],
            "box_px": list(self.box.to_pixels(width, height)),
        }
        if self.kind is not None:
            out["class"] = self.kind.to_dict()
        if self.track_id is not None:
            out["track_id"] = self.track_id
        return out


@dataclass
class DetectResults(Results):
    detections: list[Detection] = field(default_factory=list)  # best first

    task: ClassVar[str] = "detect"
    summary: ClassVar[SummaryKind] = "counts"

    def scored_labels(self) -> list[tuple[str, float]]:
        return [(d.name, d.kind.score if d.kind is not None else d.score) for d in self.detections]

    def payload(self) -> dict[str, Any]:
        return {"detections": [d.to_dict(self.width, self.height) for d in self.detections]}

    def draw(self, image: Image, top_k: int) -> None:
        style = style_for(image)
        h, w = image.shape[:2]
        for det in self.detections:
            colour = class_colour(det.class_id if det.kind is None else det.kind.class_id)
            x0, y0, x1, y1 = det.box.to_pixels(w, h)
            cv2.rectangle(image, (x0, y0), (x1, y1), colour, style.line)
            text = f"{det.label} {det.score:.2f}" if det.kind is None else f"{det.label}: {det.kind.label} {det.kind.score:.2f}"
            if det.track_id is not None:
                text = f"#{det.track_id} {text}"
            draw_label(image, text, x0, y0, colour, style)


@dataclass(frozen=True)
class SsdOutputs:
    """Output tensor indices of an SSD with TFLite_Detection_PostProcess, found by name or shape."""

    boxes: int
    classes: int
    scores: int
    count: int


_NAME_HINTS = {
    "boxes": re.compile(r"box|location", re.I),
    "classes": re.compile(r"class|categor", re.I),
    "scores": re.compile(r"score", re.I),
    "count": re.compile(r"num|count", re.I),
}


def find_ssd_outputs(outputs: tuple[TensorInfo, ...]) -> SsdOutputs | None:
    """Map the four post-processed SSD outputs by shape first, then by name.

    TF1 exports name them TFLite_Detection_PostProcess, :1, :2, :3 (boxes, classes, scores,
    count); TF2 exports use StatefulPartitionedCall:N in a different order; models with metadata
    call them location / category / score / number of detections. Shapes settle boxes and count;
    classes and scores have the same [1, N] shape and are told apart by name when possible, else
    at the first inference by their values (see SsdDecoder).
    """
    if len(outputs) != 4:
        return None
    boxes = [t for t in outputs if len(t.shape) == 3 and t.shape[-1] == 4]
    count = [t for t in outputs if t.shape in ((1,), ())]
    pair = [t for t in outputs if len(t.shape) == 2]
    if len(boxes) != 1 or len(count) != 1 or len(pair) != 2:
        return None
    a, b = pair
    named_swapped = _NAME_HINTS["scores"].search(a.name) or _NAME_HINTS["classes"].search(b.name)
    if named_swapped or (a.name.endswith("PostProcess:2") and b.name.endswith("PostProcess:1")):
        a, b = b, a
    return SsdOutputs(boxes=boxes[0].index, classes=a.index, scores=b.index, count=count[0].index)


def names_settle_ssd_order(outputs: tuple[TensorInfo, ...]) -> bool:
    """True when tensor names (not just a guess) say which [1, N] output holds classes."""
    names = [t.name for t in outputs if len(t.shape) == 2]
    if any(n.endswith(("PostProcess:1", "PostProcess:2")) for n in names):
        return True
    return any(_NAME_HINTS["scores"].search(n) or _NAME_HINTS["classes"].search(n) for n in names)


class DetectTask:
    name = "detect"
    noun = "an SSD detector"
    plural = "SSD detectors"
    needs = "the four outputs of TFLite_Detection_PostProcess"
    results_type = DetectResults
    command_help = "detect objects in images, one JSON line each"
    settings = ("threshold",)

    def matches(self, outputs: tuple[TensorInfo, ...]) -> bool:
        return find_ssd_outputs(outputs) is not None

    def fit_labels(self, labels: Labels, info: ModelInfo) -> Labels:
        if len(labels) > 1000:
            raise ModelError(
                f"labels file '{labels.origin}' has {len(labels)} labels, too many for an SSD detector",
                "give the detector's own labels file",
            )
        return fit_detector_labels(labels)

    def decoder(self, info: ModelInfo, labels: Labels, options: ModelOptions) -> SsdDecoder:
        ssd = find_ssd_outputs(info.outputs)
        assert ssd is not None  # matches() said so
        return SsdDecoder(ssd, labels, names_settle_ssd_order(info.outputs), options.threshold, options.max_detections)


TASK = DetectTask()


def _integral(values: NDArray[Any]) -> bool:
    return bool(np.all(np.abs(values - np.round(values)) < 1e-6))


class SsdDecoder:
    """Decodes one model's SSD outputs; settles the classes / scores order from values if names could not."""

    def __init__(self, outputs: SsdOutputs, labels: Labels, order_known: bool, threshold: float = 0.5, max_results: int = 100) -> None:
        self.outputs = outputs
        self.labels = labels
        self.threshold = threshold
        self.max_results = max_results
        self._order_known = order_known
        self._warned_ids: set[int] = set()

    def decode(self, interpreter: Any, frame: Frame, transform: Transform, inference_ms: float) -> DetectResults:
        o = self.outputs
        tensors = {i: interpreter.get_tensor(i) for i in (o.boxes, o.classes, o.scores, o.count)}
        h, w = frame.image.shape[:2]
        found = self.detections(tensors, transform, self.threshold, self.max_results)
        return DetectResults(frame.source_id, frame.index, frame.timestamp_ns, w, h, inference_ms, found)

    def settle_order(self, classes: NDArray[Any], scores: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        if self._order_known:
            return classes, scores
        # Class ids are whole numbers; scores are fractions. Decide at the first frame that shows it.
        if _integral(scores) and not _integral(classes):
            self.outputs = SsdOutputs(self.outputs.boxes, self.outputs.scores, self.outputs.classes, self.outputs.count)
            self._order_known = True
            return scores, classes
        if _integral(classes) and not _integral(scores):
            self._order_known = True
        return classes, scores

    def detections(self, tensors: dict[int, NDArray[Any]], transform: Transform, threshold: float, max_results: int) -> list[Detection]:
        boxes = tensors[self.outputs.boxes].reshape(-1, 4)
        classes, scores = self.settle_order(tensors[self.outputs.classes].reshape(-1), tensors[self.outputs.scores].reshape(-1))
        count = min(int(np.asarray(tensors[self.outputs.count]).reshape(-1)[0]), boxes.shape[0])
        found: list[Detection] = []
        for i in range(count):
            score = float(scores[i])
            if score < threshold:
                continue
            class_id = int(classes[i])
            # The op emits [ymin, xmin, ymax, xmax] in the model's input space.
            ymin, xmin, ymax, xmax = (float(v) for v in boxes[i])
            x0, y0 = transform.to_frame(xmin, ymin)
            x1, y1 = transform.to_frame(xmax, ymax)
            found.append(Detection(class_id, self._label(class_id), score, Box(x0, y0, x1, y1).clipped()))
        found.sort(key=lambda d: -d.score)
        return found[:max_results]

    def _label(self, class_id: int) -> str:
        name = self.labels.name(class_id)
        if name.startswith("class ") and class_id not in self._warned_ids:
            self._warned_ids.add(class_id)
            log.warning("class id %d has no label in %s", class_id, self.labels.origin or "the labels")
        return name
