"""The head a taught model puts on the embeddings: a cosine classifier with a "none of these" floor.

Each class is a unit vector w_k; an image's score for it is the cosine between its (L2-normalised)
embedding and w_k, and the probabilities are softmax(scale * cosines). Two ways to get the w_k:

* "mean": the normalised mean of the class's examples (imprinting). Nothing to train, and the most
  robust to a change of light, but a class that is several poses (a gesture) is one blurred mean.
* "fit" (the default): start from the means and fit the vectors to separate the classes (softmax
  cross-entropy, each class weighted equally), pulled back towards the means so that a handful of
  frames cannot drag a vector far. It beats the means where a class has several looks.

Because the scores stay cosines, a floor means the same in both: when no class reaches it, the
answer is "unknown". In the exported model that is one more output class with no weights and a
constant score of scale * floor, so any LiteRT program sees it (camapp.teach.build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

HeadKind = Literal["fit", "mean"]
UNKNOWN = "unknown"
SCALE = 16.0  # softmax(16 * cos): a cosine lead of 0.1 is a 5:1 odds ratio
_STEPS = 150
_LEARNING_RATE = 0.05
_PULL = 0.5  # how strongly the fitted vectors stay near the class means


def normalise(x: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Head:
    classes: tuple[str, ...]
    vectors: NDArray[np.float32]  # [K, D], unit rows
    floor: float | None  # cosine below which the answer is "unknown"; None: always the nearest class
    scale: float = SCALE
    kind: HeadKind = "fit"

    @property
    def labels(self) -> tuple[str, ...]:
        """The exported model's outputs: the classes, then "unknown" when there is a floor."""
        return self.classes + ((UNKNOWN,) if self.floor is not None else ())

    def fully_connected(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Weights [K(+1), D] and bias for FULLY_CONNECTED after L2_NORMALIZATION: scale * cosines."""
        weights = self.vectors * self.scale
        bias = np.zeros(len(self.classes), np.float32)
        if self.floor is not None:
            weights = np.vstack([weights, np.zeros((1, weights.shape[1]), np.float32)])
            bias = np.append(bias, np.float32(self.scale * self.floor))
        return weights.astype(np.float32), bias.astype(np.float32)

    def cosines(self, embeddings: NDArray[np.float32]) -> NDArray[np.float32]:
        return normalise(embeddings) @ self.vectors.T  # type: ignore[no-any-return]

    def probabilities(self, embeddings: NDArray[np.float32]) -> NDArray[np.float32]:
        """What the exported model outputs, computed in NumPy: [N, len(labels)]."""
        weights, bias = self.fully_connected()
        logits = normalise(embeddings) @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, embeddings: NDArray[np.float32]) -> NDArray[np.int64]:
        """Index into `labels` for each row (len(classes) is "unknown")."""
        return np.argmax(self.probabilities(embeddings), axis=1)


def class_means(x: NDArray[np.float32], y: NDArray[np.int64], k: int) -> NDArray[np.float32]:
    return normalise(np.stack([x[y == c].mean(axis=0) for c in range(k)]).astype(np.float32))


def fit_vectors(x: NDArray[np.float32], y: NDArray[np.int64], k: int, scale: float = SCALE) -> NDArray[np.float32]:
    """Unit vectors that separate the classes, started at and pulled towards the class means.

    Full-batch gradient descent with Adam on the unnormalised vectors V (w = V / |V|): 150 steps
    of two [N, D] x [D, K] products, well under a second for 20 classes x 20 examples on a Pi 4.
    """
    means = class_means(x, y, k)
    counts = np.bincount(y, minlength=k).astype(np.float32)
    sample_weight = (1.0 / counts[y]) / k  # each class counts the same, however many examples it has
    onehot = np.eye(k, dtype=np.float32)[y]
    v = means.copy()
    m1 = np.zeros_like(v)
    m2 = np.zeros_like(v)
    for step in range(1, _STEPS + 1):
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        w = v / norms
        logits = scale * (x @ w.T)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad_w = scale * ((p - onehot) * sample_weight[:, None]).T @ x + _PULL * (w - means)
        # Through the normalisation: only the part of the gradient across w moves its direction.
        grad_v = (grad_w - w * np.sum(grad_w * w, axis=1, keepdims=True)) / norms
        m1 = 0.9 * m1 + 0.1 * grad_v
        m2 = 0.999 * m2 + 0.001 * grad_v**2
        v = v - _LEARNING_RATE * (m1 / (1 - 0.9**step)) / (np.sqrt(m2 / (1 - 0.999**step)) + 1e-8)
    return normalise(v.astype(np.float32))


def train_head(
    embeddings: NDArray[np.float32], y: NDArray[np.int64], classes: tuple[str, ...], kind: HeadKind = "fit", floor: float | None = None
) -> Head:
    x = normalise(embeddings)
    k = len(classes)
    vectors = class_means(x, y, k) if kind == "mean" else fit_vectors(x, y, k)
    return Head(classes, vectors, floor, SCALE, kind)
