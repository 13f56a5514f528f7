"""Fixtures that locate the shared test data once (and compute, once, what several files replay).

The real models, images and videos live outside the repository (../shared beside the clone, or
wherever CAMAPP_SHARED points); models are reached only through CAMAPP_MODEL_MIRROR, exactly as a
user's offline fleet would reach them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from camapp.results import Results

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAMAPP_SHARED", REPO.parent / "shared")).resolve()


def _mirror() -> Path:
    mirror = os.environ.get("CAMAPP_MODEL_MIRROR")
    return Path(mirror).resolve() if mirror and "://" not in mirror else SHARED / "models"


MODELS = _mirror()
IMAGES = SHARED / "images"
VIDEOS = SHARED / "videos"

# Tests (and the camapp processes they start) read models from the mirror, never from the
# internet, and keep their download cache out of the user's home.
os.environ.setdefault("CAMAPP_MODEL_MIRROR", str(MODELS))
os.environ.setdefault("XDG_CACHE_HOME", str(Path(tempfile.mkdtemp(prefix="camapp-test-cache-"))))


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data {path} is missing: put the shared data beside the clone or set CAMAPP_SHARED")
    return path


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return _require(MODELS)


@pytest.fixture(scope="session")
def images_dir() -> Path:
    return _require(IMAGES)


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    return _require(VIDEOS)


PEOPLE_VIDEO = "one-by-one-person-detection.mp4"
PEOPLE_DETECTED_FRAMES = 470  # the first two visits: a person walks up, reads, leaves, twice


@pytest.fixture(scope="session")
def people_detections(models_dir: Path, videos_dir: Path) -> tuple[Results, ...]:
    """The real SSD-MobileNet V1 COCO detector's results on the first PEOPLE_DETECTED_FRAMES frames
    of the people video, each stamped with the video's own clock. Several test files replay these
    same frames (events, snapshots): the detector runs on them once, and the tests only read them."""
    import cv2  # imported here: every test loads this file, only the few that replay these frames need them

    from camapp.frames import Frame
    from camapp.inference.model import Model, ModelOptions

    model = Model(ModelOptions(path=str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"),
                               labels=str(models_dir / "coco_labels.txt")))
    cap = cv2.VideoCapture(str(_require(videos_dir / PEOPLE_VIDEO)))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = []
    try:
        for i in range(PEOPLE_DETECTED_FRAMES):
            ok, image = cap.read()
            assert ok, f"frame {i} did not decode"
            timestamp_ns = int(i / fps * 1e9)
            out.append(dataclasses.replace(model.run(Frame(image, i, timestamp_ns, "people")), timestamp_ns=timestamp_ns))
    finally:
        cap.release()
    return tuple(out)


# Frames of bottle-detection.mp4 (tests/teach/data/video_segments.yaml): three bottles 0-166, two 216-326.
BOTTLE_STRETCHES = {"three": range(0, 140), "two": range(216, 327)}


@pytest.fixture(scope="session")
def three_then_two_bottles(videos_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, range]]:
    """A video of the bottle clip's three-bottle stretch followed at once by its two-bottle stretch,
    at the clip's own frame rate, and where each stretch is in it. Teaching from a clip played at its
    own speed means waiting for each stretch: this leaves out the 2.5 s in between (a hand takes a
    bottle) that no test records."""
    import cv2  # imported here: every test loads this file, only the few that play this clip need it

    path = tmp_path_factory.mktemp("clips") / "three-then-two-bottles.avi"
    cap = cv2.VideoCapture(str(_require(videos_dir / "bottle-detection.mp4")))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), cap.get(cv2.CAP_PROP_FPS), size)
    try:
        for index in range(BOTTLE_STRETCHES["two"][-1] + 1):
            assert cap.grab(), f"frame {index} did not decode"
            if index in BOTTLE_STRETCHES["three"] or index in BOTTLE_STRETCHES["two"]:
                out.write(cap.retrieve()[1])
    finally:
        cap.release()
        out.release()
    three = len(BOTTLE_STRETCHES["three"])
    return path, {"three": range(three), "two": range(three, three + len(BOTTLE_STRETCHES["two"]))}


@pytest.fixture(autouse=True)
def _no_process_state_leaks_between_tests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """cli.main() run in-process changes process-wide state: the root logger's handlers (which then
    write to a test's closed capture stream) and OpenCV's log-level variables (which camapp
    processes started by later tests would inherit). Each test gets them back as they were."""
    for name in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


def require(available: bool, what: str) -> None:
    """Skip a test whose system part (a broker, a browser, apt's numpy) is missing on a developer's
    machine; CI sets CAMAPP_REQUIRE_SERVICES=1 and then it fails instead, so a missing install
    step in scripts/test cannot hide behind a skip."""
    if available:
        return
    if os.environ.get("CAMAPP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} (CAMAPP_REQUIRE_SERVICES=1 forbids skipping it)")
    pytest.skip(what)
