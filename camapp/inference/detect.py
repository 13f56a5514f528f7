"""SSD outputs (TFLite_Detection_PostProcess) -> Detection list in source-frame coordinates."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from camapp.inference.labels import Labels
from camapp.inference.model import SsdOutputs
from camapp.inference.preprocess import Transform
from camapp.results import Box, Detection

log = logging.getLogger(__name__)


def _integral(values: NDArray[Any]) -> bool:
    return bool(np.all(np.abs(values - np.round(values)) < 1e-6))


class SsdDecoder:
    """Decodes one model's SSD outputs; settles the classes / scores order from values if names could not."""

    def __init__(self, outputs: SsdOutputs, labels: Labels, order_known: bool) -> None:
        self.outputs = outputs
        self.labels = labels
        self._order_known = order_known
        self._warned_ids: set[int] = set()

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

    def decode(self, tensors: dict[int, NDArray[Any]], transform: Transform, threshold: float, max_results: int) -> list[Detection]:
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
