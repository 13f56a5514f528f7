"""What the model mirror holds, for `camapp models list` and `camapp models info`.

A mirror is asked by file name only (a folder: the file exists; http(s): a HEAD request answers
200), with its size compared when the manifest states one. Checksums are not computed here: that
would read every model on every `models list`. They are checked when a model is used or pulled
(store.in_folder_mirror, download.pull), which refuse a file that does not match.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from camapp import __version__
from camapp.models.download import source_of
from camapp.models.manifest import ModelEntry
from camapp.models.store import ModelStore

State = Literal["yes", "no", "wrong-size", "unknown"]

TIMEOUT_S = 3.0  # a LAN mirror answers a HEAD in milliseconds; a dead one must not stall `models list`
PARALLEL = 8  # HEAD requests in flight: 46 entries in a few round trips, not a flood


@dataclass(frozen=True)
class MirrorFile:
    state: State  # "unknown": the mirror could not be asked (see MirrorIndex.problem)
    location: str  # the file's path or URL in the mirror


@dataclass
class MirrorIndex:
    """The mirror's answer for each entry id; empty when no mirror is set."""

    mirror: str | None
    files: dict[str, MirrorFile] = field(default_factory=dict)
    problem: str | None = None  # why some states are "unknown" (first error only)

    def state(self, model_id: str) -> State | None:
        found = self.files.get(model_id)
        return found.state if found else None


def is_folder(mirror: str) -> bool:
    return "://" not in mirror


def probe(entries: Iterable[ModelEntry], store: ModelStore) -> MirrorIndex:
    """Which of `entries` the store's mirror holds."""
    index = MirrorIndex(store.mirror)
    if not store.mirror:
        return index
    wanted = [(e, source_of(e, store).location) for e in entries]
    if is_folder(store.mirror):
        for entry, location in wanted:
            index.files[entry.id] = MirrorFile(_folder_state(entry, Path(location)), location)
        return index
    with ThreadPoolExecutor(PARALLEL, thread_name_prefix="mirror-probe") as pool:
        answers = list(pool.map(lambda item: _http_state(item[0], item[1]), wanted))
    for (entry, location), (state, problem) in zip(wanted, answers, strict=True):
        index.files[entry.id] = MirrorFile(state, location)
        index.problem = index.problem or problem
    return index


def _folder_state(entry: ModelEntry, path: Path) -> State:
    try:
        size = path.stat().st_size if path.is_file() else None
    except OSError:
        return "unknown"
    if size is None:
        return "no"
    return "wrong-size" if entry.size is not None and size != entry.size else "yes"


def _http_state(entry: ModelEntry, url: str) -> tuple[State, str | None]:
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": f"camapp/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            return "no", None
        return "unknown", f"HTTP {exc.code} {exc.reason} for {url}"
    except urllib.error.URLError as exc:
        return "unknown", f"{exc.reason}"
    except (OSError, http.client.HTTPException) as exc:
        return "unknown", str(exc) or type(exc).__name__
    if entry.size is not None and length and length.isdigit() and int(length) != entry.size:
        return "wrong-size", None
    return "yes", None
