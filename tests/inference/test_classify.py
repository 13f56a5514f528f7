"""Classifier outputs -> scores -> top-k."""

from __future__ import annotations

import numpy as np
import pytest

from camapp.inference.labels import Labels
from camapp.inference.tasks.classify import dequantize, looks_like_probability, output_is_probability, softmax, top_k
from camapp.inference.tensors import TensorInfo


def out(dtype: type, scale: float, zero_point: int) -> TensorInfo:
    return TensorInfo("out", 0, (1, 5), np.dtype(dtype), scale, zero_point)


def test_dequantize() -> None:
    raw = np.array([0, 58, 255], np.uint8)
    np.testing.assert_allclose(dequantize(raw, out(np.uint8, 0.0988925, 58)), [-58 * 0.0988925, 0.0, 197 * 0.0988925], rtol=1e-6)
    np.testing.assert_allclose(dequantize(np.array([-128, 127], np.int8), out(np.int8, 1 / 256, -128)), [0.0, 255 / 256])
    floats = np.array([0.25, 0.75], np.float32)
    np.testing.assert_array_equal(dequantize(floats, out(np.float32, 0.0, 0)), floats)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (out(np.uint8, 1 / 256, 0), True),  # quantised SOFTMAX (the Coral classifiers)
        (out(np.int8, 1 / 256, -128), True),
        (out(np.uint8, 0.0988925, 58), False),  # logits (the TF Hub V2 build)
        (out(np.float32, 0.0, 0), None),  # float: decided by the values
    ],
)
def test_output_is_probability(info: TensorInfo, expected: bool | None) -> None:
    assert output_is_probability(info) is expected


def test_softmax() -> None:
    p = softmax(np.array([1000.0, 1000.0, -1000.0], np.float32))  # large logits must not overflow
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0], atol=1e-7)
    assert p.dtype == np.float32
    assert softmax(np.array([2.0, 1.0, 0.1], np.float32)).sum() == pytest.approx(1.0)


def test_looks_like_probability() -> None:
    assert looks_like_probability(np.array([0.7, 0.2, 0.1], np.float32))
    assert not looks_like_probability(np.array([3.0, -1.0, 0.5], np.float32))
    assert not looks_like_probability(np.array([0.5, 0.5, 0.5], np.float32))  # sigmoids, not a softmax


def test_top_k() -> None:
    labels = Labels({0: "background", 1: "a", 2: "b", 3: "c"}, 0, "")
    scores = np.array([0.05, 0.2, 0.6, 0.15], np.float32)
    top = top_k(scores, labels, 3)
    assert [(c.class_id, c.label) for c in top] == [(2, "b"), (1, "a"), (3, "c")]
    assert top[0].score == pytest.approx(0.6) and isinstance(top[0].score, float) and isinstance(top[0].class_id, int)
    assert len(top_k(scores, labels, 50)) == 4  # no more than there are classes
    assert len(top_k(scores, labels, 0)) == 1  # at least one
    assert [c.class_id for c in top_k(scores, labels, 4, min_score=0.15)] == [2, 1, 3]


def test_a_real_top_5_drops_the_padding_behind_a_sure_answer(load_model, frame) -> None:
    # V1 0.75 is sure of the macaw (1.00): its other four of the top-5 are softmax padding.
    results = load_model("mobilenet_v1_0.75_192_quant.tflite", top_k=5).run(frame("parrot.jpg"))
    assert len(results.classes) == 5
    shown = results.to_dict()["classes"]
    assert shown[0]["label"] == "macaw" and shown[0]["score"] > 0.95
    assert len(shown) < 5
    assert all(c["score"] >= 0.005 for c in shown)
    assert [c["label"] for c in shown] == [c.label for c in results.classes[: len(shown)]]  # the best ones, in order


def test_an_unsure_real_answer_keeps_its_runners_up(load_model, frame) -> None:
    # V1 0.25 on the cat: Egyptian cat 0.21, with real alternatives behind it.
    results = load_model("mobilenet_v1_0.25_128_quant.tflite", top_k=5).run(frame("cat.bmp"))
    shown = results.to_dict()["classes"]
    assert len(shown) >= 3
    assert shown[0]["score"] < 0.5
