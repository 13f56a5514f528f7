"""Which models `camapp bench models` measures when none are named.

Every manifest model already on this machine, classifiers and detectors alike: in the system
folder, the cache, or a folder mirror (a fleet's shared mount, read in place). Nothing is
downloaded: a benchmark is not the moment to pull tens of megabytes onto a Pi's SD card unasked,
and a user who wants a particular model names it (which downloads it once).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from camapp.errors import UsageError
from camapp.models.manifest import ModelEntry, load_manifest
from camapp.models.store import ModelStore, folder_mirror_file

WHERE = {"system": "the system folder", "cache": "the cache", "mirror": "the mirror"}


@dataclass(frozen=True)
class Pick:
    entry: ModelEntry
    where: str  # a WHERE key


def available(store: ModelStore, cached_only: bool = False) -> list[Pick]:
    """Manifest models present locally, one per file (two ids may name the same bytes)."""
    picks: list[Pick] = []
    files: set[str] = set()
    for entry in load_manifest().values():
        if entry.file in files:
            continue
        where = store.describe_location(entry) if store.find(entry) is not None else None
        if where is None and not cached_only and folder_mirror_file(entry, store) is not None:
            where = "mirror"  # presence only: the checksum is checked when the model is resolved, like any --model
        if where is not None:
            picks.append(Pick(entry, where))
            files.add(entry.file)
    return picks


def explain(picks: list[Pick], store: ModelStore, cached_only: bool) -> str:
    """One line saying what was picked and why, for stderr."""
    tasks = _count([p.entry.task for p in picks], {"classify": "classifier", "detect": "detector"})
    places = "; ".join(
        f"{n} in {WHERE[w]}" + (f" {_place(store, w)}" if _place(store, w) else "") for w, n in Counter([p.where for p in picks]).items()
    )
    what = "every downloaded model (--cached)" if cached_only else "the models already on this machine, nothing is downloaded"
    ids = ", ".join(p.entry.id for p in picks)
    return f"camapp: no models named, so benchmarking {what}: {tasks} ({places}): {ids}{_unlisted_mirror(store, cached_only)}"


def nothing_available(store: ModelStore, cached_only: bool) -> UsageError:
    where = f"nothing in {store.cache_dir}"
    if store.mirror and not cached_only:
        where += f" or the mirror {store.mirror}" if "://" not in store.mirror else f" (the mirror {store.mirror} cannot be listed)"
    return UsageError(
        f"no models to benchmark: {where}",
        "name model ids to download and bench them (e.g. 'camapp bench models mobilenet_v2_1.0_224_quant "
        "ssd_mobilenet_v1_coco_quant'), run 'camapp models pull ID', or set CAMAPP_MODEL_MIRROR to a folder of .tflite files",
    )


def _place(store: ModelStore, where: str) -> str:
    return {"cache": str(store.cache_dir), "system": str(store.system_dir), "mirror": str(store.mirror)}.get(where, "")


def _unlisted_mirror(store: ModelStore, cached_only: bool) -> str:
    if store.mirror and "://" in store.mirror and not cached_only:
        return f" (the mirror {store.mirror} cannot be listed: name ids to bench models from it)"
    return ""


def _count(tasks: list[str], nouns: dict[str, str]) -> str:
    tally = Counter(tasks)
    order = [t for t in nouns if t in tally] + [t for t in tally if t not in nouns]
    parts = [f"{tally[t]} {nouns.get(t, t)}{'s' if tally[t] != 1 else ''}" for t in order]
    return ", ".join(parts)
