"""Frame: the one thing a source produces, and the pixel-format conversions sources need.

Pixels are kept in OpenCV's BGR order end to end, not RGB: every OpenCV source decodes to BGR,
picamera2's "RGB888" format is BGR in memory, and every sink (imwrite, VideoWriter, imencode,
imshow) wants BGR. Converting once per frame to RGB and back would cost two full-frame passes; the
model's RGB order is produced by preprocess at the model's (small) input size instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]


@dataclass(frozen=True)
class Size:
    width: int
    height: int


@dataclass
class Frame:
    image: Image  # H x W x 3, BGR, uint8: what is displayed and recorded
    index: int  # 0-based position in the source, counting frames the pipeline skipped
    timestamp_ns: int  # time.monotonic_ns() when the frame was captured
    source_id: str
    # A smaller copy of the same view for inference, when the source has one for free (the Pi
    # camera's ISP low-resolution stream). Preprocess uses it instead of resizing `image`.
    lores: Image | None = None

    @property
    def inference_image(self) -> Image:
        """What the model should see: the lores copy when the source made one, else the frame."""
        return self.lores if self.lores is not None else self.image

    @property
    def size(self) -> Size:
        height, width = self.image.shape[:2]
        return Size(width, height)


def yuv420_to_bgr(buffer: NDArray[np.uint8], width: int, height: int, stride: int) -> Image:
    """Convert a planar YUV420 (I420) buffer whose rows are padded to `stride` bytes to BGR.

    libcamera pads every row of the lores stream to a stride (often a multiple of 64), and the
    chroma planes to stride / 2, so the buffer is not the packed (h * 3/2, w) layout that
    cv2.cvtColor expects: each plane has to be cut out and unpadded first.
    """
    flat = buffer.reshape(-1)
    y_size = stride * height
    c_stride, c_height, c_width = stride // 2, height // 2, width // 2
    c_size = c_stride * c_height
    needed = y_size + 2 * c_size
    if flat.size < needed:
        raise ValueError(f"YUV420 buffer has {flat.size} bytes, {width}x{height} stride {stride} needs {needed}")
    y = flat[:y_size].reshape(height, stride)[:, :width]
    u = flat[y_size : y_size + c_size].reshape(c_height, c_stride)[:, :c_width]
    v = flat[y_size + c_size : needed].reshape(c_height, c_stride)[:, :c_width]
    packed = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(height * 3 // 2, width)
    import cv2  # here: frames is imported by commands that never convert a frame (check-config, doctor)

    return cast(Image, cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_I420))  # cv2's stubs say MatLike
