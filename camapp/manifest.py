"""Model ids from models/manifest.yaml, and turning --model (id or path) into files on disk.

Search order for a model id's file: the read-only system folder (/var/lib/camapp/models, for the
service), the user's cache (~/.cache/camapp/models), then the mirror (CAMAPP_MODEL_MIRROR /
model.mirror) when it is a folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from camapp.errors import ConfigError, ModelError

SYSTEM_MODEL_DIR = "/var/lib/camapp/models"


def manifest_path() -> Path:
    """models/manifest.yaml in a checkout; the copy bundled into the wheel otherwise."""
    env = os.environ.get("CAMAPP_MANIFEST")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parent / "models" / "manifest.yaml"
    if checkout.is_file():
        return checkout
    return here / "bundled_models" / "manifest.yaml"


@dataclass(frozen=True)
class ModelEntry:
    id: str
    file: str
    task: str
    backbone: str
    alpha: float | None = None
    resolution: int | None = None
    input_dtype: str = "uint8"
    labels: str | None = None
    label_offset: int = 0
    sha256: str | None = None
    size: int | None = None
    url: str | None = None
    member: str | None = None  # file to extract when the official download is an archive
    licence: str | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    default: bool = False  # the default model for its (backbone, task)
    verified: bool = False  # checked here against a real file
    notes: str | None = None

    @classmethod
    def from_dict(cls, model_id: str, data: dict[str, Any]) -> ModelEntry:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"manifest entry '{model_id}' has unknown keys: {', '.join(sorted(unknown))}", f"allowed: {', '.join(sorted(known - {'id'}))}")
        return cls(id=model_id, **data)


@cache
def load_manifest(path: str | None = None) -> dict[str, ModelEntry]:
    p = Path(path) if path else manifest_path()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read the model manifest '{p}': {exc.strerror}") from exc
    return {mid: ModelEntry.from_dict(mid, entry) for mid, entry in (data.get("models") or {}).items()}


def labels_dir() -> Path:
    return manifest_path().parent / "labels"


def search_dirs(cache_dir: str | None, mirror: str | None) -> list[Path]:
    dirs = [Path(SYSTEM_MODEL_DIR), Path(cache_dir) if cache_dir else default_cache_dir()]
    if mirror and "://" not in mirror:
        dirs.append(Path(mirror).expanduser())
    return dirs


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "camapp" / "models"


def find_file(name: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        candidate = d / name
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class ResolvedModel:
    path: str
    labels: str | None
    entry: ModelEntry | None


def resolve_model(name: str, labels: str | None, cache_dir: str | None = None, mirror: str | None = None) -> ResolvedModel:
    """A --model value (a path, or a manifest id) -> the .tflite path and its labels file."""
    expanded = os.path.expanduser(name)
    if os.path.exists(expanded) or expanded.endswith(".tflite") or os.sep in expanded:
        return ResolvedModel(expanded, labels, None)
    entries = load_manifest()
    entry = entries.get(name)
    if entry is None:
        raise ModelError(f"unknown model '{name}': not a file and not a model id", "see 'camapp models list', or give a .tflite path")
    dirs = search_dirs(cache_dir, mirror)
    path = find_file(entry.file, dirs)
    if path is None:
        raise ModelError(
            f"model '{name}' is not downloaded ({entry.file})",
            f"run 'camapp models pull {name}', or put {entry.file} in {dirs[1]}",
        )
    return ResolvedModel(str(path), labels or _entry_labels(entry, dirs), entry)


def _entry_labels(entry: ModelEntry, dirs: list[Path]) -> str | None:
    if not entry.labels:
        return None
    bundled = labels_dir() / entry.labels
    if bundled.is_file():
        return str(bundled)
    found = find_file(entry.labels, dirs)
    return str(found) if found else None
