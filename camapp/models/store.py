"""Where model files are kept: the read-only system folder, then the user's cache, and a mirror.

A model id's file is looked for in /var/lib/camapp/models (for the service) and then in the cache
(~/.cache/camapp/models, or model.cache_dir). A folder mirror (CAMAPP_MODEL_MIRROR / model.mirror: a
fleet's shared mount, the test data) is read in place once its file matches the manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from camapp.errors import ModelError
from camapp.models.checksums import file_digests, mismatch
from camapp.models.manifest import ModelEntry

SYSTEM_MODEL_DIR = "/var/lib/camapp/models"


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
