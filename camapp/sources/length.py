"""How many frames a file source will deliver: for progress lines, which need a total."""

from __future__ import annotations

import cv2

from camapp.sources.spec import parse_source
from camapp.sources.still import list_images


def expected_frames(uri: str, loop: bool, max_frames: int | None) -> int | None:
    """How many frames a file run will read: the container's frame count or the number of
    images, capped by --max-frames; None when unknown (--loop, a container without a count)."""
    spec = parse_source(uri)
    count: int | None = None
    if spec.kind == "video" and not loop:
        count = _video_frame_count(spec.target)
    elif spec.kind == "images":
        count = len(list_images(spec.target)) or None
    if max_frames:
        return min(count, max_frames) if count is not None else max_frames
    return count


def _video_frame_count(path: str) -> int | None:
    cap = cv2.VideoCapture(path)
    try:
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    return frames if frames > 0 else None
