"""ReconnectingSource: a live source that drops, stalls or sends garbage is noticed, reopened and counted.

Faults are injected into a real MJPEG server on 127.0.0.1 read by the real OpenCV/FFmpeg stack:
the server is killed and restarted, paused with its connections open, and made to send broken
JPEGs. Nothing here is faked.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from camapp.errors import SourceError
from camapp.frames import Frame
from camapp.sources import SourceOptions, open_source
from camapp.sources.reconnect import ReconnectingSource, ReconnectOptions, backoff_delays, frame_problem
from camapp.sources.status import SourceStatus
from tests.sources.mjpeg_server import MjpegServer, closed_port

FAST = ReconnectOptions(stall_timeout=1.0, backoff_min=0.1, backoff_max=0.5)


def reconnecting(url: str, options: ReconnectOptions = FAST, **kw: object) -> ReconnectingSource:
    return ReconnectingSource(lambda: open_source(url, SourceOptions()), options, **kw)  # type: ignore[arg-type]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Reader:
    """Reads the source on a thread (as the pipeline's capture thread does), keeping every frame."""

    def __init__(self, source: ReconnectingSource) -> None:
        self.source = source
        self.frames: list[Frame] = []
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while (frame := self.source.read()) is not None:
                self.frames.append(frame)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test through check()
            self.error = exc
        finally:
            self.ended.set()

    def count(self) -> int:
        return len(self.frames)

    def check(self) -> None:
        if self.error is not None:
            raise self.error


@pytest.fixture
def live_server(bottle_jpegs: list[bytes]) -> Iterator[MjpegServer]:
    """A camera-like stream: the bottle frames over and over at 25 fps."""
    with MjpegServer(bottle_jpegs, fps=25, repeat=True) as server:
        yield server


# -- pure parts ------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_minimum_and_stays_at_the_maximum() -> None:
    assert list(itertools.islice(backoff_delays(0.5, 30), 9)) == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert list(itertools.islice(backoff_delays(5, 5), 3)) == [5, 5, 5]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        (np.zeros((0, 640, 3), np.uint8), "empty"),
        (np.zeros((360, 640), np.uint8), "not H x W x 3"),
        (np.zeros((360, 640, 4), np.uint8), "not H x W x 3"),
        (np.zeros((360, 640, 3), np.float32), "not H x W x 3"),
        (b"\xff\xd8 a JPEG that was never decoded", "not an array"),
    ],
    ids=["no-rows", "grey", "bgra", "float", "bytes"],
)
def test_frames_a_corrupt_buffer_would_produce_are_refused(image: object, problem: str) -> None:
    assert problem in (frame_problem(Frame(image, 0, 0, "cam")) or "")  # type: ignore[arg-type]


def test_a_good_frame_passes_the_check(bottle_frames: list[np.ndarray]) -> None:
    assert frame_problem(Frame(bottle_frames[0], 0, 0, "cam", lores=bottle_frames[0][::2, ::2].copy())) is None


# -- real stream faults --------------------------------------------------------------------------


def test_a_source_that_cannot_be_opened_at_start_is_still_a_source_error() -> None:
    # Reconnecting is for sources that worked: a wrong URL at start must say so at once.
    source = reconnecting(f"http://127.0.0.1:{closed_port()}/stream.mjpg")
    with pytest.raises(SourceError, match="cannot open stream"):
        source.open()


