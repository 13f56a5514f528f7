"""Zones and lines over tracks: entering and leaving with dwell time, loitering, shelf slots that
are empty or occupied, and line crossings with their direction."""

from __future__ import annotations

from camapp.analytics.events import DebounceOptions
from camapp.analytics.tracking import Track
from camapp.analytics.zones import LineCounter, LineSpec, ZoneCounter, ZoneSpec, anchor_point, point_in_polygon
from camapp.results import Box

SQUARE = ((0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75))
S = 1_000_000_000


def track(tid: int, cx: float, cy: float, label: str = "person", t_ns: int = 0, seen: bool = True) -> Track:
    """A confirmed track whose box has its centre at (cx, cy)."""
    t = Track(tid, Box(cx - 0.05, cy - 0.05, cx + 0.05, cy + 0.05), 0, t_ns, {label: 1.0}, id=tid)
    t.seen_now = seen
    return t


def test_point_in_polygon_and_the_anchor_of_a_box() -> None:
    assert point_in_polygon((0.5, 0.5), SQUARE)
    assert not point_in_polygon((0.8, 0.5), SQUARE)
    concave = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 0.5), (0.0, 1.0))  # a notch cut from the bottom
    assert point_in_polygon((0.5, 0.2), concave) and not point_in_polygon((0.5, 0.8), concave)
    box = Box(0.2, 0.1, 0.4, 0.9)
    assert anchor_point(box, "bottom_center") == (0.30000000000000004, 0.9)
    assert anchor_point(box, "center") == (0.30000000000000004, 0.5)


