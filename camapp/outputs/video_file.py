"""Video files that a browser plays and that survive a crash: H.264 in fragmented MP4 (or Matroska).

Why not OpenCV's VideoWriter, which camapp used before: its MP4 keeps the index (moov) for the
end, written by release(), so a SIGKILL, a watchdog abort or a power cut left a file with 0
playable frames (measured); and its only MP4 codec here is MPEG-4 part 2 ("mp4v"), which no
browser plays, while the web page links to recordings and clips.

So camapp encodes with PyAV (FFmpeg's libraries; the PyPI wheels carry libx264, and Raspberry Pi
OS's python3-av uses Debian's FFmpeg, which has it too) and writes a fragmented MP4: an empty index
first, then a small self-describing fragment every FRAGMENT_SECONDS, each flushed to the file as
it is made. Measured on bottle-detection.mp4 killed with SIGKILL mid-recording: 294 of 300 and 516
of 517 frames played back (whole fragments only; the unfragmented MP4 played 0), and Chromium
plays the file, cut off or not. Fragments cost 0.9 % in size.

x264 runs with preset ultrafast and tune zerolatency: no frame is held back for look-ahead (so a
crash loses only the fragment being written) and the cost per frame is small (0.9 ms for 640x360
here, colour conversion included, on the output thread, beside inference). Keyframes every second keep seeking quick.

Without PyAV, or for .avi, OpenCV's writer is used as before (MJPG in .avi / .mkv, mp4v in .mp4),
with a warning that the file is neither crash-safe nor browser-playable.
"""

from __future__ import annotations

import contextlib
import logging
import os
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol, cast

import cv2
import numpy as np

from camapp.errors import OutputError
from camapp.frames import Image

if TYPE_CHECKING:
    from av.container.output import OutputContainer
    from av.video.stream import VideoStream

log = logging.getLogger(__name__)

FRAGMENT_SECONDS = 0.2
# FFmpeg's write buffer: larger than any 0.2 s fragment (a 1080p keyframe is 100-200 KB), so each
# fragment is handed over in one piece (see WholeWrites).
WRITE_BUFFER_BYTES = 1 << 20
# Encoders in order of preference; the first one this FFmpeg has is used. mpeg4 is the last
# resort: it survives a crash like the others but browsers do not play it.
H264_ENCODERS = ("libx264", "libopenh264", "h264")
FALLBACK_ENCODER = "mpeg4"
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
OPENCV_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
VIDEO_SUFFIXES = tuple(OPENCV_FOURCC)
LIVE_TIME_BASE = Fraction(1, 90_000)  # the MPEG clock: exact for any camera frame interval


class VideoFile(Protocol):
    """One open video file: frames of one size go in, in order, and close() finishes it."""

    path: str
    codec: str  # what the frames are encoded with, for logs and docs
    browser_playable: bool

    def write(self, image: Image, timestamp_ns: int | None = None) -> None: ...
    def close(self) -> None: ...


def open_video_file(path: str, fps: float, width: int, height: int, live: bool = False) -> VideoFile:
    """A new video file at `path` (which must not be written by anyone else).

    `live`: frames carry capture timestamps (timestamp_ns) and play back in real time, however
    irregularly they came; otherwise frame n is shown at n / fps, as in the source file.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_SUFFIXES:
        raise OutputError(f"cannot save video as '{path}'", f"use one of: {', '.join(VIDEO_SUFFIXES)}")
    if ext in CONTAINERS:
        try:
            import av  # noqa: F401 - only to know it is there; PyAvFile imports what it uses
        except ImportError:
            log.warning("PyAV is not installed: '%s' is written by OpenCV, which a crash leaves unplayable "
                        "and browsers do not play (pip install av)", path)
        else:
            return PyAvFile(path, CONTAINERS[ext], fps, width, height, live)
    return OpenCvFile(path, OPENCV_FOURCC[ext], fps, width, height)


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264 in 4:2:0 needs even sides: an odd one loses its last row or column."""
    return max(2, width - width % 2), max(2, height - height % 2)


def pick_encoder(available: set[str] | None = None) -> str:
    """The first H.264 encoder this FFmpeg has, else mpeg4. `available` is for tests."""
    if available is None:
        available = _encoders()
    for name in H264_ENCODERS:
        if name in available:
            return name
    return FALLBACK_ENCODER


def _encoders() -> set[str]:
    import av

    return {name for name in (*H264_ENCODERS, FALLBACK_ENCODER) if _has_encoder(av, name)}


