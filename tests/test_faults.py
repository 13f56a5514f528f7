"""No crash on bad data in a running service: a full disk, a frame size that changes, corrupt frames.

Every fault is real: a 200 KB tmpfs that fills up, a stream that comes back in another resolution,
broken JPEGs inside a real MJPEG stream, two real clips of different sizes one after the other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import pytest

from camapp.frames import Frame, Size
from camapp.inference.model import Model, ModelOptions
from camapp.outputs.base import Delivery
from camapp.outputs.guard import GuardedSink
from camapp.outputs.jsonl import JsonLinesSink
from camapp.outputs.recorder import ImageFolderRecorder, VideoRecorder
from camapp.pipeline import Pipeline, PipelineOptions
from camapp.sources import SourceOptions, open_source
from tests.service_process import CamappProcess, json_lines, wait_until
from tests.sources.mjpeg_server import MjpegServer, encode_jpegs, read_video_frames

CLASSIFIER = "mobilenet_v1_0.25_128_quant.tflite"


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(_in_tiny_tmpfs("/tmp", ["true"]), capture_output=True, check=False)
    return probe.returncode == 0


def _in_tiny_tmpfs(folder: str, cmd: list[str], size: str = "200k") -> list[str]:
    """Run cmd in a private mount namespace where `folder` is a small tmpfs: a disk that fills up."""
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    script = f'mount -t tmpfs -o size={size} camapp-full-disk "$1" && shift && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", *user, "sh", "-c", script, "sh", folder, *cmd]


def test_a_full_disk_stops_saving_snapshots_says_so_once_and_the_run_goes_on(tmp_path: Path, images_dir: Path, models_dir: Path) -> None:
    if not _can_mount_tmpfs():
        pytest.skip("needs root or unprivileged user namespaces to mount a small tmpfs")
    shots, results = tmp_path / "shots", tmp_path / "results.jsonl"
    shots.mkdir()
    # The shared photos (large JPEGs and BMPs), five times round: the disk is full after a few.
    cmd = [
        sys.executable,
        "-m",
        "camapp",
        "run",
        "--source",
        str(images_dir),
        "--loop",
        "--max-frames",
        "40",
        "--model",
        str(models_dir / CLASSIFIER),
        "--save",
        str(shots),
        "-o",
        str(results),
    ]
    proc = subprocess.run(_in_tiny_tmpfs(str(shots), cmd), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(json_lines(results)) == 40, "every frame was still processed"
    failures = [ln for ln in proc.stderr.splitlines() if "failed" in ln and str(shots) in ln]
    assert len(failures) == 1, proc.stderr
    assert "stopped it" in failures[0] and "cannot write image" in failures[0]
    assert "Traceback" not in proc.stderr


# Runs inside the private tmpfs, so it also reads the videos back there (the mount, and the files,
# are gone once it exits). An 800 KB filler shares the disk; once recording has stopped, it is
# deleted (an operator freeing space) and recording must go on in a new file.
RECORD_UNTIL_FULL = """
import json, os, sys
import cv2
from camapp.errors import OutputError
from camapp.frames import Frame
from camapp.outputs.base import Delivery
from camapp.outputs.recorder import VideoRecorder

video, out, reserve = sys.argv[1], sys.argv[2], int(sys.argv[3])
filler = os.path.join(os.path.dirname(out), "filler")
with open(filler, "wb") as f:
    f.write(bytes(800_000))
capture, recorder = cv2.VideoCapture(video), VideoRecorder(out, 30.0, min_free_bytes=reserve)

def record(limit):
    n = 0
    while n < limit:
        ok, image = capture.read()
        if not ok:
            return None
        try:
            recorder.write(Delivery(Frame(image, n, 0, "cam"), None, True))
        except OutputError as exc:
            return str(exc)
        n += 1

def played(path):
    playback, n = cv2.VideoCapture(path), 0
    while playback.read()[0]:
        n += 1
    return n

error = record(10_000)
written = recorder.frames_written
recorder.close()
size = os.path.getsize(out)
again = record(1)  # what GuardedSink does a minute later: the disk is still full
os.remove(filler)
resumed = record(30)
recorder.close()
print(json.dumps({"written": written, "error": error, "again": again, "played": played(out), "size": size,
                  "size_later": os.path.getsize(out), "resumed": resumed, "files": recorder.files,
                  "played_later": [played(f) for f in recorder.files[1:]], "listing": sorted(os.listdir(os.path.dirname(out)))}))
