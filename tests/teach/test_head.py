"""The head: cosine scores against one vector per class, and "unknown" below a floor."""

from __future__ import annotations

import numpy as np

from camapp.teach.evaluate import evaluate, resolve_floor, time_ordered_split
from camapp.teach.head import UNKNOWN, normalise, train_head


def clusters(rng: np.random.Generator, centres: np.ndarray, per_class: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([c + spread * rng.standard_normal((per_class, centres.shape[1])) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(len(centres)), per_class)
    return np.abs(x), y  # non-negative, like ReLU features


def test_the_exported_weights_compute_scale_times_cosine_and_unknown_is_a_constant_logit():
    rng = np.random.default_rng(0)
    x, y = clusters(rng, rng.random((3, 32)) * 4, 10, 0.3)
    head = train_head(x, y, ("a", "b", "c"), "mean", floor=0.5)
    weights, bias = head.fully_connected()
    assert head.labels == ("a", "b", "c", UNKNOWN) and weights.shape == (4, 32) and bias.shape == (4,)
    logits = normalise(x) @ weights.T + bias
    np.testing.assert_allclose(logits[:, :3], head.scale * head.cosines(x), rtol=1e-5)
    np.testing.assert_allclose(logits[:, 3], head.scale * 0.5, rtol=1e-6)
    probabilities = head.probabilities(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_fitted_vectors_are_unit_length_stay_near_the_means_and_fit_the_examples_at_least_as_well():
    rng = np.random.default_rng(1)
    x, y = clusters(rng, rng.random((4, 64)) * 2, 12, 0.8)  # overlapping classes
    mean = train_head(x, y, ("a", "b", "c", "d"), "mean")
    fit = train_head(x, y, ("a", "b", "c", "d"), "fit")
    np.testing.assert_allclose(np.linalg.norm(fit.vectors, axis=1), 1.0, rtol=1e-5)
    assert np.min(np.sum(fit.vectors * mean.vectors, axis=1)) > 0.9  # pulled towards the means
    assert np.mean(fit.predict(x) == y) >= np.mean(mean.predict(x) == y)


def test_the_held_out_examples_are_the_last_fifth_of_each_class_in_the_order_taken():
    y = np.array([0] * 10 + [1] * 5 + [2] * 3)
    train, test = time_ordered_split(y, 3)
    assert test.tolist() == [8, 9, 14]  # classes under 5 examples keep all for teaching
    assert sorted(train.tolist() + test.tolist()) == list(range(18))


def test_the_report_counts_warns_and_finds_the_confused_pair():
    rng = np.random.default_rng(2)
    base = rng.random((3, 48)) * 3
    base[2] = base[1] + 0.02  # "c" is nearly "b"
    x, y = clusters(rng, base, 20, 0.05)
    x = np.concatenate([x, np.abs(base[0] + 0.05 * rng.standard_normal((2, 48)))]).astype(np.float32)
    y = np.concatenate([y, [0, 0]])
    report = evaluate(x, y, ("a", "b", "c"), "fit", "auto")
    assert report.counts == {"a": 22, "b": 20, "c": 20}
    assert report.held_out == 4 + 4 + 4
    assert report.recall["a"] == 1.0
    assert any("'b' and 'c' look almost the same" in w for w in report.warnings)
    assert any("no 'background' class" in w for w in report.warnings)
    assert report.floor is not None and 0 < report.floor < 1


def test_auto_floor_needs_five_examples_of_every_class():
    rng = np.random.default_rng(3)
    x, y = clusters(rng, rng.random((2, 16)) * 2, 2, 0.1)
    head = train_head(x, y, ("a", "b"))
    assert resolve_floor("auto", head, x, y) is None
    assert resolve_floor(0.4, head, x, y) == 0.4
    report = evaluate(x, y, ("a", "b"), "fit", "auto")
    assert report.floor is None and report.balanced_accuracy is None
    assert any("no 'unknown' floor" in w for w in report.warnings) and any("'a' has 2 examples" in w for w in report.warnings)
