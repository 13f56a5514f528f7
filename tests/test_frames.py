"""camapp.frames: the Frame record and the padded-YUV420 conversion the Pi camera's lores stream needs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.frames import Frame, Size, yuv420_to_bgr


def padded_i420(bgr: np.ndarray, stride: int, pad_value: int = 0) -> np.ndarray:
    """The flat buffer libcamera hands over: I420 planes with rows padded to stride (Y) and stride // 2 (U, V)."""
    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    y = i420[: w * h].reshape(h, w)
    u = i420[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
    v = i420[w * h * 5 // 4 :].reshape(h // 2, w // 2)
    planes = [
        np.pad(y, ((0, 0), (0, stride - w)), constant_values=pad_value),
        np.pad(u, ((0, 0), (0, stride // 2 - w // 2)), constant_values=pad_value),
        np.pad(v, ((0, 0), (0, stride // 2 - w // 2)), constant_values=pad_value),
    ]
    return np.concatenate([p.reshape(-1) for p in planes])


@pytest.fixture(scope="module")
def table(images_dir: Path) -> np.ndarray:
    image = cv2.imread(str(images_dir / "table.jpg"))
    assert image is not None
    return image


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_unpadded_yuv420_matches_opencvs_own_conversion(table: np.ndarray) -> None:
    h, w = table.shape[:2]
    i420 = cv2.cvtColor(table, cv2.COLOR_BGR2YUV_I420)
    bgr = yuv420_to_bgr(i420.reshape(-1), w, h, stride=w)
    np.testing.assert_array_equal(bgr, cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420))


@pytest.mark.parametrize("size", [(320, 240), (300, 224), (640, 480)])
def test_a_real_image_round_trips_through_yuv420_within_a_small_error(table: np.ndarray, size: tuple[int, int]) -> None:
    image = cv2.resize(table, size, interpolation=cv2.INTER_AREA)
    bgr = yuv420_to_bgr(padded_i420(image, size[0]), size[0], size[1], stride=size[0])
    assert bgr.shape == (size[1], size[0], 3)
    assert bgr.dtype == np.uint8
    assert mean_abs_diff(bgr, image) < 3


@pytest.mark.parametrize(("width", "stride"), [(300, 320), (320, 384), (640, 704)])
def test_row_padding_is_removed_when_the_stride_is_wider_than_the_image(table: np.ndarray, width: int, stride: int) -> None:
    height = width * 3 // 4
    height -= height % 2
    image = cv2.resize(table, (width, height), interpolation=cv2.INTER_AREA)
    # Bright padding: if any of it leaked into the picture the error would be large.
    buffer = padded_i420(image, stride, pad_value=255)
    bgr = yuv420_to_bgr(buffer, width, height, stride)
    assert bgr.shape == (height, width, 3)
    assert mean_abs_diff(bgr, image) < 3
    # Identical to converting the same frame without padding.
    unpadded = yuv420_to_bgr(padded_i420(image, width), width, height, width)
    np.testing.assert_array_equal(bgr, unpadded)


def test_the_2d_array_picamera2_returns_is_accepted(table: np.ndarray) -> None:
    # picamera2's make_array gives YUV420 as a (h * 3 // 2, stride) array, padding included.
    width, height, stride = 300, 224, 320
    image = cv2.resize(table, (width, height), interpolation=cv2.INTER_AREA)
    array = padded_i420(image, stride).reshape(height * 3 // 2, stride)
    bgr = yuv420_to_bgr(array, width, height, stride)
    assert mean_abs_diff(bgr, image) < 3


def test_a_buffer_with_extra_bytes_at_the_end_is_accepted(table: np.ndarray) -> None:
    # libcamera's framesize can be rounded up beyond the three planes.
    image = cv2.resize(table, (320, 240), interpolation=cv2.INTER_AREA)
    buffer = np.concatenate([padded_i420(image, 320), np.full(4096, 77, np.uint8)])
    assert mean_abs_diff(yuv420_to_bgr(buffer, 320, 240, 320), image) < 3


def test_a_buffer_too_small_for_the_size_and_stride_is_a_value_error(table: np.ndarray) -> None:
    image = cv2.resize(table, (320, 240), interpolation=cv2.INTER_AREA)
    buffer = padded_i420(image, 320)
    with pytest.raises(ValueError, match="YUV420 buffer has"):
        yuv420_to_bgr(buffer[:-1], 320, 240, 320)
    with pytest.raises(ValueError, match="stride 384"):
        yuv420_to_bgr(buffer, 320, 240, 384)


def test_frame_size_is_width_by_height_of_its_image() -> None:
    frame = Frame(np.zeros((360, 640, 3), np.uint8), 0, 0, "test")
    assert frame.size == Size(640, 360)
    assert frame.lores is None
