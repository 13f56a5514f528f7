"""models/manifest.yaml and its loader: complete entries, honest checksums, and --model ID resolution."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from camapp.errors import ConfigError, ModelError
from camapp.inference.labels import read_labels_file
from camapp.models import resolve, store
from camapp.models.manifest import entry_labels, labels_dir, load_manifest
from camapp.models.resolve import resolve_model
from camapp.models.store import ModelStore
from tests.model_mirror import closed_port_url

ENTRIES = load_manifest()


def by(**fields: object) -> list[str]:
    return [e.id for e in ENTRIES.values() if all(getattr(e, k) == v for k, v in fields.items())]


# ---- the shipped manifest ---------------------------------------------------------------------


@pytest.mark.parametrize("model_id", sorted(ENTRIES))
def test_every_entry_says_where_it_comes_from_and_how_to_read_it(model_id):
    e = ENTRIES[model_id]
    assert e.url and e.url.startswith("https://"), "an official https URL"
    assert e.licence == "Apache-2.0"
    assert e.labels and (labels_dir() / e.labels).is_file()
    assert e.labels == ("imagenet_1001.txt" if e.task == "classify" else "coco_90.txt")
    assert e.input_dtype in ("uint8", "float32")
    assert e.resolution and e.alpha
    if e.is_archive:
        assert e.member and e.member.endswith(".tflite")
    assert set(e.accuracy) <= {"imagenet_top1", "coco_map"}
    assert bool(e.accuracy) == bool(e.accuracy_source), "a stated accuracy names its source"
    if e.verified:
        assert e.sha256 and e.size, "checked here means the sha256 and size are known"


def test_every_model_in_the_shared_folder_carries_its_real_sha256_and_size(models_dir):
    files = {e.file: e for e in ENTRIES.values()}
    for path in sorted(models_dir.glob("*.tflite")):
        e = files.get(path.name)
        assert e is not None, f"{path.name} has no manifest entry"
        assert e.verified
        assert e.size == path.stat().st_size
        assert e.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_only_the_files_checked_here_are_marked_verified(models_dir):
    for e in ENTRIES.values():
        assert e.verified == (models_dir / e.file).is_file(), e.id


def test_the_manifest_covers_the_models_the_issue_lists():
    for alpha in (0.25, 0.5, 0.75, 1.0):
        for res in (128, 160, 192, 224):
            quant = [i for i in by(backbone="v1", task="classify", alpha=alpha, resolution=res) if ENTRIES[i].input_dtype == "uint8"]
            floats = [i for i in by(backbone="v1", task="classify", alpha=alpha, resolution=res) if ENTRIES[i].input_dtype == "float32"]
            assert len(quant) == 1 and len(floats) == 1, (alpha, res)
    for backbone in ("v2", "v3-small", "v3-large"):
        dtypes = {ENTRIES[i].input_dtype for i in by(backbone=backbone, task="classify", alpha=1.0, resolution=224)}
        assert dtypes == {"uint8", "float32"}, backbone
    assert {"ssd_mobilenet_v1_coco_quant", "ssd_mobilenet_v2_coco_quant_postprocess"} <= set(by(task="detect"))
    assert by(task="detect", backbone="v3-small") and by(task="detect", backbone="v3-large")


def test_accuracy_is_the_publishers_figure_where_one_is_stated():
    # Spot checks against the published tables (TF Lite hosted models, slim README, TF1 zoo).
    assert ENTRIES["mobilenet_v1_1.0_224_quant"].accuracy == {"imagenet_top1": 70.0}
    assert ENTRIES["mobilenet_v1_1.0_224"].accuracy == {"imagenet_top1": 71.0}
    assert ENTRIES["mobilenet_v2_1.0_224_quant"].accuracy == {"imagenet_top1": 70.8}
    assert ENTRIES["mobilenet_v3_large_1.0_224_uint8"].accuracy == {"imagenet_top1": 73.9}
    assert ENTRIES["ssdlite_mobilenet_v3_small_coco"].accuracy == {"coco_map": 15.4}
    assert ENTRIES["ssd_mobilenet_v2_coco_quant_postprocess"].accuracy == {}  # Coral states none


def test_each_backbone_and_task_has_one_default():
    for task, backbones in (("classify", ("v1", "v2", "v3-small", "v3-large")), ("detect", ("v1", "v2", "v3-small", "v3-large"))):
        for backbone in backbones:
            assert len(by(backbone=backbone, task=task, default=True)) == 1, (backbone, task)


@pytest.mark.parametrize(("ours", "shared"), [("imagenet_1001.txt", "imagenet_labels.txt"), ("coco_90.txt", "coco_labels.txt")])
def test_bundled_labels_name_the_same_classes_as_the_published_files(models_dir, ours, shared):
    mine = labels_dir() / ours
    assert mine.read_bytes() != (models_dir / shared).read_bytes()  # our own "id name" files, not copies
    assert read_labels_file(str(mine)).names == read_labels_file(str(models_dir / shared)).names


# ---- the loader -------------------------------------------------------------------------------

GOOD = "  m:\n    file: m.tflite\n    task: classify\n    backbone: v1\n"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("    sha: abc\n", ["unknown keys: sha"]),
        ("    sha256: ABC\n", ["sha256 must be 64 lowercase hex digits"]),
        ("    url: https://x/m.tgz\n", ["needs 'member'"]),
        ("    backbone: v4\n", ["backbone 'v4'"]),
    ],
)
def test_a_bad_entry_is_a_config_error_naming_it(tmp_path, extra, words):
    path = tmp_path / "manifest.yaml"
    path.write_text("models:\n" + GOOD.replace("    backbone: v1\n", "" if "backbone" in extra else "    backbone: v1\n") + extra)
    with pytest.raises(ConfigError) as err:
        load_manifest(str(path))
    for word in ["'m'", *words]:
        assert word in str(err.value)


def test_two_defaults_for_one_backbone_and_task_are_refused(tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text(
        "models:\n" + GOOD + "    default: true\n" + GOOD.replace("m:", "n:").replace("m.tflite", "n.tflite") + "    default: true\n"
    )
    with pytest.raises(ConfigError, match="both the default v1 classify model"):
        load_manifest(str(path))


def test_camapp_manifest_names_another_manifest(tmp_path, monkeypatch):
    path = tmp_path / "manifest.yaml"
    path.write_text("models:\n" + GOOD)
    monkeypatch.setenv("CAMAPP_MANIFEST", str(path))
    assert list(load_manifest()) == ["m"]


# ---- resolving --model ------------------------------------------------------------------------


def test_a_path_is_used_as_it_is(tmp_path):
    resolved = resolve_model(str(tmp_path / "mine.tflite"), "labels.txt")
    assert resolved.path == str(tmp_path / "mine.tflite") and resolved.labels == "labels.txt" and resolved.entry is None


def test_an_unknown_id_points_to_models_list():
    with pytest.raises(ModelError, match="camapp models list"):
        resolve_model("mobilenet_v9", None)


def test_a_folder_mirror_is_read_in_place_without_a_copy(models_dir, tmp_path):
    resolved = resolve_model("mobilenet_v2_1.0_224_quant", None, str(tmp_path / "cache"), str(models_dir))
    assert resolved.path == str(models_dir / "mobilenet_v2_1.0_224_quant.tflite")
    assert resolved.labels == entry_labels(ENTRIES["mobilenet_v2_1.0_224_quant"])
    assert not (tmp_path / "cache").exists()


def test_a_damaged_file_in_a_folder_mirror_is_refused(models_dir, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    good = (models_dir / "mobilenet_v2_1.0_224_quant.tflite").read_bytes()
    (mirror / "mobilenet_v2_1.0_224_quant.tflite").write_bytes(good[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="not the published file"):
        resolve_model("mobilenet_v2_1.0_224_quant", None, str(tmp_path / "cache"), str(mirror))


def test_an_id_is_pulled_from_an_http_mirror_on_first_use_with_a_message(models_dir, tmp_path, caplog):
    from tests.model_mirror import MirrorServer

    with MirrorServer(models_dir) as server:
        resolved = resolve_model("mobilenet_v2_1.0_224_quant", None, str(tmp_path / "cache"), server.url)
    assert resolved.path == str(tmp_path / "cache" / "mobilenet_v2_1.0_224_quant.tflite")
    assert "is not cached yet: downloading mobilenet_v2_1.0_224_quant.tflite" in caplog.text


def test_the_system_folder_wins_over_the_cache(models_dir, tmp_path, monkeypatch):
    name = ENTRIES["ssd_mobilenet_v1_coco_quant"].file
    for folder in ("system", "cache"):
        (tmp_path / folder).mkdir()
        shutil.copy(models_dir / name, tmp_path / folder / name)
    monkeypatch.setattr(store, "SYSTEM_MODEL_DIR", str(tmp_path / "system"))
    resolved = resolve_model("ssd_mobilenet_v1_coco_quant", None, str(tmp_path / "cache"))
    assert resolved.path == str(tmp_path / "system" / name)


def test_the_cache_defaults_to_the_xdg_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ModelStore.create().cache_dir == tmp_path / "camapp" / "models"
    assert ModelStore.create(cache_dir=str(tmp_path / "elsewhere")).cache_dir == tmp_path / "elsewhere"


def test_offline_without_a_mirror_is_one_line_naming_the_file_and_the_folder(tmp_path, monkeypatch, caplog):
    path = tmp_path / "manifest.yaml"
    path.write_text(f"models:\n{GOOD}    url: {closed_port_url('m.tflite')}\n")
    monkeypatch.setenv("CAMAPP_MANIFEST", str(path))
    with pytest.raises(ModelError) as err:
        resolve_model("m", None, str(tmp_path / "cache"), None)
    assert "\n" not in str(err.value)
    assert "m.tflite" in str(err.value) and str(tmp_path / "cache" / "m.tflite") in str(err.value)
    assert "downloading" not in caplog.text  # nothing was announced before the failure
    assert not Path(tmp_path / "cache").exists() or not any(Path(tmp_path / "cache").iterdir())


# ---- a file given by path that the manifest knows by its checksum -------------------------------

DETECT_FILE = ENTRIES["ssd_mobilenet_v1_coco_quant"].file


def test_a_known_file_given_by_path_gets_the_manifests_labels(models_dir):
    resolved = resolve_model(str(models_dir / DETECT_FILE), None)
    assert resolved.entry is None  # still a file: its sidecar applies as for any file
    assert resolved.known is not None and resolved.known.id == "ssd_mobilenet_v1_coco_quant"
    assert resolved.manifest_entry is resolved.known
    assert resolved.labels == entry_labels(ENTRIES["ssd_mobilenet_v1_coco_quant"])


def test_a_known_file_under_any_name_is_recognised_by_its_content(models_dir, tmp_path):
    copy = tmp_path / "camera model.tflite"
    shutil.copy(models_dir / "v3-small_224_1.0_uint8.tflite", copy)
    resolved = resolve_model(str(copy), None)
    assert resolved.known is not None and resolved.known.id == "mobilenet_v3_small_1.0_224_uint8"
    assert resolved.labels == entry_labels(ENTRIES["mobilenet_v3_small_1.0_224_uint8"])


def test_labels_given_or_embedded_win_over_the_manifests(models_dir, tmp_path):
    given = resolve_model(str(models_dir / DETECT_FILE), "my_labels.txt")
    assert given.labels == "my_labels.txt" and given.known is not None
    # mobilenet_v2_1.0_224_quant.tflite carries imagenet_labels.txt in its metadata: no file is imposed
    embedded = resolve_model(str(models_dir / "mobilenet_v2_1.0_224_quant.tflite"), None)
    assert embedded.known is not None and embedded.labels is None


def test_a_changed_file_is_not_the_manifests_model(models_dir, tmp_path):
    data = bytearray((models_dir / DETECT_FILE).read_bytes())
    data[1000] ^= 0xFF
    mine = tmp_path / "detect.tflite"
    mine.write_bytes(bytes(data))
    resolved = resolve_model(str(mine), None)
    assert resolved.known is None and resolved.labels is None
    assert resolve.entry_for_file(tmp_path / "missing.tflite") is None
    assert resolve.entry_for_file(tmp_path) is None  # a folder


def test_a_file_is_hashed_once_until_it_changes(models_dir, tmp_path, monkeypatch):
    path = tmp_path / "detect.tflite"
    shutil.copy(models_dir / DETECT_FILE, path)
    hashed: list[Path] = []
    real = resolve.file_digests

    def counting(p: Path):  # the real hash, counted
        hashed.append(p)
        return real(p)

    monkeypatch.setattr(resolve, "file_digests", counting)
    resolve._digests.cache_clear()
    assert resolve.entry_for_file(path) is not None
    assert resolve.entry_for_file(path) is not None  # a reload: no second read
    assert len(hashed) == 1
    path.write_bytes(path.read_bytes() + b"\0")  # changed in place: another size (and mtime)
    assert resolve.entry_for_file(path) is None
    assert len(hashed) == 2
