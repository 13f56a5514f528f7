"""Writing a small file whole or not at all: the one way camapp replaces a state or model file.

The bytes go to a temporary file in the same folder, are flushed to the disk, and the temporary
file then replaces the old one (rename is atomic on one filesystem). A crash or a power cut at
any moment leaves the old file or the new one, never half of either, and never a stray temporary
file once the write fails (it is removed).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data`; `mode` 0o644 lets a service's user read what root wrote."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, data: Any, mode: int = 0o644) -> None:
    write_atomic(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(), mode)
