"""Recordings survive a crash, a restart never overwrites a run's files, and a full disk leaves no debris.

Everything here is real: camapp runs as a process on the shared videos with the real detector and
is killed with SIGKILL, the files are decoded back with OpenCV, and the disk that fills up is a
small tmpfs in a private mount namespace (tests/test_faults.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.frames import Frame
from camapp.outputs.base import Delivery
from camapp.outputs.jsonl import JsonLinesWriter
from camapp.outputs.naming import create_new_file
from camapp.outputs.recorder import ImageFolderRecorder
from camapp.outputs.video_file import FALLBACK_ENCODER, even_size, open_video_file, pick_encoder
from tests.service_process import CamappProcess, json_lines, wait_until
from tests.test_faults import _can_mount_tmpfs, _in_tiny_tmpfs

DETECTOR = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"
CLASSIFIER = "mobilenet_v1_0.25_128_quant.tflite"


def decoded_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- a crash ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["annotated.mp4", "annotated.mkv"])
def test_a_recording_killed_with_sigkill_plays_nearly_every_frame_processed_before_the_kill(
    name: str, tmp_path: Path, videos_dir: Path, models_dir: Path
) -> None:
    video, results = tmp_path / name, tmp_path / "results.jsonl"
    proc = CamappProcess(
        ["run", "--source", str(videos_dir / "bottle-detection.mp4"), "--model", str(models_dir / DETECTOR),
         "--save", str(video), "--output", str(results)],
        tmp_path,
    )
    try:
        wait_until(lambda: len(json_lines(results)) >= 300, what="300 processed frames", proc=proc)
        proc.kill()  # SIGKILL: no handler, no release(), no index written at the end
    finally:
        proc.kill()
    processed = len(json_lines(results))
    played = decoded_frames(video)
    assert processed < 1189, "killed before the end of the video"
    assert played >= 0.9 * processed, f"{played} of {processed} frames play after SIGKILL"


# -- a restart -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_with_the_same_names_writes_new_numbered_files_and_leaves_the_first_alone(
    tmp_path: Path, videos_dir: Path, models_dir: Path
) -> None:
    args = ["run", "--source", str(videos_dir / "bottle-detection.mp4"), "--model", str(models_dir / CLASSIFIER),
            "--max-frames", "40", "--save", "annotated.mp4", "--output", "results.jsonl"]
    first = subprocess.run([sys.executable, "-m", "camapp", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    second = subprocess.run([sys.executable, "-m", "camapp", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0, second.stderr
    assert {p.name: digest(p) for p in tmp_path.iterdir() if p.name in before} == before, "the first run's files are untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated-2.mp4", "annotated.mp4", "results-2.jsonl", "results.jsonl"]
    assert "annotated.mp4 exists: saving to annotated-2.mp4" in second.stderr
    assert "results.jsonl exists: saving to results-2.jsonl" in second.stderr
    assert decoded_frames(tmp_path / "annotated-2.mp4") == 40 and len(json_lines(tmp_path / "results-2.jsonl")) == 40


def test_new_names_are_claimed_atomically_and_numbered_before_the_extension(tmp_path: Path) -> None:
    target = str(tmp_path / "clip.mp4")
    names = []
    for _ in range(3):
        fd, name = create_new_file(target)
        os.close(fd)
        names.append(os.path.basename(name))
    assert names == ["clip.mp4", "clip-2.mp4", "clip-3.mp4"]


def test_a_fifo_or_a_device_is_written_as_it_is_not_numbered(tmp_path: Path) -> None:
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    writer = JsonLinesWriter(str(fifo))
    writer.write({"frame": 0})
    writer.close()
    reader.join(5)
    assert got == [b'{"frame":0}\n'] and sorted(p.name for p in tmp_path.iterdir()) == ["results.fifo"]
    fd, name = create_new_file("/dev/null")
    os.close(fd)
    assert name == "/dev/null"


def test_saved_images_with_a_name_already_in_the_folder_get_a_number(tmp_path: Path, videos_dir: Path) -> None:
    image = cv2.VideoCapture(str(videos_dir / "bottle-detection.mp4")).read()[1]
    (tmp_path / "cam_000007.jpg").write_bytes(b"an earlier run's picture")
    recorder = ImageFolderRecorder(str(tmp_path))
    recorder.write(Delivery(Frame(image, 7, 0, "cam"), None, True))
    assert (tmp_path / "cam_000007.jpg").read_bytes() == b"an earlier run's picture"
    assert cv2.imread(str(tmp_path / "cam_000007-2.jpg")).shape == image.shape


# -- the files themselves --------------------------------------------------------------------


def test_recordings_are_h264_with_a_keyframe_every_second(tmp_path: Path, videos_dir: Path) -> None:
    av = pytest.importorskip("av")
    cap = cv2.VideoCapture(str(videos_dir / "bottle-detection.mp4"))
    video = open_video_file(str(tmp_path / "out.mp4"), 30.0, 640, 360)
    for _ in range(90):
        video.write(cap.read()[1])
    video.close()
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        keyframes = [i for i, packet in enumerate(p for p in container.demux(stream) if p.size) if packet.is_keyframe]
    assert keyframes == [0, 30, 60]
    assert video.browser_playable


def test_live_recordings_follow_the_capture_clock_and_odd_frame_sizes_are_evened(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    assert even_size(641, 359) == (640, 358)
    video = open_video_file(str(tmp_path / "live.mp4"), 30.0, 641, 359, live=True)
    t0 = time.monotonic_ns()
    for i in range(20):  # 20 frames over 4 s, as a slow live pipeline delivers them
        video.write(np.full((359, 641, 3), i * 10, np.uint8), t0 + i * 200_000_000)
    video.close()
    with av.open(str(tmp_path / "live.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 20 and (frames[0].width, frames[0].height) == (640, 358)
    assert frames[-1].time == pytest.approx(3.8, abs=0.01), "played back in real time, not at 30 fps"


def test_without_an_h264_encoder_the_fallback_is_named() -> None:
    assert pick_encoder({"libx264", "mpeg4"}) == "libx264"
    assert pick_encoder({"libopenh264", "mpeg4"}) == "libopenh264"
    assert pick_encoder(set()) == FALLBACK_ENCODER


# -- a full disk -----------------------------------------------------------------------------


def test_a_jsonl_write_the_disk_cannot_take_leaves_only_whole_lines(tmp_path: Path) -> None:
    if not _can_mount_tmpfs():
        pytest.skip("needs root or unprivileged user namespaces to mount a small tmpfs")
    script = (
        "import json, sys\n"
        "from camapp.errors import OutputError\n"
        "from camapp.outputs.jsonl import JsonLinesWriter\n"
        "w, n, error = JsonLinesWriter(sys.argv[1]), 0, None\n"
        "while error is None:\n"
        "    try:\n"
        "        w.write({'frame': n, 'padding': 'x' * 777})\n"
        "        n += 1\n"
        "    except OutputError as exc:\n"
        "        error = str(exc)\n"
        "w.close()\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "print(json.dumps({'written': n, 'error': error, 'ends_with_newline': data.endswith(b'\\n'),\n"
        "                  'lines': [json.loads(line)['frame'] for line in data.splitlines()]}))\n"
    )
    folder = tmp_path / "disk"
    folder.mkdir()
    cmd = [sys.executable, "-c", script, str(folder / "results.jsonl")]
    proc = subprocess.run(_in_tiny_tmpfs(str(folder), cmd, size="100k"), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "No space left on device" in out["error"] and "ends with the last complete line" in out["error"]
    assert out["written"] > 50 and out["ends_with_newline"]
    assert out["lines"] == list(range(out["written"])), "every line that was reported written is there, whole"


def test_appending_to_a_file_that_ends_in_half_a_line_removes_the_half_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"type":"appeared"}\n{"type":"le')  # a power cut in the middle of a line
    writer = JsonLinesWriter(str(events), "events", append=True)
    writer.write({"type": "count"})
    writer.close()
    assert events.read_text().splitlines() == ['{"type":"appeared"}', '{"type":"count"}']
    assert "ended in half a line (11 bytes" in caplog.text


INSPECT = """
import json, os, sys
import cv2
folder = sys.argv[1]
names = sorted(os.listdir(os.path.join(folder, "shots")))
data = open(os.path.join(folder, "results.jsonl"), "rb").read()
def frames(path):
    cap, n = cv2.VideoCapture(path), 0
    while cap.read()[0]:
        n += 1
    return n
