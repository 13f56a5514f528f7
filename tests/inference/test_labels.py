"""Label files, labels inside .tflite metadata, and the background-offset conventions."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from camapp.errors import ModelError
from camapp.inference.labels import (
    Labels,
    fit_classifier_labels,
    fit_detector_labels,
    labels_from_metadata,
    parse_labels,
    read_labels_file,
)


def test_plain_lines_are_numbered_from_zero() -> None:
    labels = parse_labels("background\ntench, Tinca tinca\ngoldfish\n\n", "plain.txt")
    assert labels.names == {0: "background", 1: "tench, Tinca tinca", 2: "goldfish"}
    assert labels.origin == "plain.txt" and labels.offset == 0
    assert labels.starts_with_background


def test_plain_lines_keep_their_positions_across_blank_lines_and_crlf() -> None:
    labels = parse_labels("person\r\n\r\ncar\r\n", "windows.txt")
    assert labels.names == {0: "person", 1: "", 2: "car"}


@pytest.mark.parametrize("text", ["0 person\n1 bicycle\n3 car\n", "0: person\n1: bicycle\n3: car\n", "0,person\n1, bicycle\n 3  car \n"])
def test_id_name_lines_use_their_ids(text: str) -> None:
    labels = parse_labels(text, "ids.txt")
    assert labels.names == {0: "person", 1: "bicycle", 3: "car"}
    assert labels.name(2) == "class 2"  # a gap in the ids


def test_id_name_keeps_the_rest_of_the_line() -> None:
    labels = parse_labels("0 background\n1 tench, Tinca tinca\n2 great white shark, white shark\n", "ids.txt")
    assert labels.name(2) == "great white shark, white shark"


def test_a_file_that_is_not_all_id_name_is_plain() -> None:
    labels = parse_labels("7 up\nfanta\n", "mixed.txt")
    assert labels.names == {0: "7 up", 1: "fanta"}
    assert parse_labels("3 person\n", "one.txt").names == {0: "3 person"}  # one line: no evidence of ids


def test_empty_labels_are_a_model_error() -> None:
    with pytest.raises(ModelError, match="'empty.txt' is empty"):
        parse_labels("\n \n", "empty.txt")


def test_read_labels_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.txt"
    path.write_bytes("\ufeffbackground\ncaf\u00e9\n".encode())
    labels = read_labels_file(str(path))
    assert labels.names == {0: "background", 1: "caf\u00e9"}
    assert labels.origin == str(path)
    with pytest.raises(ModelError, match="does not exist"):
        read_labels_file(str(tmp_path / "missing.txt"))
    with pytest.raises(ModelError, match="does not exist"):
        read_labels_file(str(tmp_path))  # a folder


def _tflite_with_zip(files: dict[str, str]) -> bytes:
    """A .tflite with metadata is a flatbuffer with a zip of its associated files appended."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return b"\x1c\x00\x00\x00TFL3" + bytes(200) + archive.getvalue()


def test_labels_from_metadata_prefer_a_labels_file() -> None:
    content = _tflite_with_zip({"readme.txt": "not labels", "labelmap.txt": "???\nperson\n"})
    labels = labels_from_metadata(content, "model.tflite")
    assert labels is not None
    assert labels.names == {0: "???", 1: "person"}
    assert labels.origin == "model.tflite:labelmap.txt"


def test_labels_from_metadata_of_the_shared_model(models_dir: Path) -> None:
    labels = labels_from_metadata((models_dir / "mobilenet_v2_1.0_224_quant.tflite").read_bytes(), "v2")
    assert labels is not None and len(labels) == 1001
    assert labels.name(653) == "military uniform"


@pytest.mark.parametrize(
    "content",
    [b"\x1c\x00\x00\x00TFL3" + bytes(300), _tflite_with_zip({"vocab.json": "{}"}), _tflite_with_zip({"labels.txt": "x"})[:-30]],
    ids=["no-zip", "no-text-file", "damaged-zip"],
)
def test_no_usable_metadata_labels(content: bytes) -> None:
    assert labels_from_metadata(content, "model.tflite") is None


def _labels(names: list[str]) -> Labels:
    return Labels(dict(enumerate(names)), 0, "labels.txt")


def test_classifier_labels_that_match() -> None:
    fitted = fit_classifier_labels(_labels(["background", "a", "b"]), 3)
    assert [fitted.name(i) for i in range(3)] == ["background", "a", "b"]


def test_classifier_labels_without_background_line() -> None:
    fitted = fit_classifier_labels(_labels(["a", "b"]), 3)
    assert [fitted.name(i) for i in range(3)] == ["background", "a", "b"]


def test_classifier_labels_with_a_background_line_the_model_lacks() -> None:
    fitted = fit_classifier_labels(_labels(["background", "a", "b"]), 2)
    assert [fitted.name(i) for i in range(2)] == ["a", "b"]


@pytest.mark.parametrize(("count", "classes"), [(10, 1001), (1003, 1001), (1002, 1001)])
def test_classifier_labels_that_cannot_belong(count: int, classes: int) -> None:
    with pytest.raises(ModelError) as err:
        fit_classifier_labels(_labels([f"n{i}" for i in range(count)]), classes)
    assert f"has {count} labels" in str(err.value) and f"{classes} classes" in str(err.value)
    assert "labels.txt" in str(err.value)


def test_classifier_labels_with_explicit_ids_count_by_the_largest_id() -> None:
    labels = parse_labels("0 background\n1 a\n4 d\n", "ids.txt")
    fitted = fit_classifier_labels(labels, 5)
    assert (fitted.name(1), fitted.name(2), fitted.name(4)) == ("a", "class 2", "d")


def test_detector_labels_without_background() -> None:
    fitted = fit_detector_labels(_labels(["person", "bicycle"]))
    assert (fitted.offset, fitted.name(0), fitted.name(1)) == (0, "person", "bicycle")


@pytest.mark.parametrize("first", ["???", "background", "__background__", "Background "])
def test_detector_labels_skip_a_background_first_line(first: str) -> None:
    fitted = fit_detector_labels(_labels([first, "person", "bicycle"]))
    assert (fitted.offset, fitted.name(0), fitted.name(1)) == (1, "person", "bicycle")
    assert fitted.name(2) == "class 2"


def test_detector_labels_with_one_based_ids() -> None:
    fitted = fit_detector_labels(parse_labels("1 person\n2 bicycle\n", "label_map.txt"))
    assert (fitted.name(0), fitted.name(1)) == ("person", "bicycle")


def test_detector_labels_with_the_shared_files(models_dir: Path) -> None:
    plain = fit_detector_labels(read_labels_file(str(models_dir / "coco_labels.txt")))
    labelmap = fit_detector_labels(read_labels_file(str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_labelmap.txt")))
    assert (plain.offset, labelmap.offset) == (0, 1)
    for class_id in (0, 1, 16, 46, 48, 66, 89):
        assert plain.name(class_id) == labelmap.name(class_id)
    assert [plain.name(i) for i in (0, 16, 46, 48, 66)] == ["person", "cat", "cup", "knife", "dining table"]
