"""Change events: only changes, debounced over frames and seconds; on made-up and on real results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from camapp.analytics.events import Debounced, DebounceOptions, EventDetector
from camapp.analytics.stage import Analytics
from camapp.inference.tasks.classify import Classification, ClassifyResults
from camapp.inference.tasks.detect import Detection, DetectResults
from camapp.results import Box, Results

MS = 1_000_000
BOX = Box(0.1, 0.1, 0.3, 0.3)


def detections(frame: int, *labels: str, t_ms: int | None = None) -> Results:
    dets = [Detection(i, label, 0.8, BOX) for i, label in enumerate(labels)]
    return DetectResults("cam", frame, (frame * 100 if t_ms is None else t_ms) * MS, 640, 480, 5.0, detections=dets)


def classes(frame: int, top: str, t_ms: int | None = None) -> Results:
    cls = [Classification(1, top, 0.9), Classification(2, "other", 0.05)]
    return ClassifyResults("cam", frame, (frame * 100 if t_ms is None else t_ms) * MS, 640, 480, 5.0, classes=cls)


def feed(detector: EventDetector, seq: list[Results]) -> list[tuple[str, str, int, object, int]]:
    out = []
    for r in seq:
        out += [(e.type, e.label, e.count, e.previous, e.frame_index) for e in detector.update(r, 1000.0)]
    return out


def test_debounced_value_changes_only_after_holding_for_n_frames() -> None:
    d = Debounced(0, DebounceOptions(min_frames=3))
    assert [d.observe(v, i) for i, v in enumerate([1, 1, 0, 1, 1, 1, 1])] == [None, None, None, None, None, (0, 1), None]
    assert d.stable == 1


def test_an_object_that_stays_gives_one_appeared_event_not_one_per_frame() -> None:
    seq = [detections(i) for i in range(3)] + [detections(i, "bottle", "bottle") for i in range(3, 50)]
    assert feed(EventDetector(DebounceOptions(3)), seq) == [("appeared", "bottle", 2, 0, 5)]


def test_a_blip_shorter_than_the_debounce_is_ignored() -> None:
    seq = [detections(0), detections(1, "cat"), detections(2, "cat"), detections(3), detections(4)]
    assert feed(EventDetector(DebounceOptions(3)), seq) == []


def test_left_is_reported_once_the_object_has_been_gone_for_n_frames() -> None:
    seq = [detections(i, "person") for i in range(5)] + [detections(i) for i in range(5, 12)]
    assert feed(EventDetector(DebounceOptions(3)), seq) == [("appeared", "person", 1, 0, 2), ("left", "person", 0, 1, 7)]


def test_a_flickering_count_gives_no_events_and_a_lasting_one_gives_one() -> None:
    three = ("bottle",) * 3
    flicker = [detections(i, *(three if i % 2 else three[:2])) for i in range(3, 20)]
    lasting = [detections(i, *three[:2]) for i in range(20, 30)]
    seq = [detections(i, *three) for i in range(3)] + flicker + lasting
    events = feed(EventDetector(DebounceOptions(3)), seq)
    assert events == [("appeared", "bottle", 3, 0, 2), ("count", "bottle", 2, 3, 22)]


def test_debounce_seconds_holds_a_change_back_until_enough_capture_time_passed() -> None:
    # 10 frames 10 ms apart: three frames would do, but 50 ms must pass as well.
    seq = [detections(i, "dog", t_ms=i * 10) for i in range(10)]
    assert feed(EventDetector(DebounceOptions(min_frames=3, min_seconds=0.05)), seq) == [("appeared", "dog", 1, 0, 5)]


def test_each_label_is_debounced_on_its_own_and_labels_can_be_filtered() -> None:
    seq = [detections(i, "person", "dog") for i in range(4)] + [detections(i, "dog") for i in range(4, 8)]
    assert feed(EventDetector(DebounceOptions(2)), seq) == [
        ("appeared", "dog", 1, 0, 1), ("appeared", "person", 1, 0, 1), ("left", "person", 0, 1, 5)
    ]
    only_people = EventDetector(DebounceOptions(2), frozenset({"person"}))
    assert feed(only_people, seq) == [("appeared", "person", 1, 0, 1), ("left", "person", 0, 1, 5)]
    assert only_people.counts() == {"person": 0}


def test_a_classifier_reports_when_the_top_class_changes() -> None:
    seq = [classes(i, "tabby cat") for i in range(5)] + [classes(5, "dog")] + [classes(i, "macaw") for i in range(6, 10)]
    detector = EventDetector(DebounceOptions(2))
    assert feed(detector, seq) == [("class_changed", "tabby cat", 1, None, 1), ("class_changed", "macaw", 1, "tabby cat", 7)]
    assert detector.top_class == "macaw"


def test_event_json_has_the_fields_listeners_rely_on() -> None:
    detector = EventDetector(DebounceOptions(1))
    (event,) = detector.update(detections(7, "cat"), 1_700_000_000.5)
    assert event.to_dict() == {
        "event": "appeared", "label": "cat", "count": 1, "previous": 0, "frame": 7, "source": "cam", "time": 1_700_000_000.5,
        "score": 0.8,
    }


def test_the_analytics_stage_publishes_counts_history_and_totals_and_a_reset_forgets_the_counts() -> None:
    stage = Analytics.for_events(DebounceOptions(1))
    assert [e.type for e in stage.update(detections(0, "cat", "cat"), 0.0)] == ["appeared"]
    assert stage.state.counts == {"cat": 2} and stage.state.totals == {"appeared": 1} and len(stage.state.recent) == 1
    assert stage.update(detections(1, "cat", "cat"), 0.0) == ()  # nothing changed: nothing new published
    stage.reset()  # a model change
    assert stage.state.counts == {} and stage.state.totals == {"appeared": 1}, "counts start again, history stays"
    assert Analytics().update(detections(2, "cat"), 0.0) == () and not Analytics().enabled  # no consumer: no work


# -- on the real detector and the real people video -------------------------------------------------

PEOPLE_FRAMES = 470  # covers two visits: a person walks up, reads, leaves, twice


@pytest.fixture(scope="module")
def people_results(people_detections: tuple[Results, ...]) -> list[Results]:
    """The real detector on the people video, on the video's own clock (computed once, tests/conftest.py)."""
    assert len(people_detections) >= PEOPLE_FRAMES
    return list(people_detections[:PEOPLE_FRAMES])