def walk(counter: ZoneCounter, xs: list[float], step_ns: int = S // 10) -> list[tuple[str, int, int, float | None]]:
    found = []
    for n, x in enumerate(xs):
        for f in counter.update([track(1, x, 0.5, t_ns=n * step_ns)], [], n * step_ns):
            found.append((f.kind, f.occupancy, f.previous, None if f.dwell_s is None else round(f.dwell_s, 2)))
    return found


def test_a_track_that_walks_through_a_zone_enters_once_and_leaves_with_its_dwell_time() -> None:
    zone = ZoneCounter(ZoneSpec("door", SQUARE, anchor="center", debounce=DebounceOptions(3)))
    # 0.1 s per frame: outside, 20 frames (2.0 s) inside, outside again.
    found = walk(zone, [0.1] * 5 + [0.5] * 20 + [0.9] * 5)
    assert found == [("zone_entered", 1, 0, None), ("zone_left", 0, 1, 2.0)]
    assert zone.visits == 1 and zone.occupancy == 0


def test_jitter_on_the_edge_shorter_than_the_debounce_is_neither_an_entry_nor_an_exit() -> None:
    zone = ZoneCounter(ZoneSpec("door", SQUARE, anchor="center", debounce=DebounceOptions(3)))
    assert walk(zone, [0.74, 0.76, 0.74, 0.76, 0.74, 0.76]) == []
    assert zone.visits == 0


def test_labels_filter_which_tracks_a_zone_counts_and_no_filter_counts_any() -> None:
    people = ZoneCounter(ZoneSpec("a", SQUARE, frozenset({"person"}), "center", DebounceOptions(1)))
    anything = ZoneCounter(ZoneSpec("b", SQUARE, frozenset(), "center", DebounceOptions(1)))
    tracks = [track(1, 0.5, 0.5, "cell phone"), track(2, 0.4, 0.4, "person")]
    assert [f.track.id for f in people.update(tracks, [], 0) if f.track] == [2]
    assert [f.track.id for f in anything.update(tracks, [], 0) if f.track] == [1, 2]
    assert anything.occupancy == 2


def test_a_track_that_expires_inside_leaves_the_zone_at_its_last_sighting() -> None:
    zone = ZoneCounter(ZoneSpec("table", SQUARE, anchor="center", debounce=DebounceOptions(1)))
    t = track(7, 0.5, 0.5, t_ns=0)
    zone.update([t], [], 0)
    t.last_ns = 4 * S  # last seen at 4 s, lost, then expired at 5.5 s
    found = zone.update([], [t], 5 * S + S // 2)
    assert [(f.kind, f.occupancy, f.previous, f.dwell_s) for f in found] == [("zone_left", 0, 1, 4.0)]


def test_a_lost_track_keeps_its_place_in_the_zone_until_seen_again() -> None:
    zone = ZoneCounter(ZoneSpec("table", SQUARE, anchor="center", debounce=DebounceOptions(1)))
    zone.update([track(1, 0.5, 0.5)], [], 0)
    assert zone.update([track(1, 0.9, 0.9, seen=False)], [], S) == []  # its old box, not matched now
    assert zone.occupancy == 1


def test_loitering_is_reported_once_per_stay_after_loiter_seconds() -> None:
    zone = ZoneCounter(ZoneSpec("counter", SQUARE, anchor="center", debounce=DebounceOptions(1), loiter_s=1.0))
    found = walk(zone, [0.5] * 25)  # 2.5 s inside
    assert [k for k, *_ in found] == ["zone_entered", "loitering"]
    assert found[1][3] == 1.0


def test_a_presence_zone_reports_empty_and_occupied_and_counts_items_not_identities() -> None:
    slot = ZoneCounter(ZoneSpec("slot", SQUARE, frozenset({"bottle"}), "center", DebounceOptions(2), events="presence"))
    frames = [
        [track(1, 0.4, 0.5, "bottle"), track(2, 0.6, 0.5, "bottle")],
        [track(1, 0.4, 0.5, "bottle"), track(2, 0.6, 0.5, "bottle")],
        [track(1, 0.4, 0.5, "bottle")],
        [track(1, 0.4, 0.5, "bottle")],
        [],
        [],
        [track(3, 0.5, 0.5, "bottle")],
        [track(3, 0.5, 0.5, "bottle")],
    ]
    found = [(n, f.kind, f.occupancy, f.track) for n, tracks in enumerate(frames) for f in slot.update(tracks, [], n * S)]
    assert found == [(1, "zone_occupied", 2, None), (5, "zone_empty", 0, None), (7, "zone_occupied", 1, None)]
    assert slot.visits == 2 and slot.occupancy == 1


def cross(line: LineCounter, path: list[tuple[float, float]], tid: int = 1) -> list[str]:
    out = []
    for n, (x, y) in enumerate(path):
        out += [d for _, d in line.update([track(tid, x, y)], [], n * S // 10)]
    return out


def test_a_line_counts_out_to_the_right_of_start_to_end_and_in_to_the_left() -> None:
    up = LineSpec("exit", (0.8, 1.0), (0.8, 0.0), anchor="center")  # drawn bottom to top
    line = LineCounter(up, DebounceOptions(1))
    assert cross(line, [(0.6, 0.5), (0.7, 0.5), (0.85, 0.5), (0.9, 0.5)], tid=1) == ["out"]
    assert cross(line, [(0.9, 0.5), (0.7, 0.5)], tid=2) == ["in"]
    assert line.crossed == {"in": 1, "out": 1}
    # A door across the bottom drawn left to right: walking up the picture (into the room) is in.
    door = LineCounter(LineSpec("door", (0.0, 0.9), (1.0, 0.9), anchor="center"), DebounceOptions(1))
    assert cross(door, [(0.5, 0.98), (0.5, 0.8)]) == ["in"]


def test_walking_round_the_end_of_a_short_line_is_not_a_crossing() -> None:
    line = LineCounter(LineSpec("gate", (0.5, 0.4), (0.5, 0.6), anchor="center"), DebounceOptions(1))
    assert cross(line, [(0.3, 0.2), (0.7, 0.2)]) == []
    # Drawn top to bottom: seen from its start, the picture's right is on the left, so this is "in".
    assert cross(line, [(0.3, 0.5), (0.7, 0.5)], tid=2) == ["in"]


def test_standing_on_a_line_and_swaying_counts_nothing() -> None:
    line = LineCounter(LineSpec("exit", (0.8, 1.0), (0.8, 0.0), anchor="center", margin=0.02), DebounceOptions(2))
    assert cross(line, [(0.79, 0.5), (0.81, 0.5), (0.795, 0.5), (0.81, 0.5), (0.79, 0.5)]) == []
    assert line.crossed == {"in": 0, "out": 0}


def test_a_track_lost_on_one_side_and_found_on_the_other_still_counts() -> None:
    line = LineCounter(LineSpec("exit", (0.8, 1.0), (0.8, 0.0), anchor="center"), DebounceOptions(1))
    line.update([track(1, 0.6, 0.5)], [], 0)
    line.update([track(1, 0.6, 0.5, seen=False)], [], S // 10)  # lost for a while: its side is kept
    assert [d for _, d in line.update([track(1, 0.9, 0.5)], [], S)] == ["out"]