@pytest.mark.slow
def test_a_server_killed_and_restarted_mid_run_is_reconnected_and_frames_resume(
    live_server: MjpegServer, caplog: pytest.LogCaptureFixture
) -> None:
    status = SourceStatus()
    seen: list[str] = []
    status.observe(lambda state: seen.append(state.state))  # what MQTT does: told on each change
    source = reconnecting(live_server.url, status=status)
    source.open()
    reader = Reader(source)
    try:
        wait_until(lambda: reader.count() >= 10, what="the first frames")
        with caplog.at_level(logging.INFO, logger="camapp.sources.reconnect"):
            live_server.stop()
            wait_until(lambda: source.state == "reconnecting", what="the loss to be noticed")
            assert status.current.state == "reconnecting" and status.current.lost_at is not None
            time.sleep(1.0)  # several failed tries while the server is away
            before = reader.count()
            live_server.start()
            wait_until(lambda: reader.count() >= before + 10, what="frames after the restart")
        reader.check()
        assert source.state == "ok" and status.current.state == "ok"
        assert source.reconnects == 1 and status.current.reconnects == 1 and seen == ["reconnecting", "ok"]
        assert source.tries >= 2, "the server was away for a second: more than one try"
        indices = [f.index for f in reader.frames]
        assert indices == list(range(len(indices))), "indices keep counting across the reconnect"
        lost = [r for r in caplog.records if "stopped delivering" in r.getMessage()]
        assert len(lost) == 1, "the loss is logged once, not once per try"
        assert any("is back" in r.getMessage() for r in caplog.records)
    finally:
        source.stop.set()
        source.close()
    reader.ended.wait(5)
    assert reader.ended.is_set()


@pytest.mark.slow
def test_a_stream_that_stalls_with_its_connection_open_is_reopened(live_server: MjpegServer) -> None:
    # A read that blocks is the hard case: the wrapper must notice by its own clock.
    source = reconnecting(live_server.url)
    source.open()
    reader = Reader(source)
    try:
        wait_until(lambda: reader.count() >= 5, what="the first frames")
        connections = live_server.connections
        live_server.pause()
        wait_until(lambda: source.state == "reconnecting", what="the stall to be noticed")
        wait_until(lambda: live_server.connections > connections, what="a new connection")
        live_server.resume()
        before = reader.count()
        wait_until(lambda: reader.count() >= before + 10 and source.state == "ok", what="frames after the stall")
        reader.check()
        assert source.reconnects >= 1
    finally:
        source.stop.set()
        source.close()


def test_stop_ends_a_read_that_waits_through_an_outage(live_server: MjpegServer) -> None:
    stop = threading.Event()
    source = reconnecting(live_server.url, ReconnectOptions(stall_timeout=1.0, backoff_min=5, backoff_max=5), stop=stop)
    source.open()
    reader = Reader(source)
    wait_until(lambda: reader.count() >= 3, what="the first frames")
    live_server.stop()
    wait_until(lambda: source.state == "reconnecting", what="the loss to be noticed")
    stop.set()  # while waiting 5 s before the next try
    assert reader.ended.wait(3), "read() must return once stop is set, not finish its backoff"
    reader.check()
    source.close()


def test_broken_jpegs_in_a_stream_are_skipped_without_a_reconnect(bottle_jpegs: list[bytes]) -> None:
    garbage = [bottle_jpegs[0][:3000], b"\xff\xd8" + bytes(range(256)) * 8, b"not a jpeg at all"]
    with MjpegServer(bottle_jpegs[:8] + garbage + bottle_jpegs[8:16], fps=50, repeat=True) as server:
        source = reconnecting(server.url)
        source.open()
        reader = Reader(source)
        try:
            wait_until(lambda: reader.count() >= 40, what="frames past several rounds of garbage")
            reader.check()
            assert source.reconnects == 0 and source.state == "ok"
        finally:
            source.stop.set()
            source.close()


def test_a_camera_back_in_another_resolution_delivers_frames_of_the_new_size(bottle_jpegs: list[bytes], asl_video: object) -> None:
    from tests.sources.mjpeg_server import encode_jpegs, read_video_frames

    asl = encode_jpegs(read_video_frames(str(asl_video), 12))  # 640x480, the bottle clip is 640x360
    server = MjpegServer(bottle_jpegs, fps=25, repeat=True).start()
    source = reconnecting(server.url)
    try:
        source.open()
        reader = Reader(source)
        wait_until(lambda: reader.count() >= 5, what="the first frames")
        server.stop()
        server.frames = asl
        server.start()
        wait_until(lambda: any(f.image.shape[0] == 480 for f in reader.frames), what="frames of the new size")
        reader.check()
        assert {f.image.shape[:2] for f in reader.frames} == {(360, 640), (480, 640)}
    finally:
        source.stop.set()
        source.close()
        server.stop()
