"""SSD post-processed outputs -> detections: output order, threshold, count, box geometry."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from camapp.frames import Frame
from camapp.inference.labels import Labels
from camapp.inference.model import Model, ModelOptions
from camapp.inference.preprocess import IDENTITY, Transform
from camapp.inference.tasks.detect import SsdDecoder, SsdOutputs, find_ssd_outputs, names_settle_ssd_order
from camapp.inference.tensors import TensorInfo
from camapp.results import Box

from . import tflite_builder as tb

LABELS = Labels({0: "person", 1: "bicycle", 2: "car", 16: "cat", 17: "dog"}, 0, "coco.txt")

# Three detections, already in the op's layout: boxes [ymin, xmin, ymax, xmax].
BOXES = np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.9, 0.9], [0, 0, 0, 0]]], np.float32)
CLASSES = np.array([[16, 0, 2, 0]], np.float32)
SCORES = np.array([[0.90625, 0.40625, 0.703125, 0.0]], np.float32)
COUNT = np.array([3], np.float32)


def info(name: str, index: int, shape: tuple[int, ...]) -> TensorInfo:
    return TensorInfo(name, index, shape, np.dtype(np.float32), 0.0, 0)


TF1 = (
    info("TFLite_Detection_PostProcess", 10, (1, 4, 4)),
    info("TFLite_Detection_PostProcess:1", 11, (1, 4)),
    info("TFLite_Detection_PostProcess:2", 12, (1, 4)),
    info("TFLite_Detection_PostProcess:3", 13, (1,)),
)
# A TF2 export: scores first, and nothing in the names to tell classes from scores.
TF2 = (
    info("StatefulPartitionedCall:1", 20, (1, 4)),
    info("StatefulPartitionedCall:3", 21, (1, 4, 4)),
    info("StatefulPartitionedCall:0", 22, (1,)),
    info("StatefulPartitionedCall:2", 23, (1, 4)),
)


def corners(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)


def tensors_tf1() -> dict[int, Any]:
    return {10: BOXES, 11: CLASSES, 12: SCORES, 13: COUNT}


def tensors_tf2() -> dict[int, Any]:
    return {20: SCORES, 21: BOXES, 22: COUNT, 23: CLASSES}


def decode(outputs: tuple[TensorInfo, ...], tensors: dict[int, Any], threshold: float = 0.5, max_results: int = 100,
           transform: Transform = IDENTITY) -> list[Any]:
    ssd = find_ssd_outputs(outputs)
    assert ssd is not None
    return SsdDecoder(ssd, LABELS, names_settle_ssd_order(outputs)).detections(tensors, transform, threshold, max_results)


def test_tf1_outputs_by_name() -> None:
    ssd = find_ssd_outputs(TF1)
    assert ssd == SsdOutputs(boxes=10, classes=11, scores=12, count=13)
    assert names_settle_ssd_order(TF1)
    found = decode(TF1, tensors_tf1())
    assert [(d.class_id, d.label, d.score) for d in found] == [(16, "cat", 0.90625), (2, "car", 0.703125)]
    assert corners(found[0].box) == pytest.approx((0.2, 0.1, 0.6, 0.5))  # x0, y0, x1, y1 from ymin, xmin, ymax, xmax


def test_tf1_outputs_listed_out_of_order() -> None:
    shuffled = (TF1[2], TF1[3], TF1[0], TF1[1])
    assert find_ssd_outputs(shuffled) == SsdOutputs(boxes=10, classes=11, scores=12, count=13)


def test_metadata_names() -> None:
    outputs = (
        info("location", 0, (1, 4, 4)), info("score", 1, (1, 4)), info("category", 2, (1, 4)), info("number of detections", 3, (1,)),
    )
    assert find_ssd_outputs(outputs) == SsdOutputs(boxes=0, classes=2, scores=1, count=3)
    assert names_settle_ssd_order(outputs)


def test_tf2_order_is_settled_by_the_values() -> None:
    assert not names_settle_ssd_order(TF2)
    ssd = find_ssd_outputs(TF2)
    assert ssd is not None and (ssd.boxes, ssd.count) == (21, 22)
    decoder = SsdDecoder(ssd, LABELS, order_known=False)
    found = decoder.detections(tensors_tf2(), IDENTITY, 0.5, 100)
    assert [(d.class_id, d.label, d.score) for d in found] == [(16, "cat", 0.90625), (2, "car", 0.703125)]
    # Settled once: the decoder now reads classes and scores from the right tensors.
    assert (decoder.outputs.classes, decoder.outputs.scores) == (23, 20)
    assert decoder.detections(tensors_tf2(), IDENTITY, 0.5, 100) == found


def test_a_guess_the_first_frame_cannot_settle_is_kept_until_one_can() -> None:
    ssd = find_ssd_outputs(TF2)
    assert ssd is not None
    decoder = SsdDecoder(ssd, LABELS, order_known=False)
    nothing = {20: np.zeros((1, 4), np.float32), 21: BOXES, 22: np.zeros(1, np.float32), 23: np.zeros((1, 4), np.float32)}
    assert decoder.detections(nothing, IDENTITY, 0.5, 100) == []
    assert [d.label for d in decoder.detections(tensors_tf2(), IDENTITY, 0.5, 100)] == ["cat", "car"]


def test_threshold() -> None:
    assert [d.score for d in decode(TF1, tensors_tf1(), threshold=0.0)] == [0.90625, 0.703125, 0.40625]
    assert [d.score for d in decode(TF1, tensors_tf1(), threshold=0.703125)] == [0.90625, 0.703125]
    assert decode(TF1, tensors_tf1(), threshold=0.95) == []


def test_count_is_respected() -> None:
    tensors = tensors_tf1()
    tensors[13] = np.array([2.0], np.float32)  # the third row is stale
    assert [d.label for d in decode(TF1, tensors, threshold=0.0)] == ["cat", "person"]
    tensors[13] = np.array([0.0], np.float32)
    assert decode(TF1, tensors, threshold=0.0) == []
    tensors[13] = np.array([50.0], np.float32)  # a count beyond the rows: only the rows there are
    assert len(decode(TF1, tensors, threshold=0.0)) == 4


def test_max_results_keeps_the_best() -> None:
    assert [d.label for d in decode(TF1, tensors_tf1(), threshold=0.0, max_results=2)] == ["cat", "car"]


def test_boxes_are_transformed_and_clipped() -> None:
    # A letterboxed wide frame: the picture fills the middle half of the input's height.
    transform = Transform(0.0, -0.5, 1.0, 2.0)
    tensors = tensors_tf1()
    tensors[10] = np.array([[[0.25, 0.1, 0.75, 0.3], [0.5, 0.5, 0.625, 0.75], [0.1, -0.05, 0.9, 1.05], [0, 0, 0, 0]]], np.float32)
    found = decode(TF1, tensors, threshold=0.0, transform=transform)
    by_label = {d.label: d.box for d in found}
    assert corners(by_label["cat"]) == pytest.approx((0.1, 0.0, 0.3, 1.0))
    assert corners(by_label["person"]) == pytest.approx((0.5, 0.5, 0.75, 0.75))
    # Reaches into the bars and past the edges: clipped to the frame.
    assert corners(by_label["car"]) == (0.0, 0.0, 1.0, 1.0)


def test_unknown_class_id_is_named_by_number_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    tensors = tensors_tf1()
    tensors[11] = np.array([[77, 77, 2, 0]], np.float32)
    ssd = find_ssd_outputs(TF1)
    assert ssd is not None
    decoder = SsdDecoder(ssd, LABELS, True)
    with caplog.at_level(logging.WARNING, logger="camapp.inference.detect"):
        for _ in range(3):
            found = decoder.detections(tensors, IDENTITY, 0.0, 100)
    assert [d.label for d in found] == ["class 77", "car", "class 77"]
    assert sum("class id 77" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    "outputs",
    [
        TF1[:3],
        (*TF1[:3], info("extra", 14, (1, 4, 4))),
        (info("a", 0, (1, 4, 4)), info("b", 1, (1, 4)), info("c", 2, (1, 4, 2)), info("d", 3, (1,))),
        (info("logits", 0, (1, 1001)),),
    ],
    ids=["three-outputs", "two-box-tensors", "no-pair", "classifier"],
)
def test_not_ssd_outputs(outputs: tuple[TensorInfo, ...]) -> None:
    assert find_ssd_outputs(outputs) is None


def test_tf2_like_detector_through_the_runtime(tmp_path: Path) -> None:
    # A real model file whose four outputs come in TF2's order with TF2's names; the runtime
    # returns them as they are, and the Model must settle which holds the classes.
    path = tmp_path / "tf2_ssd.tflite"
    path.write_bytes(
        tb.constant_detector(
            [
                ("StatefulPartitionedCall:1", SCORES),
                ("StatefulPartitionedCall:3", BOXES),
                ("StatefulPartitionedCall:0", COUNT),
                ("StatefulPartitionedCall:2", CLASSES),
            ]
        )
    )
    labels = tmp_path / "coco.txt"
    labels.write_text("".join(f"{i} {name}\n" for i, name in LABELS.names.items()))
    model = Model(ModelOptions(str(path), labels=str(labels)))
    assert model.task == "detect"
    frame = Frame(np.zeros((480, 640, 3), np.uint8), 7, 0, "synthetic")
    for _ in range(2):
        results = model.run(frame)
        assert [(d.label, d.score) for d in results.detections] == [("cat", 0.90625), ("car", 0.703125)]
        assert results.to_dict()["detections"][0]["box_px"] == [128, 48, 384, 240]
