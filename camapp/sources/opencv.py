"""Webcams, video files and network streams, through OpenCV's VideoCapture."""

from __future__ import annotations

import logging
import time
from typing import cast

import cv2

from camapp.errors import InputError, SourceError
from camapp.frames import Frame, Image, Size
from camapp.sources.base import SourceOptions
from camapp.sources.spec import SourceSpec

log = logging.getLogger(__name__)

STREAM_OPEN_TIMEOUT_MS = 10_000
STREAM_READ_TIMEOUT_MS = 5_000


class OpenCVSource:
    def __init__(self, spec: SourceSpec, options: SourceOptions) -> None:
        self.spec = spec
        self.options = options
        self.source_id = spec.display  # credentials masked: this name goes to logs, pages and MQTT
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._fps: float | None = None
        self._size: Size | None = None
        self._pace_start_ns = 0
        self._pace_first_index = 0

    @property
    def is_live(self) -> bool:
        return self.spec.kind in ("webcam", "stream")

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def size(self) -> Size | None:
        return self._size

    def open(self) -> None:
        cap = self._create_capture()
        if not cap.isOpened():
            cap.release()
            raise self._open_error()
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = fps if 0 < fps < 1000 else None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._size = Size(w, h) if w > 0 and h > 0 else None
        self._pace_start_ns = 0
        log.info("opened %s (%s, %s fps)", self.spec.describe(), self._size, self._fps)

    def _create_capture(self) -> cv2.VideoCapture:
        opts = self.options
        if self.spec.kind == "webcam":
            target: int | str = self.spec.target if self.spec.target.startswith("/dev/") else int(self.spec.target)
            cap = cv2.VideoCapture(target)
            if opts.width and opts.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, opts.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, opts.height)
            if opts.fps:
                cap.set(cv2.CAP_PROP_FPS, opts.fps)
            # A deep driver queue would hand us frames that are seconds old.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            return cap
        if self.spec.kind == "stream":
            # FFmpeg's defaults wait 30 s on a stalled stream; a camera app must notice much sooner.
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_READ_TIMEOUT_MS]
            return cv2.VideoCapture(self.spec.target, cv2.CAP_FFMPEG, params)
        # One decoder thread: the pipeline already decodes on its own capture thread, in parallel
        # with inference; FFmpeg's default extra thread per core only competes with the
        # interpreter for the same cores and costs more CPU per frame (benchmarks/RESULTS.md).
        cap = cv2.VideoCapture(self.spec.target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if cap.isOpened():
            return cap
        cap.release()
        return cv2.VideoCapture(self.spec.target)  # a file only another backend can read

    def _open_error(self) -> Exception:
        if self.spec.kind == "webcam":
            return SourceError(
                f"cannot open camera {self.spec.display}",
                "check that it is plugged in, not used by another program, and that your user is in the 'video' group",
            )
        if self.spec.kind == "stream":
            return SourceError(f"cannot open stream {self.spec.display}", "check the URL and that the server is reachable")
        return InputError(f"cannot decode video file {self.spec.display}", "check that it is a video OpenCV can read (mp4, mkv, avi)")

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"source {self.source_id} is not open")
        ok, image = self._cap.read()
        if not ok and self.spec.kind == "video" and self.options.loop and self._index > 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._pace_start_ns = 0
            ok, image = self._cap.read()
        if not ok or image is None:
            return None
        if self.spec.kind == "video" and self.options.realtime:
            self._pace()
        frame = Frame(cast(Image, image), self._index, time.monotonic_ns(), self.source_id)  # cv2's stubs say MatLike
        self._index += 1
        return frame

    def _pace(self) -> None:
        """Sleep until this frame's due time so a file behaves like a camera at its own rate."""
        if not self._fps:
            return
        now = time.monotonic_ns()
        if self._pace_start_ns == 0:
            self._pace_start_ns, self._pace_first_index = now, self._index
            return
        due = self._pace_start_ns + int((self._index - self._pace_first_index) * 1e9 / self._fps)
        if due > now:
            time.sleep((due - now) / 1e9)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
