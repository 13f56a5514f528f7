"""`camapp bench models`: invoke latency, file size and accuracy per model and thread count.

Latency is the interpreter alone (set_tensor + invoke) on a real preprocessed image, after
warm-up invokes that are discarded: the first ones pay for memory planning and cold caches.
Accuracy runs the full classifier (preprocess, invoke, top-k) on each labelled image once per
model; it does not depend on the thread count.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from camapp.bench.accuracy import Accuracy, LabelledImage, load_image_set
from camapp.bench.available import available, explain, nothing_available
from camapp.bench.measure import machine, percentiles
from camapp.errors import ModelError
from camapp.frames import Frame, Image
from camapp.inference.model import Model, ModelOptions
from camapp.inference.tasks.classify import ClassifyResults
from camapp.models.manifest import ModelEntry, entry_labels, load_manifest
from camapp.models.resolve import resolve_model
from camapp.models.sidecar import apply_sidecar
from camapp.models.store import ModelStore
from camapp.progress import Progress
from camapp.sources.still import read_image

log = logging.getLogger(__name__)

SMOKE_LIMIT = 100  # fewer labelled images than this is a smoke check, not an accuracy figure


@dataclass(frozen=True)
class ModelsBenchOptions:
    models: tuple[str, ...] = ()
    cached: bool = False
    threads: tuple[int, ...] = (1, 2)
    runs: int = 50
    warmup: int = 10
    images: str | None = None
    labels: str | None = None  # for .tflite paths the manifest does not know
    cache_dir: str | None = None
    mirror: str | None = None


@dataclass(frozen=True)
class Target:
    name: str  # the id, or the path as given
    path: str
    labels: str | None
    entry: ModelEntry | None


@dataclass
class Row:
    model: str
    task: str
    backbone: str | None
    input: str
    size_bytes: int
    threads: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    top1: float | None = None
    top5: float | None = None
    images: int = 0
    published_top1: float | None = None  # the manifest's ImageNet top-1 (%), for comparison
    published_map: float | None = None  # the manifest's COCO mAP (%) for a detector, where its publisher states one
    extra: dict[str, Any] = field(default_factory=dict)


def pick_names(opts: ModelsBenchOptions) -> tuple[list[str], str | None]:
    """The models to bench and, when camapp picked them itself, one line saying which and why."""
    names = list(opts.models)
    if names and not opts.cached:
        return names, None
    store = ModelStore.create(opts.cache_dir, opts.mirror)
    picks = [p for p in available(store, cached_only=opts.cached) if p.entry.id not in names]
    if not names and not picks:
        raise nothing_available(store, opts.cached)
    note = explain(picks, store, opts.cached) if not names else None
    return names + [p.entry.id for p in picks], note


def targets(opts: ModelsBenchOptions, names: list[str], notify: Callable[[str], None]) -> list[Target]:
    """Resolve each name to a file; a picked model that fails its checksum is skipped, a named one is an error."""
    by_file = {e.file: e for e in load_manifest().values()}
    out = []
    for name in names:
        try:
            resolved = resolve_model(name, None, opts.cache_dir, opts.mirror)
        except ModelError as exc:
            if name in opts.models or len(names) == 1:
                raise
            notify(f"camapp: skipping {name}: {exc}")
            continue
        entry = resolved.manifest_entry or by_file.get(os.path.basename(resolved.path))
        labels = resolved.labels or opts.labels
        if labels is None and entry is not None:
            labels = entry_labels(entry)  # a path to a file the manifest knows by name
        out.append(Target(name, resolved.path, labels, entry))
    if not out:
        raise ModelError("no model to benchmark could be loaded", "see the lines above for each model")
    return out


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def invoke_latency(model: Model, image: Image, runs: int, warmup: int) -> list[float]:
    tensor = model.new_input()
    model.prepare(Frame(image, 0, 0, "bench"), tensor)
    interpreter, index = model.interpreter, model.info.input.index
    for _ in range(warmup):
        interpreter.set_tensor(index, tensor)
        interpreter.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interpreter.set_tensor(index, tensor)
        interpreter.invoke()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def target_options(target: Target, threads: int) -> ModelOptions:
    """How `bench models` loads a target: as `camapp run` would, so a file's own sidecar applies."""
    options = ModelOptions(target.path, target.labels, threads=threads, top_k=5)
    if target.entry is not None:
        return options
    explicit = {"threads", "top_k"} | ({"labels"} if target.labels else set())
    return apply_sidecar(options, explicit)


