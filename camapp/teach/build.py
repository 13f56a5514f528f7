"""`camapp teach build`: examples -> embeddings -> head -> one ordinary .tflite, with a report.

What it writes, for `--output shelf.tflite`:
  shelf.tflite        the cut backbone + L2-normalise + fully connected + softmax, labels inside:
                      camapp classify / run, the web page, MQTT and any LiteRT program use it as
                      they use any classifier, with the same input the examples went through
  shelf.yaml          only when the backbone ran with a non-default resize or interpolation, so
                      the model is always fed as it was taught (camapp.models.sidecar)
  shelf.teach.npz     what extending it later needs: the embeddings, labels, example paths,
                      64 px thumbnails, the head and the report
The examples folder keeps a cache of embeddings (.camapp-embeddings/), so a second build after
adding examples only embeds the new ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from camapp.atomic import write_atomic
from camapp.errors import UsageError
from camapp.inference.graph_edit import export_classifier
from camapp.inference.options import ModelOptions
from camapp.teach.dataset import Dataset, read_dataset, read_image
from camapp.teach.embedder import Embedder
from camapp.teach.evaluate import Report, evaluate, resolve_floor
from camapp.teach.head import Head, HeadKind, train_head

CACHE_DIR = ".camapp-embeddings"
THUMB = 64
Floor = float | None | str  # a cosine, None (no "unknown"), or "auto"


@dataclass(frozen=True)
class BuildOptions:
    examples: Path
    output: Path
    backbone: ModelOptions
    head: HeadKind = "fit"
    floor: Floor = "auto"


@dataclass
class BuildResult:
    output: Path
    head: Head
    report: Report
    seconds: dict[str, float]
    embedded: int  # examples embedded now (the rest came from the cache)
    skipped: list[str]  # files that did not decode


Progress = Callable[[int, int], None]


class EmbeddingCache:
    """Embeddings of the examples by (relative path, size, mtime), per backbone file."""

    def __init__(self, root: Path, backbone: bytes) -> None:
        self.path = root / CACHE_DIR / (hashlib.sha256(backbone).hexdigest()[:16] + ".npz")
        self.rows: dict[str, NDArray[np.float32]] = {}
        try:
            with np.load(self.path) as data:
                self.rows = dict(zip(data["keys"].tolist(), data["embeddings"], strict=True))
        except (OSError, ValueError, KeyError):
            self.rows = {}  # no cache, or a damaged one: embed again

    @staticmethod
    def key(root: Path, path: Path) -> str:
        st = path.stat()
        return f"{path.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}"

    def save(self, keys: list[str], rows: NDArray[np.float32]) -> None:
        import io

        buf = io.BytesIO()
        np.savez(buf, keys=np.array(keys), embeddings=rows)
        with contextlib.suppress(OSError):  # a read-only examples folder: the cache is only a speed-up
            write_atomic(self.path, buf.getvalue())


def embed_dataset(dataset: Dataset, embedder: Embedder, progress: Progress | None = None
                  ) -> tuple[NDArray[np.float32], NDArray[np.int64], list[Path], list[str], int, list[NDArray[np.uint8]]]:
    cache = EmbeddingCache(dataset.root, embedder.content)
    keys: list[str] = []
    rows: list[NDArray[np.float32]] = []
    labels: list[int] = []
    paths: list[Path] = []
    skipped: list[str] = []
    thumbs: list[NDArray[np.uint8]] = []
    embedded = 0
    index = {c: i for i, c in enumerate(dataset.classes)}
    for n, example in enumerate(dataset.examples):
        if progress:
            progress(n, len(dataset.examples))
        key = EmbeddingCache.key(dataset.root, example.path)
        image = read_image(example.path)
        if image is None:
            skipped.append(str(example.path))
            continue
        row = cache.rows.get(key)
        if row is None or row.shape != (embedder.width,):
            row = embedder.embed(image)
            embedded += 1
        keys.append(key)
        rows.append(row)
        labels.append(index[example.label])
        paths.append(example.path)
        thumbs.append(cv2.resize(image, (THUMB, THUMB), interpolation=cv2.INTER_AREA))  # type: ignore[arg-type]
    x = np.stack(rows).astype(np.float32)
    if embedded:
        cache.save(keys, x)
    return x, np.array(labels, np.int64), paths, skipped, embedded, thumbs


def build(opts: BuildOptions, progress: Progress | None = None) -> BuildResult:
    if opts.output.suffix != ".tflite":
        raise UsageError(f"--output '{opts.output}' must end in .tflite", "e.g. --output shelf.tflite")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    dataset = read_dataset(opts.examples)
    embedder = Embedder(opts.backbone)
    seconds["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    x, y, paths, skipped, embedded, thumbs = embed_dataset(dataset, embedder, progress)
    seconds["embed"] = time.perf_counter() - t0
    present = sorted(set(y.tolist()))
    if len(present) < 2:
        raise UsageError(f"'{opts.examples}' has fewer than two classes with readable images", "add examples of a second class")

    t0 = time.perf_counter()
    report = evaluate(x, y, dataset.classes, opts.head, opts.floor)
    seconds["evaluate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    head = train_head(x, y, dataset.classes, opts.head, None)
    floor = resolve_floor(opts.floor, head, x, y)
    head = Head(head.classes, head.vectors, floor, head.scale, head.kind)
    report.floor = floor
    seconds["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    weights, bias = head.fully_connected()
    described = f"camapp teach: {len(head.classes)} classes on {os.path.basename(opts.backbone.path)}, head {head.kind}"
    content = export_classifier(embedder.content, weights, bias, list(head.labels), described)
    write_atomic(opts.output, content)
    _write_sidecar(opts)
    _write_teach_file(opts, head, report, x, y, paths, thumbs)
    seconds["export"] = time.perf_counter() - t0
    return BuildResult(opts.output, head, report, seconds, embedded, skipped)


def _write_sidecar(opts: BuildOptions) -> None:
    """Non-default preprocessing travels with the model, so it is fed as it was taught."""
    b = opts.backbone
    defaults = {"resize": "stretch", "interpolation": "linear"}
    extra = {k: v for k, v in (("resize", b.resize), ("interpolation", b.interpolation)) if v != defaults[k]}
    sidecar = opts.output.with_suffix(".yaml")
    if extra:
        import yaml

        write_atomic(sidecar, yaml.safe_dump({"task": "classify", **extra}, sort_keys=False).encode())


def teach_file(output: Path) -> Path:
    return output.with_name(output.stem + ".teach.npz")


def _write_teach_file(opts: BuildOptions, head: Head, report: Report, x: NDArray[np.float32], y: NDArray[np.int64],
                      paths: list[Path], thumbs: list[NDArray[np.uint8]]) -> None:
    import io

    jpegs = [cv2.imencode(".jpg", t, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].reshape(-1) for t in thumbs]
    offsets = np.cumsum([0] + [len(j) for j in jpegs]).astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        embeddings=x, labels=y, classes=np.array(head.classes), paths=np.array([str(p) for p in paths]),
        thumbnails=np.concatenate(jpegs) if jpegs else np.zeros(0, np.uint8), thumbnail_offsets=offsets,
        vectors=head.vectors, floor=np.float32(np.nan if head.floor is None else head.floor), head=np.array(head.kind),
        backbone=np.array(opts.backbone.path), report=np.array(json.dumps(report.to_dict())),
    )
    write_atomic(teach_file(opts.output), buf.getvalue())
