"""The latency / accuracy chart of `camapp bench models --plot`, drawn with OpenCV.

OpenCV is already a dependency; matplotlib would add ~40 MB of wheels (and a font cache build on
first use, which takes minutes on a Pi Zero) for one chart. One panel per task, each with its own
latency scale (an SSD detector is several times slower than a small classifier, and nobody picks
one instead of the other): classifiers against ImageNet top-1, detectors against COCO mAP. One
point per model at its fastest thread count: filled = top-1 measured on --images, hollow = the
publisher's figure from the manifest, so the V1 / V2 / V3 trade-off shows even without a labelled
set. Models with no accuracy at all sit on a grey "latency only" strip under their panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2

from camapp.bench.chart import Box, Canvas, leader, nice_step, nice_ticks, place_label, tick_text
from camapp.errors import OutputError, UsageError
from camapp.frames import Image

W = 1000
LEFT, RIGHT, TOP, BOTTOM = 70, 250, 50, 44  # RIGHT holds the legend
HEADER, XTICKS, GAP, STRIP = 26, 24, 30, 40
PLOT_H = {"classify": 340, "detect": 200}
LABEL_SCALE = 0.42
FAMILY_COLOURS = {"v1": (200, 110, 30), "v2": (60, 160, 40), "v3": (30, 90, 230)}  # BGR
GREY = (120, 120, 120)
LIGHT = (235, 235, 235)
PANELS = {"classify": ("Classifiers", "ImageNet top-1"), "detect": ("Detectors", "COCO mAP")}


def family_colour(backbone: str | None) -> tuple[int, int, int]:
    return FAMILY_COLOURS.get((backbone or "")[:2], GREY)


@dataclass(frozen=True)
class Point:
    name: str
    backbone: str | None
    ms: float
    measured: float | None  # % on --images (classifiers)
    published: float | None  # % from the manifest: ImageNet top-1 or COCO mAP

    @property
    def accuracies(self) -> list[float]:
        return [a for a in (self.measured, self.published) if a is not None]


def fastest(rows: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """One row per model of this task: the one at its fastest thread count."""
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["task"] == task and (r["model"] not in best or r["p50_ms"] < best[r["model"]]["p50_ms"]):
            best[r["model"]] = r
    return list(best.values())


def points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The classifier panel's rows (kept for callers that only want classifiers)."""
    return fastest(rows, "classify")


def to_point(r: dict[str, Any]) -> Point:
    top1 = r.get("top1")
    published = r.get("published_top1") if r["task"] == "classify" else r.get("published_map")
    return Point(short_name(r["model"]), r.get("backbone"), r["p50_ms"], None if top1 is None else 100 * top1, published)


def short_name(model: str) -> str:
    """The id without the words every point shares; a path's file name without .tflite."""
    name = model.replace("\\", "/").rsplit("/", 1)[-1]
    return name.removesuffix(".tflite").replace("mobilenet_", "")


def panels(rows: list[dict[str, Any]]) -> list[tuple[str, list[Point]]]:
    out = [(task, [to_point(r) for r in sorted(fastest(rows, task), key=lambda r: r["p50_ms"])]) for task in PLOT_H]
    return [(task, pts) for task, pts in out if pts]


def panel_height(task: str, pts: list[Point]) -> int:
    plot = PLOT_H[task] if any(p.accuracies for p in pts) else 0
    strip = STRIP if any(not p.accuracies for p in pts) else 0
    return HEADER + plot + strip + XTICKS


def draw(rows: list[dict[str, Any]], title: str) -> Canvas:
    """The whole chart; Canvas.texts says where every piece of text went."""
    found = panels(rows)
    if not any(p.accuracies for _, pts in found for p in pts):
        raise UsageError(
            "nothing to plot: no model has an accuracy",
            "add --images DIR for classifiers, or bench manifest models with a published top-1 or COCO mAP",
        )
    height = TOP + sum(panel_height(t, pts) for t, pts in found) + GAP * (len(found) - 1) + BOTTOM
    canvas = Canvas(W, height)
    canvas.fitted_text(title, (12, 30), W - 24, 0.6, role="title")
    y, unnamed = TOP, 0
    for task, pts in found:
        unnamed += _panel(canvas, task, pts, y)
        y += panel_height(task, pts) + GAP
    x_title = "invoke latency p50 (ms) at each model's fastest thread count; each panel has its own scale"
    canvas.fitted_text(x_title, (LEFT, height - 14), W - RIGHT - LEFT, 0.48, role="axis")
    _legend(canvas, rows, found, unnamed)
    return canvas


