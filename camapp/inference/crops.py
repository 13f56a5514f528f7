"""Detect, then classify: a classifier names what is inside each box a detector found.

The detector finds "a bottle" or "a person"; a classifier (one taught with `camapp teach`, or any
from the zoo) says which product, which gesture, full or empty. Crops are cut from the full
source frame, not the detector's 300x300 input, so a small box still gives the classifier real
pixels; a little context around the box (padding) helps as it did when the examples were taken.
The stage runs on the inference worker right after the detector, so a pool of interpreters
parallelises it too (each worker has its own classifier interpreter).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from camapp.frames import Frame
from camapp.inference.tasks.classify import Classification, ClassifyResults
from camapp.inference.tasks.detect import DetectResults
from camapp.results import Results

if TYPE_CHECKING:
    from camapp.inference.model import Model


@dataclass(frozen=True)
class CropOptions:
    labels: frozenset[str] = frozenset()  # detector labels to classify; empty: all
    padding: float = 0.1  # added on each side, as a fraction of the box's width / height
    min_size: int = 24  # pixels of the source frame, either side
    max_per_frame: int = 10


class CropStage:
    """Classify the crops of one detector's results with one classifier (one worker's)."""

    def __init__(self, classifier: Model, options: CropOptions) -> None:
        if classifier.task != "classify":
            from camapp.errors import ModelError

            raise ModelError(f"crops.model '{classifier.options.path}' is {classifier.task}, not a classifier",
                             "give an image classifier, e.g. one built with camapp teach build")
        self.classifier = classifier
        self.options = options
        self.last_ms = 0.0  # time spent on the last frame's crops
        self.crops = 0  # crops classified so far

    def apply(self, frame: Frame, results: Results) -> Results:
        if not isinstance(results, DetectResults) or not results.detections:
            self.last_ms = 0.0
            return results
        t0 = time.perf_counter()
        o = self.options
        image = frame.image
        h, w = image.shape[:2]
        done = 0
        detections = list(results.detections)
        for i, det in enumerate(detections):  # best first: max_per_frame keeps the surest boxes
            if done >= o.max_per_frame:
                break
            if o.labels and det.label not in o.labels:
                continue
            x0, y0, x1, y1 = det.box.to_pixels(w, h)
            bw, bh = x1 - x0, y1 - y0
            if bw < o.min_size or bh < o.min_size:
                continue
            px, py = round(bw * o.padding), round(bh * o.padding)
            x0, y0, x1, y1 = max(0, x0 - px), max(0, y0 - py), min(w, x1 + px), min(h, y1 + py)
            crop = image[y0:y1, x0:x1]
            named = self.classifier.run(Frame(crop, frame.index, frame.timestamp_ns, frame.source_id))
            assert isinstance(named, ClassifyResults)
            best = named.classes[0]
            detections[i] = dataclasses.replace(det, kind=Classification(best.class_id, best.label, best.score))
            done += 1
        self.crops += done
        self.last_ms = (time.perf_counter() - t0) * 1000
        return dataclasses.replace(results, detections=detections)
