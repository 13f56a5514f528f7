"""Draw results on a copy of the frame: the one place that turns results into pixels."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import cache

import cv2

from camapp.frames import Image
from camapp.results import Results

FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Hud:
    capture_fps: float
    inference_fps: float
    inference_ms: float


@cache
def class_colour(class_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class: golden-ratio steps around the hue circle."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def _scale(image: Image) -> tuple[float, int]:
    # Text and lines grow with the frame so a 1080p recording stays legible.
    s = max(0.4, min(image.shape[0], image.shape[1]) / 720)
    return 0.6 * s, max(1, round(2 * s))


def _label(image: Image, text: str, x: int, y: int, colour: tuple[int, int, int], font_scale: float, thickness: int) -> None:
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, thickness)
    y = max(y, th + base + 2)
    cv2.rectangle(image, (x, y - th - base - 2), (x + tw + 4, y), colour, cv2.FILLED)
    cv2.putText(image, text, (x + 2, y - base), FONT, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)


def draw_detections(image: Image, results: Results) -> None:
    font_scale, thickness = _scale(image)
    h, w = image.shape[:2]
    for det in results.detections:
        colour = class_colour(det.class_id)
        x0, y0, x1, y1 = det.box.to_pixels(w, h)
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness)
        _label(image, f"{det.label} {det.score:.2f}", x0, y0, colour, font_scale, thickness)


def draw_classes(image: Image, results: Results, k: int = 3) -> None:
    font_scale, thickness = _scale(image)
    line = int(32 * font_scale / 0.6)
    for i, c in enumerate(results.classes[:k]):
        _label(image, f"{c.label.split(',')[0]} {c.score:.2f}", 8, 8 + line * (i + 1), class_colour(c.class_id), font_scale, thickness)


def draw_hud(image: Image, hud: Hud) -> None:
    font_scale, thickness = _scale(image)
    text = f"cap {hud.capture_fps:4.1f} fps  inf {hud.inference_fps:4.1f} fps  {hud.inference_ms:5.1f} ms"
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale * 0.8, thickness)
    h, w = image.shape[:2]
    x, y = w - tw - 10, h - 10
    cv2.rectangle(image, (x - 4, y - th - base), (w - 4, y + base), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x, y), FONT, font_scale * 0.8, (255, 255, 255), thickness, cv2.LINE_AA)


def annotate(image: Image, results: Results | None, hud: Hud | None, top_k: int = 3) -> Image:
    """A copy of `image` with results and the HUD drawn on it; the frame itself is never changed."""
    out = image.copy()
    if results is not None:
        if results.task == "detect":
            draw_detections(out, results)
        else:
            draw_classes(out, results, top_k)
    if hud is not None:
        draw_hud(out, hud)
    return out