def render(rows: list[dict[str, Any]], title: str) -> Image:
    return draw(rows, title).image


@dataclass(frozen=True)
class _Axes:
    x_end: float
    y0: float
    y1: float
    plot: Box  # the accuracy area (empty height when nobody has one)
    strip: Box  # the latency-only strip (empty height when everybody has an accuracy)

    def x(self, ms: float) -> int:
        return int(round(self.plot[0] + ms / self.x_end * (self.plot[2] - self.plot[0])))

    def y(self, acc: float) -> int:
        return int(round(self.plot[3] - (acc - self.y0) / (self.y1 - self.y0) * (self.plot[3] - self.plot[1])))


def _panel(canvas: Canvas, task: str, pts: list[Point], top: int) -> int:
    """Draws one task's panel; returns how many names had no room."""
    accs = [a for p in pts for a in p.accuracies]
    name, metric = PANELS[task]
    header = f"{name}: {metric} (%)" if accs else f"{name}: latency only, no {metric} known"
    canvas.fitted_text(header, (LEFT - 40, top + 17), W - RIGHT - LEFT + 40, 0.5, role="panel")
    plot_h = PLOT_H[task] if accs else 0
    plot = (LEFT, top + HEADER, W - RIGHT, top + HEADER + plot_h)
    strip = (LEFT, plot[3], W - RIGHT, plot[3] + (STRIP if any(not p.accuracies for p in pts) else 0))
    x_ticks = nice_ticks(0.0, max(p.ms for p in pts) * 1.08)
    y_ticks = _y_ticks(accs) if accs else [0.0, 1.0]
    axes = _Axes(x_ticks[-1], y_ticks[0], y_ticks[-1], plot, strip)
    _grid(canvas, task, axes, x_ticks, y_ticks if accs else [])
    avoid = [m for p in pts for m in _marker_boxes(axes, p)]
    return sum(not _point(canvas, axes, p, task, avoid) for p in pts)


def _y_ticks(accs: list[float]) -> list[float]:
    lo, hi = min(accs), max(accs)
    pad = max((hi - lo) * 0.15, 2.0)
    return nice_ticks(max(0.0, lo - pad), min(100.0, hi + pad), 5)


