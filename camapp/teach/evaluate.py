"""An honest accuracy for a taught model, and what to fix when it is poor.

Consecutive camera frames are near-copies, so holding out random examples measures memory, not
learning. Here the LAST fifth of each class's examples (in the order they were taken) is held
out, a head is trained on the rest exactly as the build does, and the held-out examples are
classified: like frames seen a little later. Balanced accuracy (the mean of the per-class
recalls) is reported, so a class with many examples cannot hide one with few.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from camapp.teach.head import UNKNOWN, Head, HeadKind, class_means, normalise, train_head

HELD_OUT = 0.2
MIN_EXAMPLES = 5  # fewer than this per class: warned, and nothing held out of that class
NEAR_COPY = 0.97  # held-out examples this similar to a taught one (median) make the accuracy optimistic
TOO_SIMILAR = 0.97  # cosine between two class means above which the backbone barely tells them apart
# The auto floor: this fraction of the similarity of the least typical example to its own class.
# Measured on the shared clips (10 frames per class, V1 / V2 / V3-Small): frames of the taught
# classes seen later were at least 0.56-0.81 similar to their class (1st percentile), frames of
# the other clip (a scene never taught) at most 0.33-0.66, and the least typical example 0.71-0.90.
# Three quarters of the latter falls between the two for every backbone and clip but one (V1 on
# the people clip, where 5 % of the other clip's frames stay above it).
FLOOR_FRACTION = 0.75


@dataclass
class Report:
    classes: tuple[str, ...]
    counts: dict[str, int]
    held_out: int = 0
    balanced_accuracy: float | None = None  # None when nothing could be held out
    recall: dict[str, float] = field(default_factory=dict)
    confused: list[tuple[str, str, int]] = field(default_factory=list)  # (true, answered, count), worst first
    unknown_rate: float | None = None  # held-out examples the floor turned into "unknown"
    floor: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "classes": list(self.classes), "counts": self.counts, "held_out": self.held_out,
            "balanced_accuracy": None if self.balanced_accuracy is None else round(self.balanced_accuracy, 4),
            "recall": {k: round(v, 4) for k, v in self.recall.items()},
            "confused": [{"true": t, "answered": a, "count": n} for t, a, n in self.confused],
            "unknown_rate": None if self.unknown_rate is None else round(self.unknown_rate, 4),
            "floor": None if self.floor is None else round(self.floor, 4),
            "warnings": self.warnings,
        }


def time_ordered_split(y: NDArray[np.int64], k: int, held_out: float = HELD_OUT) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(train indices, test indices): the last `held_out` of each class (rows are in time order)."""
    train: list[int] = []
    test: list[int] = []
    for c in range(k):
        rows = np.flatnonzero(y == c)
        n_test = int(round(len(rows) * held_out)) if len(rows) >= MIN_EXAMPLES else 0
        cut = len(rows) - n_test
        train.extend(rows[:cut].tolist())
        test.extend(rows[cut:].tolist())
    return np.array(train, np.int64), np.array(test, np.int64)


