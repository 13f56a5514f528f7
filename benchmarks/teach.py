#!/usr/bin/env python3
"""camapp teach on the shared clips: held-out accuracy per backbone, and what a build costs.

Accuracy (the README's table; tests/teach/test_videos.py asserts it with a margin): 10 consecutive
frames per class from the first time each class is seen, then every other later frame classified
against the hand-made ground truth in tests/teach/data/video_segments.yaml ("unclear" transitions
not scored); balanced accuracy = the mean of the per-class recalls.
  bottle-detection.mp4   three / two / one bottles / a hand, taught from 0-5.6 s, 5.7-7 s, 7.2-11 s, 18-21.7 s
  one-by-one-person...   empty / person, taught from the empty start and the first visitor only;
                         scored on visitors 4 to 6 (never taught) and the empty stretches between
Also: one frame per class on the people clip, fit vs mean, and the share of the other clip's frames
(a scene never taught) answered "unknown" with the auto floor.

Build cost: `camapp teach build` on 20 classes x 20 examples (frames of both clips, 20 chunks), 1 and
2 threads, wall time of each step.

    python benchmarks/teach.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from camapp.inference.options import ModelOptions  # noqa: E402
from camapp.teach.build import BuildOptions, build  # noqa: E402
from camapp.teach.dataset import add_examples  # noqa: E402
from camapp.teach.embedder import Embedder  # noqa: E402
from camapp.teach.evaluate import resolve_floor  # noqa: E402
from camapp.teach.head import Head, train_head  # noqa: E402

SHARED = HERE.parent.parent / "shared"
MODELS = Path(os.environ.get("CAMAPP_MODEL_MIRROR", SHARED / "models"))
VIDEOS = SHARED / "videos"
BACKBONES = {"V1 0.75 192": "mobilenet_v1_0.75_192_quant.tflite", "V2 1.0 224": "mobilenet_v2_1.0_224_quant.tflite",
             "V3-Small 224": "v3-small_224_1.0_uint8.tflite"}
BOTTLES, PEOPLE = "bottle-detection.mp4", "one-by-one-person-detection.mp4"
BOTTLE_TEACH = {"three": range(0, 10), "hand": range(171, 181), "two": range(216, 226), "one": range(541, 551)}
PEOPLE_TEACH = {"empty": range(0, 60, 6), "person": range(63, 196, 13)}
PEOPLE_ONE = {"empty": range(30, 31), "person": range(150, 151)}
PEOPLE_FROM = 705


def frame_labels() -> dict[str, dict[int, str]]:
    data = yaml.safe_load((HERE.parent / "tests" / "teach" / "data" / "video_segments.yaml").read_text())
    out = {}
    for video, info in data.items():
        out[video] = {f: s["label"] for s in info["segments"] for f in range(s["start_frame"], s["end_frame"] + 1)}
    return out


def frames(video: str):  # type: ignore[no-untyped-def]
    cap = cv2.VideoCapture(str(VIDEOS / video))
    i = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        yield i, image
        i += 1
    cap.release()


def score(index, x, labels, taught, scored_from, kind="fit", floor=None):  # type: ignore[no-untyped-def]
    classes = tuple(taught)
    row = {int(f): i for i, f in enumerate(index)}
    rows = [row[f] for r in taught.values() for f in r]
    y = np.array([classes.index(labels[int(index[i])]) for i in rows])
    head = train_head(x[rows], y, classes, kind)
    head = Head(head.classes, head.vectors, resolve_floor(floor, head, x[rows], y), head.scale, head.kind)
    taught_frames = {f for r in taught.values() for f in r}
    test = [i for i, f in enumerate(index) if f >= scored_from and labels[int(f)] in classes and int(f) not in taught_frames and f % 2 == 0]
    truth = np.array([classes.index(labels[int(index[i])]) for i in test])
    answered = head.predict(x[test])
    return float(np.mean([np.mean(answered[truth == c] == c) for c in range(len(classes))])), head


def accuracy() -> dict[str, dict[str, float]]:
    labels = frame_labels()
    embedders = {k: Embedder(ModelOptions(str(MODELS / f), threads=2)) for k, f in BACKBONES.items()}
    emb = {}
    for video in (BOTTLES, PEOPLE):
        pairs = list(frames(video))
        index = np.array([i for i, _ in pairs])
        emb[video] = {k: (index, e.embed_all(im for _, im in pairs)) for k, e in embedders.items()}
    table: dict[str, dict[str, float]] = {}
    for k in BACKBONES:
        row = {}
        row["bottles, 10 frames per class"], bottle_head = score(*emb[BOTTLES][k], labels[BOTTLES], BOTTLE_TEACH, 0)
        row["bottles, mean head"], _ = score(*emb[BOTTLES][k], labels[BOTTLES], BOTTLE_TEACH, 0, "mean")
        row["people, 10 frames per class"], _ = score(*emb[PEOPLE][k], labels[PEOPLE], PEOPLE_TEACH, PEOPLE_FROM)
        row["people, mean head"], _ = score(*emb[PEOPLE][k], labels[PEOPLE], PEOPLE_TEACH, PEOPLE_FROM, "mean")
        row["people, 1 frame per class"], _ = score(*emb[PEOPLE][k], labels[PEOPLE], PEOPLE_ONE, PEOPLE_FROM)
        row["bottles with the auto floor"], floored = score(*emb[BOTTLES][k], labels[BOTTLES], BOTTLE_TEACH, 0, floor="auto")
        people = emb[PEOPLE][k][1]
        row["people clip called unknown by the bottle model"] = float(np.mean(floored.predict(people) == len(floored.classes)))
        row["auto floor"] = float(floored.floor or 0.0)
        table[k] = {name: round(v, 4) for name, v in row.items()}
    return table


def build_cost() -> dict[str, dict[str, float]]:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "examples"
        pool = [im for i, im in frames(BOTTLES) if i % 3 == 0][:200] + [im for i, im in frames(PEOPLE) if i % 3 == 0][:200]
        for c in range(20):
            add_examples(root, f"class{c:02d}", pool[c * 20:(c + 1) * 20])
        for k, f in BACKBONES.items():
            for threads in (1, 2):
                for cache in Path(root, ".camapp-embeddings").glob("*.npz") if (root / ".camapp-embeddings").exists() else []:
                    cache.unlink()
                t0 = time.perf_counter()
                result = build(BuildOptions(root, Path(tmp) / "m.tflite", ModelOptions(str(MODELS / f), threads=threads)))
                wall = time.perf_counter() - t0
                out[f"{k}, {threads} thread{'s' if threads > 1 else ''}"] = {
                    "total_s": round(wall, 2), **{f"{s}_s": round(v, 3) for s, v in result.seconds.items()},
                    "ms_per_example": round(1000 * result.seconds["embed"] / 400, 2),
                    "model_mb": round((Path(tmp) / "m.tflite").stat().st_size / 1e6, 2),
                }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json")
    args = p.parse_args()
    result = {"accuracy": accuracy(), "build_20x20": build_cost()}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
