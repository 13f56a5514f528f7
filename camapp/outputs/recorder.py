"""--save: annotated video files and folders of annotated images."""

from __future__ import annotations

import logging
import os
import tempfile

import cv2

from camapp.errors import OutputError
from camapp.frames import Frame, Image
from camapp.outputs.base import Delivery, SinkBase
from camapp.outputs.naming import claim_new_file, create_new_file, remove_quietly
from camapp.outputs.video_file import VIDEO_SUFFIXES, VideoFile, open_video_file
from camapp.sources.spec import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)

# A full SD card is how a recording on a Pi usually ends. Free space is checked on every frame (one
# statvfs call) and the file is finished while there is still room: a fragmented MP4 cut off by
# ENOSPC would still play up to its last whole fragment, but the OpenCV fallback's index would not
# fit, and the reserve keeps the rest of the system (logs, the JSONL) writing.
MIN_FREE_BYTES = 16_000_000
# Recording starts again, in a new numbered file, once this much is free (twice the reserve, so it
# does not flap around the limit).
RESUME_FREE_FACTOR = 2


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


class VideoRecorder(SinkBase):
    """--save VIDEO: every frame the outputs see, annotated, into a new file (never over an old one)."""

    wants_pixels = True

    def __init__(self, path: str, fps: float | None, live: bool = False, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.requested = path
        self.path = path  # the file being written (numbered when `requested` existed)
        self.fps = fps if fps and fps > 0 else 30.0
        self.live = live
        self.min_free_bytes = min_free_bytes
        self._file: VideoFile | None = None
        self._size: tuple[int, int] | None = None
        self._stopped: OutputError | None = None  # set when the disk ran low, until space is back
        self.frames_written = 0  # over all files of this run
        self.files: list[str] = []
        self.folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(self.folder):
            raise OutputError(f"cannot save video to '{path}': folder '{self.folder}' does not exist", "create it first")
        check_writable_folder(self.folder, "save video")

    def _open(self, width: int, height: int) -> None:
        try:
            self.path = claim_new_file(self.requested)
        except OSError as exc:
            raise OutputError(f"cannot create video '{self.requested}': {exc.strerror or exc}", "check free space and permissions") from exc
        try:
            self._file = open_video_file(self.path, self.fps, width, height, self.live)
        except BaseException:
            remove_quietly(self.path)  # the empty claimed file
            raise
        self._size = (width, height)
        self.files.append(self.path)
        log.info("recording to %s (%s%s)", self.path, self._file.codec, "" if self._file.browser_playable else ", not browser-playable")

    @property
    def name(self) -> str:
        return f"VideoRecorder {self.path}"

    def write(self, item: Delivery) -> None:
        frame = item.frame
        free = self._free_bytes()
        if self._stopped is not None:
            if free is None or free < self.min_free_bytes * RESUME_FREE_FACTOR:
                raise OutputError(self._stopped.message, self._stopped.hint)
            self._stopped = None
            log.info("disk space is back (%.0f MB free): recording again, in a new file", free / 1e6)
        if free is not None and free < self.min_free_bytes:
            self._stop_for_space(free)
        image = item.annotated if item.annotated is not None else frame.image
        if self._file is None:
            h, w = image.shape[:2]
            self._open(w, h)
        assert self._file is not None
        try:
            self._file.write(image, frame.timestamp_ns)
        except OutputError:
            self._finish()  # whatever reached the file stays playable; the next write starts a new one
            raise
        self.frames_written += 1

    def _free_bytes(self) -> int | None:
        try:
            st = os.statvfs(self.folder)
        except OSError:
            return None  # the folder vanished: the writer's own failure will say so
        return st.f_bavail * st.f_frsize

    def _stop_for_space(self, free: int) -> None:
        self._finish()
        done = "nothing recorded"
        if self.frames_written:
            done = f"stopped recording after {self.frames_written} frames, and what was saved plays"
        self._stopped = OutputError(
            f"disk almost full for '{self.path}' ({free / 1e6:.1f} MB free, camapp keeps {self.min_free_bytes / 1e6:.0f} MB): {done}",
            f"free some space; recording starts again in a new file once {self.min_free_bytes * RESUME_FREE_FACTOR / 1e6:.0f} MB are free",
        )
        raise self._stopped

    def _finish(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            file.close()
        finally:
            log.info("saved %d frames to %s", self.frames_written, file.path)

    def close(self) -> None:
        self._finish()


class ImageFolderRecorder(SinkBase):
    """One annotated JPEG per processed frame, named after the input image when there is one.

    A name already in the folder gets a number (photo-2.jpg): nothing saved earlier is replaced.
    A JPEG that does not fit on the disk is removed rather than left cut off.
    """

    wants_pixels = True

    def __init__(self, folder: str, jpeg_quality: int = 95) -> None:
        self.folder = folder
        self.jpeg_quality = jpeg_quality
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

    @property
    def name(self) -> str:
        return f"ImageFolderRecorder {self.folder}"

    def write(self, item: Delivery) -> None:
        if not item.fresh:
            return
        self.save(item.frame, item.annotated if item.annotated is not None else item.frame.image)

    def save(self, frame: Frame, image: Image) -> None:
        """Write `image` (frame, annotated) under a name from `frame`; `camapp classify --save` calls it directly."""
        wanted = os.path.join(self.folder, self.name_for(frame))
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise OutputError(f"cannot encode image '{wanted}'")
        try:
            fd, path = create_new_file(wanted)
        except OSError as exc:
            raise OutputError(f"cannot write image '{wanted}': {exc.strerror or exc}", "check free space and permissions") from exc
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(jpeg.tobytes())
        except OSError as exc:
            remove_quietly(path)  # no cut-off JPEG under a real name
            raise OutputError(f"cannot write image '{path}': {exc.strerror or exc}", "check free space and permissions") from exc
        self.images_written += 1

