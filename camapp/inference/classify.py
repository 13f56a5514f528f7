"""Classifier outputs -> top-k Classification list."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from camapp.inference.labels import Labels
from camapp.inference.model import TensorInfo
from camapp.results import Classification


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
    leaves out the near-zero ones (results.shown_classes), so no cut-off is applied here."""
    k = max(1, min(k, scores.size))
    # argpartition avoids sorting all 1001 classes for a top-5.
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [Classification(int(i), labels.name(int(i)), float(scores[i])) for i in idx if scores[i] >= min_score]
