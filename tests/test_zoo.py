"""--backbone / --task / --alpha / --resolution pick a manifest model, from the CLI or from YAML."""

from __future__ import annotations

import dataclasses

import pytest

from camapp.app import model_options
from camapp.config import load_config
from camapp.errors import EXIT_USAGE, UsageError
from camapp.models.manifest import ModelEntry, load_manifest
from camapp.models.store import ModelStore
from camapp.models.zoo import row, select_model


@pytest.mark.parametrize(
    ("backbone", "task", "expected"),
    [
        ("v1", "classify", "mobilenet_v1_0.75_192_quant"),
        ("v2", "classify", "mobilenet_v2_1.0_224_quant"),
        ("v3", "classify", "mobilenet_v3_small_1.0_224_uint8"),  # v3 means V3-Small first
        ("v3-small", "classify", "mobilenet_v3_small_1.0_224_uint8"),
        ("v3-large", "classify", "mobilenet_v3_large_1.0_224_uint8"),
        ("v1", "detect", "ssd_mobilenet_v1_coco_quant"),
        ("v2", "detect", "ssd_mobilenet_v2_coco_quant_postprocess"),
        ("v3", "detect", "ssdlite_mobilenet_v3_small_coco"),
        ("v3-large", "detect", "ssdlite_mobilenet_v3_large_coco"),
    ],
)
def test_backbone_and_task_pick_the_default(backbone, task, expected):
    assert select_model(backbone, task) == expected


def test_the_classify_defaults_are_models_checked_here_so_an_offline_mirror_has_them():
    for backbone in ("v1", "v2", "v3"):
        assert load_manifest()[select_model(backbone, "classify")].verified


@pytest.mark.parametrize(
    ("backbone", "alpha", "resolution", "expected"),
    [
        ("v1", 0.5, None, "mobilenet_v1_0.5_224_quant"),  # quantised, then the largest input
        ("v1", None, 128, "mobilenet_v1_1.0_128_quant"),  # quantised, then the widest
        ("v1", 0.25, 160, "mobilenet_v1_0.25_160_quant"),
        ("v1", 0.75, 192, "mobilenet_v1_0.75_192_quant"),
        ("v2", 1.0, 224, "mobilenet_v2_1.0_224_quant"),
    ],
)
def test_alpha_and_resolution_narrow_the_choice(backbone, alpha, resolution, expected):
    assert select_model(backbone, "classify", alpha, resolution) == expected


@pytest.mark.parametrize(
    ("backbone", "task", "alpha", "resolution", "offers"),
    [
        ("v1", "classify", 0.3, None, ["alpha 0.3", "v1 alpha 0.25 at 128/160/192/224", "v1 alpha 1.0 at 128/160/192/224"]),
        ("v2", "classify", 0.5, 160, ["alpha 0.5 and resolution 160", "v2 alpha 1.0 at 224"]),
        ("v3", "detect", None, 300, ["resolution 300", "v3-large alpha 1.0 at 320", "v3-small alpha 1.0 at 320"]),
    ],
)
def test_an_impossible_combination_lists_the_ones_that_exist(backbone, task, alpha, resolution, offers):
    with pytest.raises(UsageError) as err:
        select_model(backbone, task, alpha, resolution)
    assert err.value.exit_code == EXIT_USAGE
    for text in offers:
        assert text in str(err.value)


def _entry(model_id: str, **fields: object) -> ModelEntry:
    base = {"file": f"{model_id}.tflite", "task": "classify", "backbone": "v1", "alpha": 1.0, "resolution": 224}
    return ModelEntry(id=model_id, **{**base, **fields})  # type: ignore[arg-type]


def test_without_a_matching_default_quantised_beats_float_then_wider_then_larger():
    entries = {
        e.id: e
        for e in (
            _entry("float_big", input_dtype="float32", alpha=1.0, resolution=224),
            _entry("quant_narrow", alpha=0.5, resolution=224),
            _entry("quant_wide_small", alpha=1.0, resolution=128),
            _entry("quant_wide_big", alpha=1.0, resolution=192),
        )
    }
    assert select_model("v1", "classify", entries=entries) == "quant_wide_big"
    default = dataclasses.replace(entries["quant_narrow"], default=True)
    assert select_model("v1", "classify", entries={**entries, "quant_narrow": default}) == "quant_narrow"


def test_the_yaml_keys_select_the_same_way(tmp_path, models_dir):
    config = tmp_path / "camapp.yaml"
    config.write_text(f"model:\n  backbone: v3\n  task: classify\n  mirror: {models_dir}\n  cache_dir: {tmp_path / 'cache'}\n")
    options = model_options(load_config(str(config), env={}).model)
    assert options.path == str(models_dir / "v3-small_224_1.0_uint8.tflite")  # a folder mirror is read in place
    assert options.labels and options.labels.endswith("imagenet_1001.txt")


def test_the_environment_selects_too(tmp_path, models_dir):
    env = {
        "CAMAPP_MODEL_BACKBONE": "v1",
        "CAMAPP_MODEL_ALPHA": "0.5",
        "CAMAPP_MODEL_RESOLUTION": "160",
        "CAMAPP_MODEL_MIRROR": str(models_dir),
        "CAMAPP_MODEL_CACHE_DIR": str(tmp_path),
    }
    options = model_options(load_config(None, env=env).model)
    assert options.path == str(models_dir / "mobilenet_v1_0.5_160_quant.tflite")


def test_list_rows_tell_whether_a_model_is_cached(tmp_path, models_dir):
    entry = load_manifest()["mobilenet_v1_0.25_128_quant"]
    store = ModelStore(tmp_path / "cache", None, tmp_path / "system")
    assert row(entry, store)["cached"] is None
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / entry.file).write_bytes((models_dir / entry.file).read_bytes())
    assert row(entry, store)["cached"] == "cache" and row(entry, store)["size"] == entry.size
