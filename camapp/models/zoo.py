"""Choosing a manifest model by backbone, task, width multiplier (alpha) and input resolution.

`--backbone v3` means V3-Small or V3-Large, in that order. Among the entries that match, the one
marked `default: true` wins; otherwise a quantised (uint8) model is preferred over a float one
(it is the fast one on a Pi's CPU), then the widest alpha, then the largest resolution.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from camapp.errors import UsageError
from camapp.models.manifest import ModelEntry, load_manifest
from camapp.models.store import ModelStore

if TYPE_CHECKING:
    from camapp.models.mirror import MirrorFile

FAMILIES = {"v3": ("v3-small", "v3-large")}
DEFAULT_TASK = "classify"  # --backbone without --task picks a classifier: every backbone has one


def family(backbone: str) -> tuple[str, ...]:
    return FAMILIES.get(backbone, (backbone,))


def select_model(
    backbone: str,
    task: str,
    alpha: float | None = None,
    resolution: int | None = None,
    entries: dict[str, ModelEntry] | None = None,
) -> str:
    """The id of the model --backbone/--task/--alpha/--resolution ask for; UsageError listing what exists."""
    entries = load_manifest() if entries is None else entries
    members = family(backbone)
    pool = [e for e in entries.values() if e.backbone in members and e.task == task]
    if not pool:
        have = sorted({e.backbone for e in entries.values() if e.task == task})
        raise UsageError(f"no {task} model with backbone {backbone} in the manifest", f"{task} backbones: {', '.join(have) or 'none'}")
    matches = [e for e in pool if _fits(e, alpha, resolution)]
    if not matches:
        wanted = " and ".join(p for p in (f"alpha {alpha}" if alpha else "", f"resolution {resolution}" if resolution else "") if p)
        raise UsageError(f"no {backbone} {task} model with {wanted}", f"these exist: {available(pool)}")

    def rank(e: ModelEntry) -> tuple[Any, ...]:
        return (not e.default, members.index(e.backbone), e.input_dtype != "uint8", -(e.alpha or 0), -(e.resolution or 0), e.id)

    return min(matches, key=rank).id


def _fits(entry: ModelEntry, alpha: float | None, resolution: int | None) -> bool:
    if alpha is not None and (entry.alpha is None or not math.isclose(entry.alpha, alpha)):
        return False
    return resolution is None or entry.resolution == resolution


def available(pool: list[ModelEntry]) -> str:
    """'v1 alpha 0.25 at 128/160/192/224, ...': the combinations an error message can offer."""
    sizes: dict[tuple[str, float | None], set[int]] = defaultdict(set)
    for e in pool:
        sizes[(e.backbone, e.alpha)].add(e.resolution or 0)
    parts = []
    for (backbone, alpha), resolutions in sorted(sizes.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        res = "/".join(str(r) for r in sorted(resolutions) if r)
        parts.append(f"{backbone} alpha {alpha} at {res}" if alpha is not None else f"{backbone} at {res}")
    return "; ".join(parts)


def accuracy_text(entry: ModelEntry) -> str:
    acc = entry.accuracy
    if "imagenet_top1" in acc:
        return f"top-1 {acc['imagenet_top1']:.1f}%"
    if "coco_map" in acc:
        return f"mAP {acc['coco_map']:g}"
    return "-"


def size_text(size: int | None) -> str:
    return f"{size / 1e6:.1f} MB" if size else "-"


def row(entry: ModelEntry, store: ModelStore, in_mirror: MirrorFile | None = None) -> dict[str, Any]:
    """One model for `camapp models list`: the manifest's facts plus where (whether) it is on disk
    and whether the mirror holds it (`in_mirror`, from camapp.models.mirror.probe)."""
    path = store.find(entry)
    size = entry.size or (path.stat().st_size if path else None)
    return {
        "id": entry.id,
        "task": entry.task,
        "backbone": entry.backbone,
        "alpha": entry.alpha,
        "resolution": entry.resolution,
        "input_dtype": entry.input_dtype,
        "size": size,
        "accuracy": dict(entry.accuracy),
        "accuracy_source": entry.accuracy_source,
        "default": entry.default,
        "verified": entry.verified,
        "checksum": entry.checksum,
        "sha256": entry.sha256,
        "git_blob": entry.git_blob,
        "file": entry.file,
        "url": entry.url,
        "member": entry.member,
        "labels": entry.labels,
        "label_offset": entry.label_offset,
        "licence": entry.licence,
        "notes": entry.notes,
        "cached": store.describe_location(entry) if path else None,
        "path": str(path) if path else None,
        # "yes" / "no" / "wrong-size" / "unknown" (mirror unreachable); None: no mirror is set
        "mirror": in_mirror.state if in_mirror else None,
        "mirror_location": in_mirror.location if in_mirror else None,
    }
