"""Turning --model (a manifest id or a .tflite path) into a model file and its labels.

A model id that is in neither the system folder nor the cache is pulled into the cache
(camapp.models.download): from the mirror when one is set, otherwise from the publisher's URL,
and kept only when its checksum matches. A file given by path that is byte-for-byte a manifest
model is recognised by its checksum, so it gets the manifest's labels.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from camapp.inference.labels import labels_from_metadata
from camapp.models import download
from camapp.models.checksums import Digests, file_digests
from camapp.models.manifest import ModelEntry, entry_labels, find_entry, load_manifest, manifest_path
from camapp.models.store import ModelStore, in_folder_mirror

log = logging.getLogger("camapp")


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
