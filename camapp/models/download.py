"""Pull a manifest model into the cache (checksums.py re-checks files already there).

A pull reads from the mirror when one is set (a folder, or an http(s) base URL holding the .tflite
files by name), otherwise from the publisher's URL, extracting `member` when that is a .tgz or
.zip. Every byte goes to a temporary file in the cache folder, which is renamed to its real name
only after the checksum matched: a dropped connection, a corrupted mirror, a full disk or ^C
never leaves a file that camapp would later load. Entries whose publisher states no checksum are
still pulled, with a warning that they could not be verified.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import quote, urlsplit

from camapp import __version__
from camapp.errors import ModelError
from camapp.inference.flatbuffer import check_tflite
from camapp.models.checksums import file_digests, mismatch
from camapp.progress import Progress

if TYPE_CHECKING:
    from camapp.models.manifest import ModelEntry
    from camapp.models.store import ModelStore

log = logging.getLogger("camapp")

TIMEOUT_S = 30.0  # per socket operation, not for the whole download
CHUNK = 1 << 16


class FetchError(Exception):
    """A download that did not produce the file; the caller turns it into a one-line ModelError."""


@dataclass(frozen=True)
class Source:
    location: str  # http(s) URL or local path
    member: str | None  # file to extract when the location is an archive
    from_mirror: bool


def source_of(entry: ModelEntry, store: ModelStore) -> Source:
    """The mirror replaces the publisher's URL; a mirror holds the extracted .tflite, never an archive."""
    if store.mirror:
        if "://" in store.mirror:
            return Source(store.mirror.rstrip("/") + "/" + quote(entry.file), None, True)
        return Source(str(Path(store.mirror).expanduser() / entry.file), None, True)
    if not entry.url:
        raise ModelError(f"model '{entry.id}' has no download URL", f"put {entry.file} in {store.cache_dir}, or set CAMAPP_MODEL_MIRROR")
    return Source(entry.url, entry.member if entry.is_archive else None, False)


@dataclass(frozen=True)
class PullResult:
    path: Path
    downloaded: bool  # False: it was already in the system folder or the cache
    verified: bool  # the download matched the manifest's checksum
    sha256: str | None = None
    source: str | None = None


def pull(
    entry: ModelEntry,
    store: ModelStore,
    *,
    force: bool = False,
    progress: bool = False,
    announce: Callable[[str], None] | None = None,
) -> PullResult:
    """Make entry.file present locally; downloads only when it is not there yet (or force).

    `announce(location)` is called once the source answered, so that an offline failure is
    reported in one line rather than "downloading..." followed by an error.
    """
    existing = None if force else store.find(entry)
    if existing is not None:
        return PullResult(existing, downloaded=False, verified=False)
    source = source_of(entry, store)
    dest = _ensure_dir(store.cache_dir)
    with _temporary(dest, entry.file) as tmp:
        try:
            if source.member:
                with _temporary(dest, entry.file + ".archive") as archive:
                    fetch(source.location, archive, progress, os.path.basename(entry.url or ""), announce)
                    extract_member(archive, source.member, tmp)
            else:
                fetch(source.location, tmp, progress, entry.file, announce)
        except FetchError as exc:
            raise ModelError(f"cannot download {entry.file} from {source.location} ({exc})", manual_hint(entry, store, source)) from None
        digests = file_digests(tmp)
        wrong = mismatch(entry, digests)
        if wrong:
            raise ModelError(
                f"checksum mismatch for {entry.file} from {source.location}: {wrong}; the download was deleted",
                "the file there is damaged or not the published one: replace it, then pull again",
            )
        if not entry.checksum:
            _check_tflite(tmp, entry, store, source)
        final = dest / entry.file
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a cached model is not a secret
        os.replace(tmp, final)
    if not entry.checksum:
        log.warning("cannot verify %s: its publisher states no checksum (sha256 of this download: %s)", entry.file, digests.sha256)
    return PullResult(final, downloaded=True, verified=entry.checksum is not None, sha256=digests.sha256, source=source.location)