def _grid(canvas: Canvas, task: str, axes: _Axes, x_ticks: list[float], y_ticks: list[float]) -> None:
    img, (x0, y0, x1, _), bottom = canvas.image, axes.plot, axes.strip[3]
    if axes.strip[3] > axes.strip[1]:
        cv2.rectangle(img, (axes.strip[0], axes.strip[1]), (axes.strip[2], axes.strip[3]), (245, 245, 245), -1)
        canvas.text("n/a", (x0 - 36, (axes.strip[1] + axes.strip[3]) // 2 + 5), 0.45, GREY, f"y-tick {task}")
    step = nice_step(x_ticks[-1] - x_ticks[0]) if len(x_ticks) > 1 else 1.0
    for v in x_ticks:
        px = axes.x(v)
        cv2.line(img, (px, y0), (px, bottom), LIGHT, 1)
        cv2.line(img, (px, bottom), (px, bottom + 5), (0, 0, 0), 1)
        label = tick_text(v, step)
        w = canvas.box_at(label, (0, 0), 0.45)[2]
        canvas.text(label, (px - w // 2, bottom + 20), 0.45, role=f"x-tick {task}")
    if y_ticks:
        y_step = y_ticks[1] - y_ticks[0]
        for v in y_ticks:
            py = axes.y(v)
            cv2.line(img, (x0, py), (x1, py), LIGHT, 1)
            cv2.line(img, (x0 - 5, py), (x0, py), (0, 0, 0), 1)
            label = tick_text(v, y_step)
            w = canvas.box_at(label, (0, 0), 0.45)[2]
            canvas.text(label, (x0 - 9 - w, py + 5), 0.45, role=f"y-tick {task}")
    cv2.line(img, (x0, y0), (x0, bottom), (0, 0, 0), 1)
    cv2.line(img, (x0, bottom), (x1, bottom), (0, 0, 0), 1)


def _anchors(axes: _Axes, p: Point) -> list[tuple[tuple[int, int], bool]]:
    """Where the point's markers go, and whether each is filled (measured) or hollow (published)."""
    x = axes.x(p.ms)
    if not p.accuracies:
        return [((x, (axes.strip[1] + axes.strip[3]) // 2), True)]
    marks = [((x, axes.y(p.measured)), True)] if p.measured is not None else []
    return marks + ([((x, axes.y(p.published)), False)] if p.published is not None else [])


def _marker_boxes(axes: _Axes, p: Point) -> list[Box]:
    return [(x - 8, y - 8, x + 9, y + 9) for (x, y), _ in _anchors(axes, p)]


def _point(canvas: Canvas, axes: _Axes, p: Point, task: str, avoid: list[Box]) -> bool:
    """Markers and name; False when the name found no free place (a tight cluster)."""
    colour, img = family_colour(p.backbone), canvas.image
    marks = _anchors(axes, p)
    if len(marks) == 2:  # measured and published: a line shows the gap between them
        cv2.line(img, marks[0][0], marks[1][0], colour, 1, cv2.LINE_AA)
    for at, filled in marks:
        _marker(img, at, colour, filled, square=task == "detect")
    area = axes.plot if p.accuracies else axes.strip
    spot = place_label(canvas, p.name, marks[0][0], area, avoid, LABEL_SCALE)
    if spot is None:
        return False
    placed = canvas.text(spot[0], spot[1], LABEL_SCALE, colour, "point")
    leader(canvas, marks[0][0], placed.box, colour)
    avoid.append(placed.box)
    return True


def _marker(img: Image, at: tuple[int, int], colour: tuple[int, int, int], filled: bool, square: bool = False) -> None:
    thickness = cv2.FILLED if filled else 2
    if square:
        cv2.rectangle(img, (at[0] - 6, at[1] - 6), (at[0] + 6, at[1] + 6), colour, thickness, cv2.LINE_AA)
    else:
        cv2.circle(img, at, 7, colour, thickness, cv2.LINE_AA)


def _legend(canvas: Canvas, rows: list[dict[str, Any]], found: list[tuple[str, list[Point]]], unnamed: int) -> None:
    x, y, width = W - RIGHT + 24, TOP + HEADER + 10, RIGHT - 24 - 14 - 8
    families = [("MobileNet V1", FAMILY_COLOURS["v1"]), ("MobileNet V2", FAMILY_COLOURS["v2"]), ("MobileNet V3", FAMILY_COLOURS["v3"])]
    if any(family_colour(p.backbone) == GREY for _, pts in found for p in pts):
        families.append(("other", GREY))
    for name, colour in families:
        _marker(canvas.image, (x, y), colour, True)
        canvas.fitted_text(name, (x + 14, y + 5), width, 0.45, role="legend")
        y += 24
    y += 10
    n = max((r.get("images") or 0) for r in rows)
    entries = [
        (True, False, f"top-1 on {n} images" if n else "no --images given"),
        (False, False, "published ImageNet top-1"),
    ]
    if any(task == "detect" and p.published is not None for task, pts in found for p in pts):
        entries.append((False, True, "published COCO mAP (SSD)"))
    for filled, square, text in entries:
        _marker(canvas.image, (x, y), GREY, filled, square)
        canvas.fitted_text(text, (x + 14, y + 5), width, 0.42, role="legend")
        y += 24
    if 0 < n < 100:
        canvas.fitted_text(f"({n} images: a smoke check)", (x - 8, y + 4), RIGHT - 24, 0.4, (0, 0, 160), "legend")
        y += 24
    if unnamed:
        canvas.fitted_text(f"{unnamed} name(s) left out: no room", (x - 8, y + 4), RIGHT - 24, 0.4, GREY, "legend")


def save_plot(rows: list[dict[str, Any]], path: str, title: str) -> None:
    img = render(rows, title)
    try:
        ok = cv2.imwrite(path, img)
    except cv2.error as exc:
        raise OutputError(f"cannot write the plot to '{path}': {exc.msg.strip()}", "use a .png or .jpg file name") from exc
    if not ok:
        raise OutputError(f"cannot write the plot to '{path}'", "check the folder exists and the name ends in .png or .jpg")
