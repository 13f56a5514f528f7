"""The overlay: boxes, labels, the top classes and the FPS / latency HUD, readable at any frame size."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.frames import Frame, Image
from camapp.inference.model import Model, ModelOptions
from camapp.inference.tasks.classify import Classification, ClassifyResults
from camapp.inference.tasks.detect import Detection, DetectResults
from camapp.overlay import MAX_DRAWN_CLASSES, Hud, annotate, class_colour, hud_lines, text_style
from camapp.results import Box, Results

SIZES = [(320, 240), (640, 360), (1280, 720), (1920, 1080)]
HUD = Hud(capture_fps=29.97, inference_fps=28.4, inference_ms=4.56)


@pytest.fixture(scope="module")
def video_frame(videos_dir: Path) -> Image:
    """A real camera-like frame (640x360) that each test scales to the size it needs."""
    capture = cv2.VideoCapture(str(videos_dir / "bottle-detection.mp4"))
    try:
        ok, image = capture.read()
    finally:
        capture.release()
    assert ok, "OpenCV cannot read bottle-detection.mp4"
    return image


def scaled(image: Image, width: int, height: int) -> Image:
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def changed_box(before: Image, after: Image) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (inclusive) of the pixels the overlay changed."""
    ys, xs = np.nonzero(np.any(before != after, axis=2))
    assert ys.size, "the overlay drew nothing"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def hud_ink_height(image: Image) -> int:
    """Rows of white glyph ink in the HUD drawn on `image` (white text on its black box)."""
    out = annotate(image, None, HUD)
    x0, y0, x1, y1 = changed_box(image, out)
    ink = np.any(out[y0 : y1 + 1, x0 : x1 + 1] > 128, axis=2).any(axis=1)
    rows = np.nonzero(ink)[0]
    return int(rows.max() - rows.min() + 1)


# ---- text size --------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_hud_text_is_readable_and_in_proportion_on_real_frames(video_frame: Image, width: int, height: int) -> None:
    ink = hud_ink_height(scaled(video_frame, width, height))
    assert ink >= 12  # legible on the smallest stream
    if height >= 360:
        assert 0.02 * height <= ink <= 0.04 * height  # grows with the frame, never a banner


def test_text_grows_with_the_frame_between_the_floor_and_the_largest() -> None:
    heights = [text_style(w, h).text_px for w, h in SIZES]
    assert heights == sorted(heights)
    assert heights[1] >= 12  # 640x360: was 6 px
    assert 30 <= heights[-1] <= 45  # 1920x1080: large enough across a room, not a headline


def test_the_same_style_sizes_labels_and_boxes() -> None:
    small, large = text_style(640, 360), text_style(1920, 1080)
    assert large.font_scale > 2 * small.font_scale
    assert large.thickness > small.thickness and large.line > small.line


# ---- the HUD fits the frame -------------------------------------------------------------------


def test_the_hud_is_one_line_where_it_fits_and_one_field_per_line_where_it_does_not() -> None:
    assert len(hud_lines(HUD, 640, text_style(640, 360))) == 1
    assert hud_lines(HUD, 160, text_style(160, 120)) == ["cap 30.0 fps", "inf 28.4 fps", "4.6 ms"]


@pytest.mark.parametrize(("width", "height"), [(160, 120), *SIZES])
def test_the_hud_stays_inside_the_frame_in_the_bottom_right_corner(video_frame: Image, width: int, height: int) -> None:
    image = scaled(video_frame, width, height)
    x0, y0, x1, y1 = changed_box(image, annotate(image, None, HUD))
    assert x0 > 0 and y0 > 0 and x1 < width - 1 and y1 < height - 1  # nothing cut off at an edge
    assert x0 > width // 4 and y0 > height // 3  # a corner, not across the picture


# ---- classes ----------------------------------------------------------------------------------


def classes(*scored: tuple[str, float]) -> Results:
    return ClassifyResults(
        "s", 0, 0, 640, 360, 1.0,
        classes=[Classification(i, label, score) for i, (label, score) in enumerate(scored)],
    )


def test_classes_that_would_read_0_00_are_not_drawn(video_frame: Image) -> None:
    padded = classes(("macaw", 0.996), ("scuba diver", 0.0), ("snorkel", 0.0039))
    alone = classes(("macaw", 0.996))
    assert np.array_equal(annotate(video_frame, padded, None, 5), annotate(video_frame, alone, None, 5))


def test_every_command_draws_the_same_classes_whatever_top_k_it_passes(video_frame: Image) -> None:
    five = classes(("a", 0.5), ("b", 0.2), ("c", 0.1), ("d", 0.1), ("e", 0.1))
    three = classes(("a", 0.5), ("b", 0.2), ("c", 0.1))
    # classify --save passes the model's top_k (5), camapp run and the web view at most 3
    drawn = annotate(video_frame, five, None, 5)
    assert np.array_equal(drawn, annotate(video_frame, five, None, MAX_DRAWN_CLASSES))
    assert np.array_equal(drawn, annotate(video_frame, three, None, 5))
    assert not np.array_equal(annotate(video_frame, five, None, 1), drawn)  # a smaller top-k draws fewer


def test_the_class_list_sits_in_the_top_left_corner(video_frame: Image) -> None:
    results = classes(("military uniform, a long synonym list", 0.93), ("suit", 0.02), ("racket", 0.01))
    x0, y0, x1, y1 = changed_box(video_frame, annotate(video_frame, results, None))
    assert (x0, y0) < (10, 10)
    assert x1 < 640 // 2 and y1 < 360 // 3
    style = text_style(640, 360)
    assert y1 >= 3 * style.text_px  # three lines, stacked


# ---- detections -------------------------------------------------------------------------------


def test_a_label_at_the_right_edge_slides_left_instead_of_being_cut_off(video_frame: Image) -> None:
    det = Detection(43, "bottle", 0.87, Box(0.95, 0.5, 0.99, 0.8))
    results = DetectResults("s", 0, 0, 640, 360, 1.0, detections=[det])
    out = annotate(video_frame, results, None)
    bottom_row = out[round(0.5 * 360) - 1]  # the label box's bottom padding: label colour only
    covered = int(np.all(bottom_row == class_colour(43), axis=1).sum())
    text_width = cv2.getTextSize("bottle 0.87", cv2.FONT_HERSHEY_SIMPLEX, text_style(640, 360).font_scale, 1)[0][0]
    assert covered >= text_width  # the whole label is on the frame


def test_real_detections_and_classes_render_at_every_size(video_frame: Image, models_dir: Path, tmp_path: Path) -> None:
    """The real models' results, drawn at the four sizes; writes PNGs to look at (tmp_path)."""
    detector = Model(ModelOptions(str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite")))
    classifier = Model(ModelOptions(str(models_dir / "mobilenet_v2_1.0_224_quant.tflite")))
    for width, height in SIZES:
        image = scaled(video_frame, width, height)
        found = detector.run(Frame(image, 0, 0, "bottle"))
        assert found.detections
        for name, results in (("detect", found), ("classify", classifier.run(Frame(image, 0, 0, "bottle")))):
            out = annotate(image, results, HUD, 5)
            assert out.shape == image.shape and not np.array_equal(out, image)
            assert cv2.imwrite(str(tmp_path / f"{name}_{width}x{height}.png"), out)


def test_annotate_draws_on_a_copy(video_frame: Image) -> None:
    before = video_frame.copy()
    annotate(video_frame, classes(("a", 0.9)), HUD)
    assert np.array_equal(video_frame, before)
