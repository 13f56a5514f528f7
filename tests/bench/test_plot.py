"""The latency / accuracy scatter, drawn with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from camapp.bench.plot import FAMILY_COLOURS, points, render, save_plot
from camapp.errors import UsageError


def row(model, backbone, threads, p50, top1=None, published=None, task="classify"):  # type: ignore[no-untyped-def]
    return {
        "model": model,
        "backbone": backbone,
        "task": task,
        "threads": threads,
        "p50_ms": p50,
        "top1": top1,
        "published_top1": published,
        "images": 5 if top1 is not None else 0,
    }


ROWS = [
    row("mobilenet_v1_0.25_128_quant", "v1", 1, 0.3, 0.4, 39.5),
    row("mobilenet_v1_0.25_128_quant", "v1", 2, 0.2, 0.4, 39.5),
    row("mobilenet_v2_1.0_224_quant", "v2", 1, 3.5, 1.0, 70.8),
    row("mobilenet_v3_small_1.0_224_uint8", "v3-small", 1, 2.0, 0.8, 64.9),
    row("ssd_mobilenet_v1_coco_quant", "v1", 1, 7.0, task="detect"),
]


def test_one_point_per_classifier_at_its_fastest_thread_count():
    pts = points(ROWS)
    assert sorted((p["model"], p["threads"]) for p in pts) == [
        ("mobilenet_v1_0.25_128_quant", 2),
        ("mobilenet_v2_1.0_224_quant", 1),
        ("mobilenet_v3_small_1.0_224_uint8", 1),
    ]


def test_the_plot_shows_each_family_in_its_colour(tmp_path):
    path = tmp_path / "plot.png"
    save_plot(ROWS, str(path), "test")
    image = cv2.imread(str(path))
    assert image is not None and image.shape == render(ROWS, "test").shape
    for colour in FAMILY_COLOURS.values():
        assert np.any(np.all(image == np.array(colour, np.uint8), axis=-1)), colour


def test_nothing_to_plot_without_any_accuracy_is_a_usage_error():
    with pytest.raises(UsageError, match="nothing to plot"):
        render([row("ssd", "v1", 1, 7.0, task="detect"), row("x", "v2", 1, 1.0)], "t")
