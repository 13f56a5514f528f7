"""Checksums of model files: sha256, the git blob id, and comparing them with a manifest entry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from camapp.models.manifest import ModelEntry

CHUNK = 1 << 20


@dataclass(frozen=True)
class Digests:
    sha256: str
    git_blob: str  # what `git hash-object FILE` prints
    size: int


def file_digests(path: Path) -> Digests:
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % size)  # noqa: S324 - git's object id, not used for security alone
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return Digests(sha256.hexdigest(), blob.hexdigest(), size)


def mismatch(entry: ModelEntry, digests: Digests) -> str | None:
    """What differs from the manifest, or None when everything the manifest states matches."""
    if entry.size is not None and digests.size != entry.size:
        return f"{digests.size} bytes, expected {entry.size}"
    if entry.sha256 and digests.sha256 != entry.sha256:
        return f"sha256 {digests.sha256}, expected {entry.sha256}"
    if entry.git_blob and digests.git_blob != entry.git_blob:
        return f"git blob id {digests.git_blob}, expected {entry.git_blob}"
    return None


@dataclass(frozen=True)
class Verification:
    status: str  # "ok", "mismatch" or "unverified"
    detail: str


def verify_file(entry: ModelEntry, path: Path) -> Verification:
    """Re-hash a local copy against the manifest."""
    digests = file_digests(path)
    wrong = mismatch(entry, digests)
    if wrong:
        return Verification("mismatch", wrong)
    if not entry.checksum:
        return Verification("unverified", f"no published checksum; sha256 {digests.sha256}")
    return Verification("ok", f"{entry.checksum} matches")
