"""Draw results on a copy of the frame: the one place that turns results into pixels.

The text style, labels and HUD are here; what a task's results look like is drawn by its Results
subclass (camapp.inference.tasks) with these primitives, called by annotate().

Text is sized from the frame, not fixed: a fixed font that suits 1080p is ~6 px high on the
640x360 stream a Pi usually records, and one that suits 640x360 is a smudge in a 1080p recording.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from camapp.frames import Image
from camapp.results import Results

FONT = cv2.FONT_HERSHEY_SIMPLEX
# The overlay shows at most this many of a classifier's top-k, whichever command draws it (the
# JSON output carries all of them): more lines would cover the picture they describe.
MAX_DRAWN_CLASSES = 3
# Text height (digits / capitals) as a share of the frame's shorter side: ~3.5 % reads at a
# glance on a phone viewing the web stream and stays modest on a 1080p monitor (38 px).
TEXT_FRACTION = 0.035
# ...but never below 13 px (12 px of ink), the smallest Hershey text that stays legible after JPEG / H.264
# compression (a 320x240 stream would otherwise get 8 px).
MIN_TEXT_PX = 13.0
_HUD_MARGIN = 6  # px between the HUD and the frame's edges

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class OverlayStyle:
    """What every picture camapp shows or saves has drawn on it: one style, built once from the
    config (output.overlay, output.hud, model.top_k) and handed to every place that draws."""

    overlay: bool = True  # results drawn at all
    hud: bool = True  # FPS and latency, where there are live numbers to show (stream, --save, --show)
    top_k: int = MAX_DRAWN_CLASSES


@dataclass(frozen=True)
class Hud:
    capture_fps: float
    inference_fps: float
    inference_ms: float


@dataclass(frozen=True)
class TextStyle:
    """How big text and lines are drawn on one frame size."""

    font_scale: float
    thickness: int  # of the glyph strokes
    line: int  # of box outlines
    pad: int  # around text inside its background box

    @property
    def text_px(self) -> int:
        """The height of digits and capitals as drawn (what a reader perceives as text size)."""
        return cv2.getTextSize("0", FONT, self.font_scale, self.thickness)[0][1]


@cache
def _height_at_scale_1() -> int:
    return cv2.getTextSize("0", FONT, 1.0, 1)[0][1]


@cache
def text_style(width: int, height: int) -> TextStyle:
    """The style for a width x height frame: text ~3.5 % of the shorter side, at least 12 px."""
    px = max(MIN_TEXT_PX, TEXT_FRACTION * min(width, height))
    return _style_for_px(px)


def _style_for_px(px: float) -> TextStyle:
    # Stroke width grows with the glyphs so large text does not turn into hairlines.
    return TextStyle(px / _height_at_scale_1(), max(1, round(px / 12)), max(2, round(px / 8)), max(2, round(px / 4)))


@cache
def class_colour(class_id: int) -> Colour:
    """A stable, well-separated BGR colour per class: golden-ratio steps around the hue circle."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def style_for(image: Image) -> TextStyle:
    return text_style(image.shape[1], image.shape[0])


def box_size(text: str, style: TextStyle) -> tuple[int, int, int]:
    """(width, height, baseline) of `text` in its background box."""
    (tw, th), base = cv2.getTextSize(text, FONT, style.font_scale, style.thickness)
    return tw + 2 * style.pad, th + base + 2 * style.pad, base


def draw_label(image: Image, text: str, x: int, y: int, colour: Colour, style: TextStyle) -> int:
    """Dark text on a `colour` box whose bottom-left corner is (x, y), kept inside the frame.

    Returns the box's height, so callers can stack labels.
    """
    h, w = image.shape[:2]
    bw, bh, _ = box_size(text, style)
    x = max(0, min(x, w - bw))  # a label at the right edge slides left rather than being cut off
    y = min(max(y, bh), h)  # no room above the box: draw it inside, below the top edge
    _boxed_text(image, text, x, y, style, (0, 0, 0), colour)
    return bh


def _boxed_text(image: Image, text: str, x: int, y: int, style: TextStyle, fg: Colour, bg: Colour) -> None:
    """`text` in a filled box whose bottom-left corner is (x, y)."""
    bw, bh, base = box_size(text, style)
    cv2.rectangle(image, (x, y - bh), (x + bw, y), bg, cv2.FILLED)
    cv2.putText(image, text, (x + style.pad, y - style.pad - base), FONT, style.font_scale, fg, style.thickness, cv2.LINE_AA)


