"""Snapshots when a chosen label appears, clips around the event, and retention of the folder."""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.analytics.events import DebounceOptions, Event
from camapp.analytics.stage import Analytics
from camapp.config import SnapshotsConfig
from camapp.errors import OutputError
from camapp.frames import Frame
from camapp.outputs.base import Delivery
from camapp.outputs.snapshots import RetentionPolicy, SnapshotSink, StoredFile, plan_retention
from camapp.results import Results
from tests.outputs.conftest import wait_until

# -- retention, as a pure decision ---------------------------------------------------------------

NOW = 1_700_000_000.0


def files(*specs: tuple[str, int, float]) -> list[StoredFile]:
    return [StoredFile(name, size, NOW - age) for name, size, age in specs]


def test_retention_by_count_deletes_the_oldest_first() -> None:
    stored = files(("a", 10, 50), ("b", 10, 40), ("c", 10, 30), ("d", 10, 20), ("e", 10, 10))
    assert plan_retention(stored, RetentionPolicy(max_files=2), NOW) == ["a", "b", "c"]


def test_retention_by_age_deletes_everything_older() -> None:
    stored = files(("old", 1, 7200), ("older", 1, 9000), ("new", 1, 60))
    assert plan_retention(stored, RetentionPolicy(max_age_s=3600), NOW) == ["older", "old"]


def test_retention_by_size_keeps_the_newest_files_that_fit() -> None:
    stored = files(("a", 400, 40), ("b", 300, 30), ("c", 300, 20), ("d", 300, 10))
    assert plan_retention(stored, RetentionPolicy(max_bytes=700), NOW) == ["a", "b"]


def test_the_newest_file_is_kept_even_when_it_alone_is_over_the_size_limit() -> None:
    stored = files(("big_clip", 5000, 1), ("small", 10, 100))
    assert plan_retention(stored, RetentionPolicy(max_bytes=1000), NOW) == ["small"]


def test_limits_combine_and_no_limits_keeps_everything() -> None:
    stored = files(("a", 10, 5000), ("b", 10, 30), ("c", 10, 20), ("d", 10, 10))
    assert plan_retention(stored, RetentionPolicy(max_files=3, max_age_s=3600, max_bytes=25), NOW) == ["a", "b"]
    assert plan_retention(stored, RetentionPolicy(), NOW) == []


# -- on the real people video ------------------------------------------------------------------------

VISITS_FRAMES = 260  # a person walks in (~frame 64), leaves (~198) and another comes (~231)


