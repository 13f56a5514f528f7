"""The analytics stage with tracking: results carry track ids, duplicates and stray weak boxes are
dropped, appear / leave follow tracks, zone and line events have the fields listeners rely on,
the state is published for other threads, and the two kinds of reset keep or zero the totals."""

from __future__ import annotations

import numpy as np

from camapp.analytics.events import DebounceOptions, EventDetector
from camapp.analytics.scene import Scene
from camapp.analytics.stage import Analytics
from camapp.analytics.tracking import TrackerOptions
from camapp.analytics.zones import LineSpec, ZoneSpec
from camapp.inference.tasks.detect import Detection, DetectResults
from camapp.overlay import OverlayStyle, render
from camapp.results import Box

SQUARE = ((0.3, 0.0), (0.7, 0.0), (0.7, 1.0), (0.3, 1.0))


def stage(min_hits: int = 1) -> Analytics:
    scene = Scene(TrackerOptions(high=0.5, low=0.3, min_hits=min_hits, max_age_s=1.5),
                  [ZoneSpec("table", SQUARE, frozenset({"person"}), "center", DebounceOptions(1))],
                  [LineSpec("exit", (0.8, 1.0), (0.8, 0.0), frozenset({"person"}), "center")])
    return Analytics(EventDetector(DebounceOptions(3)), scene=scene)


def frame(n: int, *dets: Detection) -> DetectResults:
    return DetectResults("test", n, n * 100_000_000, 640, 360, 1.0, list(dets))  # 10 fps


def person(x: float, score: float = 0.9, label: str = "person") -> Detection:
    return Detection(0, label, score, Box(x - 0.1, 0.1, x + 0.1, 0.9))


def test_detections_get_their_track_id_and_duplicates_and_stray_weak_boxes_are_dropped() -> None:
    a = stage()
    results = frame(0, person(0.5), Detection(0, "person", 0.6, Box(0.42, 0.5, 0.58, 0.9)), person(0.1, score=0.35))
    a.update(results, 0.0)
    # The partial box inside the full one is merged away; the weak box far off continues no track.
    assert [(d.track_id, d.score) for d in results.detections] == [(1, 0.9)]
    later = frame(1, person(0.52, score=0.4))  # weak, but continues track 1: kept, with its id
    a.update(later, 0.1)
    assert [d.track_id for d in later.detections] == [1]
    assert later.to_dict()["detections"][0]["track_id"] == 1


def test_a_flickering_detection_appears_once_and_does_not_leave_while_its_track_lives() -> None:
    a = stage()
    kinds = []
    for n in range(60):  # a "tv" whose score crosses the 0.5 threshold back and forth, gone for up to 1 s
        score = 0.55 if n % 20 < 5 else 0.35 if n % 20 < 10 else 0.0
        dets = [Detection(71, "tv", score, Box(0.0, 0.0, 0.14, 0.41))] if score else []
        kinds += [(e.type, e.label) for e in a.update(frame(n, *dets), float(n))]
    assert kinds == [("appeared", "tv")]


def test_zone_and_line_events_carry_zone_line_track_direction_and_dwell() -> None:
    a = stage()
    events = []
    for n, x in enumerate([0.1 + 0.05 * i for i in range(17)]):  # walk right from 0.1 to 0.9
        events += a.update(frame(n, person(x)), 1000.0 + n)
    scene_events = [e.to_dict() for e in events if e.type not in ("appeared", "left", "count")]
    assert [(e["event"], e.get("zone"), e.get("line"), e["track_id"]) for e in scene_events] == [
        ("zone_entered", "table", None, 1), ("zone_left", "table", None, 1), ("line_crossed", None, "exit", 1)]
    left, crossed = scene_events[1], scene_events[2]
    assert left["dwell_s"] == 0.8 and left["count"] == 0 and left["previous"] == 1
    assert crossed["direction"] == "out" and crossed["count"] == 1 and crossed["label"] == "person"
    state = a.state
    assert state.zones["table"].visits == 1 and state.lines["exit"].exited == 1
    assert [t.id for t in state.tracks] == [1]


def test_reset_zeroes_zone_and_line_totals_and_reset_tracks_keeps_them() -> None:
    a = stage()
    for n, x in enumerate([0.1 + 0.05 * i for i in range(17)]):
        a.update(frame(n, person(x)), float(n))
    a.reset_tracks()  # what a model change needs: other boxes, same totals
    assert a.state.zones["table"].visits == 1 and a.state.lines["exit"].exited == 1 and a.state.tracks == ()
    a.reset()  # ResetCounts from the web view or MQTT
    assert a.state.zones["table"].visits == 0 and a.state.lines["exit"].exited == 0