ZONE_COLOUR: Colour = (255, 200, 0)  # BGR: a light blue that no class colour is close to for long
LINE_COLOUR: Colour = (0, 220, 255)  # BGR: yellow


def draw_zone(image: Image, polygon: tuple[tuple[float, float], ...], text: str, colour: Colour = ZONE_COLOUR) -> None:
    """A zone's outline (normalised points), lightly filled while `text` says it holds something."""
    h, w = image.shape[:2]
    style = style_for(image)
    pts = np.array([[round(x * w), round(y * h)] for x, y in polygon], dtype=np.int32)
    cv2.polylines(image, [pts], True, colour, max(1, style.line // 2), cv2.LINE_AA)
    x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
    draw_label(image, text, x, y + box_size(text, style)[1], colour, style)


def draw_tripwire(image: Image, start: tuple[float, float], end: tuple[float, float], text: str, colour: Colour = LINE_COLOUR) -> None:
    """A counting line with an arrow at its middle pointing to its "in" side, and `text` beside it."""
    h, w = image.shape[:2]
    style = style_for(image)
    a = (round(start[0] * w), round(start[1] * h))
    b = (round(end[0] * w), round(end[1] * h))
    cv2.line(image, a, b, colour, style.line, cv2.LINE_AA)
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = max(1.0, (dx * dx + dy * dy) ** 0.5)
    # "in" is to the left seen from start: on a picture whose y grows downwards that is (dy, -dx).
    nx, ny = dy / length, -dx / length
    reach = 4 * style.text_px
    cv2.arrowedLine(image, (round(mx), round(my)), (round(mx + nx * reach), round(my + ny * reach)), colour, style.line,
                    cv2.LINE_AA, tipLength=0.35)
    draw_label(image, text, round(mx - nx * reach), round(my - ny * reach), colour, style)


def draw_trail(image: Image, points: tuple[tuple[float, float], ...], colour: Colour) -> None:
    if len(points) < 2:
        return
    h, w = image.shape[:2]
    pts = np.array([[round(x * w), round(y * h)] for x, y in points], dtype=np.int32)
    cv2.polylines(image, [pts], False, colour, max(1, style_for(image).line // 2), cv2.LINE_AA)


def hud_lines(hud: Hud, width: int, style: TextStyle) -> list[str]:
    """The HUD as one line when it fits the frame's width, else one field per line."""
    fields = [f"cap {hud.capture_fps:.1f} fps", f"inf {hud.inference_fps:.1f} fps", f"{hud.inference_ms:.1f} ms"]
    one_line = "  ".join(fields)
    if box_size(one_line, style)[0] <= width - 2 * _HUD_MARGIN:
        return [one_line]
    return fields


def draw_hud(image: Image, hud: Hud) -> None:
    """FPS and latency, white on black, in the bottom-right corner."""
    h, w = image.shape[:2]
    style = style_for(image)
    lines = hud_lines(hud, w, style)
    widest = max(box_size(line, style)[0] for line in lines)
    if widest > w - 2 * _HUD_MARGIN:
        # Only on frames too small for even one field at the minimum size (e.g. 160x120): shrink
        # to fit rather than cut the numbers off.
        style = _style_for_px(style.text_px * (w - 2 * _HUD_MARGIN) / widest)
    y = h - _HUD_MARGIN
    for line in reversed(lines):
        bw, bh, _ = box_size(line, style)
        _boxed_text(image, line, w - _HUD_MARGIN - bw, y, style, (255, 255, 255), (0, 0, 0))
        y -= bh


def render(image: Image, results: Results | None, style: OverlayStyle, hud: Hud | None = None) -> Image:
    """The one way camapp draws: `image` itself when the style draws nothing, else an annotated copy.

    `hud` is the live numbers where there are any (snapshots and MQTT pictures pass none)."""
    if not style.overlay:
        return image
    return annotate(image, results, hud if style.hud else None, style.top_k)


def annotate(image: Image, results: Results | None, hud: Hud | None, top_k: int = MAX_DRAWN_CLASSES) -> Image:
    """A copy of `image` with results and the HUD drawn on it; the frame itself is never changed.

    `top_k` is the model's top-k; the overlay draws at most MAX_DRAWN_CLASSES of them, so every
    caller (camapp run, classify --save, the web view, snapshots) draws the same classes.
    """
    out = image.copy()
    if results is not None:
        for extra in results.overlays:  # zones and lines first, so boxes and labels stay on top
            extra.draw(out)
        results.draw(out, top_k)  # each task draws its own results (camapp.inference.tasks)
    if hud is not None:
        draw_hud(out, hud)
    return out
