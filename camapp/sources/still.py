"""Still images: one file, a folder, or a glob, as a finite source."""

from __future__ import annotations

import glob
import logging
import os
import time
from typing import cast

import cv2

from camapp.errors import InputError
from camapp.frames import Frame, Image, Size
from camapp.sources.base import SourceOptions
from camapp.sources.spec import IMAGE_EXTENSIONS, SourceSpec

log = logging.getLogger(__name__)


def list_images(target: str) -> list[str]:
    """The image files a path, folder or glob names, in a stable (sorted) order."""
    if os.path.isdir(target):
        names = sorted(os.listdir(target))
        return [os.path.join(target, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    if any(ch in target for ch in "*?[") and not os.path.exists(target):
        # Like a folder: only image files, so "shots/*" skips the .json or .txt beside them.
        return sorted(p for p in glob.glob(target) if os.path.isfile(p) and p.lower().endswith(IMAGE_EXTENSIONS))
    return [target]


def read_image(path: str) -> Image:
    """Decode one image file to BGR, or raise InputError naming the file."""
    if not os.path.isfile(path):
        raise InputError(f"image '{path}' does not exist", "check the path")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot decode image '{path}'", "is it a complete JPEG, PNG or BMP file?")
    return cast(Image, image)  # cv2's stubs say MatLike


class StillSource:
    def __init__(self, spec: SourceSpec, options: SourceOptions) -> None:
        self.spec = spec
        self.options = options
        self.source_id = spec.target
        self._paths: list[str] = []
        self._pos = 0
        self.failed: list[tuple[str, str]] = []  # images that did not decode, with the reason

    @property
    def is_live(self) -> bool:
        return False

    @property
    def fps(self) -> float | None:
        return None

    @property
    def size(self) -> Size | None:
        return None

    def open(self) -> None:
        self._paths = list_images(self.spec.target)
        if not self._paths:
            raise InputError(f"no images in '{self.spec.target}'", f"supported extensions: {', '.join(IMAGE_EXTENSIONS)}")
        self._pos = 0

    def read(self) -> Frame | None:
        while self._pos < len(self._paths):
            path = self._paths[self._pos]
            self._pos += 1
            try:
                image = read_image(path)
            except InputError as exc:
                # One broken image in a folder must not end the run: report it and go on.
                log.error("%s", exc)
                self.failed.append((path, str(exc)))
                continue
            return Frame(image, self._pos - 1, time.monotonic_ns(), path)
        if self.options.loop and self._paths and len(self.failed) < len(self._paths):
            self._pos = 0
            self.failed.clear()
            return self.read()
        return None

    def close(self) -> None:
        self._paths = []
