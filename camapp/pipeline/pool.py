"""The inference workers: one interpreter on the caller's thread, or N copies taking frames in turn.

Every run goes through here; one interpreter is simply a pool of one (no extra thread).
With one interpreter, a frame waits for the one before it. When frames arrive faster than one
invoke takes (a file, a fast camera), N interpreters of fewer threads each can work on N frames at
once. Measured in issue 16's planning on this 2-core machine: two 1-thread interpreters reached
137-141 FPS invoke-only on SSD, where one 2-thread interpreter reached 126-133.

Order is kept by numbering: a worker numbers each frame as it takes it (under one lock, so the
numbers follow frame order), and results are released strictly in that order. Only then do the
analytics stage, every-N reuse and the hand-off to the outputs see them, exactly as with one
worker, so no result can be attached to the wrong frame, and events come in frame order.
Commands are applied between two frame numbers: a model switch takes effect for every frame taken
after it, and its notice reaches the sinks just before the first of those frames.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from camapp.analytics.events import Event
from camapp.control import ResetCounts, SetAreas, SwitchModel, TuneModel, TunePipeline
from camapp.frames import Frame
from camapp.results import Results

if TYPE_CHECKING:
    from camapp.pipeline.loop import FrameModel, Pipeline


Notice = SwitchModel | SetAreas | ResetCounts  # commands whose meaning for the analytics and outputs follows frame order


@dataclass
class _Done:
    frame: Frame
    results: Results | None  # None for a frame that every-N does not infer
    fresh: bool
    total_ms: float


@dataclass
class _PoolState:
    take_lock: threading.Lock = field(default_factory=threading.Lock)
    order_lock: threading.Lock = field(default_factory=threading.Lock)
    next_seq: int = 0  # the number the next taken frame gets
    released: int = 0  # the number of the next frame to hand on
    pending: dict[int, _Done] = field(default_factory=dict)
    notices: dict[int, list[Notice]] = field(default_factory=dict)  # applied before that frame
    error: BaseException | None = None


def models_of(model: object) -> tuple[FrameModel, ...]:
    """A Pipeline's model argument and SwitchModel carry one model, or one per worker."""
    found = tuple(model) if isinstance(model, (tuple, list)) else (model,)
    return cast("tuple[FrameModel, ...]", found)


