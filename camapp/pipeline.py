"""The live loop: a capture thread feeds one inference worker, which feeds the sinks.

Stages never call each other: the capture thread only reads and hands frames over (handoff.py),
the worker only runs the model and hands (frame, results) to sinks, and sinks only consume.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from camapp.frames import Frame
from camapp.handoff import FrameQueue, LatestSlot
from camapp.outputs.base import Sink
from camapp.overlay import Hud, annotate
from camapp.results import Results
from camapp.sources.base import Source
from camapp.stats import PipelineStats, Summary

log = logging.getLogger(__name__)


class FrameModel(Protocol):
    def run(self, frame: Frame) -> Results: ...


@dataclass(frozen=True)
class PipelineOptions:
    mode: Literal["auto", "live", "file"] = "auto"
    every: int = 1
    max_frames: int | None = None
    overlay: bool = True
    hud: bool = True
    top_k: int = 3


class Pipeline:
    def __init__(
        self,
        source: Source,
        model: FrameModel,
        sinks: list[Sink],
        options: PipelineOptions,
        stop: threading.Event | None = None,
        stats: PipelineStats | None = None,
    ) -> None:
        self.source = source
        self.model = model
        self.sinks = sinks
        self.options = options
        self.stop = stop or threading.Event()
        # Created outside when sinks (web status, metrics, watchdog) need to read it.
        self.stats = stats or PipelineStats()
        mode = options.mode
        self.live = source.is_live if mode == "auto" else mode == "live"
        self.handoff: LatestSlot | FrameQueue = LatestSlot() if self.live else FrameQueue()
        self.last_results: Results | None = None
        self._capture_error: BaseException | None = None
        self._capture_thread: threading.Thread | None = None

    # -- capture thread -------------------------------------------------------------------
    def _capture(self) -> None:
        try:
            while not self.stop.is_set():
                if self.options.max_frames is not None and self.stats.frames_read >= self.options.max_frames:
                    break
                frame = self.source.read()
                if frame is None:
                    break
                self.stats.frame_read()
                if isinstance(self.handoff, LatestSlot):
                    self.stats.frames_skipped(self.handoff.put(frame))
                else:
                    self.handoff.put(frame, self.stop)
        except BaseException as exc:  # handed to the worker, which re-raises it: never swallowed
            self._capture_error = exc
        finally:
            if isinstance(self.handoff, LatestSlot):
                self.handoff.put(None)
            else:
                self.handoff.put(None, self.stop)

    # -- worker ---------------------------------------------------------------------------
    def run(self) -> Summary:
        """Run until the source ends, max_frames is reached, or stop is set. The source must be open."""
        self._capture_thread = threading.Thread(target=self._capture, name="camapp-capture", daemon=True)
        self._capture_thread.start()
        seen = 0
        try:
            while True:
                frame = self.handoff.get(timeout=0.25)
                if frame is None:
                    # The capture thread always posts END, unless stop cut its blocking put short.
                    if self.handoff.ended or self.stop.is_set():
                        break
                    continue
                self._handle(frame, fresh=seen % self.options.every == 0)
                seen += 1
        finally:
            self.stop.set()
            self._capture_thread.join(timeout=5)
        if self._capture_error is not None:
            raise self._capture_error
        return self.stats.summary()

    def _handle(self, frame: Frame, fresh: bool) -> None:
        results: Results | None
        if fresh:
            results = self.model.run(frame)
            self.last_results = results
        else:
            results = self.last_results
        if fresh and results is not None:
            self.stats.frame_processed(results.inference_ms, (time.monotonic_ns() - frame.timestamp_ns) / 1e6)
        annotated = None
        if self.options.overlay and any(s.wants_pixels for s in self.sinks):
            hud = Hud(self.stats.capture_fps(), self.stats.inference_fps(), self.stats.last_inference_ms) if self.options.hud else None
            annotated = annotate(frame.image, results, hud, self.options.top_k)
        for sink in self.sinks:
            sink.write(frame, annotated, results, fresh)
