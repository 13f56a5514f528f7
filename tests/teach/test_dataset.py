"""The examples folder: one sub-folder per class, examples in the order they were taken."""

from __future__ import annotations

import numpy as np
import pytest

from camapp.errors import UsageError
from camapp.teach.dataset import add_examples, check_class_name, read_dataset, read_image


def blank(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_added_examples_are_numbered_after_the_existing_ones_and_read_back_in_that_order(tmp_path):
    first = add_examples(tmp_path, "full", [blank(10), blank(20)])
    later = add_examples(tmp_path, "full", [blank(30)])
    assert [p.name for p in first + later] == ["0001.jpg", "0002.jpg", "0003.jpg"]
    (tmp_path / "full" / "10.jpg").write_bytes((tmp_path / "full" / "0001.jpg").read_bytes())  # a user's own file
    add_examples(tmp_path, "empty", [blank(200)])
    data = read_dataset(tmp_path)
    assert data.classes == ("empty", "full")
    assert [e.path.name for e in data.of("full")] == ["0001.jpg", "0002.jpg", "0003.jpg", "10.jpg"]  # 10 after 3, not after 1
    assert data.counts() == {"empty": 1, "full": 4}
    image = read_image(data.of("full")[2].path)
    assert image is not None and image.shape == (48, 64, 3) and abs(int(image.mean()) - 30) <= 2
    assert not list(tmp_path.rglob("*.part"))  # written whole, then renamed


def test_hidden_folders_other_files_and_undecodable_images_do_not_become_classes_or_crash(tmp_path):
    add_examples(tmp_path, "a", [blank(1)])
    add_examples(tmp_path, "b", [blank(2)])
    (tmp_path / ".camapp-embeddings").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "readme.md").write_text("no images here")
    (tmp_path / "b" / "0002.jpg").write_bytes(b"not a jpeg")
    data = read_dataset(tmp_path)
    assert data.classes == ("a", "b")
    assert read_image(data.of("b")[1].path) is None


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../up", " padded", "x" * 64])
def test_a_class_name_must_be_a_plain_folder_name(name):
    with pytest.raises(UsageError, match="cannot be a folder"):
        check_class_name(name)


def test_a_class_name_that_a_labels_file_would_read_as_an_id_is_refused():
    with pytest.raises(UsageError, match="reads as an id"):
        check_class_name("1 apple")
    assert check_class_name("apple 1") == "apple 1" and check_class_name("1-apple") == "1-apple"
    with pytest.raises(UsageError, match="no class is similar enough"):
        check_class_name("Unknown")


def test_fewer_than_two_classes_is_a_one_line_error_that_says_what_to_add(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        read_dataset(tmp_path / "missing")
    add_examples(tmp_path, "full", [blank(5)])
    with pytest.raises(UsageError, match="only 'full'") as info:
        read_dataset(tmp_path)
    assert "background" in str(info.value)
