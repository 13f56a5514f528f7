"""The latency / accuracy chart, drawn with OpenCV: every family in its colour, detectors too,
no text cut off at the edge, round axis ticks."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from camapp.bench.chart import Canvas, inside, nice_step, nice_ticks, overlaps, shorten
from camapp.bench.plot import FAMILY_COLOURS, draw, points, render, save_plot
from camapp.errors import UsageError


def row(model, backbone, threads, p50, top1=None, published=None, task="classify", published_map=None):  # type: ignore[no-untyped-def]
    return {
        "model": model,
        "backbone": backbone,
        "task": task,
        "threads": threads,
        "p50_ms": p50,
        "top1": top1,
        "published_top1": published,
        "published_map": published_map,
        "images": 5 if top1 is not None else 0,
    }


ROWS = [
    row("mobilenet_v1_0.25_128_quant", "v1", 1, 0.3, 0.4, 39.5),
    row("mobilenet_v1_0.25_128_quant", "v1", 2, 0.2, 0.4, 39.5),
    row("mobilenet_v2_1.0_224_quant", "v2", 1, 3.5, 1.0, 70.8),
    row("mobilenet_v3_small_1.0_224_uint8", "v3-small", 1, 2.0, 0.8, 64.9),
    row("ssd_mobilenet_v1_coco_quant", "v1", 1, 7.0, task="detect"),
]

# A crowded chart: long ids and paths, points at the corners, a long title, detectors with and without mAP.
CROWDED = [
    *ROWS,
    row("mobilenet_v1_1.0_224_quant", "v1", 1, 0.01, 1.0, 70.9),  # top-left corner
    row("mobilenet_v3_large_1.0_224_uint8_with_a_very_long_suffix", "v3-large", 1, 48.0, 0.0, 75.2),  # far right, 0 %
    row("/home/pi/models/my_own_custom_classifier_trained_on_the_shop_shelves.tflite", None, 1, 25.0),  # latency only
    *(row(f"mobilenet_v2_0.{i}_224_quant", "v2", 1, 3.5 + i / 50, None, 60 + i / 10) for i in range(35, 45)),  # a cluster
    row("ssd_mobilenet_v2_coco_quant_postprocess", "v2", 1, 90.0, task="detect", published_map=22.6),
    row("ssdlite_mobiledet_cpu_320x320_coco_with_a_long_name", "other", 1, 120.0, task="detect", published_map=15.4),
    row("ssd_mobilenet_v1_coco_quant_postprocess", "v1", 1, 65.0, task="detect"),
]
LONG_TITLE = (
    "MobileNet latency vs accuracy on Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz, a board whose name goes on and on and on, "
    "then on a little more, with a note about the cooling fan (threads 1,2,4, fastest shown)"
)


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


def test_detectors_get_their_own_panel_and_a_label():
    texts = [t.text for t in draw(CROWDED, "t").texts]
    assert "Classifiers: ImageNet top-1 (%)" in texts and "Detectors: COCO mAP (%)" in texts
    assert any(t.startswith("ssd_v1_coco_quant") for t in texts)  # no mAP: on the latency-only strip
    assert any(t.startswith("ssd_v2_coco") for t in texts)  # with its published mAP


def test_detectors_without_any_map_are_shown_latency_only():
    texts = [t.text for t in draw(ROWS, "t").texts]
    assert "Detectors: latency only, no COCO mAP known" in texts and "ssd_v1_coco_quant" in texts and "n/a" in texts


@pytest.mark.parametrize("rows", [ROWS, CROWDED], ids=["few", "crowded"])
def test_no_text_leaves_the_image(rows):
    canvas = draw(rows, LONG_TITLE)
    assert len(canvas.texts) > 10
    for t in canvas.texts:
        assert inside(t.box, canvas.bounds), (t.text, t.box, canvas.bounds)
    # ...and the title was shortened to fit rather than cut off.
    assert canvas.texts[0].text != LONG_TITLE and "..." in canvas.texts[0].text


def test_point_names_never_cover_each_other_and_a_crowded_chart_says_what_it_left_out():
    few = draw(ROWS + CROWDED[5:7], "t")
    assert len([t for t in few.texts if t.role == "point"]) == 6  # room for every name
    crowded = draw(CROWDED, "t")
    names = [t for t in crowded.texts if t.role == "point"]
    for canvas in (few, crowded):
        placed = [t for t in canvas.texts if t.role == "point"]
        for i, a in enumerate(placed):
            for b in placed[i + 1 :]:
                assert not overlaps(a.box, b.box), (a, b)
    left_out = len({r["model"] for r in CROWDED}) - len(names)
    assert left_out > 0 and f"{left_out} name(s) left out: no room" in [t.text for t in crowded.texts]


def test_every_text_is_really_drawn_inside_its_box():
    canvas = draw(ROWS, "t")
    ink = np.any(canvas.image < 250, axis=-1)
    for t in canvas.texts:
        x0, y0, x1, y1 = t.box
        assert ink[y0:y1, x0:x1].any(), t  # the recorded box is where the pixels went


def test_axis_ticks_are_round_numbers():
    canvas = draw(CROWDED, "t")
    axes: dict[str, list[float]] = {}
    for t in canvas.texts:
        if "tick" in t.role and t.text != "n/a":
            axes.setdefault(t.role, []).append(float(t.text))
    assert set(axes) == {"x-tick classify", "y-tick classify", "x-tick detect", "y-tick detect"}
    for ticks in axes.values():
        assert len(ticks) >= 3 and ticks == sorted(ticks) or ticks == sorted(ticks, reverse=True)
    x_axes = [axes["x-tick classify"], axes["x-tick detect"]]
    y_axes = [sorted(axes["y-tick classify"]), sorted(axes["y-tick detect"])]
    for ticks in x_axes + y_axes:
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), ticks
        for a, b in zip(ticks, ticks[1:], strict=False):
            assert math.isclose(b - a, step, rel_tol=1e-6), ticks
        for v in ticks:
            assert math.isclose(v / step, round(v / step), abs_tol=1e-6), ticks  # on the step grid
    assert all(axis[0] == 0 for axis in x_axes)  # latency is a cost: it starts at zero


def test_nice_ticks_use_1_2_5_steps_and_cover_the_range():
    for lo, hi in [(0, 0.37), (0, 7.56), (0, 129.6), (37.2, 83.9), (0, 1.0), (12.5, 12.5), (0, 0.004)]:
        ticks = nice_ticks(lo, hi)
        step = nice_step(hi - lo)
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert any(math.isclose(mantissa, m) for m in (1, 2, 5)), (lo, hi, step)
        assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 11, (lo, hi, ticks)
        assert all(math.isclose(b - a, ticks[1] - ticks[0], rel_tol=1e-6) for a, b in zip(ticks, ticks[1:], strict=False))


def test_shorten_keeps_both_ends_of_a_name():
    text = "mobilenet_v3_large_1.0_224_uint8_with_a_very_long_suffix"
    short = shorten(text, 150, 0.42)
    assert short.startswith("mobilenet") and short.endswith("suffix"[-2:]) and "..." in short
    assert Canvas.box_at(short, (0, 0), 0.42)[2] <= 152


def test_nothing_to_plot_without_any_accuracy_is_a_usage_error():
    with pytest.raises(UsageError, match="nothing to plot"):
        render([row("ssd", "v1", 1, 7.0, task="detect"), row("x", "v2", 1, 1.0)], "t")
