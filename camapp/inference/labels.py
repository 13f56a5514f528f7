"""Label files and labels embedded in .tflite metadata, with the background-offset conventions.

Two conventions exist for the same classes: a file whose line 0 is a background entry
("background", "???") and one without it. Classifiers tell them apart by comparing the count with
the model's output size; SSD detectors emit 0-based class ids that skip background, so a file
that starts with a background entry needs an offset of one.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from dataclasses import dataclass

from camapp.errors import ModelError

BACKGROUND_NAMES = {"background", "???", "__background__", "bg"}
_ID_NAME = re.compile(r"^\s*(\d+)[\s:,]+(.+?)\s*$")


@dataclass(frozen=True)
class Labels:
    names: dict[int, str]  # file position (or explicit id) -> name
    offset: int = 0  # added to a class id to find its entry
    origin: str = ""

    def __len__(self) -> int:
        return len(self.names)

    def name(self, class_id: int) -> str:
        return self.names.get(class_id + self.offset, f"class {class_id}")

    def with_offset(self, offset: int) -> Labels:
        return Labels(self.names, offset, self.origin)

    @property
    def starts_with_background(self) -> bool:
        return self.names.get(0, "").strip().lower() in BACKGROUND_NAMES


def parse_labels(text: str, origin: str) -> Labels:
    """Plain lines (position = id) or "id name" lines (explicit ids), auto-detected."""
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ModelError(f"labels file '{origin}' is empty", "give one label per line")
    matches = [_ID_NAME.match(ln) for ln in lines if ln.strip()]
    if all(matches) and len(matches) > 1:
        names = {int(m.group(1)): m.group(2) for m in matches if m}
    else:
        names = {i: ln.strip() for i, ln in enumerate(lines)}
    return Labels(names, 0, origin)


def read_labels_file(path: str) -> Labels:
    if not os.path.isfile(path):
        raise ModelError(f"labels file '{path}' does not exist", "check the --labels path")
    try:
        with open(path, encoding="utf-8-sig") as f:  # -sig: files saved on Windows start with a BOM
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ModelError(f"labels file '{path}' is not UTF-8 text", "give a text file with one label per line") from exc
    except OSError as exc:
        raise ModelError(f"cannot read labels file '{path}': {exc.strerror}", "check its permissions") from exc
    return parse_labels(text, path)


def labels_from_metadata(model_content: bytes, origin: str) -> Labels | None:
    """Labels packed into a .tflite with metadata (such a file is also a zip archive)."""
    buf = io.BytesIO(model_content)
    if not zipfile.is_zipfile(buf):
        return None
    try:
        with zipfile.ZipFile(buf) as archive:
            members = [n for n in archive.namelist() if n.lower().endswith(".txt")]
            members.sort(key=lambda n: ("label" not in n.lower(), n))
            if not members:
                return None
            text = archive.read(members[0]).decode("utf-8-sig")
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError, KeyError, ValueError, EOFError, zlib.error,
            NotImplementedError, RuntimeError):  # found by tests/test_fuzz.py: a damaged header flags
        # an unknown compression method (NotImplementedError) or encryption (RuntimeError).
        return None  # metadata is optional: a damaged archive means "no embedded labels"
    return parse_labels(text, f"{origin}:{members[0]}")


def fit_classifier_labels(labels: Labels, num_classes: int) -> Labels:
    """Choose the offset for a classifier, or refuse a file that cannot belong to the model."""
    count = max(labels.names) + 1 if labels.names else 0
    if count == num_classes:
        return labels.with_offset(0)
    if count == num_classes - 1:
        # A file without the background line for a model with a background output: id 0 has no
        # name and id N is line N - 1.
        return Labels({k + 1: v for k, v in labels.names.items()} | {0: "background"}, 0, labels.origin)
    if count == num_classes + 1 and labels.starts_with_background:
        # The reverse: a file with a background line for a model without that output (e.g. a
        # 1000-class Keras model with the common 1001-line imagenet_labels.txt).
        return labels.with_offset(1)
    raise ModelError(
        f"labels file '{labels.origin}' has {count} labels but the model has {num_classes} classes",
        "give the labels file that belongs to this model",
    )


def fit_detector_labels(labels: Labels) -> Labels:
    """SSD class ids are 0-based without background, so skip a leading background entry.

    An "id name" file whose ids start at 1 (the TF Object Detection API label-map convention,
    "1 person") also needs an offset of one: the op reports person as class 0.
    """
    one_based = bool(labels.names) and min(labels.names) == 1
    return labels.with_offset(1 if labels.starts_with_background or one_based else 0)