"""


@pytest.mark.slow
def test_a_recording_stops_before_the_disk_is_full_what_it_saved_plays_and_it_resumes_in_a_new_file(
    tmp_path: Path, videos_dir: Path
) -> None:
    if not _can_mount_tmpfs():
        pytest.skip("needs root or unprivileged user namespaces to mount a small tmpfs")
    folder = tmp_path / "recordings"
    folder.mkdir()

    def record(reserve: int) -> dict[str, Any]:
        cmd = [sys.executable, "-c", RECORD_UNTIL_FULL, str(videos_dir / "bottle-detection.mp4"), str(folder / "out.mp4"), str(reserve)]
        proc = subprocess.run(_in_tiny_tmpfs(str(folder), cmd, size="2m"), capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    # Without a reserve the disk fills: the write fails with the system's reason, and the file
    # still plays up to its last whole fragment (0.2 s), where an unfragmented MP4 played nothing.
    unguarded = record(0)
    assert "No space left on device" in str(unguarded["error"])
    assert unguarded["written"] > 100 and unguarded["played"] >= unguarded["written"] - 12, unguarded

    guarded = record(300_000)
    assert "disk almost full" in str(guarded["error"]) and "stopped recording after" in str(guarded["error"])
    assert guarded["written"] > 50
    assert guarded["played"] == guarded["written"], "every frame written before the stop plays back"
    assert guarded["again"] == guarded["error"] and guarded["size_later"] == guarded["size"], "the saved file is never touched again"
    # Space came back: recording went on in a new numbered file, and that file plays too.
    assert guarded["resumed"] is None and guarded["files"][1].endswith("out-2.mp4"), guarded
    assert guarded["played_later"] == [30]
    assert guarded["listing"] == ["out-2.mp4", "out.mp4"], "no temporary or half-written file is left"


def test_a_guarded_output_retries_and_says_when_it_works_again(tmp_path: Path, bottle_frame: Frame) -> None:
    folder = tmp_path / "shots"
    sink = GuardedSink(ImageFolderRecorder(str(folder)), retry_after=0.0)
    sink.write(Delivery(bottle_frame, None, True))
    shutil.rmtree(folder)  # the folder vanished (a USB stick pulled out)
    sink.write(Delivery(bottle_frame, None, True))
    assert sink.degraded and "cannot write image" in sink.last_error
    folder.mkdir()
    sink.write(Delivery(bottle_frame, None, True))
    assert not sink.degraded and len(list(folder.iterdir())) == 1


@pytest.fixture
def bottle_frame(videos_dir: Path) -> Frame:
    return Frame(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 1)[0], 0, time.monotonic_ns(), "cam")


class TwoClips:
    """A Source that plays one real clip, then another of a different size: a camera changing mode."""

    def __init__(self, first: str, second: str) -> None:
        self.parts = [open_source(first, SourceOptions()), open_source(second, SourceOptions())]
        self.source_id = "two-clips"
        self._i = self._index = 0

    is_live = False
    fps = 30.0

    @property
    def size(self) -> Size | None:
        return self.parts[0].size

    def open(self) -> None:
        for part in self.parts:
            part.open()

    def read(self) -> Frame | None:
        while self._i < len(self.parts):
            frame = self.parts[self._i].read()
            if frame is not None:
                frame.index, self._index = self._index, self._index + 1
                return frame
            self._i += 1
        return None

    def close(self) -> None:
        for part in self.parts:
            part.close()


@pytest.mark.slow
def test_a_frame_size_that_changes_mid_run_is_inferred_and_recorded_at_the_first_size(
    tmp_path: Path, videos_dir: Path, models_dir: Path
) -> None:
    source = TwoClips(str(videos_dir / "asl_gestures_book.mkv"), str(videos_dir / "bottle-detection.mp4"))
    model = Model(ModelOptions(str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite")))
    video, results = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    sinks = [VideoRecorder(str(video), 30.0), JsonLinesSink(str(results))]
    source.open()
    try:
        Pipeline(source, model, sinks, PipelineOptions(mode="file", max_frames=160)).run()  # type: ignore[arg-type]
    finally:
        for sink in sinks:
            sink.close()
        source.close()
    sizes = [(line["width"], line["height"]) for line in json_lines(results)]
    assert sizes[:109] == [(640, 480)] * 109 and sizes[109:] == [(640, 360)] * 51, "results describe each frame's own size"
    cap = cv2.VideoCapture(str(video))
    shapes = []
    while (ok_frame := cap.read())[0]:
        shapes.append(ok_frame[1].shape[:2])
    cap.release()
    assert len(shapes) == 160 and set(shapes) == {(480, 640)}, "one video, one frame size: later frames are resized"


@pytest.mark.slow
def test_a_stream_back_in_another_resolution_keeps_running_and_recording(tmp_path: Path, videos_dir: Path, models_dir: Path) -> None:
    bottle = encode_jpegs(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 24))  # 640x360
    asl = encode_jpegs(read_video_frames(str(videos_dir / "asl_gestures_book.mkv"), 24))  # 640x480
    video, results = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    with MjpegServer(bottle, fps=25, repeat=True) as server:
        proc = CamappProcess(
            ["run", "--source", server.url, "--model", str(models_dir / CLASSIFIER), "--save", str(video), "-o", str(results)],
            tmp_path,
            {"CAMAPP_SERVICE_RECONNECT_MAX": "1"},
        )
        try:
            wait_until(lambda: len(json_lines(results)) >= 20, what="frames", proc=proc)
            server.stop()
            server.frames = asl
            server.start()
            wait_until(lambda: any(line["height"] == 480 for line in json_lines(results)), what="frames of the new size", proc=proc)
            seen = len(json_lines(results))
            wait_until(lambda: len(json_lines(results)) >= seen + 20, what="more frames of the new size", proc=proc)
            code, _ = proc.stop(timeout=5)
        finally:
            proc.kill()
    assert code == 0, proc.log()
    cap = cv2.VideoCapture(str(video))
    ok, first = cap.read()
    cap.release()
    assert ok and first.shape[:2] == (360, 640)


@pytest.mark.slow
def test_broken_jpegs_in_a_live_stream_do_not_stop_the_run(tmp_path: Path, videos_dir: Path, models_dir: Path) -> None:
    good = encode_jpegs(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 10))
    garbage = [good[0][:3000], b"\xff\xd8" + bytes(range(256)) * 8, b"<html>502 Bad Gateway</html>"]
    results = tmp_path / "out.jsonl"
    with MjpegServer(good + garbage, fps=50, repeat=True) as server:
        proc = CamappProcess(["run", "--source", server.url, "--model", str(models_dir / CLASSIFIER), "-o", str(results)], tmp_path)
        try:
            wait_until(lambda: len(json_lines(results)) >= 50, what="frames through five rounds of garbage", proc=proc)
            code, _ = proc.stop(timeout=5)
        finally:
            proc.kill()
    assert code == 0, proc.log()
    assert "Traceback" not in proc.log()
