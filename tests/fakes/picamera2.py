"""A FAKE of the `picamera2` library, for tests on machines without a Raspberry Pi camera.

THIS IS NOT picamera2. libcamera cannot run here, so this module imitates the small part of
picamera2's public API that camapp uses, following the real library (raspberrypi/picamera2:
picamera2/picamera2.py, picamera2/request.py) closely enough that code which works against the
fake makes the same calls, with the same arguments, that work on a Pi:

- `Picamera2.global_camera_info()` (a staticmethod) lists the attached cameras as dicts with
  "Model", "Location", "Rotation", "Id" and "Num"; `Picamera2(camera_num)` for a number past the
  end raises IndexError, as the real one does (it indexes that list).
- `create_video_configuration(main=..., lores=..., buffer_count=..., controls=...)` returns the
  same plain dict: "use_case", "transform", "colour_space", "buffer_count", "queue", "main",
  "lores", "raw", "controls", "sensor", "display", "encode"; main defaults to 1280x720 XBGR8888
  and lores to YUV420 at the main size; only "format", "size", "stride" and "preserve_ar" are
  valid stream keys (anything else is a ValueError); sizes are rounded down to even numbers.
- `configure(config)` checks the config like the real `check_camera_config` (sizes are tuples of
  even numbers, lores no bigger than main and YUV), then does what libcamera's validate() does:
  it adds "stride" and "framesize" to each stream dict (YUV420: Y stride rounded up to a multiple
  of 64 bytes, chroma planes stride // 2; RGB: width * bytes per pixel rounded up to 64). The dict
  is copied shallowly, so, as on a Pi, the caller's stream dicts gain "stride" and "framesize".
- `stream_configuration(name)` returns that stream's dict: "size", "format", "stride",
  "framesize" (and "preserve_ar").
- `start()`, `stop()`, `close()`; `capture_request()` returns a request with `make_array(name)`,
  `make_buffer(name)`, `get_metadata()` and `release()`; `capture_array(name)`,
  `capture_buffer(name)`.
- Buffers have the real memory layout: "RGB888" is B, G, R bytes (picamera2's RGB888 is BGR in
  memory), "BGR888" is R, G, B, "XBGR8888" is R, G, B, X and "XRGB8888" is B, G, R, X; "YUV420"
  is planar I420 with every row padded to the stride. `make_buffer` returns the flat padded
  buffer (framesize bytes); `make_array` reshapes like picamera2's Helpers.make_array: RGB
  formats to (h, w, 3|4) with the padding cut off, YUV420 to (h * 3 // 2, stride) WITH the padding.

Where the real library would hang or misbehave, the fake fails loudly instead, so a test notices:
capturing before start() raises RuntimeError (picamera2 would block forever waiting for a frame);
taking more requests than buffer_count without releasing them raises RuntimeError (the real
camera would stall); using a request after release() raises RuntimeError; releasing twice raises
RuntimeError like the real reference count check. Every request handed out is recorded in
`Picamera2.requests`, so tests can assert that none was leaked (`camera.unreleased` is empty).

Frames come from a list of BGR images given to `fresh_module(frames=...)` (for instance decoded
from a real video): they play the part of what the sensor sees, and each one is resized to the
main and lores sizes the way the ISP would. The camera never runs out: it cycles the list.

Use it by installing a fresh copy as the `picamera2` module:

    fake = picamera2_fake.fresh_module(frames=frames)
    monkeypatch.setitem(sys.modules, "picamera2", fake)
    ...
    cam = fake.Picamera2.instances[-1]
"""

from __future__ import annotations

import copy
import threading
import time
import types
from collections.abc import Sequence
from typing import Any, ClassVar

import cv2
import numpy as np

FAKE = True  # so nobody mistakes this module for the real library

