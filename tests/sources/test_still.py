"""StillSource: one image, a folder or a glob of real images, with broken files skipped."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.errors import InputError
from camapp.frames import Frame, Size
from camapp.sources import SourceOptions, parse_source
from camapp.sources.still import StillSource, list_images, read_image


def still(target: str | Path, **options: object) -> StillSource:
    source = StillSource(parse_source(str(target)), SourceOptions(**options))  # type: ignore[arg-type]
    source.open()
    return source


def read_all(source: StillSource, limit: int = 100) -> list[Frame]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
        assert len(frames) <= limit, "the source never ended"
    return frames


@pytest.fixture
def photo_folder(images_dir: Path, tmp_path: Path) -> Path:
    """Real images written under names whose sorted order is known, plus a broken JPEG and a note."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, source in [("c_pets.jpg", "pets.jpg"), ("a_table.png", "table.jpg"), ("d_cat.bmp", "cat.bmp")]:
        assert cv2.imwrite(str(folder / name), cv2.imread(str(images_dir / source)))
    (folder / "b_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_a_folder_is_read_in_sorted_order_skipping_a_broken_image(photo_folder: Path) -> None:
    source = still(photo_folder)
    frames = read_all(source)
    assert [Path(f.source_id).name for f in frames] == ["a_table.png", "c_pets.jpg", "d_cat.bmp"]
    assert [Path(path).name for path, _ in source.failed] == ["b_broken.jpg"]
    assert "b_broken.jpg" in source.failed[0][1]
    # Indexes are positions in the listing, so the skipped image leaves a gap.
    assert [f.index for f in frames] == [0, 2, 3]


def test_each_image_is_delivered_as_decoded_bgr(photo_folder: Path) -> None:
    for frame in read_all(still(photo_folder)):
        expected = cv2.imread(frame.source_id)
        assert frame.image.dtype == np.uint8
        assert frame.image.ndim == 3 and frame.image.shape[2] == 3
        np.testing.assert_array_equal(frame.image, expected)
        assert frame.lores is None


def test_a_still_source_is_finite_and_not_live(photo_folder: Path) -> None:
    source = still(photo_folder)
    assert source.is_live is False
    assert source.fps is None
    read_all(source)
    assert source.read() is None


def test_a_single_image_file_gives_one_frame(images_dir: Path) -> None:
    path = images_dir / "table.jpg"
    source = still(path)
    frames = read_all(source)
    assert len(frames) == 1
    assert frames[0].source_id == str(path)
    assert frames[0].image.shape == (480, 640, 3)
    assert source.failed == []


def test_a_glob_gives_only_the_matching_images_in_sorted_order(images_dir: Path) -> None:
    frames = read_all(still(images_dir / "*.bmp"))
    assert [Path(f.source_id).name for f in frames] == ["bird.bmp", "cat.bmp", "grace_hopper.bmp"]
    assert frames[2].size == Size(512, 600)


def test_a_glob_skips_files_that_are_not_images_like_a_folder_does(photo_folder: Path) -> None:
    source = still(photo_folder / "*")
    frames = read_all(source)
    assert [Path(f.source_id).name for f in frames] == ["a_table.png", "c_pets.jpg", "d_cat.bmp"]
    assert [Path(path).name for path, _ in source.failed] == ["b_broken.jpg"]


def test_a_glob_of_only_non_images_is_an_input_error(photo_folder: Path) -> None:
    with pytest.raises(InputError, match="no images"):
        still(photo_folder / "*.txt")


def test_a_folder_without_images_is_an_input_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing to see")
    with pytest.raises(InputError, match="no images") as err:
        still(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_a_broken_single_image_gives_no_frame_and_is_recorded(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"garbage" * 100)
    source = still(broken)
    assert source.read() is None
    assert [path for path, _ in source.failed] == [str(broken)]


def test_loop_starts_the_folder_again_and_skips_the_broken_image_each_time(photo_folder: Path) -> None:
    source = still(photo_folder, loop=True)
    frames = [source.read() for _ in range(7)]
    names = [Path(f.source_id).name for f in frames]  # type: ignore[union-attr]
    assert names == ["a_table.png", "c_pets.jpg", "d_cat.bmp"] * 2 + ["a_table.png"]


def test_loop_over_only_broken_images_ends_instead_of_spinning(tmp_path: Path) -> None:
    for name in ("x.jpg", "y.png"):
        (tmp_path / name).write_bytes(b"not an image")
    source = still(tmp_path, loop=True)
    assert source.read() is None
    assert len(source.failed) == 2


def test_read_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist") as err:
        read_image(str(tmp_path / "gone.png"))
    assert "gone.png" in str(err.value)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG but not really")
    with pytest.raises(InputError, match="cannot decode") as err:
        read_image(str(bad))
    assert "bad.png" in str(err.value)


def test_list_images_of_a_folder_is_sorted_and_filtered_by_extension(photo_folder: Path) -> None:
    names = [Path(p).name for p in list_images(str(photo_folder))]
    assert names == ["a_table.png", "b_broken.jpg", "c_pets.jpg", "d_cat.bmp"]
