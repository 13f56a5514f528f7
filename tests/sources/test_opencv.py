"""OpenCVSource on the real clips, a real local MJPEG stream, and the ways opening fails."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.errors import InputError, SourceError
from camapp.frames import Frame, Size
from camapp.sources import SourceOptions, parse_source
from camapp.sources.opencv import OpenCVSource
from tests.sources.mjpeg_server import MjpegServer, closed_port

# Measured with OpenCV (see VIDEOS.md): frames that actually decode, and the frame size.
CLIPS = {
    "bottle-detection.mp4": (1189, Size(640, 360)),
    "asl_gestures_book.mkv": (109, Size(640, 480)),
}


def opened(target: str, **options: object) -> OpenCVSource:
    source = OpenCVSource(parse_source(target), SourceOptions(**options))  # type: ignore[arg-type]
    source.open()
    return source


def read_all(source: OpenCVSource, limit: int = 10_000) -> list[Frame]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
        assert len(frames) <= limit, "the source never ended"
    return frames


# -- video files -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLIPS))
def test_every_frame_of_a_video_file_is_read_in_order(videos_dir: Path, name: str) -> None:
    count, size = CLIPS[name]
    source = opened(str(videos_dir / name))
    indices: list[int] = []
    timestamps: list[int] = []
    try:
        assert source.size == size
        # Each frame is checked as it is read rather than kept: the whole bottle clip is 800 MB of pixels.
        while (frame := source.read()) is not None:
            assert frame.image.dtype == np.uint8
            assert frame.image.shape == (size.height, size.width, 3)
            assert frame.size == size
            assert frame.source_id == str(videos_dir / name)
            assert frame.lores is None
            indices.append(frame.index)
            timestamps.append(frame.timestamp_ns)
            assert len(indices) <= 10_000, "the source never ended"
    finally:
        source.close()
    assert len(indices) == count
    assert indices == list(range(count))
    assert timestamps == sorted(timestamps)


def test_a_video_file_decodes_to_the_same_pixels_as_opencv(videos_dir: Path) -> None:
    path = str(videos_dir / "asl_gestures_book.mkv")
    cap = cv2.VideoCapture(path)
    expected = [cap.read()[1] for _ in range(3)]
    cap.release()
    source = opened(path)
    try:
        got = [source.read() for _ in range(3)]
    finally:
        source.close()
    for frame, image in zip(got, expected, strict=True):
        assert frame is not None
        np.testing.assert_array_equal(frame.image, image)


def test_a_video_file_is_not_live_and_reports_its_fps(videos_dir: Path) -> None:
    source = opened(str(videos_dir / "asl_gestures_book.mkv"))
    try:
        assert source.is_live is False
        assert source.fps == pytest.approx(30, abs=0.5)
    finally:
        source.close()


def test_read_after_the_end_keeps_returning_none(videos_dir: Path) -> None:
    source = opened(str(videos_dir / "asl_gestures_book.mkv"))
    try:
        read_all(source)
        assert source.read() is None
        assert source.read() is None
    finally:
        source.close()


def test_loop_restarts_a_video_at_its_first_frame(videos_dir: Path) -> None:
    count, _ = CLIPS["asl_gestures_book.mkv"]
    source = opened(str(videos_dir / "asl_gestures_book.mkv"), loop=True)
    try:
        frames = [source.read() for _ in range(count + 3)]
    finally:
        source.close()
    assert all(f is not None for f in frames)
    # Indexes keep counting across the restart; the pixels start over.
    assert [f.index for f in frames] == list(range(count + 3))  # type: ignore[union-attr]
    for i in range(3):
        np.testing.assert_array_equal(frames[count + i].image, frames[i].image)  # type: ignore[union-attr]


def test_realtime_paces_a_video_no_faster_than_its_own_frame_rate(videos_dir: Path) -> None:
    source = opened(str(videos_dir / "asl_gestures_book.mkv"), realtime=True)
    try:
        fps = source.fps
        assert fps
        frames = [source.read() for _ in range(16)]
    finally:
        source.close()
    assert all(f is not None for f in frames)
    # 15 frame intervals of the clip's own time; a generous margin for coarse timers.
    clip_time = 15 / fps
    elapsed = (frames[-1].timestamp_ns - frames[0].timestamp_ns) / 1e9  # type: ignore[union-attr]
    assert elapsed >= 0.8 * clip_time


def test_a_corrupt_video_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    # Fixed noise: some random byte strings probe as an audio or MPEG stream (1 run in ~600 did).
    path.write_bytes(random.Random(7).randbytes(64 * 1024))
    source = OpenCVSource(parse_source(str(path)), SourceOptions())
    with pytest.raises(InputError, match="cannot decode video file") as err:
        source.open()
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_read_before_open_is_a_source_error(videos_dir: Path) -> None:
    source = OpenCVSource(parse_source(str(videos_dir / "asl_gestures_book.mkv")), SourceOptions())
    with pytest.raises(SourceError, match="not open"):
        source.read()


def test_close_is_idempotent_and_read_after_close_is_a_source_error(videos_dir: Path) -> None:
    source = opened(str(videos_dir / "asl_gestures_book.mkv"))
    source.close()
    source.close()
    with pytest.raises(SourceError):
        source.read()


# -- webcams -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["99", "/dev/video99"])
def test_a_webcam_that_does_not_exist_is_a_source_error(target: str) -> None:
    source = OpenCVSource(parse_source(target), SourceOptions(width=640, height=480, fps=30))
    assert source.is_live
    with pytest.raises(SourceError, match="cannot open camera") as err:
        source.open()
    assert target in str(err.value)
    assert err.value.hint and "video" in err.value.hint


# -- network streams ---------------------------------------------------------------------------------


def test_an_mjpeg_http_stream_opens_live_and_delivers_every_frame(mjpeg_server: MjpegServer, bottle_frames: list[np.ndarray]) -> None:
    source = opened(mjpeg_server.url)
    try:
        assert source.is_live is True
        assert source.source_id == mjpeg_server.url
        frames = read_all(source)
    finally:
        source.close()
    assert len(frames) == len(bottle_frames)
    assert [f.index for f in frames] == list(range(len(frames)))
    for frame, original in zip(frames, bottle_frames, strict=True):
        assert frame.image.dtype == np.uint8
        assert frame.image.shape == original.shape == (360, 640, 3)
        # JPEG is lossy, but it is the same picture.
        assert np.abs(frame.image.astype(int) - original.astype(int)).mean() < 4


def test_the_end_of_a_stream_makes_read_return_none_not_raise(mjpeg_server: MjpegServer) -> None:
    source = opened(mjpeg_server.url)
    try:
        frames = read_all(source)
        assert frames
        assert mjpeg_server.frames_sent == len(mjpeg_server.frames)
        assert source.read() is None
    finally:
        source.close()


def test_a_stream_cut_by_the_server_makes_read_return_none(bottle_jpegs: list[bytes]) -> None:
    with MjpegServer(bottle_jpegs, repeat=True, fps=60) as server:
        source = opened(server.url)
        try:
            assert source.read() is not None
            server.stop()
            # Frames already buffered may still come out; then the source reports the end
            # (read_all fails if it never comes) and keeps reporting it.
            read_all(source, limit=len(bottle_jpegs) * 4)
            assert source.read() is None
        finally:
            source.close()


def test_an_unreachable_stream_is_a_source_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/stream.mjpg"
    source = OpenCVSource(parse_source(url), SourceOptions())
    with pytest.raises(SourceError, match="cannot open stream") as err:
        source.open()
    assert url in str(err.value)


def test_a_missing_stream_path_is_a_source_error(mjpeg_server: MjpegServer) -> None:
    url = mjpeg_server.url.replace("/stream.mjpg", "/nothing-here.mjpg")
    with pytest.raises(SourceError):
        opened(url)


def test_the_mjpeg_server_can_be_restarted_on_the_same_port(bottle_jpegs: list[bytes]) -> None:
    with MjpegServer(bottle_jpegs[:8]) as server:
        url = server.url
        server.stop()
        with pytest.raises(SourceError):
            opened(url)
        server.start()
        assert server.url == url
        source = opened(url)
        try:
            assert len(read_all(source)) == 8
        finally:
            source.close()
        assert server.connections == 1
