"""The live loop: a capture thread feeds one inference worker, which feeds an output thread.

Stages never call each other; handoff.py carries items between them:

    capture thread   source.read() -> prepare (resize + colour swap into a reused input buffer)
         | LatestSlot (live: newest frame wins, replaced ones counted) or FrameQueue (file: every frame)
    worker(s)        commands from the control channel (between frames), then copy into the input
                     tensor, invoke, decode -> Results -> in frame order: the analytics stage (events)
                     (the caller's thread; more threads with a pool of interpreters, see pool.py)
         | FrameQueue (file: blocks; live: drops the oldest, counted as not delivered)
    output thread    overlay (only when a sink wants pixels) -> Delivery -> sinks

Why this arrangement (measured, see benchmarks/RESULTS.md): on a small board the model should be
the only thing on the critical path. Decoding and resizing on the capture thread overlap with the
interpreter instead of running between two invokes, and drawing and writing overlap too, so the
worker does nothing but invoke. Each stage allocates nothing per frame on the model side: input
buffers come from a small pool and are recycled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import cv2
from numpy.typing import NDArray

from camapp.analytics.events import Event
from camapp.analytics.stage import Analytics
from camapp.control import ControlChannel, ModelChange
from camapp.frames import Frame
from camapp.inference.preprocess import Transform
from camapp.outputs.base import Delivery, Sink
from camapp.overlay import Hud, OverlayStyle, render
from camapp.pipeline.handoff import END, FrameQueue, LatestSlot
from camapp.pipeline.pool import InterpreterPool, models_of
from camapp.results import Results
from camapp.sources.base import Source
from camapp.stats import LatencyHistogram, PipelineStats, Summary

log = logging.getLogger(__name__)

# "capture" is the wall time of source.read(): decoding, and any wait for the frame (a camera's
# frame interval, --realtime pacing); "encode" is added by sinks that encode (the bench's).
STAGES = ("capture", "preprocess", "invoke", "postprocess", "overlay", "encode")

# File mode queues up to 4 frames per hand-off, but no more than this many bytes of them: at
# 640x480 (0.9 MB a frame) all 4 fit, at 1080p (6.2 MB) 2 do, so a 1080p file holds about 25 MB
# of queued frames instead of 50 (a Pi Zero 2 W has 512 MB). Two frames still keep a pool of two
# interpreters fed; see benchmarks/RESULTS.md for the memory measured before and after.
QUEUE_ITEMS = 4
QUEUE_BYTES = 12 * 2**20


class FrameModel(Protocol):
    def run(self, frame: Frame) -> Results: ...


@runtime_checkable
class TunableModel(Protocol):
    """A model whose reading settings can change while it runs (camapp.inference.model.Model)."""

    def run(self, frame: Frame) -> Results: ...
    def tune(self, threshold: float | None = None, top_k: int | None = None) -> None: ...


@runtime_checkable
class PreparingModel(Protocol):
    """A model whose preprocessing can run on another thread (camapp.inference.model.Model)."""

    def run(self, frame: Frame) -> Results: ...
    def new_input(self) -> NDArray[Any]: ...
    def prepare(self, frame: Frame, buffer: NDArray[Any]) -> Transform: ...
    def infer(self, frame: Frame, buffer: NDArray[Any], transform: Transform) -> Results: ...


@dataclass(frozen=True)
class PipelineOptions:
    mode: Literal["auto", "live", "file"] = "auto"
    every: int = 1
    max_frames: int | None = None
    style: OverlayStyle = OverlayStyle()


class StageTimes:
    """Milliseconds per stage. Each stage is written by one thread only, so no lock is needed."""

    def __init__(self) -> None:
        self.hist = {name: LatencyHistogram() for name in STAGES}

    def add(self, stage: str, ms: float) -> None:
        self.hist[stage].add(ms)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {
            name: {"count": h.count, "mean": round(h.mean, 4), "p50": round(h.percentile(50), 4), "p95": round(h.percentile(95), 4)}
            for name, h in self.hist.items()
            if h.count
        }


class _InputPool:
    """Input buffers for one model: each allocated once, then recycled for the whole run."""

    def __init__(self, model: PreparingModel | None) -> None:
        self.model = model
        self._free: list[NDArray[Any]] = []  # list.pop / append are atomic: no lock needed
        self.allocated = 0

    def take(self) -> NDArray[Any]:
        try:
            return self._free.pop()
        except IndexError:
            assert self.model is not None
            self.allocated += 1
            return self.model.new_input()

    def give(self, buffer: NDArray[Any]) -> None:
        self._free.append(buffer)


@dataclass
class _Work:
    """A frame on its way to the worker, with its input tensor when the capture thread prepared it."""

    frame: Frame
    buffer: NDArray[Any] | None = None
    transform: Transform | None = None
    pool: _InputPool | None = field(default=None, repr=False)

    def release(self) -> None:
        if self.buffer is not None and self.pool is not None:
            self.pool.give(self.buffer)
        self.buffer = None


@dataclass(frozen=True)
class _Out:
    """A frame on its way to the outputs, with what the worker made of it."""

    frame: Frame
    results: Results | None
    fresh: bool
    events: tuple[Event, ...]


def single_threaded_opencv() -> int:
    """Make OpenCV's calls run on the calling thread (no pool), returning the count it had."""
    before = cv2.getNumThreads()
    if before != 0:
        cv2.setNumThreads(0)
    return before


