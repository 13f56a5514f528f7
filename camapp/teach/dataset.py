"""The examples: the usual image-folder layout, one sub-folder per class, the folder name the label.

    shelf/
      background/ 0001.jpg 0002.jpg ...     # the scene with none of the classes
      full/       0001.jpg ...
      empty/      ...

Examples are kept in the order they were taken (file names sort in time: `camapp teach add` names
them 0001.jpg, 0002.jpg ... after the last one there), because that order matters: consecutive
frames are near-copies of each other, so an honest accuracy holds out the *last* examples of each
class, not a random few (camapp.teach.evaluate). Hidden folders (the embedding cache) and files
that are not images are ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camapp.errors import UsageError
from camapp.frames import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
BACKGROUND = "background"  # the class offered by default: the scene with none of the others
RESERVED = "unknown"  # camapp.teach.head.UNKNOWN: what a taught model answers below its floor
_CLASS_NAME = re.compile(r"^[\w][\w .+-]{0,62}$")  # a folder name that is also a readable label
_NUMBER = re.compile(r"(\d+)")
_ID_FIRST = re.compile(r"^\d+[\s:,]")


def check_class_name(name: str) -> str:
    if name.lower() == RESERVED:
        raise UsageError(f"'{name}' is the answer when no class is similar enough, so it cannot be a class",
                         f"name the scene without your classes '{BACKGROUND}'")
    if _ID_FIRST.match(name):
        # A labels file reads "1 apple" as id 1 named "apple" (camapp.inference.labels).
        raise UsageError(f"class name '{name}' starts with a number and a space, which a labels file reads as an id",
                         "put the number later or join it, e.g. 'apple 1' or '1-apple'")
    if not _CLASS_NAME.match(name) or name.strip() != name:
        raise UsageError(
            f"class name '{name}' cannot be a folder and a label",
            "use letters, digits, spaces, '.', '+', '-' or '_' (at most 63, not starting with a space or a dot)",
        )
    return name


def _natural(name: str) -> tuple[object, ...]:
    """'2.jpg' before '10.jpg': numbers compare as numbers."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in _NUMBER.split(name))


@dataclass(frozen=True)
class Example:
    label: str
    path: Path


@dataclass(frozen=True)
class Dataset:
    root: Path
    classes: tuple[str, ...]  # sorted by name: the output order of a built model
    examples: tuple[Example, ...]  # per class in the order taken

    def of(self, label: str) -> list[Example]:
        return [e for e in self.examples if e.label == label]

    def counts(self) -> dict[str, int]:
        return {c: len(self.of(c)) for c in self.classes}


def read_dataset(root: str | Path) -> Dataset:
    """Every class folder with at least one image; a one-line error when there is nothing to learn."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"'{root}' is not a folder of examples",
                         "give a folder with one sub-folder of images per class (camapp teach add makes it)")
    classes: list[str] = []
    examples: list[Example] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name.lower()):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        names = (f.name for f in os.scandir(entry.path) if f.is_file())
        files = sorted((n for n in names if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith(".")), key=_natural)
        if files:
            check_class_name(entry.name)  # a folder made by hand must make a label too
            classes.append(entry.name)
            examples.extend(Example(entry.name, Path(entry.path) / f) for f in files)
    if len(classes) < 2:
        found = f"only '{classes[0]}'" if classes else "no class folders with images"
        raise UsageError(f"'{root}' has {found}: a classifier needs at least two classes",
                         f"add examples with camapp teach add {root} CLASS --source ... "
                         f"(a '{BACKGROUND}' class of the empty scene is a good second)")
    return Dataset(root, tuple(classes), tuple(examples))


def read_image(path: Path) -> Image | None:
    """BGR pixels as camapp's frames have them, or None for a file that does not decode."""
    data = np.fromfile(str(path), np.uint8)  # imread() cannot tell a missing file from a bad one
    image: Image | None = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None  # type: ignore[assignment]
    return image if image is not None and image.size else None


def next_number(folder: Path) -> int:
    """1 + the highest number among the folder's image names, so new examples sort after the old."""
    best = 0
    if folder.is_dir():
        for f in os.scandir(folder):
            m = re.match(r"^(\d+)", f.name)
            if m and f.name.lower().endswith(IMAGE_SUFFIXES):
                best = max(best, int(m.group(1)))
    return best + 1


def add_examples(root: str | Path, label: str, images: Iterable[Image], quality: int = 92) -> list[Path]:
    """Write the images into root/label/ as NNNN.jpg after the existing ones; returns the new files.

    Each file is written whole under a temporary name and then renamed, so a crash or a full disk
    never leaves a half image among the examples.
    """
    folder = Path(root) / check_class_name(label)
    folder.mkdir(parents=True, exist_ok=True)
    n = next_number(folder)
    written: list[Path] = []
    for image in images:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            continue
        path = folder / f"{n:04d}.jpg"
        part = folder / f".{n:04d}.jpg.part"
        with open(part, "wb") as f:
            f.write(jpeg.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, path)
        written.append(path)
        n += 1
    return written
