"""camapp models list | info | pull | verify, and `run --backbone` end to end through a real HTTP mirror."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camapp.cli import main
from camapp.models.manifest import load_manifest
from tests.commands.conftest import CliResult, assert_one_line_error, run_camapp
from tests.model_mirror import MirrorServer, closed_port_url

V1 = "mobilenet_v1_0.25_128_quant"


@pytest.fixture
def camapp(capsys, monkeypatch, tmp_path):
    """The CLI in-process (as httpie tests do), with a fresh cache and no mirror unless a test sets one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CAMAPP_MODEL_MIRROR", raising=False)

    def run(*args: str) -> CliResult:
        code = main(list(args))
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def http_mirror(models_dir):
    with MirrorServer(models_dir) as server:
        yield server


def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "camapp" / "models"


# ---- list -------------------------------------------------------------------------------------


def test_list_shows_every_model_with_its_facts(camapp):
    result = camapp("models", "list")
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "TASK", "BACKBONE", "ALPHA", "RES", "INPUT", "SIZE", "ACCURACY", "CACHED", "MIRROR", "CHECKSUM"]
    v2 = next(ln for ln in lines if ln.startswith("mobilenet_v2_1.0_224_quant *")).split()
    assert v2[2:] == ["classify", "v2", "1.0", "224", "uint8", "3.6", "MB", "top-1", "70.8%", "-", "-", "here"]
    assert "mirror: none (set CAMAPP_MODEL_MIRROR" in result.stdout
    for model_id in load_manifest():
        assert any(ln.split()[0] == model_id for ln in lines[1:] if ln.strip()), model_id


@pytest.mark.slow
def test_list_json_marks_what_is_cached(camapp, http_mirror, monkeypatch):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", http_mirror.url)
    assert camapp("models", "pull", V1).code == 0
    rows = {r["id"]: r for r in json.loads(camapp("models", "list", "--json").stdout)}
    assert set(rows) == set(load_manifest())
    assert rows[V1]["cached"] == "cache" and rows[V1]["size"] == 525598 and rows[V1]["accuracy"] == {"imagenet_top1": 39.5}
    assert rows["mobilenet_v2_1.0_224_quant"]["cached"] is None


SHARED_IDS = {  # the manifest entries whose files are in the shared models folder
    "mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant", "mobilenet_v1_0.75_192_quant", "mobilenet_v2_1.0_224_quant",
    "mobilenet_v2_1.0_224_quant_tfhub", "tf2_mobilenet_v2_1.0_224_ptq", "mobilenet_v3_small_1.0_224_uint8", "ssd_mobilenet_v1_coco_quant",
}


def test_list_shows_which_models_a_folder_mirror_holds(camapp, models_dir, monkeypatch):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(models_dir))
    result = camapp("models", "list")
    assert result.code == 0, result.stderr
    cells = {ln.split()[0]: ln.split()[-2] for ln in result.stdout.splitlines()[1:] if ln.strip() and ln.split()[0] in load_manifest()}
    assert {mid for mid, cell in cells.items() if cell == "yes"} == SHARED_IDS
    assert cells["mobilenet_v3_large_1.0_224_uint8"] == "-"
    assert f"mirror: {models_dir}" in result.stdout
    rows = {r["id"]: r for r in json.loads(camapp("models", "list", "--json").stdout)}
    ssd = rows["ssd_mobilenet_v1_coco_quant"]
    assert ssd["mirror"] == "yes" and ssd["mirror_location"] == str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite")
    assert ssd["cached"] is None  # read in place, not copied


