"""A STAND-IN for Raspberry Pi OS's apt package python3-picamera2. THIS IS NOT picamera2.

It exists for one test, a simulated Pi OS Bookworm on a Debian 12 machine
(tests/system/test_install_profile.py), where what matters is how the real package *imports*: it
loads C extensions that apt compiled against the system's numpy (simplejpeg, libcamera's
bindings), so a venv whose own numpy has another ABI makes `import picamera2` fail. The stand-in
does the same with a C extension from Debian's python3-scipy, compiled against python3-numpy 1.24:
under numpy 2 it fails with "numpy.core.multiarray failed to import", as the real one fails with
"numpy.dtype size changed".

The camera API is the fake in tests/fakes/picamera2.py, loaded on first use (it needs OpenCV,
which the system Python does not have), showing frames decoded from the video named by
PICAMERA2_STANDIN_VIDEO.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from scipy.ndimage import _nd_image  # noqa: F401  (plays simplejpeg: a C extension built against apt's numpy)

STANDIN = True
_fake: ModuleType | None = None


def _load_fake() -> ModuleType:
    global _fake
    if _fake is None:
        path = Path(__file__).resolve().parents[2] / "picamera2.py"
        spec = importlib.util.spec_from_file_location("_picamera2_fake", path)
        assert spec and spec.loader
        template = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(template)
        _fake = template.module_from_video(os.environ.get("PICAMERA2_STANDIN_VIDEO", ""))
    return _fake


def __getattr__(name: str) -> Any:
    return getattr(_load_fake(), name)