print(json.dumps({
    "shots": names,
    "clip_frames": {n: frames(os.path.join(folder, "shots", n)) for n in names if n.endswith(".mp4")},
    "jpegs_ok": all(cv2.imread(os.path.join(folder, "shots", n)) is not None for n in names if n.endswith(".jpg")),
    "jsonl_ends_with_newline": data.endswith(b"\\n"),
    "jsonl_lines": len([json.loads(line) for line in data.splitlines()]),
}))
"""


@pytest.mark.slow
def test_a_run_that_fills_the_disk_leaves_no_part_files_no_broken_clip_and_no_half_line(
    tmp_path: Path, videos_dir: Path, models_dir: Path
) -> None:
    if not _can_mount_tmpfs():
        pytest.skip("needs root or unprivileged user namespaces to mount a small tmpfs")
    folder = tmp_path / "disk"
    folder.mkdir()
    run = [sys.executable, "-m", "camapp", "run", "--source", str(videos_dir / "one-by-one-person-detection.mp4"),
           "--model", str(models_dir / DETECTOR), "--output", f"{folder}/results.jsonl",
           "--snapshots", f"{folder}/shots"]
    inspect = [sys.executable, "-c", INSPECT, str(folder)]
    script = f'{" ".join(map(_quote, run))} 2>"$1/stderr.log"; echo "exit $?"; {" ".join(map(_quote, inspect))}; cat "$1/stderr.log" >&2'
    env = {**os.environ, "CAMAPP_SNAPSHOTS_CLIP_BEFORE": "1", "CAMAPP_SNAPSHOTS_CLIP_AFTER": "2", "CAMAPP_SNAPSHOTS_CLIP_FPS": "10"}
    cmd = _in_tiny_tmpfs(str(folder), ["sh", "-c", script, "sh", str(folder)], size="1m")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False, env=env)
    lines = proc.stdout.splitlines()
    assert lines[0] == "exit 0", proc.stderr
    out = json.loads(lines[1])
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not [n for n in out["shots"] if ".part" in n], out["shots"]
    assert out["jpegs_ok"], "every snapshot under its real name is a whole JPEG"
    assert out["clip_frames"] and all(n >= 10 for n in out["clip_frames"].values()), "clips saved before the disk filled play"
    assert out["jsonl_ends_with_newline"], "no half line at the end"
    assert 0 < out["jsonl_lines"] < 1394, "the disk filled before the run ended (the video has 1394 frames)"


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"
