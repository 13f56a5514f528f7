"""Sources: everything that produces frames. open_source() is the one entry point."""

from __future__ import annotations

from camapp.sources.base import Source, SourceOptions
from camapp.sources.spec import SourceSpec, parse_source


def open_source(text: str, options: SourceOptions | None = None) -> Source:
    """Build (but do not open) the source a --source string names.

    Each kind's module is imported only when it is used, so picamera2 is never imported on a
    machine that reads a webcam or a file.
    """
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


__all__ = ["Source", "SourceOptions", "SourceSpec", "open_source", "parse_source"]