@pytest.fixture(scope="module")
def people_frames(people_video: str, people_detections: tuple[Results, ...]) -> list[tuple[Frame, Results]]:
    """Frames of the people video on the video's own clock, with the real detector's results
    (computed once for every file that replays these frames, tests/conftest.py)."""
    assert len(people_detections) >= VISITS_FRAMES
    cap = cv2.VideoCapture(people_video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = []
    try:
        for i, results in enumerate(people_detections[:VISITS_FRAMES]):
            ok, image = cap.read()
            assert ok
            frame = Frame(image, i, int(i / fps * 1e9), "people")
            assert (results.frame_index, results.timestamp_ns) == (frame.index, frame.timestamp_ns)
            out.append((frame, results))
    finally:
        cap.release()
    return out


def make_sink(folder: Path, **cfg: object) -> SnapshotSink:
    sink = SnapshotSink(SnapshotsConfig(dir=str(folder), **cfg))  # type: ignore[arg-type]
    sink.start()
    return sink


def feed(sink: SnapshotSink, frames: list[tuple[Frame, Results]]) -> list[Event]:
    """What the pipeline does per frame: the analytics stage finds events, the sink gets them with the frame."""
    analytics, found = Analytics.for_events(DebounceOptions(3)), []
    for frame, results in frames:
        events = analytics.update(results, time.time())
        found.extend(events)
        sink.write(Delivery(frame, results, True, events))
    return found


@pytest.mark.slow
def test_a_snapshot_is_saved_each_time_the_chosen_label_appears(tmp_path: Path, people_frames: list[tuple[Frame, Results]]) -> None:
    sink = make_sink(tmp_path, labels=["person"])
    events = feed(sink, people_frames)
    sink.close()
    appeared = [e for e in events if e.type == "appeared" and e.label == "person"]
    shots = sink.saved  # in the order they were written
    assert len(appeared) == 2 and sorted(shots) == sorted(p.name for p in tmp_path.iterdir())
    assert all(re.fullmatch(r"snapshot_\d{8}-\d{6}-\d{3}_person(-\d+)?\.jpg", n) for n in shots), shots
    other = [e for e in events if e.type == "appeared" and e.label != "person"]
    assert other, "the video has other labels too (a tv), which must not trigger snapshots"
    for name, event in zip(shots, appeared, strict=True):
        image = cv2.imread(str(tmp_path / name))
        raw = people_frames[event.frame_index][0].image
        assert image.shape == raw.shape
        diff = np.abs(image.astype(int) - raw.astype(int)).mean()
        assert 0.5 < diff < 20  # the same picture, with the boxes drawn on it


def test_clips_hold_the_seconds_before_and_after_the_event(tmp_path: Path, people_frames: list[tuple[Frame, Results]]) -> None:
    sink = make_sink(tmp_path, labels=["person"], clip_before=2, clip_after=3, clip_fps=5)
    feed(sink, people_frames)
    sink.close()
    clips = sorted(tmp_path.glob("clip_*_person.mp4"))
    assert len(clips) == 2
    cap = cv2.VideoCapture(str(clips[0]))
    frames = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames += 1
        assert image.shape == (432, 768, 3)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5, abs=0.1)
    cap.release()
    assert 5 * (2 + 3) - 1 <= frames <= 5 * (2 + 3) + 2  # 2 s before + 3 s after, at 5 frames per second


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[Path]:
    """A snapshot folder that an earlier run filled, plus files that are not camapp's."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(10):
        path = folder / f"snapshot_2024010{i}-120000-000_person.jpg"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - 3600 * (10 - i),) * 2)  # one per hour, the oldest 10 h ago
    (folder / "notes.txt").write_text("mine")
    (folder / "holiday.jpg").write_bytes(b"y")
    yield folder


def test_retention_applies_to_what_earlier_runs_left_and_spares_other_files(crowded: Path) -> None:
    sink = make_sink(crowded, max_files=4)
    sink.close()
    left = sorted(p.name for p in crowded.iterdir())
    assert left == ["holiday.jpg", "notes.txt", *[f"snapshot_2024010{i}-120000-000_person.jpg" for i in range(6, 10)]]
    assert sink.deleted == 6


def test_retention_by_age_and_size_in_a_real_folder(crowded: Path) -> None:
    make_sink(crowded, max_files=None, max_age_hours=4.5, max_mb=None).close()
    assert len(list(crowded.glob("snapshot_*"))) == 4  # 1..4 hours old
    make_sink(crowded, max_files=None, max_mb=0.0025).close()
    assert len(list(crowded.glob("snapshot_*"))) == 2


def test_a_folder_that_cannot_be_created_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="snapshot folder"):
        make_sink(blocker / "shots")


def test_a_folder_that_disappears_mid_run_is_logged_once_and_never_raises(
    tmp_path: Path, people_frames: list[tuple[Frame, Results]], caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "shots"
    sink = make_sink(folder, labels=["person"])
    wait_until(lambda: sink.worker.pending == 0, 5, "the start-up retention pass")
    shutil.rmtree(folder)
    folder.write_text("now a file")  # every later write fails
    with caplog.at_level(logging.ERROR, logger="camapp.outputs.threaded"):
        feed(sink, people_frames)
        sink.close()
    assert sink.worker.counters.errors == 2 and sink.written == 0
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1

