"""`camapp bench models`: invoke latency, file size and accuracy per model and thread count.

Latency is the interpreter alone (set_tensor + invoke) on a real preprocessed image, after
warm-up invokes that are discarded: the first ones pay for memory planning and cold caches.
Accuracy runs the full classifier (preprocess, invoke, top-k) on each labelled image once per
model; it does not depend on the thread count.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from camapp.bench.accuracy import Accuracy, LabelledImage, load_image_set
from camapp.bench.measure import machine, percentiles
from camapp.errors import UsageError
from camapp.frames import Frame, Image
from camapp.inference.tasks import Model, ModelOptions
from camapp.manifest import ModelEntry, ModelStore, entry_labels, load_manifest, resolve_model
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
    extra: dict[str, Any] = field(default_factory=dict)


def targets(opts: ModelsBenchOptions) -> list[Target]:
    names = list(opts.models)
    if opts.cached:
        store = ModelStore.create(opts.cache_dir, opts.mirror)
        names += [e.id for e in load_manifest().values() if store.find(e) is not None and e.id not in names]
    if not names:
        raise UsageError("no models to benchmark", "give model ids or .tflite paths, or --cached for every downloaded model")
    by_file = {e.file: e for e in load_manifest().values()}
    out = []
    for name in names:
        resolved = resolve_model(name, None, opts.cache_dir, opts.mirror)
        entry = resolved.entry or by_file.get(os.path.basename(resolved.path))
        labels = resolved.labels or opts.labels
        if labels is None and entry is not None:
            labels = entry_labels(entry)  # a path to a file the manifest knows by name
        out.append(Target(name, resolved.path, labels, entry))
    return out


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


def accuracy(model: Model, images: list[tuple[LabelledImage, Image]]) -> Accuracy:
    acc = Accuracy()
    for item, image in images:
        results = model.run(Frame(image, 0, 0, item.path))
        acc.add([c.label for c in results.classes], item.label)
    return acc


def synthetic_image() -> Image:
    """A fixed, textured 640x480 frame for latency when no images are given (content barely matters)."""
    y, x = np.mgrid[0:480, 0:640]
    return np.stack([(x * 255 // 639), (y * 255 // 479), ((x + y) % 256)], axis=-1).astype(np.uint8)


def bench_models(opts: ModelsBenchOptions) -> dict[str, Any]:
    labelled = load_image_set(opts.images) if opts.images else []
    images = [(item, read_image(item.path)) for item in labelled]
    latency_image = images[0][1] if images else synthetic_image()
    rows: list[Row] = []
    for target in targets(opts):
        acc: Accuracy | None = None
        for threads in opts.threads:
            model = Model(ModelOptions(target.path, target.labels, threads=threads, top_k=5))
            if acc is None and images and model.task == "classify":
                acc = accuracy(model, images)
            times = percentiles(invoke_latency(model, latency_image, opts.runs, opts.warmup))
            rows.append(_row(target, model, threads, times, acc))
            log.info("%s, %d thread(s): p50 %.2f ms", target.name, threads, times["p50"])
    return {
        "benchmark": "models",
        "host": machine(),
        "runs": opts.runs,
        "warmup": opts.warmup,
        "images": _images_note(opts.images, len(images)),
        "rows": [asdict(r) for r in rows],
    }


def _row(target: Target, model: Model, threads: int, times: dict[str, float], acc: Accuracy | None) -> Row:
    entry = target.entry
    inp = model.info.input
    published = entry.accuracy.get("imagenet_top1") if entry is not None else None
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
        published_top1=published,
    )


def _images_note(path: str | None, count: int) -> dict[str, Any] | None:
    if path is None:
        return None
    note = f"top-1 / top-5 on these {count} images only"
    if count < SMOKE_LIMIT:
        note += ": a smoke check, not an ImageNet accuracy figure"
    return {"path": path, "count": count, "note": note}