def _frame_bytes(item: _Work | _Out | ModelChange) -> int:
    """What a queued item holds in memory: its frame (a notice holds none worth counting)."""
    if isinstance(item, ModelChange):
        return 0
    frame = item.frame
    return frame.image.nbytes + (frame.lores.nbytes if frame.lores is not None else 0)


def _is_notice(item: object) -> bool:
    return isinstance(item, ModelChange)


class Pipeline:
    def __init__(
        self,
        source: Source,
        model: FrameModel | Sequence[FrameModel],
        sinks: list[Sink],
        options: PipelineOptions,
        stop: threading.Event | None = None,
        stats: PipelineStats | None = None,
        analytics: Analytics | None = None,
        controls: ControlChannel | None = None,
    ) -> None:
        self.source = source
        # One model, or several copies that take frames in turn, one worker thread each (pool.py).
        self.group = models_of(model)
        self.model: FrameModel = self.group[0]  # what the capture thread prepares inputs for
        self.sinks = sinks
        self.options = options
        self.analytics = analytics or Analytics()  # no detector: the stage costs nothing
        self.controls = controls or ControlChannel()
        self.stop = stop or threading.Event()
        # Created outside when sinks (web status, metrics, watchdog) need to read it.
        self.stats = stats or PipelineStats()
        self.stages = StageTimes()
        mode = options.mode
        self.live = source.is_live if mode == "auto" else mode == "live"
        self.handoff: LatestSlot[_Work] | FrameQueue[_Work] = (
            LatestSlot(on_drop=_Work.release) if self.live else FrameQueue(QUEUE_ITEMS, size_of=_frame_bytes, max_bytes=QUEUE_BYTES)
        )
        self.outbox: FrameQueue[_Out | ModelChange] = (
            FrameQueue(2, "drop_oldest", precious=_is_notice)
            if self.live
            else FrameQueue(QUEUE_ITEMS, size_of=_frame_bytes, max_bytes=QUEUE_BYTES)
        )
        self.last_results: Results | None = None
        self._pool: _InputPool | None = None
        self._capture_error: BaseException | None = None
        self._output_error: BaseException | None = None
        self._output_dead = threading.Event()
        self._capture_thread: threading.Thread | None = None
        self._output_thread: threading.Thread | None = None

    # -- the control channel ---------------------------------------------------------------
    def _cancel_commands(self) -> None:
        for _command, ticket in self.controls.take():
            ticket.finish(False)

    # -- capture thread -------------------------------------------------------------------
    def _capture(self) -> None:
        try:
            while not self.stop.is_set():
                if self.options.max_frames is not None and self.stats.frames_read >= self.options.max_frames:
                    break
                t0 = time.perf_counter()
                frame = self.source.read()
                if frame is None:
                    break
                self.stages.add("capture", (time.perf_counter() - t0) * 1000)
                self.stats.frame_read()
                work = self._prepare(frame)
                if isinstance(self.handoff, LatestSlot):
                    self.stats.frames_skipped(self.handoff.put(work))
                    # Let the worker we just woke start on this frame before this thread goes on
                    # to read (and decode) the next one: Linux often wakes it on this same core,
                    # where it would wait out that read. Measured on a paced video: the hand-off's
                    # p95 fell from 0.7-1.3 ms to 0.12 ms. Costs a microsecond when it had a core.
                    os.sched_yield()
                else:
                    self.handoff.put(work, self.stop)
        except BaseException as exc:  # handed to the caller, which re-raises it: never swallowed
            self._capture_error = exc
        finally:
            self.handoff.put(END)

    def _prepare(self, frame: Frame) -> _Work:
        model = self.model
        if self._pool is None or self._pool.model is not model:
            # Checked once per model, not per frame: a Protocol isinstance() is not free.
            self._pool = _InputPool(model) if isinstance(model, PreparingModel) else _InputPool(None)
        pool = self._pool
        if pool.model is None:
            return _Work(frame)  # a model with run() only: the worker preprocesses
        buffer = pool.take()
        t0 = time.perf_counter()
        transform = pool.model.prepare(frame, buffer)
        self.stages.add("preprocess", (time.perf_counter() - t0) * 1000)
        return _Work(frame, buffer, transform, pool)

    # -- worker ---------------------------------------------------------------------------
    def run(self) -> Summary:
        """Run until the source ends, max_frames is reached, or stop is set. The source must be open."""
        self._output_thread = threading.Thread(target=self._output, name="camapp-output", daemon=True)
        self._capture_thread = threading.Thread(target=self._capture, name="camapp-capture", daemon=True)
        # OpenCV's own thread pool would spread each resize / colour conversion over every core,
        # preempting the interpreter's threads for a few microseconds at a time; the capture and
        # output threads already run beside inference, so their OpenCV calls stay on one thread.
        # Process-wide, so it is restored when the run ends (the bench runs other loops after).
        # Changed only when it differs: resizing OpenCV's pool while another thread is inside a
        # parallel_for (a reconnecting camera's reader converting a frame) can die with SIGFPE in
        # OpenCV 4.11, seen 3 times in 50 loaded runs; `camapp run` therefore sets it before the
        # source opens (single_threaded_opencv) and nothing changes here.
        cv_threads = single_threaded_opencv()
        self._output_thread.start()
        self._capture_thread.start()
        try:
            InterpreterPool(self, self.group).run()  # one interpreter or several: the same ordered path
        finally:
            self._cancel_commands()
            self.outbox.put(END)
            self._output_thread.join(timeout=30)
            if self._output_thread.is_alive():
                log.warning("outputs still busy 30 s after the end; some frames were not written")
            self.stop.set()
            self._capture_thread.join(timeout=5)
            if cv_threads != 0:
                cv2.setNumThreads(cv_threads)
        for error in (self._capture_error, self._output_error):
            if error is not None:
                raise error
        if self.outbox.dropped:
            log.info("outputs fell behind and skipped %d frames", self.outbox.dropped)
        self.stats.not_delivered = self.outbox.dropped
        return self.stats.summary()

    # -- what the workers use (pool.py) -----------------------------------------------------
    def infer_with(self, work: _Work, model: FrameModel, prepared_for: FrameModel) -> Results:
        """One worker's inference. A frame prepared for `prepared_for` (the group's first model:
        every copy reads the same file, so the same input) skips preprocessing; one prepared for a
        model that was switched out meanwhile goes through `model`'s own run()."""
        if work.buffer is not None and work.pool is not None and work.pool.model is prepared_for:
            assert work.transform is not None
            return model.infer(work.frame, work.buffer, work.transform)  # type: ignore[attr-defined, no-any-return]
        return model.run(work.frame)

    def hand_on(self, frame: Frame, results: Results | None, fresh: bool, events: tuple[Event, ...]) -> None:
        self.outbox.put(_Out(frame, results, fresh, events), self._output_dead)

    @property
    def output_dead(self) -> threading.Event:
        return self._output_dead

    # -- output thread --------------------------------------------------------------------
    def _output(self) -> None:
        stats = self.stats
        stats.last_output_at = time.monotonic()  # ready: nothing is waiting for it yet
        try:
            while True:
                item = self.outbox.get(timeout=0.5)
                if item is None:
                    if self.outbox.ended:
                        return
                    continue
                # The one store per frame behind /healthz's "outputs_stuck": a sink that blocks
                # (a frozen disk, a full pipe) keeps this time from moving while frames come.
                stats.last_output_at = time.monotonic()
                if isinstance(item, ModelChange):
                    for sink in self.sinks:
                        sink.model_changed(item)
                else:
                    self._deliver(item)
        except BaseException as exc:  # re-raised by run(); the worker stops feeding a dead thread
            self._output_error = exc
            self._output_dead.set()
            self.stop.set()

    def _deliver(self, out: _Out) -> None:
        annotated = None
        style = self.options.style
        if style.overlay and any(s.wants_pixels for s in self.sinks):
            t0 = time.perf_counter()
            hud = Hud(self.stats.capture_fps(), self.stats.inference_fps(), self.stats.last_inference_ms)
            annotated = render(out.frame.image, out.results, style, hud)
            self.stages.add("overlay", (time.perf_counter() - t0) * 1000)
        item = Delivery(out.frame, out.results, out.fresh, out.events, annotated)
        for sink in self.sinks:
            sink.write(item)
