"""Labelled image sets for `camapp bench models --images`, and matching labels against a model's.

A set is either a folder of folders named by label (DIR/<label>/*.jpg) or a CSV file of
`file,label` rows (paths relative to the CSV). A label may list alternatives separated by "|"
("tabby|tiger cat|Egyptian cat"). ImageNet label lines hold synonyms separated by commas
("great white shark, white shark, man-eater"): a prediction matches when any synonym equals any
alternative, ignoring case, underscores and surrounding spaces.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from camapp.errors import InputError
from camapp.sources.still import list_images


@dataclass(frozen=True)
class LabelledImage:
    path: str
    label: str


def normalise(text: str) -> str:
    return " ".join(text.replace("_", " ").strip().lower().split())


def synonyms(model_label: str) -> set[str]:
    return {normalise(part) for part in model_label.split(",") if part.strip()}


def matches(model_label: str, expected: str) -> bool:
    wanted = {normalise(alt) for alt in expected.split("|") if alt.strip()}
    return bool(synonyms(model_label) & wanted)


def load_image_set(path: str) -> list[LabelledImage]:
    """The labelled images a folder tree or CSV names, sorted by label then path."""
    if os.path.isfile(path) and path.lower().endswith(".csv"):
        items = _from_csv(path)
    elif os.path.isdir(path):
        items = _from_folders(path)
    else:
        raise InputError(f"image set '{path}' is neither a folder nor a .csv file", "give DIR/<label>/*.jpg or a CSV of file,label rows")
    if not items:
        raise InputError(f"no labelled images in '{path}'", "put images in one subfolder per label, or list them in a CSV as file,label")
    return sorted(items, key=lambda i: (i.label, i.path))


def _from_folders(root: str) -> list[LabelledImage]:
    items: list[LabelledImage] = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            items.extend(LabelledImage(p, name) for p in list_images(folder))
    return items


def _from_csv(path: str) -> list[LabelledImage]:
    base = os.path.dirname(os.path.abspath(path))
    items = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].startswith("#") or (n == 1 and [c.strip().lower() for c in row[:2]] == ["file", "label"]):
                continue
            if len(row) < 2 or not row[1].strip():
                raise InputError(f"{path} line {n}: expected 'file,label'", "one image per line: the image path, a comma, its label")
            image = row[0].strip()
            items.append(LabelledImage(image if os.path.isabs(image) else os.path.join(base, image), row[1].strip()))
    return items


@dataclass
class Accuracy:
    images: int = 0
    top1: int = 0
    top5: int = 0

    def add(self, predicted: list[str], expected: str) -> None:
        self.images += 1
        if predicted and matches(predicted[0], expected):
            self.top1 += 1
        if any(matches(p, expected) for p in predicted[:5]):
            self.top5 += 1

    @property
    def top1_rate(self) -> float | None:
        return self.top1 / self.images if self.images else None

    @property
    def top5_rate(self) -> float | None:
        return self.top5 / self.images if self.images else None
