"""The one-string source grammar: picam[:N] | N | /dev/videoN | file | dir | glob | rtsp:// | http(s)://"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Literal

from camapp.errors import UsageError
from camapp.sources.redact import redact_url

SourceKind = Literal["picamera", "webcam", "video", "images", "stream"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")

_PICAM = re.compile(r"^picam(?:era)?(?::(\d+))?$")
_DEVICE = re.compile(r"^/dev/video(\d+)$")


@dataclass(frozen=True)
class SourceSpec:
    kind: SourceKind
    target: str  # path, URL, glob, or device
    index: int | None = None  # camera number for picam / webcam

    @property
    def display(self) -> str:
        """The target as it may be shown or sent anywhere: a URL's credentials masked. Only the
        code that opens the stream reads `target` itself."""
        return redact_url(self.target)

    def describe(self) -> str:
        return f"{self.kind} {self.display}"


def parse_source(text: str) -> SourceSpec:
    """Turn a --source string into a SourceSpec, checking that files exist. Does not open anything."""
    s = text.strip()
    if not s:
        raise UsageError("empty --source", "give a camera (picam, 0, /dev/video0), a file, a folder, a glob or a URL")
    if m := _PICAM.match(s):
        return SourceSpec("picamera", s, int(m.group(1) or 0))
    if s.isascii() and s.isdigit():  # str.isdigit() also accepts '¹', which int() refuses (found by tests/test_fuzz.py)
        return SourceSpec("webcam", s, int(s))
    if m := _DEVICE.match(s):
        return SourceSpec("webcam", s, int(m.group(1)))
    if s.lower().startswith(STREAM_SCHEMES):
        return SourceSpec("stream", s)
    if "://" in s:
        scheme = s.split("://", 1)[0]
        raise UsageError(f"unsupported source scheme '{scheme}://'", "use rtsp://, http://, https://, a file or a camera")
    # An existing path is taken literally even when its name has glob characters ("cam[1].mp4").
    if any(ch in s for ch in "*?[") and not os.path.exists(os.path.expanduser(s)):
        if not glob.glob(os.path.expanduser(s)):
            raise UsageError(f"no files match the source pattern '{s}'", "check the pattern, or quote it so the shell does not expand it")
        return SourceSpec("images", os.path.expanduser(s))
    path = os.path.expanduser(s)
    if os.path.isdir(path):
        return SourceSpec("images", path)
    if not os.path.exists(path):
        raise UsageError(
            f"source '{s}' does not exist",
            "give an existing file or folder, a camera (picam, 0, /dev/video0) or a stream URL",
        )
    if path.lower().endswith(IMAGE_EXTENSIONS):
        return SourceSpec("images", path)
    # Anything else that exists is handed to OpenCV as a video; it says so if it cannot decode it.
    return SourceSpec("video", path)
