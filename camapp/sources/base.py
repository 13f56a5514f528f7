"""The Source protocol and the options every source accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from camapp.frames import Frame, Size


@dataclass(frozen=True)
class SourceOptions:
    # Requested capture size and rate for cameras; None keeps the device's default.
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    # Files: deliver frames at the file's own frame rate instead of as fast as possible.
    realtime: bool = False
    # Files: start again at the end (a looping demo or soak test).
    loop: bool = False
    # Pi camera: size of the ISP low-resolution stream used for inference.
    lores_width: int = 320
    lores_height: int = 240


class Source(Protocol):
    """Something that yields frames. read() returns None at the end of a finite source."""

    source_id: str

    @property
    def is_live(self) -> bool:
        """True for cameras and streams: frames that are not read in time are lost anyway."""
        ...

    @property
    def fps(self) -> float | None: ...

    @property
    def size(self) -> Size | None: ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...