def manual_hint(entry: ModelEntry, store: ModelStore, source: Source) -> str:
    if source.from_mirror:
        return f"check that the mirror {store.mirror} holds {entry.file}"
    fetch_it = f"download {entry.url}, extract {entry.member} from it" if source.member else f"download {entry.url}"
    mirror = f"set CAMAPP_MODEL_MIRROR to a folder or URL holding {entry.file}"
    return f"offline? {fetch_it} and save it as {store.cache_dir / entry.file}, or {mirror}"


def fetch(location: str, out: Path, progress: bool, label: str, announce: Callable[[str], None] | None = None) -> None:
    """Copy an http(s) URL or a local file into `out`; FetchError when it is missing or incomplete."""
    announce = announce or (lambda _location: None)
    if "://" not in location:
        try:
            with open(location, "rb") as src, open(out, "wb") as dst:
                announce(location)
                _copy(src, dst, os.fstat(src.fileno()).st_size, progress, label)
        except OSError as exc:
            raise FetchError(exc.strerror or str(exc)) from None
        return
    scheme = urlsplit(location).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"'{scheme}' URLs are not supported, use http(s) or a folder")
    request = urllib.request.Request(location, headers={"User-Agent": f"camapp/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(out, "wb") as dst:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            announce(location)
            written = _copy(response, dst, total, progress, label)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(str(exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(str(exc) or type(exc).__name__) from None
    if total is not None and written != total:
        raise FetchError(f"the connection closed after {written} of {total} bytes")


def _copy(src: IO[bytes], dst: IO[bytes], total: int | None, progress: bool, label: str) -> int:
    """Copy in chunks; with `progress`, a bytes line on a terminal (camapp.progress decides whether)."""
    bar = Progress(label, total, "B", in_bytes=True) if progress else None
    written = 0
    try:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            written += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return written


def extract_member(archive: Path, member: str, out: Path) -> None:
    """Stream one member of a .tgz / .zip into `out` (never extracted by its own name: no path tricks)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                name = pick_member([i.filename for i in z.infolist() if not i.is_dir()], member)
                with z.open(name) as src, open(out, "wb") as dst:
                    _copy(src, dst, None, False, "")
            return
        with tarfile.open(archive, "r:*") as tar:
            files = {m.name: m for m in tar.getmembers() if m.isfile()}
            extracted = tar.extractfile(files[pick_member(list(files), member)])
            assert extracted is not None  # a regular file always has content
            with extracted as src, open(out, "wb") as dst:
                _copy(src, dst, None, False, "")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise FetchError(f"the archive is damaged or not a .tgz/.zip: {exc}") from None


def pick_member(names: list[str], member: str) -> str:
    """The member by its path, else by its file name, else the archive's only .tflite."""
    wanted = member.lstrip("./")
    for candidates in (
        [n for n in names if n.lstrip("./") == wanted],
        [n for n in names if os.path.basename(n) == os.path.basename(wanted)],
        [n for n in names if n.endswith(".tflite")],
    ):
        if len(candidates) == 1:
            return candidates[0]
    shown = ", ".join(n for n in names if n.endswith(".tflite")) or "no .tflite file"
    raise FetchError(f"the archive has no member {member} (it holds {shown})")


def _check_tflite(path: Path, entry: ModelEntry, store: ModelStore, source: Source) -> None:
    """For entries without a checksum: refuse an HTML error page, a wrong or a truncated file."""
    content = path.read_bytes()
    problem = "no TFL3 header" if content[4:8] != b"TFL3" else check_tflite(content)
    if problem:
        raise ModelError(
            f"{source.location} did not deliver a valid TFLite model for {entry.id} ({problem}); the download was deleted",
            manual_hint(entry, store, source),
        )


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _ensure_dir(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"cannot create the model cache {folder}: {exc.strerror}", "set model.cache_dir (CAMAPP_MODEL_CACHE_DIR) to a writable folder"
        ) from None
    return folder


@contextlib.contextmanager
def _temporary(folder: Path, name: str) -> Iterator[Path]:
    """A hidden temporary file beside the final one, removed on every way out unless renamed."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    except OSError as exc:
        raise ModelError(
            f"cannot write to the model cache {folder}: {exc.strerror}", "set model.cache_dir (CAMAPP_MODEL_CACHE_DIR) to a writable folder"
        ) from None
    os.close(fd)
    path = Path(tmp)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
