"""Fixtures for the source tests: real frames from the shared clips, and a real MJPEG server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.sources.mjpeg_server import MjpegServer, encode_jpegs, read_video_frames

STREAM_FRAMES = 24  # enough for FFmpeg to probe the stream and for the test to read on


@pytest.fixture(scope="session")
def bottle_video(videos_dir: Path) -> Path:
    return videos_dir / "bottle-detection.mp4"


@pytest.fixture(scope="session")
def asl_video(videos_dir: Path) -> Path:
    return videos_dir / "asl_gestures_book.mkv"


@pytest.fixture(scope="session")
def bottle_frames(bottle_video: Path) -> list[np.ndarray]:
    """The first frames of bottle-detection.mp4 (640x360, BGR)."""
    return read_video_frames(str(bottle_video), STREAM_FRAMES)


@pytest.fixture(scope="session")
def bottle_jpegs(bottle_frames: list[np.ndarray]) -> list[bytes]:
    return encode_jpegs(bottle_frames)


@pytest.fixture
def mjpeg_server(bottle_jpegs: list[bytes]) -> Iterator[MjpegServer]:
    """A started server that sends the bottle frames once, then ends the stream."""
    with MjpegServer(bottle_jpegs) as server:
        yield server
