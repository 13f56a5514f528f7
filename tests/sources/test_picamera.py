"""PicameraSource against tests/fakes/picamera2.py, a FAKE of picamera2 fed with real video frames.

libcamera cannot run here; the fake follows picamera2's real API and buffer layouts (see its
docstring), so these tests check that camapp asks for the right streams, cuts the padded lores
stream correctly, gives every request back, and turns camera problems into SourceErrors.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

from camapp.errors import SourceError
from camapp.frames import Frame, Size
from camapp.sources import SourceOptions, open_source, parse_source
from camapp.sources.picamera import PicameraSource
from tests.fakes import picamera2 as picamera2_fake

Install = Callable[..., types.ModuleType]


@pytest.fixture
def install_fake(monkeypatch: pytest.MonkeyPatch, bottle_frames: list[np.ndarray]) -> Install:
    """Install a fresh fake as the `picamera2` module; returns it so tests can inspect the camera."""

    def install(cameras: list[dict[str, Any]] | None = None, frames: list[np.ndarray] | None = None) -> types.ModuleType:
        fake = picamera2_fake.fresh_module(frames=bottle_frames if frames is None else frames, cameras=cameras)
        monkeypatch.setitem(sys.modules, "picamera2", fake)
        return fake

    return install


def picam(text: str = "picam", **options: Any) -> PicameraSource:
    return PicameraSource(parse_source(text), SourceOptions(**options))


def read_n(source: PicameraSource, n: int) -> list[Frame]:
    frames = []
    for _ in range(n):
        frame = source.read()
        assert frame is not None, "a camera never ends"
        frames.append(frame)
    return frames


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_open_configures_a_bgr_main_stream_and_a_yuv420_lores_stream(install_fake: Install) -> None:
    fake = install_fake()
    source = picam(lores_width=320, lores_height=240)
    source.open()
    try:
        (cam,) = fake.Picamera2.instances
        (config,) = cam.configure_calls
        assert config["main"]["format"] == "RGB888"
        assert config["main"]["size"] == (1280, 720)
        assert config["lores"]["format"] == "YUV420"
        assert config["lores"]["size"] == (320, 240)
        assert config["use_case"] == "video"
        assert cam.started
        assert source.size == Size(1280, 720)
        assert source.is_live
    finally:
        source.close()


def test_requested_size_and_frame_rate_reach_the_camera(install_fake: Install) -> None:
    fake = install_fake()
    source = picam(width=640, height=360, fps=25, lores_width=256, lores_height=144)
    source.open()
    try:
        (config,) = fake.Picamera2.instances[0].configure_calls
        assert config["main"]["size"] == (640, 360)
        assert config["lores"]["size"] == (256, 144)
        assert config["controls"]["FrameRate"] == 25
        assert source.fps == 25
    finally:
        source.close()


@pytest.mark.parametrize(("lores", "stride"), [((320, 240), 320), ((300, 224), 320), ((200, 150), 256)])
def test_frames_have_main_image_and_lores_bgr_with_the_stride_padding_removed(
    install_fake: Install, bottle_frames: list[np.ndarray], lores: tuple[int, int], stride: int
) -> None:
    fake = install_fake()
    source = picam(lores_width=lores[0], lores_height=lores[1])
    source.open()
    try:
        cam = fake.Picamera2.instances[0]
        assert cam.stream_configuration("lores")["stride"] == stride
        frames = read_n(source, 5)
    finally:
        source.close()
    for i, frame in enumerate(frames):
        assert frame.index == i
        assert frame.source_id == "picam"
        assert frame.image.shape == (720, 1280, 3) and frame.image.dtype == np.uint8
        assert frame.lores is not None
        assert frame.lores.shape == (lores[1], lores[0], 3) and frame.lores.dtype == np.uint8
        original = bottle_frames[i]
        # main is RGB888, i.e. B, G, R in memory: the same picture, in OpenCV's channel order.
        assert mean_abs_diff(frame.image, cv2.resize(original, (1280, 720), interpolation=cv2.INTER_AREA)) < 2
        # lores went through YUV420 with padded rows; only the YUV rounding error may remain.
        assert mean_abs_diff(frame.lores, cv2.resize(original, lores, interpolation=cv2.INTER_AREA)) < 3


def test_lores_is_the_same_view_as_main_not_a_neighbouring_frame(install_fake: Install, bottle_frames: list[np.ndarray]) -> None:
    # The hand moves through the clip, so frame 0 and frame 20 differ; each lores matches its own main.
    fake = install_fake(frames=[bottle_frames[0], bottle_frames[20]])
    source = picam()
    source.open()
    try:
        first, second = read_n(source, 2)
    finally:
        source.close()
    assert fake.Picamera2.requests[0].sensor_index == 0
    for frame in (first, second):
        assert frame.lores is not None
        shrunk = cv2.resize(frame.image, (320, 240), interpolation=cv2.INTER_AREA)
        assert mean_abs_diff(frame.lores, shrunk) < 3
    assert mean_abs_diff(first.lores, second.lores) > mean_abs_diff(first.lores, cv2.resize(first.image, (320, 240)))  # type: ignore[arg-type]


def test_every_request_is_released(install_fake: Install) -> None:
    fake = install_fake()
    source = picam()
    source.open()
    try:
        read_n(source, 12)  # three times buffer_count: a leak would stall the (fake) camera
        cam = fake.Picamera2.instances[0]
        assert len(fake.Picamera2.requests) == 12
        assert cam.unreleased == []
    finally:
        source.close()


def test_a_request_is_released_even_when_reading_it_fails(install_fake: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install_fake()
    source = picam()
    source.open()

    def broken_make_buffer(self: Any, name: str) -> np.ndarray:
        raise RuntimeError("Stream 'lores' is not defined")

    monkeypatch.setattr(fake.CompletedRequest, "make_buffer", broken_make_buffer)
    try:
        with pytest.raises(RuntimeError):
            source.read()
        assert fake.Picamera2.instances[0].unreleased == []
    finally:
        source.close()


def test_odd_or_unaligned_sizes_use_what_the_camera_actually_configured(install_fake: Install) -> None:
    # picamera2 rounds sizes down to even numbers; frames and size must follow the camera, not the request.
    install_fake()
    source = picam(width=1001, height=563, lores_width=301, lores_height=225)
    source.open()
    try:
        (frame,) = read_n(source, 1)
        assert source.size == Size(1000, 562)
        assert frame.size == Size(1000, 562)
        assert frame.lores is not None
        assert frame.lores.shape == (224, 300, 3)
    finally:
        source.close()


def test_close_stops_and_closes_the_camera(install_fake: Install) -> None:
    fake = install_fake()
    source = picam()
    source.open()
    read_n(source, 1)
    source.close()
    cam = fake.Picamera2.instances[0]
    assert cam.stop_count == 1
    assert cam.closed and not cam.started
    source.close()  # a second close is harmless
    with pytest.raises(SourceError, match="not open"):
        source.read()


def test_the_camera_can_be_opened_again_after_close(install_fake: Install) -> None:
    fake = install_fake()
    source = picam()
    source.open()
    source.close()
    source.open()
    try:
        assert source.read() is not None
        assert len(fake.Picamera2.instances) == 2
    finally:
        source.close()


def test_a_camera_number_beyond_the_attached_cameras_is_a_one_line_source_error(install_fake: Install) -> None:
    fake = install_fake()  # one camera: number 0
    source = picam("picam:1")
    with pytest.raises(SourceError, match="no Pi camera number 1") as err:
        source.open()
    assert "found 1" in str(err.value)
    assert "\n" not in str(err.value)
    assert fake.Picamera2.instances == []


def test_no_camera_attached_is_a_source_error(install_fake: Install) -> None:
    install_fake(cameras=[])
    with pytest.raises(SourceError, match="found 0"):
        picam().open()


def test_the_second_of_two_cameras_can_be_chosen(install_fake: Install) -> None:
    fake = install_fake(
        cameras=[
            {"Model": "imx708", "Location": 2, "Rotation": 180, "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a"},
            {"Model": "imx219", "Location": 2, "Rotation": 0, "Id": "/base/axi/pcie@120000/rp1/i2c@80000/imx219@10"},
        ]
    )
    source = picam("picam:1")
    source.open()
    try:
        assert fake.Picamera2.instances[0].camera_idx == 1
        assert source.read() is not None
    finally:
        source.close()


def test_a_camera_that_fails_to_configure_is_a_source_error_and_is_released(install_fake: Install) -> None:
    # A main stream smaller than lores is refused by picamera2 at configure().
    fake = install_fake()
    source = picam(width=160, height=120, lores_width=320, lores_height=240)
    with pytest.raises(SourceError, match="cannot start Pi camera 0") as err:
        source.open()
    assert "lores" in str(err.value)
    assert "\n" not in str(err.value)
    (cam,) = fake.Picamera2.instances
    assert cam.closed, "a half-opened camera stays acquired and blocks the next open"
    # So a corrected retry works.
    retry = picam()
    retry.open()
    retry.close()


def test_a_camera_busy_elsewhere_is_a_source_error(install_fake: Install) -> None:
    fake = install_fake()
    other_program = fake.Picamera2(0)
    try:
        with pytest.raises(SourceError, match="cannot start Pi camera 0"):
            picam().open()
    finally:
        other_program.close()


def test_without_picamera2_open_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import picamera2` raise ImportError, as on a machine without it.
    monkeypatch.setitem(sys.modules, "picamera2", None)
    source = open_source("picam")
    with pytest.raises(SourceError) as err:
        source.open()
    assert "apt install python3-picamera2" in str(err.value)
    assert "\n" not in str(err.value)


def test_read_before_open_is_a_source_error(install_fake: Install) -> None:
    install_fake()
    with pytest.raises(SourceError, match="not open"):
        picam().read()


# -- the fake itself: it must behave like picamera2 where camapp depends on it ---------------------------


def test_fake_video_configuration_defaults_match_picamera2(install_fake: Install) -> None:
    fake = install_fake()
    with fake.Picamera2() as cam:
        config = cam.create_video_configuration()
        assert config["main"]["size"] == (1280, 720)
        assert config["main"]["format"] == "XBGR8888"
        assert config["lores"] is None
        assert config["buffer_count"] == 6
        assert {"use_case", "main", "lores", "raw", "buffer_count", "controls", "transform", "colour_space"} <= set(config)
        with pytest.raises(ValueError, match="Bad key"):
            cam.create_video_configuration(main={"sise": (640, 480)})


def test_fake_yuv420_buffers_have_picamera2s_padded_layout(install_fake: Install) -> None:
    fake = install_fake()
    with fake.Picamera2() as cam:
        cam.configure(cam.create_video_configuration(main={"size": (640, 480), "format": "RGB888"}, lores={"size": (300, 224)}))
        lores = cam.stream_configuration("lores")
        assert (lores["size"], lores["format"], lores["stride"]) == ((300, 224), "YUV420", 320)
        assert lores["framesize"] == 320 * 224 * 3 // 2
        with pytest.raises(RuntimeError, match="before start"):
            cam.capture_request()
        cam.start()
        request = cam.capture_request()
        try:
            assert request.make_array("lores").shape == (224 * 3 // 2, 320)
            assert request.make_buffer("lores").shape == (320 * 224 * 3 // 2,)
            assert request.make_array("main").shape == (480, 640, 3)
        finally:
            request.release()
        assert cam.unreleased == []
        with pytest.raises(RuntimeError, match="after release"):
            request.make_array("main")


def test_fake_camera_index_past_the_end_raises_index_error(install_fake: Install) -> None:
    fake = install_fake()
    with pytest.raises(IndexError):
        fake.Picamera2(1)
