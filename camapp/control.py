"""The control channel: commands that flow back into a running pipeline, applied between two frames.

Data flows one way (source -> ... -> outputs); the only way back is this channel. Any thread may
send a command (the SIGHUP reload thread today; the web page and MQTT next); the inference worker
takes them between two frames, so each frame sees one model and one set of settings from end to
end, and no lock is held while a frame is processed. A sender gets a Ticket to wait on.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelChange:
    """What outputs are told when a new model runs from the next frame on."""

    name: str  # what pages and Home Assistant call it
    task: str


@dataclass(frozen=True)
class SwitchModel:
    model: Any  # a loaded model (camapp.pipeline.FrameModel): loading happens before sending
    change: ModelChange


@dataclass(frozen=True)
class TuneModel:
    """Change how the running model's outputs are read, from the next frame on (None: unchanged)."""

    threshold: float | None = None  # detectors: the least score a detection needs
    top_k: int | None = None  # classifiers: how many classes each result carries


@dataclass(frozen=True)
class TunePipeline:
    """Change how the pipeline runs, from the next frame on (None: unchanged)."""

    every: int | None = None  # infer every Nth frame, drawing the last result between
    overlay: bool | None = None  # draw results on frames for the outputs that want pixels


@dataclass(frozen=True)
class SetAreas:
    """Count in these zones and across these lines from the next frame on (the web page's editor).

    Built before sending, like a model: camapp.analytics.zones' ZoneSpec and LineSpec, and the
    tracker's options for a run that had none (camapp.analytics.tracking.TrackerOptions). A zone or
    line that keeps its name keeps its totals."""

    zones: tuple[Any, ...]
    lines: tuple[Any, ...]
    tracker: Any


@dataclass(frozen=True)
class ResetCounts:
    """Forget what the analytics stage counted (objects in view, the top class)."""


Command = SwitchModel | TuneModel | TunePipeline | SetAreas | ResetCounts


class Ticket:
    """A sent command's fate: wait() until the worker applied it (or the run ended)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.applied = False

    def finish(self, applied: bool) -> None:
        self.applied = applied
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the command was applied; False on a timeout or when the run ended first."""
        return self._done.wait(timeout) and self.applied


class ControlChannel:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Command, Ticket]] = queue.SimpleQueue()

    def send(self, command: Command) -> Ticket:
        ticket = Ticket()
        self._queue.put((command, ticket))
        return ticket

    def take(self) -> list[tuple[Command, Ticket]]:
        """Everything sent so far, oldest first, without waiting (the worker's side)."""
        taken = []
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken
