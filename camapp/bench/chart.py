"""Chart primitives for plot.py, on OpenCV: round axis ticks, text that remembers where it went,
and labels placed where they fit.

Every piece of text is drawn through Canvas.text, which records its bounding box; that is how
labels avoid each other and how the tests check that nothing is cut off at the image edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from camapp.frames import Image

FONT = cv2.FONT_HERSHEY_SIMPLEX
BLACK = (0, 0, 0)
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 / y1 exclusive


@dataclass(frozen=True)
class Text:
    text: str
    box: Box
    role: str = ""  # what it is ("title", "x-tick", "y-tick", "point", ...), for whoever checks the layout


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def inside(a: Box, area: Box) -> bool:
    return area[0] <= a[0] and area[1] <= a[1] and a[2] <= area[2] and a[3] <= area[3]


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.image: Image = np.full((height, width, 3), 255, np.uint8)
        self.texts: list[Text] = []

    @property
    def bounds(self) -> Box:
        h, w = self.image.shape[:2]
        return (0, 0, w, h)

    @staticmethod
    def box_at(text: str, org: tuple[int, int], scale: float, thickness: int = 1) -> Box:
        """The pixels putText covers for this baseline origin (descenders and stroke included)."""
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
        pad = (thickness + 1) // 2  # the stroke runs over the size OpenCV reports by about half its width
        return (org[0] - pad, org[1] - th - pad, org[0] + tw + pad, org[1] + base + pad)

    def text(self, text: str, org: tuple[int, int], scale: float = 0.45, colour: tuple[int, int, int] = BLACK, role: str = "") -> Text:
        cv2.putText(self.image, text, org, FONT, scale, colour, 1, cv2.LINE_AA)
        placed = Text(text, self.box_at(text, org, scale), role)
        self.texts.append(placed)
        return placed

    def fitted_text(
        self, text: str, org: tuple[int, int], max_width: int, scale: float, colour: tuple[int, int, int] = BLACK, role: str = ""
    ) -> Text:
        """Text that must fit in max_width pixels: smaller down to 80 %, then shortened with '...'."""
        for s in (scale, scale * 0.9, scale * 0.8):
            if _width(text, s) <= max_width:
                return self.text(text, org, s, colour, role)
        return self.text(shorten(text, max_width, scale * 0.8), org, scale * 0.8, colour, role)


def _width(text: str, scale: float) -> int:
    box = Canvas.box_at(text, (0, 0), scale)
    return box[2] - box[0]


def shorten(text: str, max_width: int, scale: float) -> str:
    """Cut the middle of the text (model names differ at both ends) until it fits."""
    if _width(text, scale) <= max_width:
        return text
    keep = len(text)
    while keep > 2:
        keep -= 1
        head = (keep + 1) // 2
        candidate = text[:head] + "..." + text[len(text) - (keep - head) :]
        if _width(candidate, scale) <= max_width:
            return candidate
    return "..."


def nice_step(span: float, target: int = 5) -> float:
    """The 1, 2 or 5 x 10^n step that divides `span` into about `target` intervals."""
    raw = max(span, 1e-9) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * magnitude >= raw * 0.999:
            return m * magnitude
    return 10 * magnitude


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]; the first and last are the axis ends."""
    step = nice_step(hi - lo, target)
    digits = decimals(step)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, digits) for k in range(first, max(last, first + 1) + 1)]


def decimals(step: float) -> int:
    """Digits after the point that show a tick step exactly (0.5 -> 1, 2 -> 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def tick_text(value: float, step: float) -> str:
    return f"{value:.{decimals(step)}f}"


def place_label(
    canvas: Canvas, text: str, anchor: tuple[int, int], area: Box, avoid: list[Box], scale: float
) -> tuple[str, tuple[int, int]] | None:
    """Where a point's name goes: beside it, else above, below or to the left at growing distances,
    inside `area` and clear of `avoid`; shortened when nowhere fits whole; None when nothing fits
    (a name drawn over another helps nobody: the table has every model)."""
    x, y = anchor
    width = area[2] - area[0]
    for label in dict.fromkeys((text, shorten(text, width // 3, scale), shorten(text, width // 6, scale))):
        (tw, th), _ = cv2.getTextSize(label, FONT, scale, 1)
        candidates = [(x + 11, y + th // 2), (x - 11 - tw, y + th // 2), (x - tw // 2, y - 12), (x - tw // 2, y + 12 + th)]
        for dy in range(14, 7 * 14, 14):  # farther away, a name reads as a different value
            for sign in (-1, 1):
                candidates += [(x + 11, y + sign * dy + th // 2), (x - 11 - tw, y + sign * dy + th // 2)]
        for org in candidates:
            box = canvas.box_at(label, org, scale)
            if inside(box, area) and not any(overlaps(box, b) for b in avoid):
                return label, org
    return None


def leader(canvas: Canvas, anchor: tuple[int, int], box: Box, colour: tuple[int, int, int]) -> None:
    """A thin line from a point to its name when the name had to move away from it."""
    nx, ny = min(max(anchor[0], box[0]), box[2]), min(max(anchor[1], box[1]), box[3])
    if abs(nx - anchor[0]) + abs(ny - anchor[1]) > 24:
        cv2.line(canvas.image, anchor, (nx, ny), colour, 1, cv2.LINE_AA)
