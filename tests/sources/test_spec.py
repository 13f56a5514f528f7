"""parse_source: the one-string --source grammar, and open_source's choice of class."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from camapp.errors import UsageError
from camapp.sources import SourceOptions, open_source, parse_source
from camapp.sources.opencv import OpenCVSource
from camapp.sources.spec import SourceSpec
from camapp.sources.still import StillSource


@pytest.mark.parametrize(
    ("text", "index"),
    [("picam", 0), ("picam:0", 0), ("picam:1", 1), ("picamera", 0), ("picamera:2", 2), ("  picam:1  ", 1)],
)
def test_picam_names_a_pi_camera_with_an_optional_number(text: str, index: int) -> None:
    spec = parse_source(text)
    assert spec.kind == "picamera"
    assert spec.index == index


def test_a_number_is_a_webcam_index() -> None:
    assert parse_source("0") == SourceSpec("webcam", "0", 0)
    assert parse_source("3") == SourceSpec("webcam", "3", 3)


def test_a_video_device_path_is_a_webcam_with_its_number() -> None:
    assert parse_source("/dev/video2") == SourceSpec("webcam", "/dev/video2", 2)


def test_an_existing_video_file_is_a_video(videos_dir: Path) -> None:
    path = str(videos_dir / "bottle-detection.mp4")
    assert parse_source(path) == SourceSpec("video", path)


def test_an_mkv_file_is_a_video(videos_dir: Path) -> None:
    assert parse_source(str(videos_dir / "asl_gestures_book.mkv")).kind == "video"


@pytest.mark.parametrize("name", ["table.jpg", "cat.bmp"])
def test_an_existing_image_file_is_an_image_source(images_dir: Path, name: str) -> None:
    path = str(images_dir / name)
    assert parse_source(path) == SourceSpec("images", path)


def test_image_extensions_are_matched_case_insensitively(images_dir: Path, tmp_path: Path) -> None:
    shouty = tmp_path / "TABLE.JPG"
    shutil.copyfile(images_dir / "table.jpg", shouty)
    assert parse_source(str(shouty)).kind == "images"


def test_a_folder_is_an_image_source(images_dir: Path) -> None:
    assert parse_source(str(images_dir)) == SourceSpec("images", str(images_dir))


def test_a_glob_that_matches_is_an_image_source(images_dir: Path) -> None:
    pattern = str(images_dir / "*.bmp")
    assert parse_source(pattern) == SourceSpec("images", pattern)


def test_an_existing_file_with_glob_characters_in_its_name_is_taken_literally(videos_dir: Path, tmp_path: Path) -> None:
    video = tmp_path / "cam[1].mp4"
    shutil.copyfile(videos_dir / "asl_gestures_book.mkv", video)
    assert parse_source(str(video)) == SourceSpec("video", str(video))


def test_a_glob_that_matches_nothing_is_a_usage_error(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.jpg")
    with pytest.raises(UsageError, match="no files match") as err:
        parse_source(pattern)
    assert pattern in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://192.168.1.20:8554/cam",
        "RTSP://192.168.1.20/cam",
        "http://127.0.0.1:8080/stream.mjpg",
        "https://example.com/live.m3u8",
        "udp://0.0.0.0:5000",
    ],
)
def test_stream_urls_are_streams_and_kept_verbatim(url: str) -> None:
    assert parse_source(url) == SourceSpec("stream", url)


@pytest.mark.parametrize(("url", "scheme"), [("ftp://host/video.mp4", "ftp://"), ("file:///tmp/x.mp4", "file://")])
def test_an_unknown_scheme_is_a_usage_error_naming_it(url: str, scheme: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_source(url)
    assert scheme in str(err.value)


def test_a_missing_file_is_a_usage_error_naming_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope" / "clip.mp4")
    with pytest.raises(UsageError, match="does not exist") as err:
        parse_source(missing)
    assert missing in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_an_empty_source_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="empty"):
        parse_source(text)


def test_usage_errors_are_one_line_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        parse_source(str(tmp_path / "missing.jpg"))
    assert err.value.hint
    assert "\n" not in str(err.value)


def test_open_source_builds_the_class_for_each_kind(images_dir: Path, videos_dir: Path) -> None:
    assert isinstance(open_source(str(images_dir)), StillSource)
    assert isinstance(open_source(str(videos_dir / "bottle-detection.mp4")), OpenCVSource)
    assert isinstance(open_source("0"), OpenCVSource)
    assert isinstance(open_source("rtsp://127.0.0.1/x"), OpenCVSource)


def test_open_source_builds_a_pi_camera_without_importing_picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes any import of picamera2 fail: building must not try.
    monkeypatch.setitem(sys.modules, "picamera2", None)
    source = open_source("picam:1", SourceOptions(lores_width=300, lores_height=224))
    assert type(source).__name__ == "PicameraSource"
    assert source.source_id == "picam:1"
    assert source.is_live
