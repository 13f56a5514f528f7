"""camapp run, end to end on real videos with the real runtime and models."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.commands.conftest import assert_one_line_error, run_camapp
from tests.conftest import REPO

FAKE_SITE = REPO / "tests" / "fakes" / "fake_site"  # the fake picamera2, importable by a camapp process

BOTTLE_FRAMES = 1189  # decodable frames in bottle-detection.mp4 (VIDEOS.md)


@pytest.mark.slow
def test_run_headless_on_a_video_writes_every_frame_as_json_and_video(videos_dir, tmp_path):
    out_json = tmp_path / "results.jsonl"
    out_video = tmp_path / "annotated.mp4"
    result = run_camapp(
        "run", "--source", str(videos_dir / "bottle-detection.mp4"), "--model", "ssd_mobilenet_v1_coco_quant",
        "--output", str(out_json), "--save", str(out_video),
    )
    assert result.code == 0, result.stderr

    lines = [json.loads(line) for line in out_json.read_text().splitlines()]
    assert len(lines) == BOTTLE_FRAMES
    assert [line["frame"] for line in lines] == list(range(BOTTLE_FRAMES))
    with_bottle = sum(any(d["label"] == "bottle" for d in line["detections"]) for line in lines)
    assert with_bottle > BOTTLE_FRAMES * 0.5
    first = lines[0]
    assert (first["width"], first["height"]) == (640, 360)
    for det in first["detections"]:
        assert all(0.0 <= v <= 1.0 for v in det["box"])
        assert 0 <= det["box_px"][0] <= det["box_px"][2] <= 640

    cap = cv2.VideoCapture(str(out_video))
    frames = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        assert image.shape == (360, 640, 3)
        frames += 1
    cap.release()
    assert frames == BOTTLE_FRAMES

    summary = [ln for ln in result.stderr.splitlines() if ln.startswith("frames read")]
    assert summary == [summary[0]] and f"frames read {BOTTLE_FRAMES}, processed {BOTTLE_FRAMES}, skipped 0" in summary[0]
    assert "p50" in summary[0] and "p95" in summary[0]


def test_run_logs_the_runtime_in_use(videos_dir):
    video = str(videos_dir / "asl_gestures_book.mkv")
    result = run_camapp("run", "--source", video, "--model", "mobilenet_v2_1.0_224_quant", "--max-frames", "2")
    assert result.code == 0, result.stderr
    assert any("runtime ai_edge_litert" in ln or "runtime tflite_runtime" in ln for ln in result.error_lines)


def test_run_every_n_frames_infers_on_every_nth_frame_only(videos_dir):
    result = run_camapp(
        "run", "--source", str(videos_dir / "asl_gestures_book.mkv"), "--model", "mobilenet_v2_1.0_224_quant",
        "--every", "3", "--max-frames", "30", "--output", "-",
    )
    assert result.code == 0, result.stderr
    assert [line["frame"] for line in result.json_lines] == list(range(0, 30, 3))


def test_run_on_a_folder_of_images_saves_annotated_images(images_dir, tmp_path):
    result = run_camapp(
        "run", "--source", str(images_dir), "--model", "ssd_mobilenet_v1_coco_quant", "--save", str(tmp_path / "out"), "--output", "-",
    )
    assert result.code == 0, result.stderr
    sources = {line["source"] for line in result.json_lines}
    assert len(sources) == 8  # every image in the folder
    saved = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "table.jpg" in saved and "grace_hopper.jpg" in saved


def test_run_with_a_yaml_config_and_command_line_override(videos_dir, tmp_path):
    config = tmp_path / "camapp.yaml"
    config.write_text(
        f"source:\n  uri: {videos_dir / 'asl_gestures_book.mkv'}\n"
        "model:\n  name: mobilenet_v2_1.0_224_quant\n  top_k: 2\n"
        "pipeline:\n  max_frames: 50\n"
    )
    result = run_camapp("run", "--config", str(config), "--max-frames", "4", "--output", "-")
    assert result.code == 0, result.stderr
    lines = result.json_lines
    assert len(lines) == 4  # the command line beats the file
    assert all(1 <= len(line["classes"]) <= 2 for line in lines) and any(len(line["classes"]) == 2 for line in lines)  # top_k: 2


def test_run_on_a_video_with_save_to_a_folder_keeps_one_image_per_frame(videos_dir, tmp_path):
    result = run_camapp(
        "run", "--source", str(videos_dir / "asl_gestures_book.mkv"), "--model", "mobilenet_v2_1.0_224_quant",
        "--max-frames", "5", "--save", str(tmp_path / "frames"),
    )
    assert result.code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"asl_gestures_book_{i:06d}.jpg" for i in range(5)]


@pytest.mark.slow
def test_save_or_output_into_a_folder_that_cannot_be_written_fails_at_start_with_exit_5(videos_dir):
    video = str(videos_dir / "bottle-detection.mp4")
    # /proc refuses new files even to root, like a read-only card or someone else's folder.
    for option, target in (("--save", "/proc/annotated.mp4"), ("--save", "/proc/frames/"), ("--output", "/proc/results.jsonl")):
        result = run_camapp("run", "--source", video, "--model", "ssd_mobilenet_v1_coco_quant", "--max-frames", "2", option, target)
        assert_one_line_error(result, 5, "/proc")
        assert "frames read" not in result.stderr  # refused before any frame was processed


def test_picam_example_config_runs_by_hand_and_writes_its_results_in_the_current_folder(videos_dir, tmp_path):
    env = {"PYTHONPATH": f"{FAKE_SITE}{os.pathsep}{REPO}", "PICAMERA2_STANDIN_VIDEO": str(videos_dir / "bottle-detection.mp4")}
    proc = subprocess.run(
        [sys.executable, "-m", "camapp", "run", "--config", str(REPO / "configs" / "picam-detect.yaml"), "--max-frames", "3"],
        cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert 1 <= len(lines) <= 3 and all("detections" in json.loads(line) for line in lines)


def _start_looping_run(videos_dir) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "camapp", "run", "--source", str(videos_dir / "bottle-detection.mp4"), "--loop", "--realtime",
         "--model", "ssd_mobilenet_v1_coco_quant", "--threads", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], text: str) -> list[str]:
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"camapp ended before saying {text!r}: {''.join(seen)}")


def test_ctrl_c_stops_the_run_cleanly_and_exits_130(videos_dir):
    proc = _start_looping_run(videos_dir)
    try:
        _wait_for_line(proc, "running ")
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130, rest
    assert "frames read" in rest and "Traceback" not in rest


def _catches_sighup(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGHUP - 1)))


def test_a_sighup_during_start_up_is_a_reload_not_the_end(videos_dir):
    proc = _start_looping_run(videos_dir)
    try:
        deadline = time.monotonic() + 30
        while not _catches_sighup(proc.pid):  # camapp's first line holds SIGHUP
            assert proc.poll() is None and time.monotonic() < deadline
        # Held before OpenCV (and so the model, the source and the service) is even loaded.
        assert "cv2" not in Path(f"/proc/{proc.pid}/maps").read_text()
        proc.send_signal(signal.SIGHUP)
        seen = _wait_for_line(proc, "reloading")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(seen) + rest


def test_sighup_is_held_only_until_a_command_that_cannot_reload_starts():
    code = (
        "import os, signal\n"
        "from camapp import early_signals\n"
        "early_signals.hold_sighup()\n"
        "os.kill(os.getpid(), signal.SIGHUP)\n"
        "assert early_signals.take_pending() and not early_signals.take_pending()\n"
        "print('survived', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGHUP)\n"
        "early_signals.release_sighup()\n"  # the held one is delivered with the default action
        "print('not reached')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.stdout.split() == ["survived"]
    assert proc.returncode == -signal.SIGHUP
