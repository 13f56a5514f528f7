"""Image classification: one [1, classes] output -> the top-k classes of the whole frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from camapp.frames import Frame, Image
from camapp.inference.labels import Labels, fit_classifier_labels
from camapp.inference.options import ModelOptions
from camapp.inference.preprocess import Transform
from camapp.inference.tensors import ModelInfo, TensorInfo
from camapp.overlay import MAX_DRAWN_CLASSES, box_size, class_colour, draw_label, style_for
from camapp.results import Results, SummaryKind

# Scores are shown with two decimals (overlay) and four (JSON). A class under half a percent would
# be drawn as "0.00": it is the padding of a 1001-way softmax (uniform would be 0.001), not an
# answer, and a quantised softmax steps in 1/256 (0.0039), so its first step up is dropped too.
# JSON and overlay share this one rule so what a consumer reads is what the picture showed.
MIN_SHOWN_SCORE = 0.005


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


@dataclass
class ClassifyResults(Results):
    classes: list[Classification] = field(default_factory=list)  # the top-k, best first

    task: ClassVar[str] = "classify"
    summary: ClassVar[SummaryKind] = "top_class"

    @property
    def shown_classes(self) -> list[Classification]:
        """`classes` without the near-zero padding: what JSON and the overlay show (see MIN_SHOWN_SCORE)."""
        return shown_classes(self.classes)

    def scored_labels(self) -> list[tuple[str, float]]:
        return [(c.label, c.score) for c in self.classes[:1]]

    def payload(self) -> dict[str, Any]:
        return {"classes": [c.to_dict() for c in self.shown_classes]}

    def draw(self, image: Image, top_k: int) -> None:
        """The top classes as a list in the top-left corner, near-zero scores left out."""
        style = style_for(image)
        gap = max(1, style.pad // 2)
        y = style.pad
        for c in self.shown_classes[: max(1, min(top_k, MAX_DRAWN_CLASSES))]:
            text = f"{c.label.split(',')[0]} {c.score:.2f}"  # ImageNet names list synonyms: the first is enough
            y += box_size(text, style)[1]
            draw_label(image, text, style.pad, y, class_colour(c.class_id), style)
            y += gap


def classifier_output(outputs: tuple[TensorInfo, ...]) -> TensorInfo | None:
    if len(outputs) != 1:
        return None
    shape = outputs[0].shape
    # [1, C] or the [1, 1, 1, C] some slim exports keep.
    if len(shape) >= 2 and shape[0] == 1 and all(s == 1 for s in shape[1:-1]) and shape[-1] > 1:
        return outputs[0]
    return None


class ClassifyTask:
    name = "classify"
    noun = "an image classifier"
    plural = "image classifiers"
    needs = "one [1, classes] output"
    results_type = ClassifyResults
    command_help = "classify images, one JSON line each"
    settings = ("top_k",)

    def matches(self, outputs: tuple[TensorInfo, ...]) -> bool:
        return classifier_output(outputs) is not None

    def fit_labels(self, labels: Labels, info: ModelInfo) -> Labels:
        out = classifier_output(info.outputs)
        assert out is not None  # matches() said so
        return fit_classifier_labels(labels, out.shape[-1])

    def decoder(self, info: ModelInfo, labels: Labels, options: ModelOptions) -> ClassifyDecoder:
        out = classifier_output(info.outputs)
        assert out is not None
        return ClassifyDecoder(out, labels, options.top_k)


class ClassifyDecoder:
    def __init__(self, output: TensorInfo, labels: Labels, k: int) -> None:
        self.output = output
        self.labels = labels
        self.k = k
        self.probability = output_is_probability(output)  # None: decided from each frame's values

    def decode(self, interpreter: Any, frame: Frame, transform: Transform, inference_ms: float) -> ClassifyResults:
        scores = dequantize(interpreter.get_tensor(self.output.index).reshape(-1), self.output)
        probability = self.probability
        if probability is None:
            probability = looks_like_probability(scores)
        if not probability:
            scores = softmax(scores)
        h, w = frame.image.shape[:2]
        classes = top_k(scores, self.labels, self.k)
        return ClassifyResults(frame.source_id, frame.index, frame.timestamp_ns, w, h, inference_ms, classes)


TASK = ClassifyTask()


def dequantize(raw: NDArray[Any], info: TensorInfo) -> NDArray[np.float32]:
    if info.quantized:
        return ((raw.astype(np.float32) - info.zero_point) * info.scale).astype(np.float32)
    return raw.astype(np.float32, copy=False)


def output_is_probability(info: TensorInfo) -> bool | None:
    """Decide once per model whether the output is already a softmax.

    TFLite requires a quantised SOFTMAX output to use scale 1/256 with zero point 0 (uint8) or
    -128 (int8), so any other quantisation means logits. A float output cannot be told apart by
    its tensor alone: None means "look at the values".
    """
    if info.quantized:
        return abs(info.scale - 1 / 256) < 1e-6 and info.zero_point in (0, -128)
    return None


def softmax(x: NDArray[np.float32]) -> NDArray[np.float32]:
    e = np.exp(x - np.max(x))
    return (e / np.sum(e)).astype(np.float32)


def looks_like_probability(scores: NDArray[np.float32]) -> bool:
    return bool(np.all(scores >= -1e-6) and np.all(scores <= 1 + 1e-6) and abs(float(np.sum(scores)) - 1.0) < 0.05)


def top_k(scores: NDArray[np.float32], labels: Labels, k: int, min_score: float = 0.0) -> list[Classification]:
    """The k best classes, best first. All k are kept (top-5 accuracy counts them); what is shown
    leaves out the near-zero ones (ClassifyResults.shown_classes), so no cut-off is applied here."""
    k = max(1, min(k, scores.size))
    # argpartition avoids sorting all 1001 classes for a top-5.
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [Classification(int(i), labels.name(int(i)), float(scores[i])) for i in idx if scores[i] >= min_score]