class InterpreterPool:
    def __init__(self, pipeline: Pipeline, models: tuple[FrameModel, ...]) -> None:
        self.p = pipeline
        self.group = models
        self.state = _PoolState()

    def run(self) -> None:
        """Work until the source ends or stop is set; re-raises the first worker's error."""
        threads = [
            threading.Thread(target=self._worker, args=(i,), name=f"camapp-worker-{i}", daemon=True) for i in range(1, len(self.group))
        ]
        for t in threads:
            t.start()
        try:
            self._worker(0)  # the calling thread is worker 0
        finally:
            for t in threads:
                t.join()
            with self.state.order_lock:
                self._flush_notices()
        if self.state.error is not None:
            raise self.state.error

    # -- every worker ----------------------------------------------------------------------
    def _worker(self, i: int) -> None:
        p, s = self.p, self.state
        try:
            while not p.stop.is_set() and s.error is None:
                with s.take_lock:
                    # Whichever worker takes the next frame applies what was sent first, under the
                    # same lock: in the order sent, and never later than the next frame, however
                    # the scheduler favours one worker over another.
                    self._apply_commands()
                    work = p.handoff.get(timeout=0.1)
                    if work is None:
                        if p.handoff.ended:
                            return
                        continue
                    seq = s.next_seq
                    s.next_seq += 1
                    group = self.group
                fresh = seq % p.options.every == 0
                results, total_ms = None, 0.0
                if fresh:
                    t0 = time.perf_counter()
                    results = p.infer_with(work, group[i % len(group)], group[0])
                    total_ms = (time.perf_counter() - t0) * 1000
                work.release()
                self._release(seq, _Done(work.frame, results, fresh, total_ms))
        except BaseException as exc:  # handed to run(), which re-raises it: never swallowed
            if s.error is None:
                s.error = exc
            p.stop.set()

    def _release(self, seq: int, done: _Done) -> None:
        """Hand on every finished frame whose turn has come, in frame order."""
        p, s = self.p, self.state
        with s.order_lock:
            s.pending[seq] = done
            while s.released in s.pending:
                for notice in s.notices.pop(s.released, []):
                    self._apply_notice(notice)
                item = s.pending.pop(s.released)
                s.released += 1
                events: tuple[Event, ...] = ()
                results = item.results
                if item.fresh:
                    p.last_results = results
                    if results is not None:
                        p.stages.add("invoke", results.inference_ms)
                        p.stages.add("postprocess", max(0.0, item.total_ms - results.inference_ms))
                        p.stats.frame_processed(results.inference_ms, (time.monotonic_ns() - item.frame.timestamp_ns) / 1e6)
                        events = p.analytics.update(results)
                else:
                    results = p.last_results
                p.hand_on(item.frame, results, item.fresh, events)

    # -- commands --------------------------------------------------------------------------
    def _apply_commands(self) -> None:
        """Under the take lock, between two frame numbers: frames taken from now on see each change."""
        p = self.p
        for command, ticket in p.controls.take():
            if isinstance(command, SwitchModel):
                self.group = models_of(command.model)
                p.model = self.group[0]  # what the capture thread prepares inputs for
                self._notice(command)
            elif isinstance(command, TuneModel):
                threshold = command.threshold
                if threshold is not None and self._detects():
                    threshold = p.analytics.reading_threshold(threshold)  # tracking on: weak boxes go on known tracks
                if not self._tune(threshold, command.top_k):
                    ticket.finish(False)  # a model without settings (a test's fake): nothing applied
                    continue
            elif isinstance(command, TunePipeline):
                o = p.options  # read per frame by the workers and the output thread: one attribute swap
                style = o.style if command.overlay is None else dataclasses.replace(o.style, overlay=command.overlay)
                p.options = dataclasses.replace(o, every=o.every if command.every is None else command.every, style=style)
            elif isinstance(command, SetAreas):
                if p.analytics.scene is None and self._detects():
                    # Tracking starts: from the next frame taken, the detector reports the weak
                    # boxes that continue a track too, as when it is on from the start. Every
                    # such frame comes after the notice that makes the scene, which drops those
                    # that continue none.
                    self._tune(command.tracker.low, None)
                self._notice(command)
            elif isinstance(command, ResetCounts):
                self._notice(command)
            ticket.finish(True)

    def _tune(self, threshold: float | None, top_k: int | None) -> bool:
        """Every model of the group reads its outputs anew; False (nothing changed) when one cannot."""
        from camapp.pipeline.loop import TunableModel  # loaded already: loop.py runs the pool

        tunable = [m for m in self.group if isinstance(m, TunableModel)]
        if len(tunable) != len(self.group):
            return False
        for model in tunable:
            model.tune(threshold, top_k)
        return True

    def _detects(self) -> bool:
        return getattr(self.group[0], "task", None) == "detect"

    def _notice(self, command: Notice) -> None:
        """Under the take lock: what comes after the frames already taken. With none of them still
        in flight it applies now (a camera that stalled still hears of a new model at once);
        otherwise just before the first frame taken after it is handed on."""
        s = self.state
        with s.order_lock:
            if s.released == s.next_seq:
                self._apply_notice(command)
            else:
                s.notices.setdefault(s.next_seq, []).append(command)

    def _apply_notice(self, notice: Notice) -> None:
        """In frame order, under the order lock: what a command means for what comes after it."""
        p = self.p
        if isinstance(notice, SwitchModel):
            p.last_results = None  # every-N must not reuse the old model's results
            p.analytics.reset_tracks()  # the new model's tracks start afresh; zone and line totals last
            p.outbox.put(notice.change, p.output_dead)
        elif isinstance(notice, SetAreas):
            p.analytics.set_areas(notice.zones, notice.lines, notice.tracker)
        else:
            p.analytics.reset()

    def _flush_notices(self) -> None:
        for seq in sorted(self.state.notices):
            for notice in self.state.notices.pop(seq):
                self._apply_notice(notice)
