"""Turn a BGR frame into the model's input tensor, and record the geometry that was applied.

Pure functions of (image, spec) -> writes into a caller-owned buffer, so the hot path allocates
nothing per frame: the resize writes straight into a reused buffer, and the colour swap plus the
pixel-to-tensor mapping write straight into the interpreter's own input memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from camapp.frames import Image

ResizeMode = Literal["stretch", "letterbox", "crop"]
INTERPOLATION = {"linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA, "nearest": cv2.INTER_NEAREST}


@dataclass(frozen=True)
class Transform:
    """Where the model's input window lies in the source frame, in normalised frame coordinates.

    A box the model reports at (u, v) in its own 0..1 input space maps back to
    (x0 + u * sx, y0 + v * sy) in the frame.
    """

    x0: float = 0.0
    y0: float = 0.0
    sx: float = 1.0
    sy: float = 1.0

    def to_frame(self, u: float, v: float) -> tuple[float, float]:
        return self.x0 + u * self.sx, self.y0 + v * self.sy


IDENTITY = Transform()


@dataclass(frozen=True)
class InputSpec:
    width: int
    height: int
    dtype: np.dtype[Any]
    scale: float  # input quantisation; 0 for float inputs
    zero_point: int
    # The model wants (pixel - mean) / std as its real-valued input. None (the default) means
    # "what the model implies": (p - 127.5) / 127.5 for a float input, and the raw pixels for a
    # uint8 / int8 input, whose quantisation already encodes the model's normalisation.
    mean: float | None = None
    std: float | None = None
    resize: ResizeMode = "stretch"
    interpolation: str = "linear"


def pixel_lut(spec: InputSpec) -> NDArray[Any] | None:
    """A 256-entry table from pixel value to the tensor's own encoding, or None for identity.

    The real value a model wants is (p - mean) / std; a quantised input stores it as
    real / scale + zero_point. For the usual MobileNet uint8 input (scale 1/128, zero point 128)
    that is the pixel itself, so the table is skipped and pixels are copied as they are.

    Without an explicit mean / std a quantised input gets the raw pixels (uint8) or the pixels
    shifted into the int8 range (p - 128): a converter sets the input quantisation so that raw
    pixels are right whatever range the network was trained on. Applying the [-1, 1] default
    instead would clip half of every image for a [0, 1] model (scale 1/255, zero point 0).
    """
    p = np.arange(256, dtype=np.float64)
    mean = 127.5 if spec.mean is None else spec.mean
    std = 127.5 if spec.std is None else spec.std
    if spec.dtype == np.float32:
        return ((p - mean) / std).astype(np.float32)
    info = np.iinfo(spec.dtype)
    if (spec.mean is None and spec.std is None) or spec.scale == 0:
        q = p + min(info.min, 0)  # raw pixels: 0..255, or -128..127 for int8
    else:
        q = np.clip(np.round((p - mean) / std / spec.scale + spec.zero_point), info.min, info.max)
    if spec.dtype == np.uint8 and np.array_equal(q, p):
        return None
    if spec.dtype == np.uint8 and np.max(np.abs(q - p)) <= 1:
        return None  # within one step of identity: a rounding difference, not a different mapping
    return q.astype(spec.dtype)


Rect = tuple[int, int, int, int]


def geometry(src_w: int, src_h: int, spec: InputSpec) -> tuple[Transform, Rect | None, Rect | None]:
    """(transform, crop of the source as x, y, w, h or None, placement in the input or None)."""
    if spec.resize == "crop":
        scale = max(spec.width / src_w, spec.height / src_h)
        cw, ch = min(src_w, round(spec.width / scale)), min(src_h, round(spec.height / scale))
        cx, cy = (src_w - cw) // 2, (src_h - ch) // 2
        return Transform(cx / src_w, cy / src_h, cw / src_w, ch / src_h), (cx, cy, cw, ch), None
    if spec.resize == "letterbox":
        scale = min(spec.width / src_w, spec.height / src_h)
        nw, nh = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        px, py = (spec.width - nw) // 2, (spec.height - nh) // 2
        # The input window is larger than the frame: its origin lies before the frame's.
        sx, sy = spec.width / nw, spec.height / nh
        return Transform(-px / nw, -py / nh, sx, sy), None, (px, py, nw, nh)
    return IDENTITY, None, None


class Preprocessor:
    """Owns the reused buffers for one model; call into() once per frame."""

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.lut = pixel_lut(spec)
        self._resized = np.zeros((spec.height, spec.width, 3), np.uint8)
        self._rgb = np.zeros((spec.height, spec.width, 3), np.uint8)
        self._interp = INTERPOLATION[spec.interpolation]
        self._cache_key: tuple[int, int] | None = None
        self._geometry: tuple[Any, Any, Any] = (IDENTITY, None, None)

    def into(self, image: Image, tensor: NDArray[Any]) -> Transform:
        """Resize, convert BGR -> RGB and encode `image` into `tensor` ([1, H, W, 3], in place)."""
        h, w = image.shape[:2]
        if self._cache_key != (w, h):
            self._geometry = geometry(w, h, self.spec)
            self._cache_key = (w, h)
            self._resized[:] = 0  # letterbox bars
        transform, crop, place = self._geometry
        src = image if crop is None else image[crop[1] : crop[1] + crop[3], crop[0] : crop[0] + crop[2]]
        if place is None:
            _into(cv2.resize(src, (self.spec.width, self.spec.height), dst=self._resized, interpolation=self._interp), self._resized)
        else:
            px, py, nw, nh = place
            self._resized[py : py + nh, px : px + nw] = cv2.resize(src, (nw, nh), interpolation=self._interp)
        target = tensor[0]
        if self.lut is None:
            _into(cv2.cvtColor(self._resized, cv2.COLOR_BGR2RGB, dst=target), target)
        else:
            _into(cv2.cvtColor(self._resized, cv2.COLOR_BGR2RGB, dst=self._rgb), self._rgb)
            np.take(self.lut, self._rgb, out=target)
        return transform


def _into(result: NDArray[Any], target: NDArray[Any]) -> None:
    """OpenCV silently allocates a new array when it cannot use dst; copy in that case."""
    if result is not target and not np.shares_memory(result, target):
        target[...] = result
