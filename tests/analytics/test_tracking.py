"""The tracker: duplicate boxes merged, one stable id per object, weak detections continue tracks
but never start them, lost tracks picked up again or expired after max_age."""

from __future__ import annotations

from camapp.analytics.tracking import Observation, Tracker, TrackerOptions, merge_duplicates
from camapp.results import Box

FPS = 10
STEP_NS = 1_000_000_000 // FPS


def obs(i: int, label: str, score: float, x0: float, y0: float, x1: float, y1: float) -> Observation:
    return Observation(i, label, score, Box(x0, y0, x1, y1))


def run(tracker: Tracker, frames: list[list[Observation]], start: int = 0) -> list[dict[int, int | None]]:
    """Per frame: detection index -> the id of its track (None while the track is not confirmed)."""
    out = []
    for n, frame in enumerate(frames, start):
        update = tracker.update(frame, n * STEP_NS)
        out.append({i: t.id for i, t in update.assigned.items()})
    return out


def test_a_partial_box_inside_a_full_one_and_a_second_label_on_the_same_object_are_merged() -> None:
    full = obs(0, "person", 0.8, 0.4, 0.1, 0.6, 0.9)
    legs = obs(1, "person", 0.5, 0.42, 0.5, 0.58, 0.9)  # wholly inside the full box, IoU only 0.4
    other_label = obs(2, "skateboard", 0.45, 0.41, 0.12, 0.6, 0.88)  # same object, another label
    elsewhere = obs(3, "person", 0.6, 0.0, 0.1, 0.2, 0.9)
    kept = merge_duplicates([legs, full, other_label, elsewhere], merge_iou=0.5, merge_inside=0.8)
    assert [o.index for o in kept] == [0, 3]


def test_an_object_keeps_one_id_while_it_moves_and_gets_it_once_seen_for_min_hits_frames() -> None:
    tracker = Tracker(TrackerOptions(min_hits=3))
    frames = [[obs(0, "person", 0.7, 0.1 + 0.03 * n, 0.2, 0.3 + 0.03 * n, 0.9)] for n in range(10)]
    ids = [f.get(0) for f in run(tracker, frames)]
    assert ids[:2] == [None, None]
    assert ids[2:] == [1] * 8


def test_two_objects_get_two_ids_and_keep_them_when_listed_in_another_order() -> None:
    tracker = Tracker(TrackerOptions(min_hits=1))
    a = (0.1, 0.2, 0.3, 0.9)
    b = (0.6, 0.2, 0.8, 0.9)
    frames = [[obs(0, "person", 0.9, *a), obs(1, "person", 0.6, *b)], [obs(0, "person", 0.6, *b), obs(1, "person", 0.9, *a)]]
    first, second = run(tracker, frames)
    assert first == {0: 1, 1: 2}
    assert second == {0: 2, 1: 1}


def test_weak_detections_continue_a_track_but_never_start_one() -> None:
    tracker = Tracker(TrackerOptions(high=0.5, low=0.3, min_hits=1))
    box = (0.1, 0.2, 0.3, 0.9)
    frames = [[obs(0, "bottle", 0.55, *box)]] + [[obs(0, "bottle", 0.35, *box)] for _ in range(20)]
    assert all(f == {0: 1} for f in run(tracker, frames))
    # A weak detection of something not tracked yet is no object.
    fresh = Tracker(TrackerOptions(high=0.5, low=0.3, min_hits=1))
    update = fresh.update([obs(0, "bottle", 0.35, *box)], 0)
    assert update.assigned == {} and update.kept == set() and fresh.tracks == []


def test_a_track_lost_for_less_than_max_age_is_picked_up_with_its_id() -> None:
    tracker = Tracker(TrackerOptions(min_hits=1, max_age_s=1.5))
    box = (0.4, 0.1, 0.6, 0.9)
    frames = [[obs(0, "person", 0.8, *box)]] * 5 + [[]] * 10 + [[obs(0, "person", 0.8, *box)]]  # 1.0 s gone
    ids = run(tracker, frames)
    assert ids[-1] == {0: 1}


def test_a_track_lost_for_longer_than_max_age_expires_and_the_next_object_is_a_new_id() -> None:
    tracker = Tracker(TrackerOptions(min_hits=1, max_age_s=1.5))
    box = (0.4, 0.1, 0.6, 0.9)
    ended = []
    for n in range(40):  # seen for 0.5 s, gone for 3 s, then someone at the same place
        frame = [obs(0, "person", 0.8, *box)] if n < 5 or n >= 35 else []
        update = tracker.update(frame, n * STEP_NS)
        ended.extend(t.id for t in update.ended)
    assert ended == [1]
    assert tracker.alive()[0].id == 2


def test_a_tentative_track_that_misses_a_frame_is_dropped_and_gives_no_id() -> None:
    tracker = Tracker(TrackerOptions(min_hits=3))
    box = (0.4, 0.1, 0.6, 0.9)
    run(tracker, [[obs(0, "cup", 0.9, *box)], [obs(0, "cup", 0.9, *box)], [], [obs(0, "cup", 0.9, *box)]])
    assert tracker.alive() == []


def test_the_track_label_is_the_label_with_the_most_score_so_one_odd_frame_does_not_rename_it() -> None:
    tracker = Tracker(TrackerOptions(min_hits=1))
    box = (0.4, 0.1, 0.6, 0.9)
    labels = ["person", "person", "scissors", "person"]
    run(tracker, [[obs(0, label, 0.7, *box)] for label in labels])
    assert tracker.alive()[0].label == "person"


def test_a_fast_object_is_followed_by_its_velocity_where_its_boxes_no_longer_overlap_enough() -> None:
    tracker = Tracker(TrackerOptions(min_hits=1, match_iou=0.3))
    # A 0.12 wide box speeding up from 0.06 to 0.1 of the frame per frame: from the third frame on,
    # consecutive boxes overlap by IoU 0.09 only, far below match_iou, but the predicted one does not.
    xs = [0.05, 0.11, 0.19, 0.29, 0.39, 0.49, 0.59, 0.69]
    frames = [[obs(0, "car", 0.9, x, 0.4, x + 0.12, 0.6)] for x in xs]
    assert Box(0.19, 0.4, 0.31, 0.6).iou(Box(0.29, 0.4, 0.41, 0.6)) < 0.1
    assert [f.get(0) for f in run(tracker, frames)] == [1] * 8


def test_trail_keeps_the_last_positions() -> None:
    tracker = Tracker(TrackerOptions(min_hits=1, trail=3))
    run(tracker, [[obs(0, "person", 0.9, 0.1 * n, 0.0, 0.1 * n + 0.2, 0.2)] for n in range(6)])
    assert [round(x, 2) for x, _ in tracker.alive()[0].trail] == [0.4, 0.5, 0.6]
