"""Shared helpers for the inference tests: real models are loaded once per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pytest

from camapp.frames import Frame
from camapp.inference.model import Model, ModelOptions

DETECTOR = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"
DETECTOR_LABELMAP = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_labelmap.txt"
CLASSIFIERS = (
    "mobilenet_v1_0.25_128_quant.tflite",
    "mobilenet_v1_0.5_160_quant.tflite",
    "mobilenet_v1_0.75_192_quant.tflite",
    "mobilenet_v2_1.0_224_quant.tflite",
    "mobilenet_v2_1.0_224_quantized_1_default_1.tflite",
    "tf2_mobilenet_v2_1.0_224_ptq.tflite",
    "v3-small_224_1.0_uint8.tflite",
)


@pytest.fixture(scope="session")
def load_model(models_dir: Path) -> Callable[..., Model]:
    """load_model(file, labels=None, **options): a Model on a file in models_dir, built once per
    distinct arguments (loading is the slow part; a Model keeps no state between frames)."""
    cache: dict[tuple[Any, ...], Model] = {}

    def load(name: str, labels: str | None = None, **options: Any) -> Model:
        key = (name, labels, tuple(sorted(options.items())))
        if key not in cache:
            label_path = str(models_dir / labels) if labels else None
            cache[key] = Model(ModelOptions(str(models_dir / name), labels=label_path, **options))
        return cache[key]

    return load


@pytest.fixture(scope="session")
def frame(images_dir: Path) -> Callable[[str], Frame]:
    """frame(name): a Frame holding one of the shared test images, read the way sources read files."""

    def make(name: str) -> Frame:
        image = cv2.imread(str(images_dir / name))
        assert image is not None, f"OpenCV cannot read {images_dir / name}"
        return Frame(image, 0, 0, name)

    return make
