"""Unusable models and labels: each is a ModelError with a one-line message naming the file,
never a traceback from inside the runtime and never a crash of the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from camapp.errors import EXIT_USAGE, ModelError
from camapp.inference.flatbuffer import check_tflite
from camapp.inference.model import Model, ModelOptions, inspect_model, read_model_file

from . import tflite_builder as tb
from .conftest import CLASSIFIERS, DETECTOR

REPO = Path(__file__).resolve().parents[2]
V2 = "mobilenet_v2_1.0_224_quant.tflite"
V3 = "v3-small_224_1.0_uint8.tflite"


def load_error(path: Path | str, **options: Any) -> str:
    """The message of the ModelError that loading `path` raises; checks it is one line."""
    with pytest.raises(ModelError) as err:
        Model(ModelOptions(str(path), **options))
    text = str(err.value)
    assert "\n" not in text and "\r" not in text, text
    assert err.value.exit_code == EXIT_USAGE
    return text


# --- the model file --------------------------------------------------------------------------


def test_missing_model(tmp_path: Path) -> None:
    path = tmp_path / "nope.tflite"
    message = load_error(path)
    assert str(path) in message and "does not exist" in message


def test_folder_instead_of_model(tmp_path: Path) -> None:
    message = load_error(tmp_path)
    assert str(tmp_path) in message and "folder" in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tflite"
    path.write_bytes(b"")
    assert str(path) in load_error(path)


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(1).bytes(5000),
        b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n",
        b"PK\x03\x04" + bytes(200),  # a .zip (the download archive, not the model inside)
    ],
    ids=["random", "html", "zip"],
)
def test_not_a_tflite_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    message = load_error(path)
    assert str(path) in message and "TFL3" in message


def read_error(path: Path) -> str:
    """The ModelError of read_model_file alone: files that get past the TFL3 header are only ever
    handed to a runtime in a child process (below), so a regression cannot kill the test run."""
    with pytest.raises(ModelError) as err:
        read_model_file(str(path))
    text = str(err.value)
    assert "\n" not in text and str(path) in text
    return text


def test_random_bytes_behind_a_tflite_header(tmp_path: Path) -> None:
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x10\x00\x00\x00TFL3" + np.random.default_rng(2).bytes(5000))
    assert "not a valid TFLite model" in read_error(path)


def test_truncated_model(tmp_path: Path, models_dir: Path) -> None:
    path = tmp_path / "truncated.tflite"
    path.write_bytes((models_dir / V2).read_bytes()[:1000])  # the TFL3 header survives
    assert "damaged or truncated" in read_error(path)


# Run in a child process: if a runtime crashed on a damaged file (tflite_runtime 2.14 segfaults
# on them unless read_model_file catches them first), the suite must report a failure, not die.
_LOAD_ALL = """
import json, sys
from camapp.errors import ModelError
from camapp.inference.model import Model, ModelOptions
out = []
for path in sys.argv[1:]:
    try:
        Model(ModelOptions(path))
        out.append([path, "loaded", ""])
    except ModelError as exc:
        out.append([path, "ModelError", str(exc)])
    except Exception as exc:
        out.append([path, type(exc).__name__, str(exc)])