@pytest.mark.slow
def test_people_walking_in_and_out_give_appeared_and_left_in_turn(people_results: list[Results]) -> None:
    detector = EventDetector(DebounceOptions(min_frames=3), frozenset({"person"}))
    events = [(e.type, e.frame_index) for r in people_results for e in detector.update(r, 0.0)]
    kinds = [k for k, _ in events]
    assert kinds == ["appeared", "left", "appeared", "left"], events
    frames = [f for _, f in events]
    assert frames == sorted(frames) and 40 < frames[0] < 100 and frames[-1] < PEOPLE_FRAMES


def test_longer_debouncing_gives_fewer_events_on_a_flickering_label(people_results: list[Results]) -> None:
    def count(options: DebounceOptions) -> int:
        detector = EventDetector(options)
        return sum(len(detector.update(r, 0.0)) for r in people_results)

    raw = count(DebounceOptions(min_frames=1))
    three = count(DebounceOptions(min_frames=3))
    two_seconds = count(DebounceOptions(min_frames=1, min_seconds=2.0))
    assert raw > three > two_seconds >= 4  # the people's visits remain, the flicker goes
    frame_changes = sum(1 for a, b in zip(people_results, people_results[1:], strict=False) if sorted(a.labels) != sorted(b.labels))
    assert raw <= frame_changes * 2


@pytest.mark.slow
def test_the_cli_writes_only_change_events_and_snapshots(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    proc = subprocess.run(
        [sys.executable, "-m", "camapp", "run", "--source", str(videos_dir / "bottle-detection.mp4"), "--max-frames", "60",
         "--model", str(models_dir / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"),
         "--labels", str(models_dir / "coco_labels.txt"), "--events", "--snapshots", str(shots), "--snapshot-labels", "bottle"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert 1 <= len(events) < 20  # 60 frames of three bottles: changes only, not 60 lines
    assert events[0]["event"] == "appeared" and events[0]["label"] == "bottle" and events[0]["count"] == 3
    (snapshot,) = shots.iterdir()
    assert snapshot.name.startswith("snapshot_") and snapshot.name.endswith("_bottle.jpg")
