"""Golden results of the real pretrained models on the real test images.

The expected answers come from /work/shared/models/MODELS.md and images/IMAGES.md (the published
results of these exact files). They must hold under both runtimes: run this file with the
ai-edge-litert venv and with the tflite-runtime 2.14 / numpy<2 venv.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from camapp.errors import ModelError
from camapp.frames import Frame
from camapp.inference import runtime
from camapp.inference.model import Model
from camapp.inference.tasks.detect import Detection
from camapp.results import Box

from .conftest import CLASSIFIERS, DETECTOR, DETECTOR_LABELMAP

IMAGENET = "imagenet_labels.txt"
MILITARY_UNIFORM = 653  # line of imagenet_labels.txt (0 = background)
V2_FILES = ("mobilenet_v2_1.0_224_quant.tflite", "mobilenet_v2_1.0_224_quantized_1_default_1.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite")
UNIFORM_FILES = ("mobilenet_v1_0.75_192_quant.tflite", "v3-small_224_1.0_uint8.tflite", *V2_FILES)
LOGITS_MODEL = "mobilenet_v2_1.0_224_quantized_1_default_1.tflite"

LoadModel = Callable[..., Model]
MakeFrame = Callable[[str], Frame]


# --- classifiers -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNIFORM_FILES)
def test_grace_hopper_is_a_military_uniform(load_model: LoadModel, frame: MakeFrame, name: str) -> None:
    model = load_model(name, IMAGENET)
    assert model.task == "classify"
    top = model.run(frame("grace_hopper.bmp")).classes[0]
    assert (top.class_id, top.label) == (MILITARY_UNIFORM, "military uniform")


@pytest.mark.parametrize("name", V2_FILES)
def test_cat_is_an_egyptian_cat_for_mobilenet_v2(load_model: LoadModel, frame: MakeFrame, name: str) -> None:
    top = load_model(name, IMAGENET).run(frame("cat.bmp")).classes[0]
    assert top.label == "Egyptian cat"
    assert top.score > 0.5


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_parrot_is_a_macaw_for_every_classifier(load_model: LoadModel, frame: MakeFrame, name: str) -> None:
    results = load_model(name, IMAGENET).run(frame("parrot.jpg"))
    assert results.classes[0].label == "macaw"
    assert results.labels == ["macaw"]
    assert len(results.classes) == 5  # the default top_k
    scores = [c.score for c in results.classes]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_results_describe_the_frame(load_model: LoadModel, frame: MakeFrame, name: str) -> None:
    f = frame("bird.bmp")
    f.index, f.source_id = 41, "still:bird.bmp"
    results = load_model(name, IMAGENET).run(f)
    assert (results.task, results.frame_index, results.source_id) == ("classify", 41, "still:bird.bmp")
    assert (results.width, results.height) == (512, 343)
    assert results.inference_ms > 0
    assert "detections" not in results.to_dict()  # a classifier's results carry classes only


def test_logits_model_gets_a_softmax(load_model: LoadModel, frame: MakeFrame) -> None:
    model = load_model(LOGITS_MODEL, IMAGENET, top_k=1001)
    results = model.run(frame("grace_hopper.bmp"))
    scores = np.array([c.score for c in results.classes])
    assert len(scores) == 1001
    assert scores.sum() == pytest.approx(1.0, abs=1e-3)
    assert np.all(scores >= 0)
    assert 0 < results.classes[0].score < 1
    assert results.classes[0].label == "military uniform"
    # The raw output is a logit of about 12.3 (MODELS.md): a probability it is not.
    raw = model.interpreter.get_tensor(model.info.outputs[0].index).reshape(-1)
    assert (int(raw[MILITARY_UNIFORM]) - 58) * 0.0988925 > 5


def test_softmax_model_is_not_softmaxed_again(load_model: LoadModel, frame: MakeFrame) -> None:
    # A quantised softmax output comes in steps of 1/256; a second softmax would squash the top
    # score of 0.9 towards 1/1001 and break the steps.
    results = load_model("mobilenet_v2_1.0_224_quant.tflite", IMAGENET, top_k=1001).run(frame("grace_hopper.bmp"))
    scores = np.array([c.score for c in results.classes])
    assert scores.sum() == pytest.approx(1.0, abs=0.05)
    assert results.classes[0].score > 0.8
    assert np.allclose(scores * 256, np.round(scores * 256), atol=1e-3)


def test_labels_from_tflite_metadata(load_model: LoadModel, frame: MakeFrame) -> None:
    model = load_model("mobilenet_v2_1.0_224_quant.tflite")  # no labels file: the zip inside the .tflite
    assert model.labels.origin.endswith("imagenet_labels.txt")
    top = model.run(frame("grace_hopper.bmp")).classes[0]
    assert (top.class_id, top.label) == (MILITARY_UNIFORM, "military uniform")


def test_model_without_labels_names_classes_by_number(load_model: LoadModel, frame: MakeFrame) -> None:
    top = load_model("v3-small_224_1.0_uint8.tflite").run(frame("grace_hopper.bmp")).classes[0]
    assert (top.class_id, top.label) == (MILITARY_UNIFORM, f"class {MILITARY_UNIFORM}")


def test_model_info_reads_the_input_from_the_file(load_model: LoadModel) -> None:
    info = load_model("mobilenet_v1_0.75_192_quant.tflite", IMAGENET).info
    assert (info.input_width, info.input_height) == (192, 192)
    assert info.input.dtype == np.uint8
    assert info.input.scale == pytest.approx(0.0078125)
    assert info.input.zero_point == 128
    assert info.outputs[0].shape == (1, 1001)


# --- detector --------------------------------------------------------------------------------

# table.jpg, from the TF example's table_results.txt (IMAGES.md): label, score, x0 y0 x1 y1 in
# 640x480 pixels.
TABLE_RESULTS = [
    ("dining table", 0.488, (27.5, 97.9, 623.1, 444.9)),
    ("knife", 0.477, (342.5, 243.7, 583.9, 416.3)),
    ("cup", 0.4375, (68.0, 197.6, 202.0, 374.2)),
]


def _covered(found: Box, published: tuple[float, float, float, float], width: int, height: int) -> float:
    """Share of the published box's area that the found box covers."""
    x0, y0, x1, y1 = published
    ix = max(0.0, min(found.x1 * width, x1) - max(found.x0 * width, x0))
    iy = max(0.0, min(found.y1 * height, y1) - max(found.y0 * height, y0))
    return ix * iy / ((x1 - x0) * (y1 - y0))


