"""The FAKE picamera2 (tests/fakes/picamera2.py), importable as `picamera2` by camapp processes
that tests start with this folder on PYTHONPATH. THIS IS NOT picamera2. The camera shows the first
frames of the video named by PICAMERA2_STANDIN_VIDEO."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_picamera2_fake", Path(__file__).resolve().parents[2] / "picamera2.py")
assert _spec and _spec.loader
_template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_template)
sys.modules[__name__] = _template.module_from_video(os.environ.get("PICAMERA2_STANDIN_VIDEO", ""))