@pytest.mark.slow
def test_list_asks_an_http_mirror_without_downloading(camapp, http_mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", http_mirror.url)
    rows = {r["id"]: r for r in json.loads(camapp("models", "list", "--json").stdout)}
    assert {mid for mid, r in rows.items() if r["mirror"] == "yes"} == SHARED_IDS
    assert rows["mobilenet_v3_large_1.0_224_uint8"]["mirror"] == "no"
    assert rows[V1]["mirror_location"] == f"{http_mirror.url}/{V1}.tflite"
    assert http_mirror.requests == []  # HEAD requests only: no model was downloaded
    assert not cache_dir(tmp_path).exists()


def test_list_with_a_mirror_that_does_not_answer_says_so_and_still_lists(camapp):
    result = camapp("models", "list", "--mirror", closed_port_url("").rstrip("/"))
    assert result.code == 0, result.stderr
    v2 = next(ln for ln in result.stdout.splitlines() if ln.startswith("mobilenet_v2_1.0_224_quant *")).split()
    assert v2[-2] == "?"
    assert "could not ask it" in result.stdout


def test_list_flags_a_mirror_file_of_the_wrong_size(camapp, models_dir, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / f"{V1}.tflite").write_bytes((models_dir / f"{V1}.tflite").read_bytes()[:1000])
    rows = {r["id"]: r for r in json.loads(camapp("models", "list", "--json", "--mirror", str(mirror)).stdout)}
    assert rows[V1]["mirror"] == "wrong-size"
    assert rows["mobilenet_v2_1.0_224_quant"]["mirror"] == "no"


def test_list_filters_by_task_and_backbone_family(camapp):
    rows = json.loads(camapp("models", "list", "--json", "--task", "detect", "--backbone", "v3").stdout)
    assert {r["id"] for r in rows} == {"ssdlite_mobilenet_v3_small_coco", "ssdlite_mobilenet_v3_large_coco"}


# ---- info -------------------------------------------------------------------------------------


def test_info_on_a_file_reads_inputs_outputs_and_quantisation_with_the_runtime(camapp, models_dir):
    result = camapp("models", "info", str(models_dir / "mobilenet_v2_1.0_224_quant.tflite"), "--json")
    assert result.code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["task"] == "classify" and info["quantised"] is True
    assert info["input"]["shape"] == [1, 224, 224, 3] and info["input"]["dtype"] == "uint8"
    assert info["input"]["quantization"] == {"scale": 0.0078125, "zero_point": 128}
    assert info["outputs"][0]["shape"] == [1, 1001]
    assert info["sha256"] == load_manifest()["mobilenet_v2_1.0_224_quant"].sha256
    assert info["id"] == "mobilenet_v2_1.0_224_quant"  # a file, recognised by its checksum
    assert info["location"] == "file" and info["checksum"] == "ok"
    assert info["labels"].endswith(".tflite:imagenet_labels.txt") and info["label_count"] == 1001  # its own metadata wins


def test_info_on_a_file_without_metadata_that_the_manifest_knows_gets_the_manifests_labels(camapp, models_dir, tmp_path):
    copy = tmp_path / "detect.tflite"  # any name: it is recognised by its content
    copy.write_bytes((models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite").read_bytes())
    info = json.loads(camapp("models", "info", str(copy), "--json").stdout)
    assert info["id"] == "ssd_mobilenet_v1_coco_quant"
    assert info["labels"].endswith("coco_90.txt") and info["label_count"] == 90


def test_info_on_your_own_file_has_no_id(camapp, models_dir, tmp_path):
    mine = tmp_path / "mine.tflite"
    data = bytearray((models_dir / f"{V1}.tflite").read_bytes())
    data[-1] ^= 0xFF  # a different file (the last byte is in the metadata, the model still loads)
    mine.write_bytes(bytes(data))
    result = camapp("models", "info", str(mine), "--json")
    assert result.code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["id"] is None and info["checksum"] is None


def test_info_on_a_cached_id_shows_its_labels_and_checksum(camapp, monkeypatch, models_dir):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(models_dir))
    assert camapp("models", "pull", "ssd_mobilenet_v1_coco_quant").code == 0
    result = camapp("models", "info", "ssd_mobilenet_v1_coco_quant")
    assert result.code == 0, result.stderr
    text = result.stdout
    assert "task            detect" in text
    assert "[1, 300, 300, 3] uint8, quantised: scale 0.0078125 zero point 128" in text
    assert text.count("\noutput ") == 4
    assert "coco_90.txt (90 labels)" in text
    assert "(ok)" in text


def test_info_on_an_id_in_a_folder_mirror_reads_the_file_in_place(camapp, models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(models_dir))
    result = camapp("models", "info", "mobilenet_v3_small_1.0_224_uint8", "--json")
    assert result.code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["path"] == str(models_dir / "v3-small_224_1.0_uint8.tflite") and info["location"] == "mirror"
    assert info["input"]["shape"] == [1, 224, 224, 3] and info["checksum"] == "ok"
    assert info["labels"].endswith("imagenet_1001.txt")
    assert not cache_dir(tmp_path).exists()  # nothing copied


def test_info_on_an_id_in_an_http_mirror_inspects_a_verified_copy_and_keeps_nothing(camapp, http_mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", http_mirror.url)
    result = camapp("models", "info", "ssd_mobilenet_v1_coco_quant")
    assert result.code == 0, result.stderr
    assert f"path            {http_mirror.url}/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite" in result.stdout
    assert "location        mirror" in result.stdout and "task            detect" in result.stdout
    assert "coco_90.txt (90 labels)" in result.stdout and "(ok)" in result.stdout
    assert http_mirror.requests == ["/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"]
    assert not cache_dir(tmp_path).exists() or list(cache_dir(tmp_path).iterdir()) == []


def test_info_on_a_damaged_file_in_a_folder_mirror_is_one_line(camapp, models_dir, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((models_dir / f"{V1}.tflite").read_bytes())
    data[1000] ^= 0xFF
    (mirror / f"{V1}.tflite").write_bytes(bytes(data))
    assert_one_line_error(camapp("models", "info", V1, "--mirror", str(mirror)), 2, "mirror", "not the published file")


def test_info_on_an_id_neither_cached_nor_in_the_mirror_says_how_to_get_it(camapp, models_dir, monkeypatch):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(models_dir))
    result = camapp("models", "info", "mobilenet_v3_large_1.0_224_float")
    assert result.code == 0
    assert "nor in the mirror" in result.stderr and "camapp models pull mobilenet_v3_large_1.0_224_float" in result.stderr


def test_info_on_an_id_not_downloaded_shows_the_manifest_and_how_to_get_it(camapp):
    result = camapp("models", "info", "mobilenet_v3_large_1.0_224_float")
    assert result.code == 0
    assert "v3-large_224_1.0_float.tgz" in result.stdout and "75.2" in result.stdout
    assert "camapp models pull mobilenet_v3_large_1.0_224_float" in result.stderr


# ---- pull and verify --------------------------------------------------------------------------


def test_pull_through_the_http_mirror_then_verify(camapp, http_mirror, monkeypatch, tmp_path):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", http_mirror.url)
    result = camapp("models", "pull", V1, "mobilenet_v3_small_1.0_224_uint8")
    assert result.code == 0, result.stderr
    assert result.stdout.count("sha256 verified") == 2
    assert sorted(p.name for p in cache_dir(tmp_path).iterdir()) == ["mobilenet_v1_0.25_128_quant.tflite", "v3-small_224_1.0_uint8.tflite"]
    again = camapp("models", "pull", V1)
    assert "not downloaded again" in again.stdout and len(http_mirror.requests) == 2
    verify = camapp("models", "verify")
    assert verify.code == 0 and verify.stdout.count("\nok ") + verify.stdout.startswith("ok ") == 2


def test_pull_from_a_corrupted_mirror_fails_and_keeps_nothing(camapp, models_dir, monkeypatch, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray((models_dir / f"{V1}.tflite").read_bytes())
    data[1000] ^= 0xFF
    (bad / f"{V1}.tflite").write_bytes(bytes(data))
    with MirrorServer(bad) as mirror:
        result = camapp("models", "pull", "--mirror", mirror.url, V1)
    assert_one_line_error(result, 2, "checksum mismatch", "deleted")
    assert not cache_dir(tmp_path).exists() or list(cache_dir(tmp_path).iterdir()) == []


def test_verify_reports_a_cached_file_that_changed(camapp, models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(models_dir))
    camapp("models", "pull", V1)
    path = cache_dir(tmp_path) / f"{V1}.tflite"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    result = camapp("models", "verify")
    assert result.code == 2
    assert result.stdout.startswith(f"MISMATCH   {V1}")
    assert "pull --force" in result.stderr
    assert camapp("models", "pull", "--force", V1).code == 0
    assert camapp("models", "verify", V1).code == 0


def test_pull_all_reports_each_failure_and_exits_non_zero(camapp, models_dir, monkeypatch, tmp_path):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "models:\n"
        f"  v1:\n    file: {V1}.tflite\n    task: classify\n    backbone: v1\n    sha256: {load_manifest()[V1].sha256}\n"
        "  missing:\n    file: not-on-the-mirror.tflite\n    task: classify\n    backbone: v2\n"
    )
    monkeypatch.setenv("CAMAPP_MANIFEST", str(manifest))
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(models_dir))
    result = camapp("models", "pull", "--all")
    assert result.code == 2
    assert "v1: pulled" in result.stdout
    assert "not-on-the-mirror.tflite" in result.stderr and "1 of 2 models could not be pulled" in result.stderr


def test_verify_says_unverified_for_a_model_without_a_published_checksum(camapp, models_dir, monkeypatch, tmp_path):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(f"models:\n  v1:\n    file: {V1}.tflite\n    task: classify\n    backbone: v1\n")
    monkeypatch.setenv("CAMAPP_MANIFEST", str(manifest))
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(models_dir))
    pulled = camapp("models", "pull", "v1")
    assert pulled.code == 0 and "NOT verified" in pulled.stdout and "cannot verify" in pulled.stderr
    verify = camapp("models", "verify")
    assert verify.code == 0 and verify.stdout.startswith("unverified v1")


@pytest.mark.parametrize("args", [("models", "pull"), ("models", "pull", "mobilenet_v9"), ("models", "verify", "mobilenet_v9")])
def test_pull_and_verify_need_known_ids(camapp, args):
    assert_one_line_error(camapp(*args), 2)


# ---- end to end: run --backbone through the HTTP mirror -----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backbone", "file"),
    [("v1", "mobilenet_v1_0.75_192_quant.tflite"), ("v2", "mobilenet_v2_1.0_224_quant.tflite"), ("v3", "v3-small_224_1.0_uint8.tflite")],
)
def test_run_with_a_backbone_pulls_through_the_mirror_and_classifies_a_video(http_mirror, videos_dir, tmp_path, backbone, file):
    env = {"XDG_CACHE_HOME": str(tmp_path / "fresh"), "CAMAPP_MODEL_MIRROR": http_mirror.url}
    result = run_camapp(
        "run",
        "--backbone",
        backbone,
        "--task",
        "classify",
        "--source",
        str(videos_dir / "asl_gestures_book.mkv"),
        "--max-frames",
        "30",
        "--output",
        "-",
        env=env,
    )
    assert result.code == 0, result.stderr
    lines = result.json_lines
    assert [ln["frame"] for ln in lines] == list(range(30))
    assert all(ln["classes"] and ln["classes"][0]["label"] for ln in lines)
    assert http_mirror.requests == [f"/{file}"]
    assert (tmp_path / "fresh" / "camapp" / "models" / file).is_file()
    assert f"is not cached yet: downloading {file} from {http_mirror.url}/{file}" in result.stderr


def test_offline_without_a_mirror_prints_one_line_naming_the_file_and_where_to_put_it(images_dir, tmp_path):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        f"models:\n  m:\n    file: m.tflite\n    task: classify\n    backbone: v1\n    url: {closed_port_url('m.tflite')}\n"
    )
    env = {"CAMAPP_MANIFEST": str(manifest), "CAMAPP_MODEL_MIRROR": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    result = run_camapp("classify", str(images_dir / "cat.bmp"), "--model", "m", env=env)
    assert_one_line_error(result, 2, "m.tflite", str(cache_dir(tmp_path) / "m.tflite"), "CAMAPP_MODEL_MIRROR")
    assert len(result.error_lines) == 1  # and nothing else from camapp


def test_info_when_the_mirror_does_not_answer_says_so(camapp):
    result = camapp("models", "info", V1, "--mirror", closed_port_url("").rstrip("/"))
    assert result.code == 0
    assert "the mirror did not answer" in result.stderr and f"camapp models pull {V1}" in result.stderr