@pytest.mark.parametrize(("label", "score", "box"), TABLE_RESULTS, ids=[r[0] for r in TABLE_RESULTS])
def test_detector_reproduces_the_official_table_result(
    load_model: LoadModel, frame: MakeFrame, label: str, score: float, box: tuple[float, float, float, float]
) -> None:
    results = load_model(DETECTOR, "coco_labels.txt", threshold=0.3).run(frame("table.jpg"))
    assert (results.width, results.height) == (640, 480)
    matches = [
        d for d in results.detections
        if d.label == label and abs(d.score - score) <= 0.03 and _covered(d.box, box, 640, 480) > 0.9
    ]
    found = [(d.label, round(d.score, 3), d.box.to_pixels(640, 480)) for d in results.detections]
    assert matches, f"no {label} {score} at {box}; found {found}"


def test_detector_threshold_filters(load_model: LoadModel, frame: MakeFrame) -> None:
    low = load_model(DETECTOR, "coco_labels.txt", threshold=0.3).run(frame("table.jpg")).detections
    high = load_model(DETECTOR, "coco_labels.txt", threshold=0.45).run(frame("table.jpg")).detections
    assert all(d.score >= 0.3 for d in low)
    assert [d for d in low if d.score >= 0.45] == high
    assert len(high) < len(low)
    assert [d.score for d in low] == sorted((d.score for d in low), reverse=True)


@pytest.mark.parametrize(
    ("image", "expected"),
    [("cat.bmp", {"cat"}), ("grace_hopper.bmp", {"person"}), ("kite_and_cold.jpg", {"person", "kite"}), ("pets.jpg", {"dog"})],
)
def test_detector_finds_the_objects(load_model: LoadModel, frame: MakeFrame, image: str, expected: set[str]) -> None:
    results = load_model(DETECTOR, "coco_labels.txt").run(frame(image))
    assert results.task == "detect"
    assert expected <= set(results.labels)
    assert results.detections[0].label in expected
    for d in results.detections:
        assert d.score >= 0.5  # the default threshold
        assert 0 <= d.box.x0 < d.box.x1 <= 1 and 0 <= d.box.y0 < d.box.y1 <= 1


def test_grace_hopper_person_box_covers_her(load_model: LoadModel, frame: MakeFrame) -> None:
    person = load_model(DETECTOR, "coco_labels.txt").run(frame("grace_hopper.bmp")).detections[0]
    assert person.label == "person"
    # She fills the portrait (512x600): the box spans most of the width and height.
    assert person.box.x1 - person.box.x0 > 0.8 and person.box.y1 - person.box.y0 > 0.8


@pytest.mark.parametrize("image", ["table.jpg", "kite_and_cold.jpg", "grace_hopper.bmp", "cat.bmp"])
def test_both_coco_label_files_give_the_same_labels(load_model: LoadModel, frame: MakeFrame, image: str) -> None:
    # coco_labels.txt has no background line (offset 0); the labelmap starts with ??? (offset 1).
    plain = load_model(DETECTOR, "coco_labels.txt", threshold=0.3)
    labelmap = load_model(DETECTOR, DETECTOR_LABELMAP, threshold=0.3)
    assert (plain.labels.offset, labelmap.labels.offset) == (0, 1)
    a, b = plain.run(frame(image)).detections, labelmap.run(frame(image)).detections
    assert a == b
    assert a and all(d.label not in ("???", "n/a") and not d.label.startswith("class ") for d in a)