def _has_encoder(av: Any, name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - UnknownCodecError, or ValueError in older PyAV
        return False
    return True


class PyAvFile:
    def __init__(self, path: str, container_format: str, fps: float, width: int, height: int, live: bool) -> None:
        import av

        self.path = path
        self.width, self.height = even_size(width, height)
        self.live = live
        self.codec = pick_encoder()
        self.browser_playable = self.codec != FALLBACK_ENCODER
        if not self.browser_playable:
            log.warning("this FFmpeg has no H.264 encoder: '%s' is MPEG-4 part 2, which browsers do not play", path)
        options = {"flush_packets": "1"}  # each fragment reaches the file as soon as it is made
        if container_format in ("mp4", "mov"):
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
            options["frag_duration"] = str(int(FRAGMENT_SECONDS * 1e6))
        else:
            options["cluster_time_limit"] = str(int(FRAGMENT_SECONDS * 1000))  # Matroska clusters, in ms
        rate = Fraction(fps).limit_denominator(1001)
        try:
            self._out = WholeWrites(path)
            self._container: OutputContainer | None = av.open(
                self._out, mode="w", format=container_format, options=options, buffer_size=WRITE_BUFFER_BYTES
            )
        except (OSError, av.error.FFmpegError) as exc:
            raise OutputError(f"cannot create video '{path}': {_reason(exc)}", "check the folder is writable") from exc
        try:
            stream = cast("VideoStream", self._container.add_stream(self.codec, rate=rate))
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            ctx = stream.codec_context
            ctx.gop_size = max(1, round(fps))  # a keyframe a second
            # One thread, like everything else on the output thread: the interpreter keeps the other
            # cores. Measured here: 0.9 ms a frame at 640x360 (same as with threads), 7.4 ms at 1080p.
            ctx.thread_count = 1
            ctx.time_base = LIVE_TIME_BASE if live else 1 / rate
            if self.codec == "libx264":
                ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "23"}
        except Exception:
            self._container.close()
            raise
        self._stream = stream
        self._time_base = ctx.time_base
        self._frames = 0
        self._first_ns: int | None = None
        self._last_pts = -1
        self._av = av

    def write(self, image: Image, timestamp_ns: int | None = None) -> None:
        container = self._container
        if container is None:
            raise OutputError(f"video '{self.path}' is already closed")
        h, w = image.shape[:2]
        if (w, h) != (self.width, self.height):
            image = self._fit(image)
        # OpenCV converts to 4:2:0 in 0.18 ms where FFmpeg's swscale takes 1.65 ms (640x360, this
        # machine), with the same BT.601 limited-range result (Y within 1).
        yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
        frame = self._av.VideoFrame.from_ndarray(cast(Any, yuv), format="yuv420p")
        frame.pts = self._pts(timestamp_ns)
        frame.time_base = self._time_base
        try:
            for packet in self._stream.encode(frame):
                container.mux(packet)
        except (OSError, self._av.error.FFmpegError) as exc:
            raise OutputError(f"cannot write video '{self.path}': {_reason(exc)}", "check free space") from exc
        self._frames += 1

    def _fit(self, image: Image) -> Image:
        h, w = image.shape[:2]
        if (w - w % 2, h - h % 2) == (self.width, self.height):
            return np.ascontiguousarray(image[: self.height, : self.width])  # an odd side: drop a row or column
        # A video file has one frame size; a camera that changes mode must not corrupt it.
        return cv2.resize(image, (self.width, self.height))  # type: ignore[return-value]

    def _pts(self, timestamp_ns: int | None) -> int:
        if not self.live or timestamp_ns is None:
            pts = self._frames
        else:
            if self._first_ns is None:
                self._first_ns = timestamp_ns
            pts = round((timestamp_ns - self._first_ns) * self._time_base.denominator / (1e9 * self._time_base.numerator))
        pts = max(pts, self._last_pts + 1)  # strictly increasing, whatever the clock did
        self._last_pts = pts
        return pts

    def close(self) -> None:
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            for packet in self._stream.encode(None):  # the encoder's last frames
                container.mux(packet)
        except (OSError, self._av.error.FFmpegError) as exc:
            raise OutputError(f"cannot finish video '{self.path}': {_reason(exc)}", "check free space") from exc
        finally:
            try:
                container.close()
            except (OSError, self._av.error.FFmpegError) as exc:
                log.debug("closing %s: %s", self.path, exc)
            self._out.close()


class WholeWrites:
    """The file FFmpeg writes through: each flush (a whole fragment) is one write() system call.

    FFmpeg's own file output writes in 32 KB pieces, so a SIGKILL between two pieces of a
    keyframe's fragment could leave half a fragment, which Chromium plays up to and then stops
    with a decode error (measured). Here a fragment reaches the kernel in one call, and a write the
    disk cannot take (ENOSPC) is cut back to the last whole fragment before the error is raised,
    so the file always ends cleanly. No seek(): FFmpeg then writes streaming-style, which is what
    fragmented MP4 and live Matroska are.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        self.size = 0  # bytes of whole fragments in the file

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        try:
            done = 0
            while done < len(view):
                done += os.write(self._fd, view[done:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)
            raise
        self.size += len(view)
        return len(view)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OpenCvFile:
    """The fallback: neither crash-safe in .mp4 nor browser-playable, but always there."""

    browser_playable = False

    def __init__(self, path: str, fourcc: str, fps: float, width: int, height: int) -> None:
        self.path = path
        self.codec = fourcc
        self.size = (width, height)
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*fourcc), fps, self.size)
        if not self._writer.isOpened():
            raise OutputError(f"cannot create video '{path}'", "check the folder is writable and the extension is .mp4, .avi or .mkv")

    def write(self, image: Image, timestamp_ns: int | None = None) -> None:
        assert self._writer is not None
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size)  # type: ignore[assignment]
        self._writer.write(image)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def _reason(exc: BaseException) -> str:
    """FFmpeg's errors carry errno and the call; the strerror alone reads best ("No space left on device")."""
    return getattr(exc, "strerror", None) or str(exc)
