"""Your own model: a my.yaml beside my.tflite gives labels, task, input size and normalisation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from camapp.app import model_options
from camapp.config import load_config
from camapp.inference.options import ModelOptions
from tests.commands.conftest import assert_one_line_error, run_camapp


@pytest.fixture
def my_model(tmp_path, models_dir) -> Path:
    """A real classifier under a user's own name, with labels nobody else ships."""
    model = tmp_path / "my.tflite"
    shutil.copy(models_dir / "mobilenet_v1_0.75_192_quant.tflite", model)
    lines = (models_dir / "imagenet_labels.txt").read_text().splitlines()
    (tmp_path / "my_labels.txt").write_text("\n".join(f"MY {name.upper()}" for name in lines) + "\n")
    return model


def write_sidecar(model: Path, text: str) -> None:
    model.with_suffix(".yaml").write_text(text)


def test_the_sidecar_labels_are_used_without_the_manifest(my_model, images_dir):
    write_sidecar(my_model, "labels: my_labels.txt\ntask: classify\ninput_size: [192, 192]\n")
    result = run_camapp("classify", str(images_dir / "parrot.jpg"), "--model", str(my_model), "--top-k", "1")
    assert result.code == 0, result.stderr
    assert result.json_lines[0]["classes"][0]["label"] == "MY MACAW"


def test_labels_on_the_command_line_win_over_the_sidecar(my_model, images_dir, models_dir):
    write_sidecar(my_model, "labels: my_labels.txt\n")
    result = run_camapp(
        "classify",
        str(images_dir / "parrot.jpg"),
        "--model",
        str(my_model),
        "--labels",
        str(models_dir / "imagenet_labels.txt"),
        "--top-k",
        "1",
    )
    assert result.json_lines[0]["classes"][0]["label"] == "macaw"


def test_normalisation_resize_and_task_fill_only_what_the_user_did_not_set(my_model, tmp_path):
    write_sidecar(my_model, "task: classify\nmean: 127.0\nstd: 128.0\nresize: letterbox\ninterpolation: area\n")
    options = model_options(load_config(None, env={}, overrides={"model.name": str(my_model)}).model)
    assert (options.mean, options.std, options.resize, options.interpolation, options.task) == (
        127.0,
        128.0,
        "letterbox",
        "area",
        "classify",
    )
    assert options.labels is None
    chosen = model_options(load_config(None, env={}, overrides={"model.name": str(my_model), "model.resize": "crop"}).model)
    assert chosen.resize == "crop" and chosen.mean == 127.0


def test_a_model_without_a_sidecar_keeps_the_defaults(my_model):
    options = model_options(load_config(None, env={}, overrides={"model.name": str(my_model)}).model)
    defaults = ModelOptions(str(my_model))
    assert (options.mean, options.std, options.resize, options.task) == (defaults.mean, defaults.std, "stretch", "auto")


def test_an_unknown_sidecar_key_is_a_one_line_error_naming_the_file(my_model, images_dir):
    write_sidecar(my_model, "label: my_labels.txt\n")
    result = run_camapp("classify", str(images_dir / "parrot.jpg"), "--model", str(my_model))
    assert_one_line_error(result, 2, "my.yaml", "'label'", "labels")


def test_a_sidecar_for_another_input_size_is_refused(my_model, images_dir):
    write_sidecar(my_model, "input_size: 224\n")
    result = run_camapp("classify", str(images_dir / "parrot.jpg"), "--model", str(my_model))
    assert_one_line_error(result, 2, "input_size 224x224", "takes 192x192")
