"""Model ids from models/manifest.yaml, where their files live, and turning --model into a file.

A model id's file is looked for in the read-only system folder (/var/lib/camapp/models, for the
service) and then in the user's cache (~/.cache/camapp/models, or model.cache_dir). When it is in
neither, it is pulled into the cache (camapp.download): from the mirror when one is set
(CAMAPP_MODEL_MIRROR / model.mirror, a folder or an http(s) base URL holding files by name),
otherwise from the publisher's URL, and kept only when its checksum matches.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from camapp import download
from camapp.checksums import Digests, file_digests, mismatch
from camapp.errors import ConfigError, ModelError
from camapp.inference.labels import labels_from_metadata

log = logging.getLogger("camapp")

SYSTEM_MODEL_DIR = "/var/lib/camapp/models"
TASKS = ("classify", "detect")
BACKBONES = ("v1", "v2", "v3-small", "v3-large", "other")
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".zip")
_HEX_DIGITS = {"sha256": 64, "git_blob": 40}


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
        if self.task not in TASKS:
            return f"task '{self.task}' is not one of {', '.join(TASKS)}"
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


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "camapp" / "models"


@dataclass(frozen=True)
class ModelStore:
    """Where model files are found (system folder, then cache) and where they come from (mirror or URL)."""

    cache_dir: Path
    mirror: str | None = None
    system_dir: Path = Path(SYSTEM_MODEL_DIR)

    @classmethod
    def create(cls, cache_dir: str | None = None, mirror: str | None = None) -> ModelStore:
        cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        return cls(cache, mirror or None, Path(SYSTEM_MODEL_DIR))

    def find(self, entry: ModelEntry) -> Path | None:
        for folder in (self.system_dir, self.cache_dir):
            candidate = folder / entry.file
            if candidate.is_file():
                return candidate
        return None

    def describe_location(self, entry: ModelEntry) -> str:
        path = self.find(entry)
        if path is None:
            return "-"
        return "system" if path.parent == self.system_dir else "cache"


@dataclass(frozen=True)
class ResolvedModel:
    path: str
    labels: str | None
    entry: ModelEntry | None  # --model named a manifest id
    # --model named a file that is byte-for-byte a manifest model (same checksum); `entry` stays
    # None so that the file's own sidecar still applies, as for any file given by path.
    known: ModelEntry | None = None

    @property
    def manifest_entry(self) -> ModelEntry | None:
        return self.entry or self.known


def looks_like_path(name: str) -> bool:
    return os.path.exists(name) or name.endswith(".tflite") or os.sep in name


def resolve_model(name: str, labels: str | None, cache_dir: str | None = None, mirror: str | None = None) -> ResolvedModel:
    """A --model value (a path, or a manifest id) -> the .tflite path and its labels file.

    A model id that is not on disk yet is pulled (and verified) into the cache first.
    """
    expanded = os.path.expanduser(name)
    if looks_like_path(expanded):
        known = entry_for_file(expanded)
        if known is not None:
            log.info("%s is the manifest's %s (same checksum)", expanded, known.id)
            labels = labels or fallback_labels(expanded, known)
        return ResolvedModel(expanded, labels, None, known)
    entry = find_entry(name)
    store = ModelStore.create(cache_dir, mirror)
    path = store.find(entry) or in_folder_mirror(entry, store)
    if path is None:

        def announce(location: str) -> None:
            log.warning("model %s is not cached yet: downloading %s from %s into %s", entry.id, entry.file, location, store.cache_dir)

        path = download.pull(entry, store, progress=sys.stderr.isatty(), announce=announce).path
    return ResolvedModel(str(path), labels or entry_labels(entry), entry)


def folder_mirror_file(entry: ModelEntry, store: ModelStore) -> Path | None:
    """The entry's file in a folder mirror, if it is there (presence only: no checksum yet); None
    without a mirror or with an http(s) one."""
    if not store.mirror or "://" in store.mirror:
        return None
    candidate = Path(store.mirror).expanduser() / entry.file
    return candidate if candidate.is_file() else None


def in_folder_mirror(entry: ModelEntry, store: ModelStore) -> Path | None:
    """A folder mirror (a fleet's shared mount, the test data) is read in place, not copied,
    once the file there matches the manifest."""
    candidate = folder_mirror_file(entry, store)
    if candidate is None:
        return None
    wrong = mismatch(entry, file_digests(candidate))
    if wrong:
        raise ModelError(f"{candidate} in the model mirror is not the published file ({wrong})", "replace it with the published file")
    return candidate


def entry_for_file(path: str | Path) -> ModelEntry | None:
    """The manifest entry whose checksum (sha256, else git blob id) this file has, or None.

    A file that cannot be read is simply not known here: loading it reports why.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        digests = _digests(os.path.realpath(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return None
    by_checksum = _entries_by_checksum(str(manifest_path()))
    return by_checksum.get(digests.sha256) or by_checksum.get(digests.git_blob)


@lru_cache(maxsize=32)
def _digests(real_path: str, size: int, mtime_ns: int) -> Digests:
    """Hash a file once per (path, size, mtime): a SIGHUP reload or `models list` does not re-read it.

    size and mtime_ns are part of the key only so that a replaced file is hashed again.
    """
    del size, mtime_ns
    return file_digests(Path(real_path))


@cache
def _entries_by_checksum(path: str) -> dict[str, ModelEntry]:
    entries = load_manifest(path).values()
    return {e.git_blob: e for e in entries if e.git_blob} | {e.sha256: e for e in entries if e.sha256}


def fallback_labels(path: str, entry: ModelEntry) -> str | None:
    """The manifest's labels for a known file, unless the file carries its own in its metadata.

    The manifest is the last resort: --labels is never replaced (the caller only asks when none
    was given), embedded labels win (None here leaves them to the model loader), and a sidecar's
    labels, applied after this, replace what is returned here.
    """
    try:
        embedded = labels_from_metadata(Path(path).read_bytes(), path)
    except OSError:
        return None
    return None if embedded is not None and embedded.names else entry_labels(entry)


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
