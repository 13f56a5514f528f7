"""The model ids of models/manifest.yaml: what each is, where it is published, its labels.

Data only: where files are kept is camapp.models.store, turning --model into a file is
camapp.models.resolve.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from camapp.errors import ConfigError, ModelError

log = logging.getLogger("camapp")

BACKBONES = ("v1", "v2", "v3-small", "v3-large", "other")
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".zip")
_HEX_DIGITS = {"sha256": 64, "git_blob": 40}


def manifest_path() -> Path:
    """models/manifest.yaml in a checkout; the copy bundled into the wheel otherwise."""
    env = os.environ.get("CAMAPP_MANIFEST")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent.parent  # camapp/
    checkout = package.parent / "models" / "manifest.yaml"
    if checkout.is_file():
        return checkout
    return package / "bundled_models" / "manifest.yaml"


@dataclass(frozen=True)
class ModelEntry:
    id: str
    file: str  # the .tflite name in the cache and in a mirror
    task: str
    backbone: str
    alpha: float | None = None
    resolution: int | None = None
    input_dtype: str = "uint8"
    labels: str | None = None  # a file in models/labels
    label_offset: int = 0
    sha256: str | None = None  # of the .tflite (not of an archive)
    size: int | None = None
    git_blob: str | None = None  # git object id in the publisher's repository: also a checksum
    url: str | None = None
    member: str | None = None  # the file to extract when the official download is an archive
    licence: str | None = None
    accuracy: dict[str, float] = field(default_factory=dict)  # imagenet_top1 (%), coco_map
    accuracy_source: str | None = None
    default: bool = False  # picked by --backbone for its (backbone, task)
    verified: bool = False  # sha256 and size checked here against a real copy of the file
    notes: str | None = None

    @property
    def checksum(self) -> str | None:
        """'sha256' or 'git_blob' when the download can be verified, else None."""
        return "sha256" if self.sha256 else ("git_blob" if self.git_blob else None)

    @property
    def is_archive(self) -> bool:
        return bool(self.url and self.url.lower().endswith(ARCHIVE_SUFFIXES))

    @classmethod
    def from_dict(cls, model_id: str, data: dict[str, Any]) -> ModelEntry:
        known = set(cls.__dataclass_fields__) - {"id"}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"manifest entry '{model_id}' has unknown keys: {', '.join(sorted(unknown))}", f"allowed: {', '.join(sorted(known))}"
            )
        try:
            entry = cls(id=model_id, **data)
        except TypeError as exc:
            raise ConfigError(f"manifest entry '{model_id}' is incomplete ({exc})", "every entry needs file, task and backbone") from exc
        problem = entry.problem()
        if problem:
            raise ConfigError(f"manifest entry '{model_id}': {problem}", "fix models/manifest.yaml (see docs/models.md)")
        return entry

    def problem(self) -> str | None:
        from camapp.inference.tasks import TASKS  # here: loading the manifest stays light

        if self.task not in TASKS:
            return f"task '{self.task}' is not one of {', '.join(sorted(TASKS))}"
        if self.backbone not in BACKBONES:
            return f"backbone '{self.backbone}' is not one of {', '.join(BACKBONES)}"
        for name, digits in _HEX_DIGITS.items():
            value = getattr(self, name)
            if value is not None and not re.fullmatch(f"[0-9a-f]{{{digits}}}", str(value)):
                return f"{name} must be {digits} lowercase hex digits"
        if self.is_archive and not self.member:
            return "an archive url needs 'member', the .tflite to extract"
        if os.path.basename(self.file) != self.file or not self.file.endswith(".tflite"):
            return f"file '{self.file}' must be a plain .tflite file name"
        return None


@cache
def _load(path: str) -> dict[str, ModelEntry]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read the model manifest '{path}': {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"the model manifest '{path}' is not valid YAML ({exc})") from exc
    entries = {str(mid): ModelEntry.from_dict(str(mid), entry or {}) for mid, entry in (data.get("models") or {}).items()}
    _check_unique(entries, path)
    return entries


def _check_unique(entries: dict[str, ModelEntry], path: str) -> None:
    files: dict[str, str] = {}
    defaults: dict[tuple[str, str], str] = {}
    for e in entries.values():
        if e.file in files:
            raise ConfigError(f"{path}: '{e.id}' and '{files[e.file]}' both use the file {e.file}", "give each entry its own file name")
        files[e.file] = e.id
        if e.default:
            key = (e.backbone, e.task)
            if key in defaults:
                raise ConfigError(
                    f"{path}: '{e.id}' and '{defaults[key]}' are both the default {e.backbone} {e.task} model", "mark one default"
                )
            defaults[key] = e.id


def load_manifest(path: str | None = None) -> dict[str, ModelEntry]:
    """The manifest's entries by id (read once per path; CAMAPP_MANIFEST names another file)."""
    return _load(str(Path(path) if path else manifest_path()))


def labels_dir() -> Path:
    return manifest_path().parent / "labels"


def find_entry(model_id: str) -> ModelEntry:
    entry = load_manifest().get(model_id)
    if entry is None:
        raise ModelError(f"unknown model '{model_id}': not a file and not a model id", "see 'camapp models list', or give a .tflite path")
    return entry


def entry_labels(entry: ModelEntry) -> str | None:
    if not entry.labels:
        return None
    bundled = labels_dir() / entry.labels
    return str(bundled) if bundled.is_file() else None
