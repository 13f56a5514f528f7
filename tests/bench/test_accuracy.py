"""Labelled image sets and label matching for `camapp bench models --images`."""

from __future__ import annotations

import pytest

from camapp.bench.accuracy import Accuracy, load_image_set, matches
from camapp.errors import InputError


@pytest.mark.parametrize(
    ("model_label", "expected"),
    [
        ("great white shark, white shark, man-eater, man-eating shark, Carcharodon carcharias", "white shark"),
        ("great white shark, white shark, man-eater", "Great White Shark"),
        ("hotdog, hot dog, red hot", "hot_dog"),
        ("Egyptian cat", "tabby|tiger cat|Egyptian cat"),
        ("military uniform", "  military   uniform "),
    ],
)
def test_a_prediction_matches_when_any_synonym_equals_any_alternative(model_label, expected):
    assert matches(model_label, expected)


@pytest.mark.parametrize(
    ("model_label", "expected"),
    [("tabby, tabby cat", "Egyptian cat"), ("hotdog, hot dog, red hot", "dog"), ("macaw", "")],
)
def test_a_prediction_does_not_match_a_different_class_or_a_part_of_a_name(model_label, expected):
    assert not matches(model_label, expected)


def test_top1_and_top5_count_separately():
    acc = Accuracy()
    acc.add(["macaw", "lorikeet"], "macaw")  # top-1 and top-5
    acc.add(["tabby, tabby cat", "tiger cat", "Egyptian cat"], "Egyptian cat")  # top-5 only
    acc.add(["academic gown"], "military uniform")  # neither
    assert (acc.images, acc.top1, acc.top5) == (3, 1, 2)
    assert acc.top1_rate == pytest.approx(1 / 3)


def test_labels_come_from_folder_names_through_symlinks(tmp_path, images_dir):
    (tmp_path / "military uniform").mkdir()
    (tmp_path / "macaw").mkdir()
    (tmp_path / "military uniform" / "grace_hopper.bmp").symlink_to(images_dir / "grace_hopper.bmp")
    (tmp_path / "macaw" / "parrot.jpg").symlink_to(images_dir / "parrot.jpg")
    (tmp_path / "macaw" / "notes.txt").write_text("not an image")
    items = load_image_set(str(tmp_path))
    assert [(i.label, i.path.rsplit("/", 1)[1]) for i in items] == [("macaw", "parrot.jpg"), ("military uniform", "grace_hopper.bmp")]


def test_labels_come_from_a_csv_with_paths_relative_to_it(tmp_path, images_dir):
    csv = tmp_path / "set.csv"
    csv.write_text(f"file,label\n{images_dir / 'cat.bmp'},Egyptian cat|tabby\n# a comment\nsub/bird.bmp,chickadee\n")
    items = load_image_set(str(csv))
    assert [(i.label, i.path) for i in items] == [
        ("Egyptian cat|tabby", str(images_dir / "cat.bmp")),
        ("chickadee", str(tmp_path / "sub/bird.bmp")),
    ]


def test_a_csv_row_without_a_label_is_an_input_error_naming_the_line(tmp_path):
    csv = tmp_path / "set.csv"
    csv.write_text("a.jpg,macaw\nb.jpg\n")
    with pytest.raises(InputError, match="line 2"):
        load_image_set(str(csv))


def test_an_empty_or_missing_image_set_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no labelled images"):
        load_image_set(str(tmp_path))
    with pytest.raises(InputError, match="neither a folder nor a .csv"):
        load_image_set(str(tmp_path / "nothing.txt"))