def test_totals_from_a_previous_run_are_restored_by_name() -> None:
    a = stage()
    assert a.scene is not None
    a.scene.restore({"zones": {"table": {"visits": 41}, "gone": {"visits": 3}}, "lines": {"exit": {"in": 2, "out": 40}}})
    a.update(frame(0), 0.0)
    assert a.state.zones["table"].visits == 41 and (a.state.lines["exit"].entered, a.state.lines["exit"].exited) == (2, 40)


def test_zones_lines_and_ids_are_drawn_on_the_overlay() -> None:
    a = stage()
    results = frame(0, person(0.5))
    a.update(results, 0.0)
    image = np.full((360, 640, 3), 128, np.uint8)
    plain = render(image, frame(0, person(0.5)), OverlayStyle())
    drawn = render(image, results, OverlayStyle())
    assert len(results.overlays) == 1
    # The zone's outline at x = 0.3 and the line at x = 0.8 appear only with the scene's overlay.
    assert (plain[200, 512] == 128).all() and not (drawn[200, 512] == 128).all()
    assert not (drawn[300, 192] == 128).all()


def test_time_going_back_starts_tracks_afresh_instead_of_keeping_them_forever() -> None:
    a = stage()
    a.update(frame(50, person(0.5)), 0.0)
    assert [t.id for t in a.state.tracks] == [1]
    a.update(frame(0), 0.0)  # frame 0 again: a track last seen "in the future" would never expire
    assert a.state.tracks == ()


def test_zones_and_lines_set_while_running_keep_their_totals_by_name_and_tracks_go_on() -> None:
    a = stage()
    for n, x in enumerate([0.1 + 0.05 * i for i in range(17)]):  # through the table zone, then out across the exit line
        a.update(frame(n, person(x)), float(n))
    assert (a.state.zones["table"].visits, a.state.lines["exit"].exited) == (1, 1)

    # The table redrawn (same name), a new zone, the line kept as it was.
    wider = ZoneSpec("table", ((0.2, 0.0), (0.75, 0.0), (0.75, 1.0), (0.2, 1.0)), frozenset({"person"}), "center", DebounceOptions(1))
    door = ZoneSpec("door", ((0.0, 0.0), (0.2, 0.0), (0.2, 1.0), (0.0, 1.0)), frozenset(), "center", DebounceOptions(1))
    assert a.scene is not None
    track = a.scene.tracker.alive()[0].id
    a.set_areas([wider, door], [LineSpec("exit", (0.8, 1.0), (0.8, 0.0), frozenset({"person"}), "center")], TrackerOptions())
    assert a.state.zones["table"].visits == 1 and a.state.zones["door"].visits == 0 and a.state.lines["exit"].exited == 1
    later = frame(17, person(0.9))
    a.update(later, 17.0)
    assert later.detections[0].track_id == track  # the tracker was not reset

    # A removed zone is forgotten; a line removed and added again under its name starts at 0.
    a.set_areas([door], [], TrackerOptions())
    assert set(a.state.zones) == {"door"} and a.state.lines == {}
    a.set_areas([door], [LineSpec("exit", (0.8, 1.0), (0.8, 0.0))], TrackerOptions())
    assert a.state.lines["exit"].exited == 0


def test_zones_set_on_a_run_without_tracking_start_it_and_the_detector_threshold_follows() -> None:
    a = Analytics(EventDetector(DebounceOptions(1)))
    assert a.scene is None and a.reading_threshold(0.6) == 0.6  # no tracking: the threshold shown is the one read
    a.set_areas([ZoneSpec("table", SQUARE, frozenset({"person"}), "center", DebounceOptions(1))], [],
                TrackerOptions(high=0.5, low=0.3, min_hits=1))
    assert a.scene is not None and a.state.zones["table"].visits == 0
    events = a.update(frame(0, person(0.5)), 0.0)
    assert [e.type for e in events if e.zone] == ["zone_entered"]
    # With tracking on, new tracks need the page's threshold and known ones go on down to the low one.
    assert a.reading_threshold(0.6) == 0.3 and a.scene.tracker.options.high == 0.6
    assert a.reading_threshold(0.2) == 0.2 and a.reading_threshold(0.7) == 0.3