DEFAULT_CAMERAS: tuple[dict[str, Any], ...] = (
    {
        "Model": "imx708",
        "Location": 2,
        "Rotation": 180,
        "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a",
        "Num": 0,
    },
)
SENSOR_RESOLUTION = (4608, 2592)  # imx708
SENSOR_FORMAT = "SBGGR10_CSI2P"

RGB_FORMATS = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4}
YUV_FORMATS = ("YUV420", "YVU420")
STRIDE_ALIGN = 64


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


class Transform:
    """Stands in for libcamera.Transform."""

    def __init__(self, hflip: int = 0, vflip: int = 0) -> None:
        self.hflip, self.vflip = hflip, vflip

    def __repr__(self) -> str:
        return f"<Transform hflip={self.hflip} vflip={self.vflip}>"


class ColorSpace:
    """Stands in for libcamera.ColorSpace."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<ColorSpace {self.name}>"

    @staticmethod
    def Sycc() -> ColorSpace:  # noqa: N802 - libcamera's name
        return ColorSpace("sYCC")

    @staticmethod
    def Smpte170m() -> ColorSpace:  # noqa: N802
        return ColorSpace("SMPTE170M")

    @staticmethod
    def Rec709() -> ColorSpace:  # noqa: N802
        return ColorSpace("Rec709")


def _stream_layout(fmt: str, size: tuple[int, int]) -> tuple[int, int]:
    """(stride, framesize) as libcamera's validate() would set them."""
    w, h = size
    if fmt in YUV_FORMATS:
        stride = _align_up(w, STRIDE_ALIGN)
        return stride, stride * h * 3 // 2
    if fmt in RGB_FORMATS:
        stride = _align_up(w * RGB_FORMATS[fmt], STRIDE_ALIGN)
        return stride, stride * h
    if fmt == SENSOR_FORMAT:
        stride = _align_up(w * 5 // 4, STRIDE_ALIGN)
        return stride, stride * h
    raise RuntimeError(f"Bad format {fmt}")


def _render(bgr: np.ndarray, fmt: str, size: tuple[int, int], stride: int, framesize: int) -> np.ndarray:
    """One stream's buffer, in the real memory layout, as a flat uint8 array of framesize bytes."""
    w, h = size
    scaled = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
    out = np.zeros(framesize, dtype=np.uint8)
    if fmt in YUV_FORMATS:
        i420 = cv2.cvtColor(scaled, cv2.COLOR_BGR2YUV_I420).reshape(-1)
        y = i420[: w * h].reshape(h, w)
        u = i420[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
        v = i420[w * h * 5 // 4 :].reshape(h // 2, w // 2)
        if fmt == "YVU420":
            u, v = v, u
        cstride = stride // 2
        y_plane = out[: stride * h].reshape(h, stride)
        y_plane[:, :w] = y
        u_plane = out[stride * h : stride * h + cstride * (h // 2)].reshape(h // 2, cstride)
        u_plane[:, : w // 2] = u
        v_plane = out[stride * h + cstride * (h // 2) : stride * h + 2 * cstride * (h // 2)].reshape(h // 2, cstride)
        v_plane[:, : w // 2] = v
        return out
    if fmt in RGB_FORMATS:
        bpp = RGB_FORMATS[fmt]
        if fmt == "RGB888":
            pixels = scaled  # B, G, R in memory
        elif fmt == "BGR888":
            pixels = scaled[:, :, ::-1]  # R, G, B
        elif fmt == "XBGR8888":
            pixels = np.dstack([scaled[:, :, ::-1], np.full((h, w), 255, np.uint8)])  # R, G, B, X
        else:  # XRGB8888
            pixels = np.dstack([scaled, np.full((h, w), 255, np.uint8)])  # B, G, R, X
        rows = out[: stride * h].reshape(h, stride)
        rows[:, : w * bpp] = np.ascontiguousarray(pixels).reshape(h, w * bpp)
        return out
    raise RuntimeError(f"fake picamera2: the {fmt} stream is not simulated")


def make_array(buffer: np.ndarray, config: dict[str, Any]) -> np.ndarray:
    """picamera2's Helpers.make_array: a flat buffer to an image-shaped array."""
    fmt = config["format"]
    w, h = config["size"]
    stride = config["stride"]
    array = buffer
    if fmt in ("BGR888", "RGB888"):
        if stride != w * 3:
            array = np.asarray(array.reshape((h, stride))[:, : w * 3], order="C")
        return array.reshape((h, w, 3))
    if fmt in ("XBGR8888", "XRGB8888"):
        if stride != w * 4:
            array = np.asarray(array.reshape((h, stride))[:, : w * 4], order="C")
        return array.reshape((h, w, 4))
    if fmt in YUV_FORMATS:
        # Like picamera2: 50% taller, with the row padding left in.
        return array.reshape((h * 3 // 2, stride))
    raise RuntimeError("Format " + fmt + " not supported")


class CompletedRequest:
    """Imitates picamera2.request.CompletedRequest: a set of buffers held until release()."""

    def __init__(self, picam2: Picamera2, buffers: dict[str, np.ndarray], sequence: int, sensor_index: int) -> None:
        self.picam2 = picam2
        self.config = copy.deepcopy(picam2.camera_config)
        self._buffers: dict[str, np.ndarray] | None = buffers
        self.ref_count = 1
        self.sequence = sequence
        self.sensor_index = sensor_index  # which of the fake's frames this request shows
        self.timestamp_ns = time.monotonic_ns()

    @property
    def released(self) -> bool:
        return self.ref_count == 0

    def acquire(self) -> None:
        with self.picam2._lock:
            if self.ref_count == 0:
                raise RuntimeError("CompletedRequest: acquiring lock with ref_count 0")
            self.ref_count += 1

    def release(self) -> None:
        with self.picam2._lock:
            self.ref_count -= 1
            if self.ref_count < 0:
                raise RuntimeError("CompletedRequest: lock now has negative ref_count")
            if self.ref_count == 0:
                self._buffers = None
                self.config = None

    def _buffer(self, name: str) -> np.ndarray:
        if self._buffers is None:
            raise RuntimeError("fake picamera2: request used after release() (its buffers went back to the camera)")
        if name not in self._buffers:
            raise RuntimeError(f"Stream {name!r} is not defined")
        return self._buffers[name]

    def make_buffer(self, name: str) -> np.ndarray:
        """A flat copy of the named stream's buffer, row padding included (framesize bytes)."""
        return np.array(self._buffer(name), dtype=np.uint8)

    def make_array(self, name: str) -> np.ndarray:
        buffer = self.make_buffer(name)
        assert self.config is not None
        return make_array(buffer, self.config[name])

    def get_metadata(self) -> dict[str, Any]:
        if self._buffers is None:
            raise RuntimeError("fake picamera2: request used after release()")
        return {
            "SensorTimestamp": self.timestamp_ns,
            "FrameDuration": 33333,
            "ExposureTime": 10000,
            "AnalogueGain": 1.0,
            "DigitalGain": 1.0,
        }


class Picamera2:
    """The fake camera. Per-test state lives on the subclass fresh_module() makes."""

    cameras: ClassVar[list[dict[str, Any]]] = [dict(c) for c in DEFAULT_CAMERAS]
    frames: ClassVar[list[np.ndarray]] = []
    instances: ClassVar[list[Picamera2]] = []
    requests: ClassVar[list[CompletedRequest]] = []
    _in_use: ClassVar[set[int]] = set()

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        """One dict per attached camera: "Model", "Location", "Rotation", "Id", "Num"."""
        # A staticmethod in picamera2, so it cannot see the subclass: fresh_module rebinds it.
        return [dict(c) for c in Picamera2.cameras]

    def __init__(self, camera_num: int = 0, verbose_console: Any = None, tuning: Any = None, allocator: Any = None) -> None:
        cls = type(self)
        self.is_open = False
        self.started = False
        self.camera_config: dict[str, Any] | None = None
        # Like the real one: the number indexes global_camera_info(), so one too many is an IndexError.
        num = self.global_camera_info()[camera_num]["Num"]
        if num in cls._in_use:
            # libcamera's acquire() fails; picamera2 turns every failure here into this.
            raise RuntimeError("Camera __init__ sequence did not complete.")
        cls._in_use.add(num)
        self.camera_idx = num
        self.camera_properties = {"Model": cls.cameras[camera_num]["Model"], "ColorFilterArrangement": 0}
        self.sensor_resolution = SENSOR_RESOLUTION
        self.sensor_format = SENSOR_FORMAT
        self.is_open = True
        self.closed = False
        self.configure_calls: list[dict[str, Any]] = []  # deep copies of what configure() was given
        self.start_count = 0
        self.stop_count = 0
        self._sequence = 0
        self._lock = threading.Lock()
        cls.instances.append(self)

    # -- configurations ----------------------------------------------------------------------

    @staticmethod
    def _make_initial_stream_config(stream_config: dict[str, Any], updates: dict[str, Any] | None) -> dict[str, Any] | None:
        if updates is None:
            return None
        valid = ("format", "size", "stride", "preserve_ar")
        for key, value in updates.items():
            if key in valid:
                stream_config[key] = value
            else:
                raise ValueError(f"Bad key {key!r}: valid stream configuration keys are {valid}")
        return stream_config

    @staticmethod
    def align_stream(stream_config: dict[str, Any], optimal: bool = True) -> None:
        align = 2
        if optimal:
            align = 128 if stream_config["format"] in YUV_FORMATS else 64
        w, h = stream_config["size"]
        stream_config["size"] = (w - w % align, h - h % 2)

    def _create(
        self,
        use_case: str,
        main_default: dict[str, Any],
        main: dict[str, Any] | None,
        lores: dict[str, Any] | None,
        raw: dict[str, Any] | None,
        transform: Transform | None,
        colour_space: ColorSpace | None,
        buffer_count: int,
        controls: dict[str, Any] | None,
        display: str | None,
        encode: str | None,
        queue: bool,
        sensor: dict[str, Any] | None,
        default_controls: dict[str, Any],
    ) -> dict[str, Any]:
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        main_conf = self._make_initial_stream_config(main_default, main if main is not None else {})
        assert main_conf is not None
        self.align_stream(main_conf, optimal=False)
        lores_conf = self._make_initial_stream_config({"format": "YUV420", "size": main_conf["size"], "preserve_ar": False}, lores)
        if lores_conf is not None:
            self.align_stream(lores_conf, optimal=False)
        raw_conf = None
        if raw is not None:
            raw_conf = {"format": self.sensor_format, "size": main_conf["size"]}
            raw_conf.update({k: v for k, v in raw.items() if k in ("format", "size")})
        if colour_space is None:
            w, h = main_conf["size"]
            colour_space = ColorSpace.Smpte170m() if w < 1280 or h < 720 else ColorSpace.Rec709()
        config = {
            "use_case": use_case,
            "transform": transform if transform is not None else Transform(),
            "colour_space": colour_space,
            "buffer_count": buffer_count,
            "queue": queue,
            "main": main_conf,
            "lores": lores_conf,
            "raw": raw_conf,
            "controls": default_controls | dict(controls or {}),
            "sensor": sensor if sensor is not None else {},
        }
        for key, name in (("display", display), ("encode", encode)):
            if name is not None and config.get(name) is None:
                raise RuntimeError(f"{key.capitalize()} stream {name} was not defined")
            config[key] = name
        return config

    def create_video_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
        transform: Transform | None = None,
        colour_space: ColorSpace | None = None,
        buffer_count: int = 6,
        controls: dict[str, Any] | None = None,
        display: str | None = "main",
        encode: str | None = "main",
        queue: bool = True,
        sensor: dict[str, Any] | None = None,
        use_case: str = "video",
    ) -> dict[str, Any]:
        return self._create(
            use_case, {"format": "XBGR8888", "size": (1280, 720), "preserve_ar": True}, main, lores,
            {} if raw is None else raw, transform, colour_space, buffer_count, controls, display, encode, queue, sensor,
            {"NoiseReductionMode": "Fast", "FrameDurationLimits": (33333, 33333)},
        )  # fmt: skip

    def create_preview_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
        transform: Transform | None = None,
        colour_space: ColorSpace | None = None,
        buffer_count: int = 4,
        controls: dict[str, Any] | None = None,
        display: str | None = "main",
        encode: str | None = "main",
        queue: bool = True,
        sensor: dict[str, Any] | None = None,
        use_case: str = "preview",
    ) -> dict[str, Any]:
        return self._create(
            use_case, {"format": "XBGR8888", "size": (640, 480), "preserve_ar": True}, main, lores,
            {} if raw is None else raw, transform, colour_space or ColorSpace.Sycc(), buffer_count, controls, display,
            encode, queue, sensor, {"NoiseReductionMode": "Minimal", "FrameDurationLimits": (100, 83333)},
        )  # fmt: skip

    # -- configure / start / stop -----------------------------------------------------------------

    @staticmethod
    def _check_stream_config(stream_config: Any, name: str) -> None:
        if type(stream_config) is not dict:
            raise RuntimeError(name + " stream should be a dictionary")
        for key in ("format", "size"):
            if key not in stream_config:
                raise RuntimeError(f"{key} not found in {name} stream")
        fmt = stream_config["format"]
        if type(fmt) is not str:
            raise RuntimeError("format in " + name + " stream should be a string")
        if name != "raw" and fmt not in RGB_FORMATS and fmt not in YUV_FORMATS:
            raise RuntimeError("Bad format " + fmt + " in stream " + name)
        size = stream_config["size"]
        if type(size) is not tuple or len(size) != 2:
            raise RuntimeError("size in " + name + " stream should be (width, height)")
        if size[0] % 2 or size[1] % 2:
            raise RuntimeError("width and height should be even")

    def configure(self, camera_config: dict[str, Any] | None = None) -> None:
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if camera_config is None:
            camera_config = self.create_preview_configuration()
        if not isinstance(camera_config, dict):
            raise RuntimeError("fake picamera2: only dict configurations are simulated")
        self.configure_calls.append(copy.deepcopy(camera_config))
        config = camera_config.copy()  # shallow, as in picamera2: the stream dicts are shared
        self.camera_config = None
        for key in ("colour_space", "transform", "main", "lores", "raw"):
            if key not in config:
                raise RuntimeError(f"{key!r} key expected in camera configuration")
        self._check_stream_config(config["main"], "main")
        if config["lores"] is not None:
            self._check_stream_config(config["lores"], "lores")
            main_w, main_h = config["main"]["size"]
            lores_w, lores_h = config["lores"]["size"]
            if lores_w > main_w or lores_h > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if config["lores"]["format"] not in YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")
        if config["raw"] is not None:
            self._check_stream_config(config["raw"], "raw")
        # What libcamera's validate() fills in.
        for name in ("main", "lores", "raw"):
            stream = config[name]
            if stream is None:
                continue
            stride, framesize = _stream_layout(stream["format"], stream["size"])
            stream["stride"] = stride
            stream["framesize"] = framesize
        self.camera_config = config

    def camera_configuration(self) -> dict[str, Any] | None:
        return self.camera_config

    def stream_configuration(self, name: str = "main") -> dict[str, Any]:
        if self.camera_config is None:
            raise TypeError("'NoneType' object is not subscriptable")  # what picamera2 does before configure()
        return self.camera_config[name]

    def start(self, config: dict[str, Any] | None = None, show_preview: bool | None = False) -> None:
        if config is not None:
            self.configure(config)
        if self.camera_config is None:
            self.configure(self.create_preview_configuration())
        if not type(self).frames:
            raise RuntimeError("fake picamera2: no frames to show; build the module with fresh_module(frames=...)")
        if not self.started:
            self.started = True
            self.start_count += 1

    def stop(self) -> None:
        if self.started:
            self.started = False
            self.stop_count += 1

    def close(self) -> None:
        if not self.is_open:
            return
        self.stop()
        self.is_open = False
        self.closed = True
        self.camera_config = None
        type(self)._in_use.discard(self.camera_idx)

    def __enter__(self) -> Picamera2:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- capture ----------------------------------------------------------------------------------

    @property
    def unreleased(self) -> list[CompletedRequest]:
        """Requests this camera handed out that were never released."""
        return [r for r in type(self).requests if r.picam2 is self and not r.released]

    def capture_request(self, wait: Any = None, signal_function: Any = None, flush: Any = None) -> CompletedRequest:
        if not self.started:
            raise RuntimeError("fake picamera2: capture before start() (the real picamera2 would block forever)")
        assert self.camera_config is not None
        if len(self.unreleased) >= self.camera_config["buffer_count"]:
            raise RuntimeError("fake picamera2: every buffer is held by an unreleased request (the real camera would stall)")
        cls = type(self)
        sensor_index = self._sequence % len(cls.frames)
        bgr = cls.frames[sensor_index]
        buffers = {}
        for name in ("main", "lores"):
            stream = self.camera_config[name]
            if stream is not None:
                buffers[name] = _render(bgr, stream["format"], stream["size"], stream["stride"], stream["framesize"])
        request = CompletedRequest(self, buffers, self._sequence, sensor_index)
        self._sequence += 1
        cls.requests.append(request)
        return request

    def capture_array(self, name: str = "main", wait: Any = None, signal_function: Any = None) -> np.ndarray:
        request = self.capture_request()
        try:
            return request.make_array(name)
        finally:
            request.release()

    def capture_buffer(self, name: str = "main", wait: Any = None, signal_function: Any = None) -> np.ndarray:
        request = self.capture_request()
        try:
            return request.make_buffer(name)
        finally:
            request.release()


def fresh_module(
    frames: Sequence[np.ndarray] = (),
    cameras: Sequence[dict[str, Any]] | None = None,
) -> types.ModuleType:
    """A new `picamera2` module object with its own cameras, frames and bookkeeping.

    frames: BGR images the camera "sees", cycled forever.
    cameras: what global_camera_info() reports (default: one imx708); [] means no camera.
    """
    camera_list = [dict(c) for c in (DEFAULT_CAMERAS if cameras is None else cameras)]
    for num, cam in enumerate(camera_list):
        cam.setdefault("Num", num)

    class FakePicamera2(Picamera2):
        __doc__ = Picamera2.__doc__

        @staticmethod
        def global_camera_info() -> list[dict[str, Any]]:
            return [dict(c) for c in camera_list]

    FakePicamera2.__name__ = FakePicamera2.__qualname__ = "Picamera2"
    FakePicamera2.cameras = camera_list
    FakePicamera2.frames = [np.ascontiguousarray(f) for f in frames]
    FakePicamera2.instances = []
    FakePicamera2.requests = []
    FakePicamera2._in_use = set()

    module = types.ModuleType("picamera2", "FAKE picamera2 (tests/fakes/picamera2.py): not the real library")
    module.FAKE = True  # type: ignore[attr-defined]
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    module.CompletedRequest = CompletedRequest  # type: ignore[attr-defined]
    module.__file__ = __file__
    return module


def module_from_video(path: str, count: int = 30) -> types.ModuleType:
    """A fresh fake whose camera shows the first `count` frames of a real video, for camapp
    processes that tests start (tests/fakes/*_site/picamera2 put it on their import path)."""
    capture = cv2.VideoCapture(path)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return fresh_module(frames=frames)
