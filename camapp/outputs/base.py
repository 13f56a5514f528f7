"""The Sink protocol."""

from __future__ import annotations

from typing import Protocol

from camapp.frames import Frame, Image
from camapp.results import Results


class Sink(Protocol):
    # True when the sink needs the annotated image; the overlay is drawn only if some sink does.
    wants_pixels: bool

    def write(self, frame: Frame, annotated: Image | None, results: Results | None, fresh: bool) -> None:
        """Called for each frame the worker handles. `fresh` is True when `results` were computed
        on this very frame (False when run-every-N reuses the last ones)."""
        ...

    def close(self) -> None: ...
