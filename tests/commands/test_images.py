"""camapp classify / camapp detect: one JSON line per image, in the documented shape."""

from __future__ import annotations

import shutil

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