def auto_floor(head: Head, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """Three quarters of the least typical example's similarity to its own class (see FLOOR_FRACTION).

    Not a quantile of the examples themselves: they are consecutive frames, far more alike than
    the same class seen an hour later, so any floor they all pass snugly would reject the class
    itself once the light changes.
    """
    own = np.sum(normalise(x) * head.vectors[y], axis=1)
    return float(FLOOR_FRACTION * own.min()) if own.size else 0.0


def resolve_floor(floor: float | None | str, head: Head, x: NDArray[np.float32], y: NDArray[np.int64]) -> float | None:
    """A given floor as it is; "auto" from the examples, or None when a class has too few to tell."""
    if not isinstance(floor, str):
        return floor
    if np.bincount(y, minlength=len(head.classes)).min() < MIN_EXAMPLES:
        return None  # one or two frames say nothing about how far a class strays
    return auto_floor(head, x, y)


def evaluate(
    embeddings: NDArray[np.float32], y: NDArray[np.int64], classes: tuple[str, ...], kind: HeadKind, floor: float | None | str
) -> Report:
    """Train on the first 80 % of each class, test on the last 20 %; the floor, if 'auto', comes from here too."""
    k = len(classes)
    counts = {c: int(np.sum(y == i)) for i, c in enumerate(classes)}
    report = Report(classes, counts)
    for c, n in counts.items():
        if n < MIN_EXAMPLES:
            plural = "s" if n != 1 else ""
            report.warnings.append(f"'{c}' has {n} example{plural}: add at least {MIN_EXAMPLES}, better 20, from more than one moment")
    means = class_means(normalise(embeddings), y, k)
    sims = means @ means.T
    for i in range(k):
        for j in range(i + 1, k):
            if sims[i, j] > TOO_SIMILAR:
                report.warnings.append(
                    f"'{classes[i]}' and '{classes[j]}' look almost the same to this backbone (cosine {sims[i, j]:.3f}): "
                    "show what differs more clearly, or try another backbone"
                )
    if not any(c.lower() in ("background", "none", "nothing", "empty") for c in classes):
        report.warnings.append("no 'background' class: the scene without any of these will be called one of them; add one")

    train, test = time_ordered_split(y, k)
    trained = train_head(embeddings[train], y[train], classes, kind, None)
    report.floor = resolve_floor(floor, trained, embeddings[train], y[train])
    if isinstance(floor, str) and report.floor is None:
        report.warnings.append(f"no 'unknown' floor: it is set from the examples when every class has {MIN_EXAMPLES} or more "
                               "(or give --unknown-below COSINE)")
    if test.size == 0:
        report.warnings.append(f"nothing could be held out to measure accuracy: every class needs {MIN_EXAMPLES} examples or more")
        return report
    head = Head(classes, trained.vectors, report.floor, trained.scale, kind)
    answered = head.predict(embeddings[test])
    truth = y[test]
    report.held_out = int(test.size)
    xn = normalise(embeddings)
    nearest = np.array([np.max(xn[train][y[train] == y[i]] @ xn[i]) for i in test])
    if float(np.median(nearest)) > NEAR_COPY:
        report.warnings.append(
            f"the held-out examples are near-copies of taught ones (median similarity {float(np.median(nearest)):.3f}), so this "
            "accuracy is optimistic: add examples from other moments, light and positions"
        )
    recalls = {}
    for i, c in enumerate(classes):
        mask = truth == i
        if mask.any():
            recalls[c] = float(np.mean(answered[mask] == i))
    report.recall = recalls
    report.balanced_accuracy = float(np.mean(list(recalls.values())))
    report.unknown_rate = float(np.mean(answered == k)) if report.floor is not None else None
    labels = head.labels
    pairs: dict[tuple[str, str], int] = {}
    for t, a in zip(truth, answered, strict=True):
        if t != a:
            key = (classes[t], labels[a] if a < len(labels) else UNKNOWN)
            pairs[key] = pairs.get(key, 0) + 1
    report.confused = sorted(((t, a, n) for (t, a), n in pairs.items()), key=lambda r: -r[2])[:5]
    for c, r in recalls.items():
        if r < 0.5:
            report.warnings.append(f"'{c}' was recognised in only {r:.0%} of its latest examples: add examples from other moments")
    return report


def format_report(report: Report) -> str:
    lines = ["examples: " + ", ".join(f"{c} {n}" for c, n in report.counts.items())]
    if report.balanced_accuracy is not None:
        lines.append(
            f"held-out accuracy: {report.balanced_accuracy:.1%} balanced over {len(report.recall)} classes "
            f"({report.held_out} latest examples held out, trained on the earlier ones)"
        )
        lines.append("  per class: " + ", ".join(f"{c} {r:.0%}" for c, r in report.recall.items()))
    if report.confused:
        lines.append("  most confused: " + "; ".join(f"{t} -> {a} x{n}" for t, a, n in report.confused))
    if report.floor is not None:
        share = f", {report.unknown_rate:.1%} of held-out examples fell below it" if report.unknown_rate is not None else ""
        lines.append(f"unknown below cosine {report.floor:.3f}{share}")
    lines.extend(f"warning: {w}" for w in report.warnings)
    return "\n".join(lines)
