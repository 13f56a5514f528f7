"""Sources: everything that produces frames. open_source() is the one entry point.

The names below are imported on first use (PEP 562), so importing a leaf such as
camapp.sources.redact (the config loader does, to hide passwords in URLs) does not load NumPy and
the frame types: `camapp check-config` and `doctor` start without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from camapp.sources.base import Source, SourceOptions
    from camapp.sources.spec import SourceSpec, parse_source


def open_source(text: str, options: SourceOptions | None = None) -> Source:
    """Build (but do not open) the source a --source string names.

    Each kind's module is imported only when it is used, so picamera2 is never imported on a
    machine that reads a webcam or a file.
    """
    from camapp.sources.base import SourceOptions
    from camapp.sources.spec import parse_source

    spec = parse_source(text)
    options = options or SourceOptions()
    if spec.kind == "picamera":
        from camapp.sources.picamera import PicameraSource

        return PicameraSource(spec, options)
    if spec.kind == "images":
        from camapp.sources.still import StillSource

        return StillSource(spec, options)
    from camapp.sources.opencv import OpenCVSource

    return OpenCVSource(spec, options)


_LAZY = {"Source": "base", "SourceOptions": "base", "SourceSpec": "spec", "parse_source": "spec"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"camapp.sources.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'camapp.sources' has no attribute {name!r}")


__all__ = ["Source", "SourceOptions", "SourceSpec", "open_source", "parse_source"]
