"""camapp bench models / pipeline, end to end: real models, real images, a real video, the real CLI."""

from __future__ import annotations

import csv
import json

import cv2
import pytest

from tests.commands.conftest import assert_one_line_error, run_camapp
from tests.terminal import run_in_terminal, screen_lines

EXPECTED = {
    "grace_hopper.bmp": "military uniform",
    "cat.bmp": "Egyptian cat",
    "parrot.jpg": "macaw",
    "bird.bmp": "chickadee",
    "hot_dog.jpg": "hotdog",
}


@pytest.fixture
def image_set(tmp_path, images_dir):
    root = tmp_path / "set"
    for name, label in EXPECTED.items():
        (root / label).mkdir(parents=True)
        (root / label / name).symlink_to(images_dir / name)
    return root


@pytest.mark.slow
def test_bench_models_reports_latency_size_and_accuracy_as_table_csv_json_and_plot(tmp_path, image_set):
    out_csv, out_json, plot = tmp_path / "m.csv", tmp_path / "m.json", tmp_path / "plot.png"
    result = run_camapp(
        "bench",
        "models",
        "mobilenet_v2_1.0_224_quant",
        "ssd_mobilenet_v1_coco_quant",
        "--threads",
        "1,2",
        "--runs",
        "5",
        "--warmup",
        "2",
        "--images",
        str(image_set),
        "--csv",
        str(out_csv),
        "--json",
        str(out_json),
        "--plot",
        str(plot),
    )
    assert result.code == 0, result.stderr
    assert "mobilenet_v2_1.0_224_quant" in result.stdout and "5/5" in result.stdout
    assert "smoke check" in result.stdout  # five images are not an ImageNet accuracy

    data = json.loads(out_json.read_text())
    rows = {(r["model"], r["threads"]): r for r in data["rows"]}
    assert set(rows) == {(m, t) for m in ("mobilenet_v2_1.0_224_quant", "ssd_mobilenet_v1_coco_quant") for t in (1, 2)}
    v2 = rows[("mobilenet_v2_1.0_224_quant", 1)]
    assert (v2["top1"], v2["top5"], v2["images"]) == (1.0, 1.0, 5)  # MODELS.md: V2 gets all five right
    assert v2["published_top1"] == 70.8 and v2["size_bytes"] == 3610798 and v2["input"] == "224x224 uint8"
    assert 0 < v2["p50_ms"] <= v2["p95_ms"]
    assert rows[("ssd_mobilenet_v1_coco_quant", 1)]["top1"] is None  # a detector has no top-1

    with open(out_csv, newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[2] == 3


def test_bench_models_takes_a_tflite_path_and_finds_its_labels_through_the_manifest(models_dir, image_set):
    result = run_camapp(
        "bench",
        "models",
        str(models_dir / "mobilenet_v1_0.75_192_quant.tflite"),
        "--threads",
        "1",
        "--runs",
        "3",
        "--images",
        str(image_set),
        "--json",
        "-",
    )
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    assert row["top5"] is not None and row["top5"] >= 0.8 and row["published_top1"] == 66.1


@pytest.mark.slow
def test_bench_pipeline_measures_all_variants_in_one_run_and_never_misattributes_results(tmp_path, videos_dir):
    out = tmp_path / "p.json"
    result = run_camapp(
        "bench",
        "pipeline",
        "--source",
        str(videos_dir / "one-by-one-person-detection.mp4"),
        "--model",
        "mobilenet_v1_0.25_128_quant",
        "--threads",
        "1",
        "--frames",
        "30",
        "--rounds",
        "1",
        "--realtime",
        "--live-frames",
        "12",
        "--json",
        str(out),
    )
    assert result.code == 0, result.stderr
    assert "(a) invoke only" in result.stdout and "c/a" in result.stdout
    data = json.loads(out.read_text())
    (run,) = data["runs"]
    assert set(run["fps"]) >= {"invoke_only", "invoke_decode", "plain_loop", "camapp", "camapp_memory"}
    assert all(v > 0 for v in run["fps"].values())
    assert run["ratios"]["c/a"] > 0 and run["ratios"]["c/b"] > 0
    # (c) + MJPEG had its viewer: frames were encoded for it and it received them.
    assert run["web"]["jpegs_encoded"] >= 1 and run["web"]["bytes_received"] > 1000
    # The decoding-only ceiling is measured, not assumed: a real decoder thread spent real CPU.
    assert run["ratios"]["a_decode/a"] > 0 and run["decode_cpu_ms_per_frame"] > 0
    assert "the ceiling for c/a" in result.stdout
    assert set(run["camapp_stages_ms"]) >= {"capture", "preprocess", "invoke", "postprocess", "overlay"}
    assert run["results_attached_to_wrong_frame"] == 0
    live = run["live"]
    assert live["frames_read"] == 12 and live["processed"] + live["skipped"] == 12
    assert live["results_attached_to_wrong_frame"] == 0
    assert data["best_threads"] == 1 and data["source"]["width"] == 768


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["bench", "models", "--threads", "0"], ["--threads"]),
        (["bench", "models", "no_such_model"], ["unknown model"]),
        (["bench", "pipeline", "--source", "IMAGE", "--model", "mobilenet_v1_0.25_128_quant"], ["not a video file"]),
        (["bench", "pipeline", "--source", "VIDEO", "--model", "mobilenet_v1_0.25_128_quant", "--frames", "1"], ["--frames"]),
    ],
)
def test_bad_bench_arguments_are_one_line_usage_errors(args, words, images_dir, videos_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached
    args = [str(images_dir / "cat.bmp") if a == "IMAGE" else str(videos_dir / "asl_gestures_book.mkv") if a == "VIDEO" else a for a in args]
    assert_one_line_error(run_camapp(*args), 2, *words)


MIRROR_IDS = {  # every model file in the shared test mirror, by its manifest id (MODELS.md)
    "mobilenet_v1_0.25_128_quant",
    "mobilenet_v1_0.5_160_quant",
    "mobilenet_v1_0.75_192_quant",
    "mobilenet_v2_1.0_224_quant",
    "mobilenet_v2_1.0_224_quant_tfhub",
    "tf2_mobilenet_v2_1.0_224_ptq",
    "mobilenet_v3_small_1.0_224_uint8",
    "ssd_mobilenet_v1_coco_quant",
}
QUICK = ["--threads", "1", "--runs", "2", "--warmup", "0"]


def picked_line(stderr: str) -> str:
    (line,) = [ln for ln in stderr.splitlines() if "no models named" in ln]
    return line


@pytest.mark.slow
def test_without_ids_it_benches_every_model_in_the_mirror_classifiers_and_detectors(tmp_path, models_dir):
    result = run_camapp(
        "bench", "models", *QUICK, "--json", "-", env={"XDG_CACHE_HOME": str(tmp_path), "CAMAPP_MODEL_MIRROR": str(models_dir)}
    )
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert {r["model"] for r in rows} == MIRROR_IDS
    assert {r["task"] for r in rows} == {"classify", "detect"}
    line = picked_line(result.stderr)  # which it picked, and why, on stderr (stdout is the JSON)
    assert line.startswith("camapp: ") and "7 classifiers, 1 detector" in line and f"8 in the mirror {models_dir}" in line
    assert "nothing is downloaded" in line and all(i in line for i in MIRROR_IDS)
    assert not list(tmp_path.rglob("*.tflite"))  # read in place: nothing was copied into the cache


def test_without_ids_it_finds_downloaded_models_in_the_cache(tmp_path, models_dir):
    cache = tmp_path / "camapp" / "models"
    cache.mkdir(parents=True)
    (cache / "mobilenet_v1_0.25_128_quant.tflite").symlink_to(models_dir / "mobilenet_v1_0.25_128_quant.tflite")
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    env = {"XDG_CACHE_HOME": str(tmp_path), "CAMAPP_MODEL_MIRROR": str(empty_mirror)}
    result = run_camapp("bench", "models", *QUICK, "--json", "-", env=env)
    assert result.code == 0, result.stderr
    assert [r["model"] for r in json.loads(result.stdout)["rows"]] == ["mobilenet_v1_0.25_128_quant"]
    assert f"1 classifier (1 in the cache {cache})" in picked_line(result.stderr)


@pytest.mark.parametrize("cached", [False, True], ids=["nothing-anywhere", "cached-only"])
def test_with_nothing_available_it_says_in_one_line_how_to_get_models(cached, tmp_path):
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    args = ["bench", "models", *(["--cached"] if cached else [])]
    result = run_camapp(*args, env={"XDG_CACHE_HOME": str(tmp_path / "xdg"), "CAMAPP_MODEL_MIRROR": str(empty_mirror)})
    assert_one_line_error(result, 2, "no models to benchmark", "camapp models pull", "CAMAPP_MODEL_MIRROR")
    assert "no models named" not in result.stderr


def test_bench_models_on_a_terminal_shows_which_model_and_step_then_erases_the_line():
    result = run_in_terminal("bench", "models", "mobilenet_v1_0.25_128_quant", "--threads", "1,2", "--runs", "3", "--json", "-")
    assert result.code == 0, result.screen
    drawn = [d for d in result.screen.split("\r") if d.startswith(("bench models", "model "))]
    assert any("model 1/1 mobilenet_v1_0.25_128_quant, 1 thread" in d and "0/2" in d for d in drawn), drawn
    assert not any("step" in line for line in screen_lines(result.screen))  # erased at the end
    assert json.loads(result.stdout)["rows"]  # stdout carries only the JSON


def test_bench_models_into_a_pipe_writes_no_progress(models_dir):
    result = run_camapp("bench", "models", "mobilenet_v1_0.25_128_quant", *QUICK)
    assert result.code == 0, result.stderr
    assert "\r" not in result.stderr and "step" not in result.stderr and "%|" not in result.stderr


@pytest.mark.slow
def test_bench_pipeline_remember_stores_the_fastest_arrangement_and_run_auto_uses_it(tmp_path, videos_dir):
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    video = str(videos_dir / "one-by-one-person-detection.mp4")
    model = "mobilenet_v1_0.25_128_quant"
    common = ["--source", video, "--model", model]
    bench = run_camapp(
        "bench", "pipeline", *common, "--threads", "1", "--frames", "20", "--rounds", "1", "--no-web",
        "--remember", str(tmp_path / "state" / "camapp" / "arrangements.json"), "--json", str(tmp_path / "p.json"), env=env,
    )
    assert bench.code == 0, bench.stderr
    best = json.loads((tmp_path / "p.json").read_text())["best_arrangement"]
    stored = json.loads((tmp_path / "state" / "camapp" / "arrangements.json").read_text())
    (entry,) = stored.values()
    assert (entry["workers"], entry["threads"], entry["model"]) == (best["workers"], best["threads"], f"{model}.tflite")
    assert f"remembered {best['workers']} x {best['threads']}" in bench.stdout

    run = run_camapp("run", *common, "--max-frames", "5", "--log-level", "info", env=env)
    assert run.code == 0, run.stderr
    assert f"measured best by camapp bench pipeline on {entry['measured']} ({best['workers']} x {best['threads']}" in run.stderr
    # Another model was never measured: the rule decides for it.
    other = run_camapp("run", "--source", video, "--model", "mobilenet_v1_0.5_160_quant", "--max-frames", "5", "--log-level", "info",
                       env=env)
    assert other.code == 0 and "measured best" not in other.stderr and "as fast as they are read" in other.stderr
