"""Fixtures that locate the shared test data once.

The real models, images and videos live outside the repository (../shared beside the clone, or
wherever CAMAPP_SHARED points); models are reached only through CAMAPP_MODEL_MIRROR, exactly as a
user's offline fleet would reach them.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

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