print(json.dumps(out))
"""


def test_truncated_and_damaged_models_do_not_crash(tmp_path: Path, models_dir: Path) -> None:
    paths = []
    for name in (V2, V3, DETECTOR):
        content = (models_dir / name).read_bytes()
        for cut in (8, 100, 1000, 65536, len(content) // 2, len(content) - 30000):
            path = tmp_path / f"{name}.{cut}"
            path.write_bytes(content[:cut])
            paths.append(str(path))
    root_out = tmp_path / "root-offset.tflite"  # a root table beyond the end of the file
    root_out.write_bytes(b"\xff\xff\x00\x00TFL3" + bytes(100))
    noise = tmp_path / "noise.tflite"
    noise.write_bytes(b"\x10\x00\x00\x00TFL3" + np.random.default_rng(2).bytes(5000))
    paths += [str(root_out), str(noise)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _LOAD_ALL, *paths], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"the child process died (code {proc.returncode}): {proc.stderr[-2000:]}"
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == len(paths)
    for path, kind, message in results:
        assert kind == "ModelError", (path, kind, message)
        assert path in message and "\n" not in message


@pytest.mark.parametrize("name", [*CLASSIFIERS, DETECTOR])
def test_bounds_check_accepts_every_shared_model(models_dir: Path, name: str) -> None:
    assert check_tflite((models_dir / name).read_bytes()) is None


def test_bounds_check_accepts_the_built_models() -> None:
    for content in (tb.image_to_image_model(), tb.reshape_classifier(2, 2, tb.FLOAT32)):
        assert check_tflite(content) is None


def test_bounds_check_reports_what_lies_outside(models_dir: Path) -> None:
    content = (models_dir / V2).read_bytes()
    problem = check_tflite(content[:1000])
    assert problem is not None and "Model.operator_codes" in problem and "1000 bytes" in problem
    # A file cut inside the weights: the model table is intact, a buffer's data is not.
    content = tb.reshape_classifier(2, 2, tb.FLOAT32)
    assert check_tflite(content[:-12]) is not None


def test_read_model_file_returns_the_bytes(models_dir: Path) -> None:
    assert read_model_file(str(models_dir / V3)) == (models_dir / V3).read_bytes()


# --- valid models camapp cannot run ----------------------------------------------------------


def test_model_that_is_neither_classifier_nor_detector(tmp_path: Path) -> None:
    path = tmp_path / "segmenter.tflite"
    path.write_bytes(tb.image_to_image_model())
    message = load_error(path)
    assert str(path) in message and "neither an image classifier nor an SSD detector" in message
    assert "[1, 8, 8, 3]" in message  # the outputs it found
    assert "cannot run with task 'classify'" in load_error(path, task="classify")
    assert "cannot run with task 'detect'" in load_error(path, task="detect")


def test_task_detect_on_a_classifier(models_dir: Path) -> None:
    path = models_dir / V3
    message = load_error(path, task="detect")
    assert str(path) in message and "detect" in message


def test_task_classify_on_the_detector(models_dir: Path) -> None:
    path = models_dir / DETECTOR
    assert str(path) in load_error(path, task="classify")


class FakeInterpreter:
    """Tensor details in the form both runtimes return them."""

    def __init__(self, inputs: list[tuple[str, list[int], Any]], outputs: list[tuple[str, list[int], Any]]) -> None:
        def details(specs: list[tuple[str, list[int], Any]], first: int) -> list[dict[str, Any]]:
            return [
                {"name": n, "index": first + i, "shape": np.array(s, np.int32), "dtype": d, "quantization": (0.0, 0)}
                for i, (n, s, d) in enumerate(specs)
            ]

        self.inputs = details(inputs, 0)
        self.outputs = details(outputs, len(inputs))

    def get_input_details(self) -> list[dict[str, Any]]:
        return self.inputs

    def get_output_details(self) -> list[dict[str, Any]]:
        return self.outputs


IMAGE = ("image", [1, 257, 257, 3], np.float32)


@pytest.mark.parametrize(
    ("inputs", "outputs", "expected"),
    [
        ([IMAGE], [("SemanticPredictions", [1, 257, 257, 21], np.float32)], "neither an image classifier nor an SSD detector"),
        ([IMAGE], [("heatmaps", [1, 9, 9, 17], np.float32), ("offsets", [1, 9, 9, 34], np.float32)], "neither"),
        ([IMAGE, ("mask", [1, 257, 257, 1], np.float32)], [("logits", [1, 10], np.float32)], "does not take one image"),
        ([("audio", [1, 15600], np.float32)], [("logits", [1, 521], np.float32)], "does not take one image"),
        ([("gray", [1, 28, 28, 1], np.float32)], [("logits", [1, 10], np.float32)], "does not take one image"),
        ([("image", [1, 224, 224, 3], np.int16)], [("logits", [1, 10], np.float32)], "int16 input"),
    ],
    ids=["segmentation", "pose", "two-inputs", "audio", "grayscale", "int16"],
)
def test_inspect_model_refuses_other_models(inputs: Any, outputs: Any, expected: str) -> None:
    with pytest.raises(ModelError) as err:
        inspect_model("other.tflite", FakeInterpreter(inputs, outputs))
    assert expected in str(err.value) and "other.tflite" in str(err.value) and "\n" not in str(err.value)


def test_inspect_model_recognises_slim_and_tf2_layouts() -> None:
    slim = FakeInterpreter([IMAGE], [("MobilenetV1/Predictions/Reshape_1", [1, 1, 1, 1001], np.float32)])
    assert inspect_model("slim.tflite", slim).task == "classify"
    tf2 = FakeInterpreter(
        [IMAGE],
        [
            ("StatefulPartitionedCall:1", [1, 10], np.float32),
            ("StatefulPartitionedCall:3", [1, 10, 4], np.float32),
            ("StatefulPartitionedCall:0", [1], np.float32),
            ("StatefulPartitionedCall:2", [1, 10], np.float32),
        ],
    )
    assert inspect_model("tf2.tflite", tf2).task == "detect"


# --- labels for a model ----------------------------------------------------------------------


def test_labels_with_the_wrong_count(tmp_path: Path, models_dir: Path) -> None:
    labels = tmp_path / "ten.txt"
    labels.write_text("\n".join(f"thing {i}" for i in range(10)) + "\n")
    message = load_error(models_dir / V3, labels=str(labels))
    assert str(labels) in message and "10" in message and "1001" in message


def test_missing_labels_file(tmp_path: Path, models_dir: Path) -> None:
    labels = tmp_path / "missing.txt"
    message = load_error(models_dir / V3, labels=str(labels))
    assert str(labels) in message and "does not exist" in message


@pytest.mark.parametrize(("content", "expected"), [(b"\n\n  \n", "empty"), (b"\xff\xfe\x00l\x00a\x00b\x00e\x00l", "UTF-8")])
def test_unusable_labels_file(tmp_path: Path, models_dir: Path, content: bytes, expected: str) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_bytes(content)
    message = load_error(models_dir / V3, labels=str(labels))
    assert str(labels) in message and expected in message


def test_classifier_labels_for_the_detector(models_dir: Path) -> None:
    message = load_error(models_dir / DETECTOR, labels=str(models_dir / "imagenet_labels.txt"))
    assert "imagenet_labels.txt" in message and "1001" in message


def _imagenet(models_dir: Path) -> list[str]:
    return (models_dir / "imagenet_labels.txt").read_text().splitlines()


def _top(model: Model, frame: Any) -> tuple[int, str]:
    top = model.run(frame).classes[0]
    return top.class_id, top.label


def test_id_name_labels(tmp_path: Path, models_dir: Path, frame: Any) -> None:
    labels = tmp_path / "ids.txt"
    labels.write_text("".join(f"{i} {name}\n" for i, name in enumerate(_imagenet(models_dir))))
    model = Model(ModelOptions(str(models_dir / V3), labels=str(labels)))
    assert _top(model, frame("grace_hopper.bmp")) == (653, "military uniform")


def test_labels_without_background_for_a_1001_class_model(tmp_path: Path, models_dir: Path, frame: Any) -> None:
    labels = tmp_path / "imagenet_1000.txt"
    labels.write_text("\n".join(_imagenet(models_dir)[1:]) + "\n")
    model = Model(ModelOptions(str(models_dir / V3), labels=str(labels)))
    assert _top(model, frame("grace_hopper.bmp")) == (653, "military uniform")
    assert model.labels.name(0) == "background"


def test_labels_file_with_a_byte_order_mark(tmp_path: Path, models_dir: Path, frame: Any) -> None:
    labels = tmp_path / "bom.txt"
    labels.write_bytes(("\n".join(_imagenet(models_dir)) + "\n").encode("utf-8-sig"))
    model = Model(ModelOptions(str(models_dir / V3), labels=str(labels)))
    assert model.labels.offset == 0 and model.labels.name(0) == "background"
    assert _top(model, frame("grace_hopper.bmp")) == (653, "military uniform")


def test_one_based_label_map_for_the_detector(tmp_path: Path, models_dir: Path, frame: Any) -> None:
    # The TF Object Detection API numbers COCO from 1 (1 person); the SSD op reports person as 0.
    names = (models_dir / "coco_labels.txt").read_text().splitlines()
    labels = tmp_path / "mscoco_label_map.txt"
    labels.write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(names)))
    model = Model(ModelOptions(str(models_dir / DETECTOR), labels=str(labels)))
    assert model.run(frame("cat.bmp")).detections[0].label == "cat"
    assert model.run(frame("grace_hopper.bmp")).detections[0].label == "person"