def accuracy(model: Model, images: list[tuple[LabelledImage, Image]]) -> Accuracy:
    acc = Accuracy()
    for item, image in images:
        results = model.run(Frame(image, 0, 0, item.path))
        assert isinstance(results, ClassifyResults)  # bench_models asks only classifiers
        acc.add([c.label for c in results.classes], item.label)
    return acc


def synthetic_image() -> Image:
    """A fixed, textured 640x480 frame for latency when no images are given (content barely matters)."""
    y, x = np.mgrid[0:480, 0:640]
    return np.stack([(x * 255 // 639), (y * 255 // 479), ((x + y) % 256)], axis=-1).astype(np.uint8)


def bench_models(opts: ModelsBenchOptions, notify: Callable[[str], None] = _stderr) -> dict[str, Any]:
    labelled = load_image_set(opts.images) if opts.images else []  # a bad --images fails before any work
    images = [(item, read_image(item.path)) for item in labelled]
    names, note = pick_names(opts)
    if note:
        notify(note)
    chosen = targets(opts, names, notify)
    latency_image = images[0][1] if images else synthetic_image()
    rows: list[Row] = []
    # One step per model and thread count; the timed invokes themselves are never interrupted.
    # Drawn once the first model is loaded (see Progress draw_now).
    with Progress("bench models", len(chosen) * len(opts.threads), "step", draw_now=False) as progress:
        for i, target in enumerate(chosen, 1):
            acc: Accuracy | None = None
            for threads in opts.threads:
                model = Model(target_options(target, threads))
                doing = f"model {i}/{len(chosen)} {target.name}, {threads} thread{'s' if threads > 1 else ''}"
                progress.describe(doing)
                if acc is None and images and issubclass(model.task_plugin.results_type, ClassifyResults):  # top-k accuracy
                    progress.describe(f"{doing}: top-1 on {len(images)} images")
                    acc = accuracy(model, images)
                    progress.describe(f"{doing}: {opts.runs} timed invokes")
                times = percentiles(invoke_latency(model, latency_image, opts.runs, opts.warmup))
                rows.append(_row(target, model, threads, times, acc))
                progress.update()
                log.info("%s, %d thread(s): p50 %.2f ms", target.name, threads, times["p50"])
    return {
        "benchmark": "models",
        "host": machine(),
        "runs": opts.runs,
        "warmup": opts.warmup,
        "images": _images_note(opts.images, len(images)),
        "picked": note,
        "rows": [asdict(r) for r in rows],
    }


def _row(target: Target, model: Model, threads: int, times: dict[str, float], acc: Accuracy | None) -> Row:
    entry = target.entry
    inp = model.info.input
    published = entry.accuracy if entry is not None else {}
    return Row(
        model=target.name,
        task=model.task,
        backbone=entry.backbone if entry else None,
        input=f"{model.info.input_width}x{model.info.input_height} {np.dtype(inp.dtype).name}",
        size_bytes=os.path.getsize(target.path),
        threads=threads,
        mean_ms=times["mean"],
        p50_ms=times["p50"],
        p95_ms=times["p95"],
        top1=None if acc is None else acc.top1_rate,
        top5=None if acc is None else acc.top5_rate,
        images=0 if acc is None else acc.images,
        published_top1=published.get("imagenet_top1"),
        published_map=published.get("coco_map"),
    )


def _images_note(path: str | None, count: int) -> dict[str, Any] | None:
    if path is None:
        return None
    note = f"top-1 / top-5 on these {count} images only"
    if count < SMOKE_LIMIT:
        note += ": a smoke check, not an ImageNet accuracy figure"
    return {"path": path, "count": count, "note": note}
