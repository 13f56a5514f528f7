"""Bad input: one clear line naming what is wrong, the documented exit code, never a traceback."""

from __future__ import annotations

import pytest

from tests.commands.conftest import assert_one_line_error, run_camapp

USAGE, SOURCE = 2, 3


def test_missing_model_file(images_dir, tmp_path):
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", str(tmp_path / "nope.tflite"))
    assert_one_line_error(result, USAGE, "nope.tflite", "does not exist")


def test_unknown_model_id(images_dir):
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", "mobilenet_v9")
    assert_one_line_error(result, USAGE, "mobilenet_v9", "models list")


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>404 Not Found</html>", b"\x00" * 64],
    ids=["empty", "html-error-page", "zeros"],
)
def test_corrupt_model_file(images_dir, tmp_path, content):
    model = tmp_path / "broken.tflite"
    model.write_bytes(content)
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", str(model))
    assert_one_line_error(result, USAGE, "broken.tflite", "not a TFLite model")


def test_truncated_model_file(images_dir, models_dir, tmp_path):
    model = tmp_path / "truncated.tflite"
    model.write_bytes((models_dir / "mobilenet_v2_1.0_224_quant.tflite").read_bytes()[:200_000])
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", str(model))
    assert_one_line_error(result, USAGE, "truncated.tflite")


def test_unreadable_model_file(images_dir, models_dir, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root can read any file, so permissions cannot make it unreadable")
    model = tmp_path / "locked.tflite"
    model.write_bytes((models_dir / "mobilenet_v2_1.0_224_quant.tflite").read_bytes())
    model.chmod(0)
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", str(model))
    assert_one_line_error(result, USAGE, "locked.tflite")


def test_labels_file_that_does_not_fit_the_model(images_dir, models_dir, tmp_path):
    labels = tmp_path / "ten.txt"
    labels.write_text("\n".join(f"thing {i}" for i in range(10)) + "\n")
    model = str(models_dir / "mobilenet_v2_1.0_224_quant.tflite")
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", model, "--labels", str(labels))
    assert_one_line_error(result, USAGE, "10 labels", "1001 classes")


def test_missing_labels_file(images_dir, models_dir, tmp_path):
    model = str(models_dir / "mobilenet_v2_1.0_224_quant.tflite")
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", model, "--labels", str(tmp_path / "x.txt"))
    assert_one_line_error(result, USAGE, "x.txt")


def test_image_that_does_not_decode(tmp_path, models_dir):
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"GIF89a but not really")
    result = run_camapp("classify", str(image), "--model", str(models_dir / "mobilenet_v2_1.0_224_quant.tflite"))
    assert_one_line_error(result, USAGE, "photo.jpg", "cannot decode")


def test_missing_image(tmp_path, models_dir):
    result = run_camapp("classify", str(tmp_path / "gone.jpg"), "--model", str(models_dir / "mobilenet_v2_1.0_224_quant.tflite"))
    assert_one_line_error(result, USAGE, "gone.jpg")


def test_unknown_source_scheme():
    result = run_camapp("run", "--source", "ftp://camera.local/video", "--model", "mobilenet_v2_1.0_224_quant")
    assert_one_line_error(result, USAGE, "ftp://")


def test_source_that_does_not_exist(tmp_path):
    result = run_camapp("run", "--source", str(tmp_path / "missing.mp4"), "--model", "mobilenet_v2_1.0_224_quant")
    assert_one_line_error(result, USAGE, "missing.mp4", "does not exist")


def test_camera_that_cannot_be_opened():
    result = run_camapp("run", "--source", "/dev/video63", "--model", "mobilenet_v2_1.0_224_quant")
    assert_one_line_error(result, SOURCE, "camera", "/dev/video63")


def test_pi_camera_without_picamera2():
    result = run_camapp("run", "--source", "picam", "--model", "mobilenet_v2_1.0_224_quant")
    assert_one_line_error(result, SOURCE, "picamera2", "apt install python3-picamera2")


def test_video_file_that_does_not_decode(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x01garbage" * 100)
    result = run_camapp("run", "--source", str(video), "--model", "mobilenet_v2_1.0_224_quant")
    assert_one_line_error(result, USAGE, "clip.mp4")


def test_no_model_given(images_dir):
    result = run_camapp("classify", str(images_dir / "cat.bmp"))
    assert_one_line_error(result, USAGE, "no model")


def test_bad_option_value_is_a_usage_error():
    result = run_camapp("run", "--source", "0", "--model", "x", "--threads", "many")
    assert result.code == USAGE
    assert "Traceback" not in result.stderr
    assert "--threads" in result.stderr


def test_config_value_out_of_range_names_the_key_and_source(tmp_path):
    result = run_camapp("detect", "x.jpg", "--model", "ssd_mobilenet_v1_coco_quant", "--threshold", "1.5")
    assert_one_line_error(result, USAGE, "model.threshold", "command line")


def test_unknown_config_key_lists_the_allowed_ones(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  name: mobilenet_v2_1.0_224_quant\n  treshold: 0.4\n")
    result = run_camapp("run", "--config", str(config), "--source", "0")
    assert_one_line_error(result, USAGE, "model.treshold", "line 3", "threshold")


def test_environment_value_error_names_the_variable():
    result = run_camapp("run", "--source", "0", "--model", "x", env={"CAMAPP_MODEL_TASK": "segment"})
    assert_one_line_error(result, USAGE, "CAMAPP_MODEL_TASK", "'auto', 'classify' or 'detect'")
