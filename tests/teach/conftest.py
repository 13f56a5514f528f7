"""Shared data for the teach tests: the hand-made ground truth of the shared clips (data/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import yaml

from camapp.frames import Image

SEGMENTS = Path(__file__).parent / "data" / "video_segments.yaml"


@pytest.fixture(scope="session")
def frame_labels() -> dict[str, dict[int, str]]:
    """video file name -> {frame index: label}, every frame of each clip ("unclear" included)."""
    data = yaml.safe_load(SEGMENTS.read_text())
    out: dict[str, dict[int, str]] = {}
    for video, info in data.items():
        labels: dict[int, str] = {}
        for seg in info["segments"]:
            for f in range(seg["start_frame"], seg["end_frame"] + 1):
                labels[f] = seg["label"]
        assert len(labels) == info["frames"], f"{video}: the segments must cover every frame"
        out[video] = labels
    return out


def read_frames(path: Path, wanted: set[int] | None = None, step: int = 1) -> Iterator[tuple[int, Image]]:
    """(index, BGR image) in decode order, as camapp's file source reads them."""
    cap = cv2.VideoCapture(str(path))
    try:
        index = 0
        # read() is grab() (decode) then retrieve() (convert to BGR): frames nobody wants are only decoded.
        while cap.grab():
            if (wanted is None and index % step == 0) or (wanted is not None and index in wanted):
                ok, image = cap.retrieve()
                if not ok:
                    return
                yield index, image
            index += 1
    finally:
        cap.release()
