"""The pipeline's contract: live mode skips stale frames and counts them, file mode processes every
frame in order, results always belong to the frame they are delivered with, run-every-N reuses the
last result, and an error in any thread reaches the caller.

Frames are real (decoded from the shared person video) and so is the model wherever the behaviour
does not depend on controlling when inference finishes; where it does, clearly named fake models
stand in (GatedModel, RecordingModel).
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from camapp.analytics.events import DebounceOptions
from camapp.analytics.stage import Analytics
from camapp.app import Arrangement, choose_arrangement
from camapp.config import load_config
from camapp.control import ModelChange, ResetCounts, SwitchModel, TuneModel
from camapp.errors import InferenceError, OutputError, SourceError
from camapp.frames import Frame, Image, Size
from camapp.inference.model import Model, ModelOptions
from camapp.inference.tasks.classify import ClassifyResults
from camapp.outputs.base import Delivery, SinkBase
from camapp.overlay import OverlayStyle
from camapp.pipeline import Pipeline, PipelineOptions
from camapp.results import Results
from camapp.sources import SourceOptions, open_source

VIDEO = "one-by-one-person-detection.mp4"
BOTTLES = "bottle-detection.mp4"


@pytest.fixture(scope="module")
def frames(videos_dir: Path) -> list[Image]:
    import cv2

    cap = cv2.VideoCapture(str(videos_dir / VIDEO))
    images = []
    while len(images) < 60:
        ok, image = cap.read()
        assert ok
        images.append(image)
    return images


@pytest.fixture(scope="module")
def detector(models_dir: Path) -> Model:
    return Model(
        ModelOptions(str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"), str(models_dir / "coco_labels.txt"))
    )


class FakeSource:
    """Real frames from memory; `live` picks the mode, `fail_at` raises like a camera that disappears."""

    def __init__(self, images: list[Image], count: int, live: bool = False, fail_at: int | None = None) -> None:
        self.images, self.count, self.live, self.fail_at = images, count, live, fail_at
        self.hold_second_frame: threading.Event | None = None  # deliver frame 1 only once this is set
        self.source_id = "fake"
        self.index = 0
        self.exhausted = threading.Event()  # set once read() has returned its last frame

    is_live = property(lambda self: self.live)
    fps = None
    size = property(lambda self: Size(self.images[0].shape[1], self.images[0].shape[0]))

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        if self.fail_at is not None and self.index == self.fail_at:
            raise SourceError("camera unplugged")
        if self.index == 1 and self.hold_second_frame is not None:
            assert self.hold_second_frame.wait(30)
        if self.index >= self.count:
            self.exhausted.set()
            return None
        frame = Frame(self.images[self.index % len(self.images)], self.index, time.monotonic_ns(), self.source_id)
        self.index += 1
        return frame

    def close(self) -> None:
        pass


class RecordingModel:
    """A fake model (run() only) that records which frames it saw and names them in its results."""

    def __init__(self, name: str = "recording", fail_after: int | None = None) -> None:
        self.name, self.fail_after = name, fail_after
        self.seen: list[int] = []

    def run(self, frame: Frame) -> Results:
        if len(self.seen) == self.fail_after:
            raise InferenceError("inference failed: fake")
        self.seen.append(frame.index)
        h, w = frame.image.shape[:2]
        return ClassifyResults(self.name, frame.index, frame.timestamp_ns, w, h, 1.0)


class MeetingModel(RecordingModel):
    """A fake model whose inferences wait (at most 10 s) until `other` has begun one: on a loaded
    machine the scheduler alone does not guarantee that each of two workers ever gets a frame."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.began = threading.Event()
        self.other: MeetingModel | None = None

    def run(self, frame: Frame) -> Results:
        self.began.set()
        if self.other is not None:
            self.other.began.wait(10)
        return super().run(frame)


