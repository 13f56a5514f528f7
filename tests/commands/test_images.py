"""camapp classify / camapp detect: one JSON line per image, in the documented shape."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from tests.commands.conftest import assert_one_line_error, run_camapp


def test_classify_prints_the_documented_json_per_image(images_dir, models_dir):
    result = run_camapp(
        "classify", str(images_dir / "grace_hopper.bmp"), str(images_dir / "parrot.jpg"),
        "--model", str(models_dir / "mobilenet_v2_1.0_224_quant.tflite"),
        "--labels", str(models_dir / "imagenet_labels.txt"), "--top-k", "3",
    )
    assert result.code == 0, result.stderr
    first, second = result.json_lines
    assert set(first) == {"source", "width", "height", "inference_ms", "classes"}
    assert (first["width"], first["height"]) == (512, 600)
    assert first["classes"][0]["label"] == "military uniform"
    assert set(first["classes"][0]) == {"class_id", "label", "score"}
    assert len(first["classes"]) == 3
    assert second["classes"][0]["label"].startswith("macaw")


def test_detect_prints_boxes_normalised_and_in_pixels(images_dir):
    result = run_camapp("detect", str(images_dir / "cat.bmp"), "--model", "ssd_mobilenet_v1_coco_quant", "--threshold", "0.6")
    assert result.code == 0, result.stderr
    (line,) = result.json_lines
    assert set(line) == {"source", "width", "height", "inference_ms", "detections"}
    (cat,) = [d for d in line["detections"] if d["label"] == "cat"]
    assert set(cat) == {"class_id", "label", "score", "box", "box_px"}
    x0, y0, x1, y1 = cat["box"]
    assert cat["box_px"] == [round(x0 * 512), round(y0 * 341), round(x1 * 512), round(y1 * 341)]


def test_detect_on_a_folder_with_a_broken_image_reports_it_and_goes_on(images_dir, tmp_path):
    folder = tmp_path / "shelf"
    folder.mkdir()
    for name in ("cat.bmp", "pets.jpg"):
        (folder / name).symlink_to(images_dir / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = run_camapp("detect", str(folder), "--model", "ssd_mobilenet_v1_coco_quant", "--save", str(tmp_path / "annotated"))
    assert_one_line_error(result, 2, "broken.jpg")
    assert [line["source"].rsplit("/", 1)[1] for line in result.json_lines] == ["cat.bmp", "pets.jpg"]
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == ["cat.jpg", "pets.jpg"]


def test_detect_with_a_classifier_model_is_a_usage_error(images_dir):
    result = run_camapp("detect", str(images_dir / "cat.bmp"), "--model", "mobilenet_v2_1.0_224_quant")
    assert_one_line_error(result, 2, "detect")


def test_classify_accepts_a_model_copied_anywhere(images_dir, models_dir, tmp_path):
    model = tmp_path / "my model.tflite"
    shutil.copy(models_dir / "mobilenet_v1_0.75_192_quant.tflite", model)
    labels = str(models_dir / "imagenet_labels.txt")
    result = run_camapp("classify", str(images_dir / "grace_hopper.bmp"), "--model", str(model), "--labels", labels)
    assert result.code == 0, result.stderr
    assert result.json_lines[0]["classes"][0]["label"] == "military uniform"


def test_classify_leaves_out_classes_that_would_read_zero(images_dir, models_dir):
    result = run_camapp(
        "classify", str(images_dir / "parrot.jpg"), "--model", str(models_dir / "mobilenet_v1_0.75_192_quant.tflite"), "--top-k", "5",
    )
    assert result.code == 0, result.stderr
    classes = result.json_lines[0]["classes"]
    assert classes[0]["label"] == "macaw"
    assert 1 <= len(classes) < 5  # macaw is 1.00: the rest of the top-5 was padding
    assert all(c["score"] >= 0.005 for c in classes)


@pytest.mark.slow
def test_a_model_file_the_manifest_knows_gets_its_labels_without_labels_flag(images_dir, models_dir):
    # The detector has no labels inside; it is the manifest's ssd_mobilenet_v1_coco_quant byte for byte.
    detect = run_camapp(
        "detect", str(images_dir / "cat.bmp"), "--model", str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"),
    )
    assert detect.code == 0, detect.stderr
    assert [d["label"] for d in detect.json_lines[0]["detections"]] == ["cat"]
    assert "no embedded labels" not in detect.stderr
    classify = run_camapp("classify", str(images_dir / "grace_hopper.bmp"), "--model", str(models_dir / "v3-small_224_1.0_uint8.tflite"))
    assert classify.code == 0, classify.stderr
    assert classify.json_lines[0]["classes"][0]["label"] == "military uniform"


def test_a_sidecar_beside_a_known_model_file_still_wins_over_the_manifest(images_dir, models_dir, tmp_path):
    model = tmp_path / "shelf.tflite"
    shutil.copy(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite", model)
    names = (models_dir / "coco_labels.txt").read_text().splitlines()
    (tmp_path / "shelf_labels.txt").write_text("\n".join(f"shelf {n}" for n in names) + "\n")
    (tmp_path / "shelf.yaml").write_text("labels: shelf_labels.txt\n")
    result = run_camapp("detect", str(images_dir / "cat.bmp"), "--model", str(model))
    assert result.code == 0, result.stderr
    assert [d["label"] for d in result.json_lines[0]["detections"]] == ["shelf cat"]


@pytest.mark.slow
def test_classify_save_and_run_save_draw_the_same_classes(images_dir, models_dir, tmp_path):
    image = str(images_dir / "cat.bmp")  # an unsure answer: several classes worth drawing
    model = str(models_dir / "mobilenet_v1_0.25_128_quant.tflite")
    config = tmp_path / "no-hud.yaml"
    config.write_text("output:\n  hud: false\n")  # the HUD is run's alone; the classes are what must match
    classify = run_camapp("classify", image, "--model", model, "--top-k", "5", "--save", str(tmp_path / "classify"))
    run = run_camapp(
        "run", "--config", str(config), "--source", image, "--model", model, "--top-k", "5", "--save", str(tmp_path / "run"),
        "--output", "-",
    )
    assert classify.code == 0, classify.stderr
    assert run.code == 0, run.stderr
    assert len(classify.json_lines[0]["classes"]) > 3  # more classes than the overlay draws
    drawn_by_classify = cv2.imread(str(tmp_path / "classify" / "cat.jpg"))
    drawn_by_run = cv2.imread(str(tmp_path / "run" / "cat.jpg"))
    assert drawn_by_classify is not None and drawn_by_run is not None
    assert np.array_equal(drawn_by_classify, drawn_by_run)
