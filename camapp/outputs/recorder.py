"""Annotated video files and folders of annotated images."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import cast

import cv2

from camapp.errors import OutputError
from camapp.frames import Frame, Image
from camapp.sources.spec import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
VIDEO_SUFFIXES = tuple(FOURCC)

# A full SD card is how a recording on a Pi usually ends. OpenCV's VideoWriter reports no write
# errors, and an MP4 cut off before its index (written only by release()) does not play at all,
# so the whole recording would be lost. Free space is therefore checked on every frame (one
# statvfs call), and the file is finished while there is still room for the index: about 20
# bytes per frame, 2 MB for an hour at 30 fps.
MIN_FREE_BYTES = 16_000_000


def check_writable_folder(folder: str, what: str) -> None:
    """Fail at start (exit 5) rather than after the run: OpenCV's VideoWriter and imwrite only
    report False, and root passes every os.access check, so a real file is created and removed."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".camapp-write-test-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot {what} in '{folder}': {exc.strerror or exc}", "choose a folder you can write to") from exc


def is_video_path(path: str) -> bool:
    return path.lower().endswith(VIDEO_SUFFIXES)


class VideoRecorder:
    wants_pixels = True

    def __init__(self, path: str, fps: float | None, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.path = path
        self.fps = fps if fps and fps > 0 else 30.0
        self.min_free_bytes = min_free_bytes
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self._stopped: OutputError | None = None  # set once the disk ran low: never reopened
        self.frames_written = 0
        self.folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(self.folder):
            raise OutputError(f"cannot save video to '{path}': folder '{self.folder}' does not exist", "create it first")
        check_writable_folder(self.folder, "save video")

    def _open(self, width: int, height: int) -> None:
        suffix = os.path.splitext(self.path)[1].lower()
        writer = cv2.VideoWriter(self.path, cv2.VideoWriter.fourcc(*FOURCC[suffix]), self.fps, (width, height))
        if not writer.isOpened():
            raise OutputError(f"cannot create video '{self.path}'", "check the folder is writable and the extension is .mp4, .avi or .mkv")
        self._writer, self._size = writer, (width, height)

    def write(self, frame: Frame, annotated: Image | None, results: object, fresh: bool) -> None:
        if self._stopped is not None:
            # Reopening would start the file again from zero and overwrite what was saved.
            raise OutputError(self._stopped.message, self._stopped.hint)
        self._check_free_space()
        image = annotated if annotated is not None else frame.image
        h, w = image.shape[:2]
        if self._writer is None:
            self._open(w, h)
        assert self._writer is not None and self._size is not None
        if (w, h) != self._size:
            # A video file has one frame size; a camera that changes mode must not corrupt it.
            image = cast(Image, cv2.resize(image, self._size))  # cv2's stubs say MatLike
        self._writer.write(image)
        self.frames_written += 1

    def _check_free_space(self) -> None:
        try:
            st = os.statvfs(self.folder)
        except OSError:
            return  # the folder vanished: the writer's own failure will say so
        free = st.f_bavail * st.f_frsize
        if free >= self.min_free_bytes:
            return
        self.close()  # finish the file (its index) while it still fits
        done = (
            f"stopped recording after {self.frames_written} frames, and that part of the file is complete"
            if self.frames_written
            else "nothing recorded"
        )
        self._stopped = OutputError(
            f"disk almost full for '{self.path}' ({free / 1e6:.1f} MB free, camapp keeps {self.min_free_bytes / 1e6:.0f} MB): {done}",
            "free some space; the next run records again",
        )
        raise self._stopped

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("saved %d frames to %s", self.frames_written, self.path)


class ImageFolderRecorder:
    """One annotated JPEG per processed frame, named after the input image when there is one."""

    wants_pixels = True

    def __init__(self, folder: str) -> None:
        self.folder = folder
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder '{folder}': {exc.strerror}") from exc
        check_writable_folder(folder, "save images")
        self.images_written = 0

    def name_for(self, frame: Frame) -> str:
        stem, ext = os.path.splitext(os.path.basename(frame.source_id))
        if ext.lower() in IMAGE_EXTENSIONS and os.path.isfile(frame.source_id):
            return f"{stem}.jpg"
        # Frames of a video or a camera: one file each, numbered.
        return f"{stem or 'frame'}_{frame.index:06d}.jpg"

    def write(self, frame: Frame, annotated: Image | None, results: object, fresh: bool) -> None:
        if not fresh:
            return
        path = os.path.join(self.folder, self.name_for(frame))
        if not cv2.imwrite(path, annotated if annotated is not None else frame.image):
            raise OutputError(f"cannot write image '{path}'", "check free space and permissions")
        self.images_written += 1

    def close(self) -> None:
        pass
