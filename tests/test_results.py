"""Results and their JSON form (what --json, the JSONL writer and the server publish)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camapp.inference.tasks.classify import MIN_SHOWN_SCORE, Classification, ClassifyResults, shown_classes
from camapp.inference.tasks.detect import Detection, DetectResults
from camapp.results import Box, Results


def classify_results() -> Results:
    return ClassifyResults(
        "cam0", 12, 123_456_789, 640, 480, 4.56789,
        classes=[Classification(653, "military uniform", 0.878906), Classification(835, "suit, suit of clothes", 0.0234375)],
    )


def detect_results() -> Results:
    return DetectResults(
        "rtsp://cam/stream", 3, 1, 640, 480, 8.8,
        detections=[
            Detection(0, "person", 0.71875, Box(0.00781, 0.05, 0.98633, 0.985)),
            Detection(31, "tie", 0.63281, Box(0.4375, 0.71, 0.5625, 0.8983)),
        ],
    )


def test_classify_to_dict() -> None:
    assert classify_results().to_dict() == {
        "source": "cam0",
        "frame": 12,
        "width": 640,
        "height": 480,
        "inference_ms": 4.568,
        "classes": [
            {"class_id": 653, "label": "military uniform", "score": 0.8789},
            {"class_id": 835, "label": "suit, suit of clothes", "score": 0.0234},
        ],
    }


def padded_results() -> Results:
    """What a 1001-class softmax gives for a clear picture: one answer, then classes at ~0."""
    return ClassifyResults(
        "parrot.jpg", 0, 0, 500, 375, 3.0,
        classes=[
            Classification(89, "macaw", 0.99609375),
            Classification(91, "lorikeet", 0.0078125),  # two quantisation steps: shown as 0.01
            Classification(90, "sulphur-crested cockatoo", 0.00390625),  # one step: shown as 0.00
            Classification(984, "scuba diver", 0.0),
        ],
    )


def test_classes_that_would_show_as_zero_are_left_out_of_the_json() -> None:
    classes = padded_results().to_dict()["classes"]
    assert [c["label"] for c in classes] == ["macaw", "lorikeet"]
    assert all(f"{c['score']:.2f}" != "0.00" for c in classes)


def test_the_full_top_k_stays_on_the_results_for_accuracy_counting() -> None:
    results = padded_results()
    assert len(results.classes) == 4  # top-5 accuracy (camapp bench) still sees every class
    assert [c.label for c in results.shown_classes] == ["macaw", "lorikeet"]


def test_the_top_class_is_shown_even_when_its_score_is_tiny() -> None:
    unsure = [Classification(1, "a", 0.002), Classification(2, "b", 0.0019)]
    assert shown_classes(unsure) == unsure[:1]
    assert shown_classes([]) == []


@pytest.mark.parametrize(("score", "shown"), [(MIN_SHOWN_SCORE, True), (0.0049, False), (0.01, True)])
def test_the_rule_is_the_half_percent_that_two_decimals_print_as_zero(score: float, shown: bool) -> None:
    top, other = Classification(1, "a", 0.9), Classification(2, "b", score)
    assert (other in shown_classes([top, other])) is shown
    assert (f"{score:.2f}" != "0.00") is shown


def test_detect_to_dict() -> None:
    assert detect_results().to_dict() == {
        "source": "rtsp://cam/stream",
        "frame": 3,
        "width": 640,
        "height": 480,
        "inference_ms": 8.8,
        "detections": [
            {"class_id": 0, "label": "person", "score": 0.7188, "box": [0.0078, 0.05, 0.9863, 0.985], "box_px": [5, 24, 631, 473]},
            {"class_id": 31, "label": "tie", "score": 0.6328, "box": [0.4375, 0.71, 0.5625, 0.8983], "box_px": [280, 341, 360, 431]},
        ],
    }


def test_empty_results() -> None:
    classify = ClassifyResults("s", 0, 0, 10, 10, 1.0).to_dict()
    detect = DetectResults("s", 0, 0, 10, 10, 1.0).to_dict()
    assert classify["classes"] == [] and "detections" not in classify
    assert detect["detections"] == [] and "classes" not in detect


def test_to_dict_is_plain_json() -> None:
    for results in (classify_results(), detect_results()):
        text = json.dumps(results.to_dict())
        assert json.loads(text) == results.to_dict()


def test_labels_shortcut() -> None:
    assert classify_results().labels == ["military uniform"]
    assert detect_results().labels == ["person", "tie"]
    assert ClassifyResults("s", 0, 0, 1, 1, 0.0).labels == []


def test_box_pixels_and_area() -> None:
    box = Box(0.25, 0.5, 0.75, 1.0)
    assert box.to_pixels(640, 480) == (160, 240, 480, 480)
    assert box.area == pytest.approx(0.25)
    assert Box(0.5, 0.5, 0.4, 0.6).area == 0.0  # inverted: no area, not a negative one


def test_box_clipped() -> None:
    assert Box(-0.1, 0.2, 1.3, 1.0).clipped() == Box(0.0, 0.2, 1.0, 1.0)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Box(0, 0, 1, 1), Box(0, 0, 1, 1), 1.0),
        (Box(0, 0, 0.5, 1), Box(0.5, 0, 1, 1), 0.0),  # touching edges
        (Box(0, 0, 0.2, 0.2), Box(0.5, 0.5, 1, 1), 0.0),
        (Box(0, 0, 1, 1), Box(0, 0, 0.5, 0.5), 0.25),  # one inside the other
        (Box(0, 0, 0.5, 1), Box(0.25, 0, 0.75, 1), 1 / 3),
        (Box(0.2, 0.2, 0.2, 0.2), Box(0.2, 0.2, 0.2, 0.2), 0.0),  # empty boxes
    ],
)
def test_box_iou(a: Box, b: Box, expected: float) -> None:
    assert a.iou(b) == pytest.approx(expected)
    assert b.iou(a) == pytest.approx(expected)


coords = st.floats(0, 1, allow_nan=False)


@given(st.tuples(coords, coords, coords, coords), st.tuples(coords, coords, coords, coords))
def test_box_iou_is_a_symmetric_ratio(p: tuple[float, ...], q: tuple[float, ...]) -> None:
    a = Box(min(p[0], p[2]), min(p[1], p[3]), max(p[0], p[2]), max(p[1], p[3]))
    b = Box(min(q[0], q[2]), min(q[1], q[3]), max(q[0], q[2]), max(q[1], q[3]))
    iou = a.iou(b)
    assert 0.0 <= iou <= 1.0 + 1e-9
    assert iou == pytest.approx(b.iou(a))
    if a.area > 0:
        assert a.iou(a) == pytest.approx(1.0)
