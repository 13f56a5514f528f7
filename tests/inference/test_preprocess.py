"""Frame -> input tensor: the pixel encoding, the RGB order, and the geometry of the fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camapp.frames import Frame
from camapp.inference.model import Model, ModelOptions
from camapp.inference.preprocess import IDENTITY, InputSpec, Preprocessor, Transform, geometry, pixel_lut

from . import tflite_builder as tb

PIXELS = np.arange(256)


def spec(dtype: Any = np.uint8, scale: float = 1 / 128, zero_point: int = 128, **kw: Any) -> InputSpec:
    return InputSpec(kw.pop("width", 300), kw.pop("height", 300), np.dtype(dtype), scale, zero_point, **kw)


def test_mobilenet_uint8_input_takes_pixels_as_they_are() -> None:
    assert pixel_lut(spec(np.uint8, 1 / 128, 128)) is None
    assert pixel_lut(spec(np.uint8, 0.0078431, 127)) is None  # tf2_mobilenet_v2 ptq
    assert pixel_lut(spec(np.uint8, 0.0078740, 128)) is None  # v3-small
    # The same with the [-1, 1] mean / std spelled out.
    assert pixel_lut(spec(np.uint8, 1 / 128, 128, mean=127.5, std=127.5)) is None
    assert pixel_lut(spec(np.uint8, 0.0078431, 127, mean=127.5, std=127.5)) is None


def test_float_input_is_minus_one_to_one() -> None:
    lut = pixel_lut(spec(np.float32, 0.0, 0))
    assert lut is not None and lut.dtype == np.float32
    np.testing.assert_allclose(lut, (PIXELS - 127.5) / 127.5, rtol=1e-6)
    assert (lut[0], lut[255]) == (-1.0, 1.0)


def test_float_input_with_a_zero_to_one_mean_and_std() -> None:
    lut = pixel_lut(spec(np.float32, 0.0, 0, mean=0.0, std=255.0))
    assert lut is not None
    np.testing.assert_allclose(lut, PIXELS / 255, rtol=1e-6)


def test_int8_input() -> None:
    lut = pixel_lut(spec(np.int8, 1 / 128, 0))
    assert lut is not None and lut.dtype == np.int8
    assert (lut[0], lut[255]) == (-128, 127)
    assert np.all(np.diff(lut.astype(int)) >= 0)
    assert np.max(np.abs(lut.astype(int) - (PIXELS - 128))) <= 1
    # Spelled out as [-1, 1], the same mapping within one rounding step.
    explicit = pixel_lut(spec(np.int8, 1 / 128, 0, mean=127.5, std=127.5))
    assert explicit is not None and (explicit[0], explicit[255]) == (-128, 127)
    assert np.max(np.abs(explicit.astype(int) - lut.astype(int))) <= 1


def test_uint8_zero_to_one_input() -> None:
    assert pixel_lut(spec(np.uint8, 1 / 255, 0, mean=0.0, std=255.0)) is None
    # Without a mean / std the quantisation alone says how to feed it: raw pixels, not the
    # [-1, 1] mapping that would clip every pixel below 128 to 0.
    assert pixel_lut(spec(np.uint8, 1 / 255, 0)) is None


def test_int8_zero_to_one_input() -> None:
    lut = pixel_lut(spec(np.int8, 1 / 255, -128))
    assert lut is not None
    np.testing.assert_array_equal(lut.astype(int), PIXELS - 128)


def test_explicit_mean_and_std_that_differ_from_the_quantisation() -> None:
    # A uint8 [-1, 1] input fed as if the model wanted [0, 1]: a real table, clipped to uint8.
    lut = pixel_lut(spec(np.uint8, 1 / 128, 128, mean=0.0, std=255.0))
    assert lut is not None and lut.dtype == np.uint8
    assert lut[0] == 128 and lut[255] == 255 and lut[128] == 192


# --- Preprocessor.into -----------------------------------------------------------------------


def test_writes_rgb_into_the_tensor_in_place(images_dir: Path) -> None:
    image = cv2.imread(str(images_dir / "cat.bmp"))
    tensor = np.zeros((1, 224, 224, 3), np.uint8)
    transform = Preprocessor(spec(width=224, height=224)).into(image, tensor)
    expected = cv2.cvtColor(cv2.resize(image, (224, 224), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(tensor[0], expected)
    assert transform == IDENTITY
    # Red carpet: the first channel of the tensor is red, the last of the image is red.
    assert tensor[0, 200:, :, 0].mean() > tensor[0, 200:, :, 2].mean()


def test_area_interpolation(images_dir: Path) -> None:
    image = cv2.imread(str(images_dir / "parrot.jpg"))
    tensor = np.zeros((1, 192, 160, 3), np.uint8)
    Preprocessor(spec(width=160, height=192, interpolation="area")).into(image, tensor)
    expected = cv2.cvtColor(cv2.resize(image, (160, 192), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(tensor[0], expected)


def test_encodes_float_and_int8_tensors(images_dir: Path) -> None:
    image = cv2.imread(str(images_dir / "bird.bmp"))
    rgb = cv2.cvtColor(cv2.resize(image, (128, 128)), cv2.COLOR_BGR2RGB).astype(np.float64)
    as_float = np.zeros((1, 128, 128, 3), np.float32)
    Preprocessor(spec(np.float32, 0.0, 0, width=128, height=128)).into(image, as_float)
    np.testing.assert_allclose(as_float[0], (rgb - 127.5) / 127.5, rtol=1e-6)
    as_int8 = np.zeros((1, 128, 128, 3), np.int8)
    Preprocessor(spec(np.int8, 1 / 128, 0, width=128, height=128)).into(image, as_int8)
    np.testing.assert_array_equal(as_int8[0].astype(int), rgb.astype(int) - 128)


def test_reuses_buffers_across_frames(images_dir: Path) -> None:
    pre = Preprocessor(spec(width=96, height=96))
    tensor = np.zeros((1, 96, 96, 3), np.uint8)
    for name in ("cat.bmp", "parrot.jpg", "cat.bmp"):
        image = cv2.imread(str(images_dir / name))
        pre.into(image, tensor)
        np.testing.assert_array_equal(tensor[0], cv2.cvtColor(cv2.resize(image, (96, 96)), cv2.COLOR_BGR2RGB))


def _frame(width: int, height: int, value: int = 200) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def test_letterbox_wide_frame() -> None:
    pre = Preprocessor(spec(resize="letterbox"))
    tensor = np.full((1, 300, 300, 3), 99, np.uint8)
    transform = pre.into(_frame(640, 360), tensor)
    # 640x360 scales to 300x169 (rounded), centred: 65 rows of bars above, 66 below.
    rows = np.flatnonzero(tensor[0, :, 150, 0] == 200)
    assert (rows[0], rows[-1]) == (65, 65 + 169 - 1)
    assert np.all(tensor[0, :65] == 0) and np.all(tensor[0, 65 + 169 :] == 0)
    x, y = transform.to_frame(0.5, 0.5)
    assert x == pytest.approx(0.5) and y == pytest.approx(0.5, abs=1 / 169)
    assert transform.to_frame(0.0, 65 / 300) == pytest.approx((0.0, 0.0))
    assert transform.to_frame(1.0, (65 + 169) / 300) == pytest.approx((1.0, 1.0))
    # A point in the bars lies outside the frame.
    assert transform.to_frame(0.5, 0.0)[1] < 0


def test_letterbox_tall_frame_and_a_size_change() -> None:
    pre = Preprocessor(spec(width=200, height=100, resize="letterbox"))
    tensor = np.zeros((1, 100, 200, 3), np.uint8)
    transform = pre.into(_frame(100, 100), tensor)  # square into 2:1: bars left and right
    cols = np.flatnonzero(tensor[0, 50, :, 0] == 200)
    assert (cols[0], cols[-1]) == (50, 149)
    assert transform.to_frame(0.25, 0.0) == pytest.approx((0.0, 0.0))
    assert transform.to_frame(0.75, 1.0) == pytest.approx((1.0, 1.0))
    # A 4:1 frame next: bars above and below, and the old picture must not show through them.
    transform = pre.into(_frame(400, 100, value=50), tensor)
    assert np.all(tensor[0, 25:75, :, 0] == 50)
    assert np.all(tensor[0, :25] == 0) and np.all(tensor[0, 75:] == 0)
    assert transform == Transform(0.0, -0.5, 1.0, 2.0)
    # And a frame of exactly the input's shape fills it.
    assert pre.into(_frame(200, 100, value=70), tensor) == Transform(0.0, 0.0, 1.0, 1.0)
    assert np.all(tensor[0, :, :, 0] == 70)


def test_crop_takes_the_centre() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    image[:, 140:500] = (0, 0, 255)  # the centre square is red (BGR)
    tensor = np.zeros((1, 300, 300, 3), np.uint8)
    transform = Preprocessor(spec(resize="crop")).into(image, tensor)
    assert np.all(tensor[0, :, :, 0] == 255) and np.all(tensor[0, :, :, 1:] == 0)
    assert transform.to_frame(0.0, 0.0) == pytest.approx((140 / 640, 0.0))
    assert transform.to_frame(1.0, 1.0) == pytest.approx((500 / 640, 1.0))
    assert transform.to_frame(0.5, 0.5) == pytest.approx((0.5, 0.5))


def test_stretch_is_identity() -> None:
    tensor = np.zeros((1, 300, 300, 3), np.uint8)
    assert Preprocessor(spec()).into(_frame(640, 360), tensor) == IDENTITY
    assert IDENTITY.to_frame(0.3, 0.7) == (0.3, 0.7)


@settings(max_examples=150, deadline=None)
@given(
    src_w=st.integers(16, 1000),
    src_h=st.integers(16, 1000),
    dst=st.sampled_from([(300, 300), (224, 224), (320, 240), (128, 96)]),
    mode=st.sampled_from(["stretch", "letterbox", "crop"]),
    spot=st.tuples(st.floats(0.2, 0.8), st.floats(0.2, 0.8)),
)
def test_a_bright_spot_maps_back_to_where_it_was(
    src_w: int, src_h: int, dst: tuple[int, int], mode: str, spot: tuple[float, float]
) -> None:
    # Draw a spot on a dark frame, preprocess, find it in the tensor and map it back.
    rx0, ry0, rw, rh = 0, 0, src_w, src_h  # the part of the frame the model sees
    if mode == "crop":
        _, crop, _ = geometry(src_w, src_h, spec(width=dst[0], height=dst[1], resize="crop"))
        assert crop is not None
        rx0, ry0, rw, rh = crop
    image = np.full((src_h, src_w, 3), 20, np.uint8)
    r = max(2, rw // 10, rh // 10)
    cx, cy = rx0 + int(spot[0] * rw), ry0 + int(spot[1] * rh)
    cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), (255, 255, 255), -1)
    tensor = np.zeros((1, dst[1], dst[0], 3), np.uint8)
    transform = Preprocessor(spec(width=dst[0], height=dst[1], resize=mode)).into(image, tensor)  # type: ignore[arg-type]
    ys, xs = np.nonzero(tensor[0, :, :, 0] > 137)
    u, v = (xs.mean() + 0.5) / dst[0], (ys.mean() + 0.5) / dst[1]
    x, y = transform.to_frame(u, v)
    # Where the visible part of the spot really is.
    x0, x1 = max(cx - r, rx0), min(cx + r, rx0 + rw - 1)
    y0, y1 = max(cy - r, ry0), min(cy + r, ry0 + rh - 1)
    assert x == pytest.approx((x0 + x1 + 1) / 2 / src_w, abs=2 / min(dst) + 2 / src_w)
    assert y == pytest.approx((y0 + y1 + 1) / 2 / src_h, abs=2 / min(dst) + 2 / src_h)


# --- through the runtime, with models that expose their own input ----------------------------


def _colour_frame() -> Frame:
    image = np.array([[[0, 0, 255], [0, 255, 0]], [[255, 0, 0], [10, 128, 250]]], np.uint8)  # BGR
    return Frame(image, 0, 0, "colours")


@pytest.mark.parametrize(
    ("dtype", "quant", "expected"),
    [
        (tb.FLOAT32, None, lambda rgb: (rgb - 127.5) / 127.5),
        (tb.INT8, (1 / 128, 0), lambda rgb: rgb - 128),
        (tb.UINT8, (1 / 255, 0), lambda rgb: rgb),
    ],
    ids=["float32", "int8", "uint8-0-1"],
)
def test_model_feeds_its_input_type(tmp_path: Path, dtype: int, quant: Any, expected: Any) -> None:
    # A RESHAPE model: its 12 "class scores" are its own 2x2x3 input tensor.
    path = tmp_path / "reshape.tflite"
    path.write_bytes(tb.reshape_classifier(2, 2, dtype, quant))
    model = Model(ModelOptions(str(path), top_k=12))
    frame = _colour_frame()
    results = model.run(frame)
    rgb = frame.image[:, :, ::-1].astype(np.float64)
    fed = model.interpreter.get_tensor(model.info.input.index)
    np.testing.assert_allclose(fed[0].astype(np.float64), expected(rgb), atol=1e-6)
    # Scores are not probabilities here, so they were put through a softmax in input order.
    assert sum(c.score for c in results.classes) == pytest.approx(1.0, abs=1e-4)
    assert [c.class_id for c in results.classes][:3] == [0, 4, 8]  # the three 255 channels: R, G, B
