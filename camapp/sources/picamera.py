"""The Raspberry Pi camera through picamera2 (libcamera).

Two streams are configured: "main" at display size for the overlay and recordings, and the ISP's
"lores" stream at about the model's input size for inference, so the CPU never has to shrink a
full-size frame. picamera2 is imported only here, and only when a Pi camera is used, because it
exists only on Raspberry Pi OS (apt install python3-picamera2).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from typing import Any

from camapp.errors import SourceError
from camapp.frames import Frame, Size, yuv420_to_bgr
from camapp.sources.base import SourceOptions
from camapp.sources.spec import SourceSpec

log = logging.getLogger(__name__)

DEFAULT_MAIN_SIZE = (1280, 720)


def _import_picamera2() -> Any:
    # numpy 2 prints a page with a traceback when a module built for numpy 1 is imported; the user
    # gets camapp's one line instead (and the page with --debug).
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            from picamera2 import Picamera2  # type: ignore[import-not-found]
    except ModuleNotFoundError as exc:
        if exc.name != "picamera2":
            raise SourceError(*_broken_stack(exc)) from exc
        raise SourceError(
            "the Pi camera needs picamera2, which is not importable here",
            "on Raspberry Pi OS: sudo apt install python3-picamera2, and create the venv with --system-site-packages",
        ) from exc
    except Exception as exc:
        # apt's picamera2 and simplejpeg are compiled against the system's numpy; a different numpy in
        # the venv fails here with "numpy.dtype size changed" (ValueError) or "numpy.core.multiarray
        # failed to import" (ImportError). Not a camapp bug: the venv needs rebuilding.
        raise SourceError(*_broken_stack(exc)) from exc
    finally:
        if said.getvalue():
            log.debug("importing picamera2 printed:\n%s", said.getvalue().rstrip())
    return Picamera2


def _broken_stack(exc: BaseException) -> tuple[str, str]:
    import numpy

    first_line = (str(exc).strip().splitlines() or [""])[0]
    return (
        f"the Pi camera stack (picamera2) failed to import: {type(exc).__name__}: {first_line} "
        f"(numpy {numpy.__version__} from {os.path.dirname(os.path.dirname(numpy.__file__))})",
        "run `camapp doctor`; usually the venv's numpy shadows the system's, so recreate the venv: "
        "rm -rf .venv && bash scripts/camapp doctor",
    )


class PicameraSource:
    def __init__(self, spec: SourceSpec, options: SourceOptions) -> None:
        self.spec = spec
        self.options = options
        self.camera_num = spec.index or 0
        self.source_id = spec.target
        self._cam: Any = None
        self._index = 0
        self._main_size = Size(*DEFAULT_MAIN_SIZE)
        self._lores_size = Size(options.lores_width, options.lores_height)
        self._lores_stride = 0

    @property
    def is_live(self) -> bool:
        return True

    @property
    def fps(self) -> float | None:
        return self.options.fps

    @property
    def size(self) -> Size | None:
        return self._main_size

    def open(self) -> None:
        picamera2_cls = _import_picamera2()
        cameras = picamera2_cls.global_camera_info()
        if self.camera_num >= len(cameras):
            raise SourceError(
                f"no Pi camera number {self.camera_num} (found {len(cameras)})",
                "check the ribbon cable and run 'rpicam-hello --list-cameras'",
            )
        if self.options.width and self.options.height:
            self._main_size = Size(self.options.width, self.options.height)
        cam = None
        try:
            cam = picamera2_cls(self.camera_num)
            controls = {"FrameRate": self.options.fps} if self.options.fps else {}
            config = cam.create_video_configuration(
                main={"size": (self._main_size.width, self._main_size.height), "format": "RGB888"},
                # YUV420 is the one lores format every Pi (4 and 5) supports.
                lores={"size": (self._lores_size.width, self._lores_size.height), "format": "YUV420"},
                buffer_count=4,
                controls=controls,
            )
            cam.configure(config)
            # configure() aligns the requested sizes (even, or whatever the ISP can do) and adds the
            # strides: use what was actually configured, not what was asked for.
            main_conf, lores_conf = cam.stream_configuration("main"), cam.stream_configuration("lores")
            self._main_size = Size(*main_conf["size"])
            self._lores_size = Size(*lores_conf["size"])
            self._lores_stride = lores_conf["stride"]
            cam.start()
        except Exception as exc:  # libcamera raises plain RuntimeErrors
            if cam is not None:
                # A half-opened camera stays acquired: release it so a retry can open it again.
                try:
                    cam.close()
                except Exception:  # noqa: BLE001 - already reporting the first failure
                    log.debug("closing the Pi camera after a failed open also failed", exc_info=True)
            raise SourceError(f"cannot start Pi camera {self.camera_num}: {exc}", "is another program using the camera?") from exc
        self._cam = cam
        log.info("opened Pi camera %d: main %s, lores %s", self.camera_num, self._main_size, self._lores_size)

    def read(self) -> Frame | None:
        if self._cam is None:
            raise SourceError("Pi camera is not open")
        request = self._cam.capture_request()
        try:
            # "RGB888" is B, G, R in memory: exactly OpenCV's order, so no conversion is needed.
            main = request.make_array("main")
            lores_buf = request.make_buffer("lores")
        finally:
            # Holding a request blocks the camera's buffer queue; give it back at once.
            request.release()
        lores = yuv420_to_bgr(lores_buf, self._lores_size.width, self._lores_size.height, self._lores_stride)
        frame = Frame(main, self._index, time.monotonic_ns(), self.source_id, lores=lores)
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
            finally:
                self._cam.close()
                self._cam = None