class GatedModel(RecordingModel):
    """A fake model whose first inference waits until `gate` is set: the camera keeps delivering meanwhile."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__("gated")
        self.gate = gate
        self.started = threading.Event()  # set when the first inference has begun

    def run(self, frame: Frame) -> Results:
        if not self.seen:
            self.started.set()
            assert self.gate.wait(30)
        return super().run(frame)


class CollectingSink(SinkBase):
    def __init__(self, wants_pixels: bool = False) -> None:
        self.wants_pixels = wants_pixels
        self.calls: list[tuple[Frame, Image | None, Results | None, bool]] = []
        self.items: list[Delivery] = []
        self.changes: list[tuple[int, ModelChange]] = []  # (frames seen before it, the change)

    def write(self, item: Delivery) -> None:
        self.items.append(item)
        self.calls.append((item.frame, item.annotated, item.results, item.fresh))

    def model_changed(self, change: ModelChange) -> None:
        self.changes.append((len(self.calls), change))


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def run(source, model, sinks, **options) -> Pipeline:  # type: ignore[no-untyped-def]
    pipeline = Pipeline(source, model, sinks, PipelineOptions(**options))
    pipeline.run()
    return pipeline


# -- file mode ----------------------------------------------------------------------------
def test_file_mode_processes_every_frame_of_a_real_video_in_order(videos_dir):
    source = open_source(str(videos_dir / VIDEO), SourceOptions())
    source.open()
    model, sink = RecordingModel(), CollectingSink()
    pipeline = run(source, model, [sink], max_frames=50)
    source.close()

    assert model.seen == list(range(50))
    assert [frame.index for frame, *_ in sink.calls] == list(range(50))
    assert all(fresh and results.frame_index == frame.index for frame, _, results, fresh in sink.calls)
    summary = pipeline.stats.summary()
    assert (summary.frames_read, summary.processed, summary.skipped) == (50, 50, 0)


def test_real_detections_reach_the_sinks_with_the_frame_they_were_computed_on(frames, detector):
    # The pipeline prepares frames on its capture thread and invokes on the worker; the outcome
    # must be exactly what running the model on each frame alone gives, frame for frame.
    expected = [detector.run(Frame(image, i, 0, "fake")).detections for i, image in enumerate(frames[:40])]
    sink = CollectingSink()
    pipeline = run(FakeSource(frames, 40), detector, [sink])

    assert [frame.index for frame, *_ in sink.calls] == list(range(40))
    for frame, _, results, _ in sink.calls:
        assert results.frame_index == frame.index
        assert [(d.label, round(d.score, 4), d.box) for d in results.detections] == [
            (d.label, round(d.score, 4), d.box) for d in expected[frame.index]
        ]
    assert any(results.detections for *_, results, _ in sink.calls), "the video shows people: some frame must have a detection"
    assert pipeline.stages.hist["preprocess"].count == 40  # preprocessing ran on the capture thread


def test_run_every_n_infers_every_nth_frame_and_keeps_the_last_result_between(frames):
    model, sink = RecordingModel(), CollectingSink()
    run(FakeSource(frames, 10), model, [sink], every=3)

    assert model.seen == [0, 3, 6, 9]
    got = [(frame.index, results.frame_index, fresh) for frame, _, results, fresh in sink.calls]
    assert got == [(i, i - i % 3, i % 3 == 0) for i in range(10)]


# -- live mode ----------------------------------------------------------------------------
def test_the_live_slot_replaces_frames_that_arrive_while_inference_is_busy_and_counts_them(frames):
    gate = threading.Event()
    source = FakeSource(frames, 30, live=True)
    model, sink = GatedModel(gate), CollectingSink()
    source.hold_second_frame = model.started
    pipeline = Pipeline(source, model, [sink], PipelineOptions())
    # Inference of frame 0 starts, then is held until the camera has delivered all 30 frames.
    threading.Thread(target=lambda: (source.exhausted.wait(30), gate.set()), daemon=True).start()
    summary = pipeline.run()

    assert pipeline.live
    assert model.seen == [0, 29]  # the stale frames 1..28 were never inferred: the newest one was
    assert summary.frames_read == 30
    assert summary.skipped == 28
    assert summary.processed + summary.skipped == summary.frames_read
    assert [(f.index, r.frame_index) for f, _, r, _ in sink.calls] == [(0, 0), (29, 29)]


def test_live_mode_recycles_input_buffers_instead_of_allocating_one_per_frame(frames, detector):
    allocations = []
    original = detector.new_input

    def counting_new_input():  # type: ignore[no-untyped-def]
        allocations.append(1)
        return original()

    detector.new_input = counting_new_input  # type: ignore[method-assign]
    try:
        sink = CollectingSink()
        summary = Pipeline(FakeSource(frames, 120, live=True), detector, [sink], PipelineOptions()).run()
    finally:
        del detector.new_input
    assert summary.frames_read == 120
    assert len(allocations) <= 4  # one being filled, one waiting, one being invoked (+1 at most)
    assert all(r.frame_index == f.index for f, _, r, fresh in sink.calls if fresh)


def test_a_live_run_ends_when_stop_is_set(frames):
    stop = threading.Event()

    class StoppingSink(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            if len(self.calls) == 20:
                stop.set()

    sink = StoppingSink()
    Pipeline(FakeSource(frames, 10**9, live=True), RecordingModel(), [sink], PipelineOptions(), stop).run()
    assert 20 <= len(sink.calls) < 10**9


# -- overlay ------------------------------------------------------------------------------
def test_the_overlay_is_drawn_on_a_copy_and_only_when_a_sink_wants_pixels(frames, detector):
    originals = [image.copy() for image in frames[:5]]
    pixels = CollectingSink(wants_pixels=True)
    run(FakeSource(frames, 5), detector, [pixels])
    for frame, annotated, _, _ in pixels.calls:
        assert annotated is not None and annotated is not frame.image
        assert not np.array_equal(annotated, frame.image)  # at least the HUD was drawn
    assert all(np.array_equal(a, b) for a, b in zip(originals, frames[:5], strict=True))  # frames untouched

    plain = CollectingSink()  # results only (JSON lines, MQTT): no pixels are drawn at all
    pipeline = run(FakeSource(frames, 5), detector, [plain])
    assert all(annotated is None for _, annotated, _, _ in plain.calls)
    assert pipeline.stages.hist["overlay"].count == 0

    switched_off = CollectingSink(wants_pixels=True)
    run(FakeSource(frames, 3), detector, [switched_off], style=OverlayStyle(overlay=False))
    assert all(annotated is None for _, annotated, _, _ in switched_off.calls)


# -- errors reach the caller --------------------------------------------------------------
def test_an_exception_in_the_capture_thread_propagates_to_the_caller_after_the_frames_before_it(frames):
    sink = CollectingSink()
    with pytest.raises(SourceError, match="camera unplugged"):
        run(FakeSource(frames, 50, fail_at=5), RecordingModel(), [sink])
    assert [f.index for f, *_ in sink.calls] == [0, 1, 2, 3, 4]


def test_an_exception_in_the_model_propagates_and_stops_the_capture_thread(frames):
    pipeline = Pipeline(FakeSource(frames, 10**9, live=True), RecordingModel(fail_after=3), [], PipelineOptions())
    with pytest.raises(InferenceError):
        pipeline.run()
    assert pipeline._capture_thread is not None and not pipeline._capture_thread.is_alive()


def test_an_exception_in_a_sink_propagates_instead_of_hanging_the_pipeline(frames):
    class BrokenSink(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            if item.frame.index == 2:
                raise OutputError("disk full")

    with pytest.raises(OutputError, match="disk full"):
        run(FakeSource(frames, 10**9), RecordingModel(), [BrokenSink()])


# -- the control channel ------------------------------------------------------------------
def test_switching_the_model_mid_run_never_mixes_frames_and_models(frames, detector, models_dir):
    other = Model(ModelOptions(str(models_dir / "mobilenet_v1_0.25_128_quant.tflite"), str(models_dir / "imagenet_labels.txt")))
    holder: dict[str, Pipeline] = {}
    tickets = []

    class SwappingSink(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            if item.frame.index == 10:  # sent from another thread than the worker, as SIGHUP's reload does
                tickets.append(holder["p"].controls.send(SwitchModel(other, ModelChange("v1-0.25", "classify"))))

    sink = SwappingSink()
    holder["p"] = Pipeline(FakeSource(frames, 40), detector, [sink], PipelineOptions())
    holder["p"].run()

    tasks = [r.task for *_, r, _ in sink.calls]
    assert [f.index for f, *_ in sink.calls] == list(range(40))
    assert all(r.frame_index == f.index for f, _, r, _ in sink.calls)
    assert tasks[:11] == ["detect"] * 11 and tasks[-1] == "classify"
    switch = tasks.index("classify")
    assert tasks[switch:] == ["classify"] * (40 - switch)  # once swapped, never back
    assert tickets[0].wait(0) and sink.changes == [(switch, ModelChange("v1-0.25", "classify"))], "told just before its first frame"


def test_the_pipeline_drops_no_model_change_notice_even_when_outputs_fall_behind(frames, models_dir):
    other = RecordingModel("other")

    class SlowSink(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            time.sleep(0.01)  # slower than the fake model: live mode drops frames before the outputs

    stop, sink = threading.Event(), SlowSink()
    pipeline = Pipeline(FakeSource(frames, 10**9, live=True), RecordingModel(), [sink], PipelineOptions(), stop)
    thread = threading.Thread(target=pipeline.run, daemon=True)
    thread.start()
    wait_for(lambda: len(sink.calls) >= 10)
    assert pipeline.controls.send(SwitchModel(other, ModelChange("other", "classify"))).wait(5)
    wait_for(lambda: len(sink.changes) == 1 and len(sink.calls) >= sink.changes[0][0] + 10)
    stop.set()
    thread.join(10)
    before, after = sink.calls[: sink.changes[0][0]], sink.calls[sink.changes[0][0]:]
    assert {r.source_id for _, _, r, _ in before} == {"recording"} and {r.source_id for _, _, r, _ in after} == {"other"}
    summary = pipeline.stats.summary()
    assert summary.not_delivered > 0 and summary.processed == len(sink.calls) + summary.not_delivered
    assert f"({summary.not_delivered} of them not written: the outputs fell behind)" in summary.line()


def test_a_new_threshold_applies_from_the_next_frame_without_a_restart(frames, detector):
    holder: dict[str, Pipeline] = {}
    tickets = []

    class Tuner(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            if item.frame.index == 5:
                tickets.append(holder["p"].controls.send(TuneModel(threshold=0.2)))

    sink = Tuner()
    holder["p"] = Pipeline(FakeSource(frames, 30), detector, [sink], PipelineOptions())
    try:
        holder["p"].run()
    finally:
        detector.tune(threshold=0.5)  # the module's shared detector: back to its default
    scores = [[d.score for d in r.detections] for _, _, r, _ in sink.calls]
    assert tickets[0].wait(0)
    assert all(min(s) >= 0.5 for s in scores[:6] if s), "the default threshold before"
    assert all(min(s) >= 0.2 for s in scores[10:] if s) and any(s and min(s) < 0.5 for s in scores[10:]), "0.2 after"
    plain = Pipeline(FakeSource(frames, 3), RecordingModel(), [], PipelineOptions())
    refused = plain.controls.send(TuneModel(0.9))
    plain.run()
    assert not refused.wait(1), "a model without settings is told no, not left waiting"


# -- the analytics stage ------------------------------------------------------------------
def test_events_are_found_once_on_the_worker_and_every_sink_gets_them_with_their_frame(videos_dir, detector):
    source = open_source(str(videos_dir / BOTTLES), SourceOptions())
    source.open()
    analytics = Analytics.for_events(DebounceOptions(3))
    first, second = CollectingSink(), CollectingSink()
    Pipeline(source, detector, [first, second], PipelineOptions(mode="file", max_frames=60), analytics=analytics).run()
    source.close()
    seen = [(item.frame.index, e) for item in first.items for e in item.events]
    assert seen and seen == [(item.frame.index, e) for item in second.items for e in item.events]
    assert all(e.frame_index == index for index, e in seen), "an event travels with the frame that confirmed it"
    assert ("appeared", "bottle") in {(e.type, e.label) for _, e in seen}
    assert analytics.state.counts["bottle"] >= 1


def test_switching_from_a_detector_to_a_classifier_forgets_the_counts(videos_dir, detector, models_dir):
    classifier = Model(ModelOptions(str(models_dir / "mobilenet_v1_0.25_128_quant.tflite"), str(models_dir / "imagenet_labels.txt")))
    analytics = Analytics.for_events(DebounceOptions(3))
    holder: dict[str, Pipeline] = {}
    before: dict[str, int] = {}

    class Switcher(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            if item.frame.index == 40:
                before.update(analytics.state.counts)
                holder["p"].controls.send(SwitchModel(classifier, ModelChange("v1-0.25", "classify")))

    source = open_source(str(videos_dir / BOTTLES), SourceOptions())
    source.open()
    holder["p"] = Pipeline(source, detector, [Switcher()], PipelineOptions(mode="file", max_frames=80), analytics=analytics)
    holder["p"].run()
    source.close()
    state = analytics.state
    assert before.get("bottle", 0) >= 1
    assert not any(state.counts.values()), "a bottle count must not outlive the detector"
    assert state.top_class is not None and state.totals.get("appeared", 0) >= 1  # history stays
    holder["p"].controls.send(ResetCounts())  # applied by the next run's worker only: nothing runs now


# -- output progress (what /healthz reads) ------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("live", [True, False])
def test_a_blocked_output_shows_as_outputs_waiting_and_a_stalled_source_does_not(frames, live):
    go, blocked = threading.Event(), threading.Event()

    class FrozenDiskSink(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            if len(self.calls) == 10:  # live mode skips frames: the 10th this sink sees
                blocked.set()
                assert go.wait(30)

    stop = threading.Event()
    pipeline = Pipeline(FakeSource(frames, 10**9, live=live), RecordingModel(), [FrozenDiskSink()], PipelineOptions(), stop)
    thread = threading.Thread(target=pipeline.run, daemon=True)
    thread.start()
    try:
        assert blocked.wait(10)
        took = pipeline.stats.last_output_at
        time.sleep(0.3)
        assert pipeline.stats.last_output_at == took, "one store per frame: it stays put while the frame is stuck"
        assert pipeline.stats.outputs_waiting(time.monotonic()) > 0.25  # the worker has newer frames for it
        processed = pipeline.stats.processed
        time.sleep(0.1)
        assert (pipeline.stats.processed > processed) is live  # file mode waits for the outputs
        go.set()
        # Once unblocked the output catches up: polled rather than slept, so a loaded CI machine
        # that needs a little longer than 0.2 s to get there does not fail it.
        deadline = time.monotonic() + 5
        while pipeline.stats.outputs_waiting(time.monotonic()) >= 0.1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipeline.stats.outputs_waiting(time.monotonic()) < 0.1
    finally:
        go.set()
        stop.set()
        thread.join(10)

    held = threading.Event()
    source = FakeSource(frames, 10**9, live=True)
    source.hold_second_frame = held  # a camera that delivers one frame, then hangs
    stop = threading.Event()
    pipeline = Pipeline(source, RecordingModel(), [CollectingSink()], PipelineOptions(), stop)
    thread = threading.Thread(target=pipeline.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        assert pipeline.stats.processed == 1 and pipeline.stats.outputs_waiting(time.monotonic()) == 0.0  # "stalled", not "stuck"
    finally:
        held.set()
        stop.set()
        thread.join(10)


# -- a pool of interpreters (pipeline.workers) ----------------------------------------------
@pytest.mark.parametrize("every", [1, 3])
def test_a_pool_of_two_hands_on_results_in_frame_order_each_on_its_own_frame(frames, every):
    first, second = MeetingModel("first"), MeetingModel("second")
    first.other, second.other = second, first  # while one waits for the other, the other worker takes frames
    sink = CollectingSink()
    pipeline = Pipeline(FakeSource(frames, 60), (first, second), [sink], PipelineOptions(mode="file", every=every))
    summary = pipeline.run()
    assert [f.index for f, *_ in sink.calls] == list(range(60)), "every frame, in order"
    fresh = [(f.index, r) for f, _, r, is_fresh in sink.calls if is_fresh]
    assert [i for i, _ in fresh] == list(range(0, 60, every)) and all(r.frame_index == i for i, r in fresh)
    reused = [(f.index, r.frame_index) for f, _, r, is_fresh in sink.calls if not is_fresh]
    assert all(frame - result < every for frame, result in reused), "every-N reuses the latest earlier result"
    assert first.seen and second.seen, "both interpreters worked"
    assert sorted(first.seen + second.seen) == list(range(0, 60, every)) and summary.processed == len(fresh)
    assert not [t for t in threading.enumerate() if t.name.startswith("camapp-worker")], "every worker ended"


@pytest.mark.slow
def test_a_pool_of_real_interpreters_gives_exactly_the_results_of_one(videos_dir, detector, models_dir):
    copy = Model(detector.options)

    def results_of(models):  # type: ignore[no-untyped-def]
        source = open_source(str(videos_dir / BOTTLES), SourceOptions())
        source.open()
        sink = CollectingSink()
        Pipeline(source, models, [sink], PipelineOptions(mode="file", max_frames=120)).run()
        source.close()
        return [r.payload() for _, _, r, _ in sink.calls]

    assert results_of((detector, copy)) == results_of(detector)
    freed = weakref.ref(copy)
    del copy
    gc.collect()
    assert freed() is None, "the extra interpreter is freed once the pipeline that used it is gone"


def test_a_pool_switches_models_between_two_frames_and_tells_the_sinks_first(frames):
    holder: dict[str, Pipeline] = {}
    sent = threading.Event()
    new = (MeetingModel("new-a"), MeetingModel("new-b"))  # each waits for the other: both workers run the new model
    new[0].other, new[1].other = new[1], new[0]

    class OldModel(RecordingModel):
        def run(self, frame: Frame) -> Results:
            if frame.index >= 20:
                sent.wait(10)  # frames are still left when the switch comes, however fast the workers ran
            return super().run(frame)

    class Switcher(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            if item.frame.index == 10:
                holder["p"].controls.send(SwitchModel(new, ModelChange("new", "classify")))
                sent.set()

    sink = Switcher()
    holder["p"] = Pipeline(FakeSource(frames, 60), (OldModel("old-a"), OldModel("old-b")), [sink], PipelineOptions(mode="file"))
    holder["p"].run()
    names = [r.source_id for _, _, r, _ in sink.calls]
    switch = next(i for i, n in enumerate(names) if n.startswith("new"))
    assert all(n.startswith("old") for n in names[:switch]) and all(n.startswith("new") for n in names[switch:])
    assert sink.changes == [(switch, ModelChange("new", "classify"))], "told just before the first frame of the new model"
    assert new[0].seen and new[1].seen


def test_a_pool_in_live_mode_never_attaches_a_result_to_another_frame(frames):
    stop, sink = threading.Event(), CollectingSink()

    class Stopper(CollectingSink):
        def write(self, item):  # type: ignore[no-untyped-def]
            super().write(item)
            if len(self.calls) == 40:
                stop.set()

    sink = Stopper()
    Pipeline(FakeSource(frames, 10**9, live=True), (RecordingModel(), RecordingModel()), [sink], PipelineOptions(), stop).run()
    indices = [f.index for f, *_ in sink.calls]
    assert indices == sorted(indices) and all(r.frame_index == f.index for f, _, r, _ in sink.calls)


def test_an_error_in_a_pool_worker_reaches_the_caller(frames):
    with pytest.raises(InferenceError):
        Pipeline(FakeSource(frames, 10**9), (RecordingModel(fail_after=3), RecordingModel(fail_after=3)), [], PipelineOptions()).run()
    assert not [t for t in threading.enumerate() if t.name.startswith("camapp-worker")]


def test_auto_arranges_interpreters_by_how_fast_frames_come() -> None:
    auto = load_config(None, env={})
    on_a_file = choose_arrangement(auto, None, None, cores=2)
    assert (on_a_file.workers, on_a_file.threads) == (2, 1) and "as fast as they are read" in on_a_file.why
    slow_camera = choose_arrangement(auto, 10.0, 8.5, cores=4)  # 10 fps, 8.5 ms invokes: one keeps up
    assert (slow_camera.workers, slow_camera.threads) == (1, 4) and "lowest latency" in slow_camera.why
    fast_camera = choose_arrangement(auto, 30.0, 120.0, cores=4)  # a Pi: 30 fps, 120 ms invokes
    assert (fast_camera.workers, fast_camera.threads) == (2, 2) and "faster than one 120.0 ms invoke" in fast_camera.why
    assert (choose_arrangement(auto, None, None, cores=1).workers, choose_arrangement(auto, None, None, cores=1).threads) == (1, 1)
    fixed = load_config(None, env={}, overrides={"pipeline.workers": 3, "model.threads": 2})
    assert choose_arrangement(fixed, None, None, cores=2) == Arrangement(3, 2, "set in the config")