def test_detector_labels_every_class_id_alike(load_model: LoadModel) -> None:
    plain = load_model(DETECTOR, "coco_labels.txt", threshold=0.3).labels
    labelmap = load_model(DETECTOR, DETECTOR_LABELMAP, threshold=0.3).labels
    names = [plain.name(i) for i in range(90)]
    assert names[0] == "person" and names[89] == "toothbrush"
    assert [labelmap.name(i) for i in range(90)] == [n if n != "n/a" else "???" for n in names]


def _best_match(box: Box, detections: list[Detection], label: str) -> float:
    return max((box.iou(d.box) for d in detections if d.label == label), default=0.0)


@pytest.mark.parametrize("resize", ["letterbox", "crop"])
def test_letterbox_and_crop_boxes_land_on_the_same_objects(load_model: LoadModel, frame: MakeFrame, resize: str) -> None:
    # The transform must map boxes from the model's input back to the frame: the two dogs are
    # found where the plain stretch finds them, whatever the fitting.
    stretch = load_model(DETECTOR, "coco_labels.txt").run(frame("pets.jpg")).detections
    fitted = load_model(DETECTOR, "coco_labels.txt", resize=resize).run(frame("pets.jpg")).detections
    dogs = [d for d in stretch if d.label == "dog"]
    assert len(dogs) == 2
    for dog in dogs:
        assert _best_match(dog.box, fitted, "dog") > 0.7


def test_lores_image_is_used_for_inference(load_model: LoadModel, frame: MakeFrame) -> None:
    # A camera's low-resolution stream carries the same view: inference runs on it, boxes stay
    # normalised and box_px scales them to the main image. The main image is left blank here,
    # so only the lores image can show the dogs.
    pets = frame("pets.jpg")
    f = Frame(np.zeros((860, 1024, 3), np.uint8), 5, 0, "picam", lores=cv2.resize(pets.image, (256, 215), interpolation=cv2.INTER_AREA))
    results = load_model(DETECTOR, "coco_labels.txt").run(f)
    assert (results.width, results.height) == (1024, 860)
    assert [d.label for d in results.detections] == ["dog", "dog"]
    for d in load_model(DETECTOR, "coco_labels.txt").run(pets).detections:
        assert _best_match(d.box, results.detections, "dog") > 0.8
    box = results.detections[0].box
    expected_px = [round(box.x0 * 1024), round(box.y0 * 860), round(box.x1 * 1024), round(box.y1 * 860)]
    assert results.to_dict()["detections"][0]["box_px"] == expected_px


# --- runtime ---------------------------------------------------------------------------------


@pytest.fixture
def fresh_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """interpreter_class() is cached for the process: clear it around a test that changes it."""
    monkeypatch.delenv("CAMAPP_RUNTIME", raising=False)
    runtime.interpreter_class.cache_clear()
    yield
    runtime.interpreter_class.cache_clear()


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def test_interpreter_class_is_the_installed_runtime(fresh_runtime: None) -> None:
    expected = "ai_edge_litert" if _installed("ai_edge_litert") else "tflite_runtime"
    name, interpreter_cls = runtime.interpreter_class()
    assert name == expected
    assert interpreter_cls.__module__.startswith(expected)
    assert runtime.runtime_version().startswith(expected)


def test_model_reports_its_runtime(load_model: LoadModel) -> None:
    assert load_model("mobilenet_v1_0.25_128_quant.tflite", IMAGENET).runtime_name in runtime.RUNTIMES


@pytest.mark.parametrize("name", runtime.RUNTIMES)
def test_camapp_runtime_forces_a_runtime(fresh_runtime: None, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("CAMAPP_RUNTIME", name)
    if _installed(name):
        assert runtime.interpreter_class()[0] == name
    else:
        with pytest.raises(ModelError) as err:
            runtime.interpreter_class()
        assert name in str(err.value) and "\n" not in str(err.value)


def test_unknown_camapp_runtime_is_a_model_error(fresh_runtime: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMAPP_RUNTIME", "tensorflow")
    with pytest.raises(ModelError, match="CAMAPP_RUNTIME=tensorflow"):
        runtime.interpreter_class()


# --- the pipeline's split: prepare() on one thread, infer() on another ------------------------


@pytest.mark.parametrize(("name", "labels", "image"), [("v3-small_224_1.0_uint8.tflite", IMAGENET, "grace_hopper.bmp"),
                                                       (DETECTOR, "coco_labels.txt", "kite_and_cold.jpg")])
def test_prepare_then_infer_equals_run(load_model: LoadModel, frame: MakeFrame, name: str, labels: str, image: str) -> None:
    model = load_model(name, labels)
    f = frame(image)
    buffer = model.new_input()
    assert buffer.shape == model.info.input.shape and buffer.dtype == model.info.input.dtype
    split = model.infer(f, buffer, model.prepare(f, buffer))
    whole = model.run(f)
    assert split.payload() == whole.payload()
    assert split.scored_labels(), "the image has something to find"
