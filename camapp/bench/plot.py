"""The latency / accuracy scatter of `camapp bench models --plot`, drawn with OpenCV.

OpenCV is already a dependency; matplotlib would add ~40 MB of wheels (and a font cache build on
first use, which takes minutes on a Pi Zero) for one chart. One point per classifier at its
fastest thread count: filled = top-1 measured on --images, hollow = the published ImageNet top-1
from the manifest, so the V1 / V2 / V3 trade-off shows even without a labelled set.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from camapp.errors import OutputError, UsageError
from camapp.frames import Image

W, H = 1000, 640
LEFT, RIGHT, TOP, BOTTOM = 80, 250, 60, 70
FONT = cv2.FONT_HERSHEY_SIMPLEX
FAMILY_COLOURS = {"v1": (200, 110, 30), "v2": (60, 160, 40), "v3": (30, 90, 230)}  # BGR
GREY = (120, 120, 120)


def family_colour(backbone: str | None) -> tuple[int, int, int]:
    return FAMILY_COLOURS.get((backbone or "")[:2], GREY)


def points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per classifier: its fastest thread count, and the accuracies it has."""
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["task"] != "classify":
            continue
        if r["model"] not in best or r["p50_ms"] < best[r["model"]]["p50_ms"]:
            best[r["model"]] = r
    return [r for r in best.values() if r.get("top1") is not None or r.get("published_top1") is not None]


def _scale(values: list[float], pad: float) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    span = max(hi - lo, 1e-6)
    return max(0.0, lo - span * pad), hi + span * pad


def render(rows: list[dict[str, Any]], title: str) -> Image:
    pts = points(rows)
    if not pts:
        raise UsageError(
            "nothing to plot: no classifier has an accuracy", "add --images DIR, or benchmark manifest models with a published top-1"
        )
    img = np.full((H, W, 3), 255, np.uint8)
    x0, x1 = 0.0, max(p["p50_ms"] for p in pts) * 1.1  # from zero: latency reads as a cost
    accs = [100 * p["top1"] for p in pts if p.get("top1") is not None] + [p["published_top1"] for p in pts if p.get("published_top1")]
    y0, y1 = _scale(accs, 0.15)
    y1 = min(100.0, y1)

    def to_px(ms: float, acc: float) -> tuple[int, int]:
        px = LEFT + (ms - x0) / (x1 - x0) * (W - LEFT - RIGHT)
        py = H - BOTTOM - (acc - y0) / (y1 - y0) * (H - TOP - BOTTOM)
        return int(round(px)), int(round(py))

    _axes(img, x0, x1, y0, y1, to_px)
    placed: list[tuple[int, int, int, int]] = []
    for p in sorted(pts, key=lambda p: p["p50_ms"]):
        colour = family_colour(p.get("backbone"))
        anchor = None
        if p.get("published_top1") is not None:
            anchor = to_px(p["p50_ms"], p["published_top1"])
            cv2.circle(img, anchor, 7, colour, 2, cv2.LINE_AA)
        if p.get("top1") is not None:
            anchor = to_px(p["p50_ms"], 100 * p["top1"])
            cv2.circle(img, anchor, 7, colour, cv2.FILLED, cv2.LINE_AA)
        assert anchor is not None
        text = _short(p["model"])
        cv2.putText(img, text, _label_spot(text, anchor, placed), FONT, 0.42, colour, 1, cv2.LINE_AA)
    _legend(img, rows)
    cv2.putText(img, title, (LEFT, 30), FONT, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def _label_spot(text: str, anchor: tuple[int, int], placed: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """Where a point's name goes: beside it, moved down in steps until it overlaps no other name."""
    (tw, th), _ = cv2.getTextSize(text, FONT, 0.42, 1)
    x = anchor[0] + 10
    for dy in (-8, 16, -24, 32, 48, 64, 80):
        y = max(TOP + th, anchor[1] + dy)
        box = (x, y - th, x + tw, y + 3)
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            break
    placed.append(box)
    return x, y


def _short(model_id: str) -> str:
    return model_id.replace("mobilenet_", "").replace(".tflite", "")


def _axes(img: Image, x0: float, x1: float, y0: float, y1: float, to_px: Any) -> None:
    black = (0, 0, 0)
    origin, x_end, y_end = to_px(x0, y0), to_px(x1, y0), to_px(x0, y1)
    cv2.line(img, origin, x_end, black, 1)
    cv2.line(img, origin, y_end, black, 1)
    for v in np.linspace(x0, x1, 6):
        px, py = to_px(v, y0)
        cv2.line(img, (px, py), (px, py + 5), black, 1)
        cv2.putText(img, f"{v:.1f}", (px - 14, py + 22), FONT, 0.45, black, 1, cv2.LINE_AA)
    for v in np.linspace(y0, y1, 6):
        px, py = to_px(x0, v)
        cv2.line(img, (px - 5, py), (px, py), black, 1)
        cv2.line(img, (px + 1, py), (to_px(x1, v)[0], py), (235, 235, 235), 1)
        cv2.putText(img, f"{v:.0f}", (px - 40, py + 5), FONT, 0.45, black, 1, cv2.LINE_AA)
    cv2.putText(img, "invoke latency p50 (ms), fastest thread count", (LEFT + 150, H - 20), FONT, 0.5, black, 1, cv2.LINE_AA)
    cv2.putText(img, "top-1 (%)", (10, TOP - 12), FONT, 0.5, black, 1, cv2.LINE_AA)


def _legend(img: Image, rows: list[dict[str, Any]]) -> None:
    x, y = W - RIGHT + 20, TOP + 60  # below the names of points at the very top
    for name, colour in (
        ("MobileNet V1", FAMILY_COLOURS["v1"]),
        ("MobileNet V2", FAMILY_COLOURS["v2"]),
        ("MobileNet V3", FAMILY_COLOURS["v3"]),
    ):
        cv2.circle(img, (x, y), 6, colour, cv2.FILLED, cv2.LINE_AA)
        cv2.putText(img, name, (x + 14, y + 5), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        y += 24
    y += 10
    n = max((r.get("images") or 0) for r in rows) if rows else 0
    cv2.circle(img, (x, y), 6, GREY, cv2.FILLED, cv2.LINE_AA)
    cv2.putText(img, f"measured on {n} images" if n else "no --images given", (x + 14, y + 5), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    y += 24
    cv2.circle(img, (x, y), 6, GREY, 2, cv2.LINE_AA)
    cv2.putText(img, "published ImageNet top-1", (x + 14, y + 5), FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    if 0 < n < 100:
        cv2.putText(img, f"({n} images: a smoke check)", (x, y + 28), FONT, 0.4, (0, 0, 160), 1, cv2.LINE_AA)


def save_plot(rows: list[dict[str, Any]], path: str, title: str) -> None:
    img = render(rows, title)
    try:
        ok = cv2.imwrite(path, img)
    except cv2.error as exc:
        raise OutputError(f"cannot write the plot to '{path}': {exc.msg.strip()}", "use a .png or .jpg file name") from exc
    if not ok:
        raise OutputError(f"cannot write the plot to '{path}'", "check the folder exists and the name ends in .png or .jpg")
