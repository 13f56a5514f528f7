"""A desktop window (--show). Needs a display; 'q' or Esc ends the run."""

from __future__ import annotations

import os
import threading

import cv2

from camapp.errors import OutputError
from camapp.outputs.base import Delivery, SinkBase


class WindowSink(SinkBase):
    wants_pixels = True

    def __init__(self, title: str, stop: threading.Event) -> None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise OutputError("--show needs a display, and none is set (DISPLAY)", "run without --show, or use --http for a web view")
        self.title = title
        self.stop = stop
        self._opened = False

    def write(self, item: Delivery) -> None:
        try:
            cv2.imshow(self.title, item.annotated if item.annotated is not None else item.frame.image)
        except cv2.error as exc:
            hint = "install opencv-python (not -headless), or run without --show"
            raise OutputError(f"cannot open a window: {exc.msg.strip()}", hint) from exc
        self._opened = True
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.stop.set()

    def close(self) -> None:
        if self._opened:
            cv2.destroyWindow(self.title)
