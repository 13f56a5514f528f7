"""camapp under systemd: sd_notify over a real NOTIFY_SOCKET, the watchdog, SIGTERM, journald logs.

The end-to-end tests run `camapp run` as a process, exactly as the unit's ExecStart does, with
NOTIFY_SOCKET pointing at a datagram socket the test owns and WATCHDOG_USEC set, and read what
camapp tells "systemd".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from camapp.logs import setup_logging
from camapp.outputs.base import Delivery
from camapp.outputs.threaded import BackgroundWorker
from camapp.service import Notifier, WatchdogSink
from camapp.stats import PipelineStats
from tests.service_process import CamappProcess, NotifySocket, json_lines, wait_until
from tests.sources.mjpeg_server import MjpegServer, encode_jpegs, read_video_frames

CLASSIFIER = "mobilenet_v1_0.25_128_quant.tflite"  # the fastest model: these tests are about the service


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path)
    yield sock
    sock.close()


def service_env(notify: NotifySocket, **extra: str) -> dict[str, str]:
    return {"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000", "CAMAPP_SERVICE_STATS_INTERVAL": "1", **extra}


# -- the protocol, in process ------------------------------------------------------------------


def test_the_notifier_speaks_sd_notify_to_an_abstract_socket() -> None:
    sock = NotifySocket(abstract=True)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": sock.address})
        assert notifier.enabled
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert notifier.ready("running x") and notifier.watchdog() and notifier.status("all good")
        assert notifier.reloading() and notifier.stopping()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        wait_until(lambda: len(sock.messages()) == 5, what="five datagrams")
        ready, ping, status, reloading, stopping = sock.messages()
        assert ready.split("\n") == ["READY=1", "STATUS=running x", f"MAINPID={os.getpid()}"]
        assert ping == "WATCHDOG=1" and status == "STATUS=all good"
        assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert before <= int(reloading.split("MONOTONIC_USEC=")[1]) <= after
        assert stopping.split("\n")[0] == "STOPPING=1"
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and not notifier.ready("x") and not notifier.watchdog()
    assert notifier.watchdog_interval is None


def test_the_watchdog_interval_is_only_for_the_process_systemd_named() -> None:
    assert Notifier({"WATCHDOG_USEC": "30000000"}).watchdog_interval == 30.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 30.0
    assert Notifier({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "garbage"}).watchdog_interval is None


def test_a_vanished_notify_socket_is_reported_once_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sock = NotifySocket(tmp_path)
    notifier = Notifier({"NOTIFY_SOCKET": sock.address})
    sock.close()
    os.unlink(sock.address)
    with caplog.at_level(logging.WARNING):
        assert not notifier.watchdog() and not notifier.watchdog()
    assert len([r for r in caplog.records if "cannot notify systemd" in r.getMessage()]) == 1


def test_the_watchdog_sink_pings_at_half_the_interval_as_frames_pass(notify: NotifySocket, bottle_frame: object) -> None:
    sink = WatchdogSink(Notifier({"NOTIFY_SOCKET": notify.address}), interval=0.2)
    sink.write(Delivery(bottle_frame, None, True))  # type: ignore[arg-type]
    sink.write(Delivery(bottle_frame, None, True))  # type: ignore[arg-type]  # too soon for a second ping
    time.sleep(0.15)
    sink.write(Delivery(bottle_frame, None, True))  # type: ignore[arg-type]
    wait_until(lambda: notify.count("WATCHDOG=1") == 2, what="two pings")
    assert sink.pings == 2


@pytest.mark.slow
def test_the_watchdog_sink_holds_back_pings_while_a_background_output_is_stuck(
    notify: NotifySocket, bottle_frame: object, caplog: pytest.LogCaptureFixture
) -> None:
    # Frames still pass through the output thread while the snapshot thread is stuck in a write to
    # a frozen SD card: only the stuck check keeps systemd's watchdog from being fed.
    release = threading.Event()

    def save(_item: int) -> None:
        release.wait(30)

    worker: BackgroundWorker[int] = BackgroundWorker("snapshots", save).start()
    stats = PipelineStats()
    stats.watch(worker, stuck_after=0.3)
    sink = WatchdogSink(Notifier({"NOTIFY_SOCKET": notify.address}), interval=0.1, stats=stats)

    def frames_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sink.write(Delivery(bottle_frame, None, True))  # type: ignore[arg-type]
            time.sleep(0.01)

    try:
        frames_for(0.2)
        assert sink.pings >= 2, "an idle worker is fine"
        with caplog.at_level(logging.INFO, logger="camapp.service"):
            worker.submit(1)
            frames_for(0.25)  # busy, but not for long yet
            busy = sink.pings
            assert busy >= 2
            frames_for(0.6)
            stuck_at = sink.pings
            assert stuck_at <= busy + 1  # the last ping went out before 0.3 s
            frames_for(0.5)
            assert sink.pings == stuck_at, "no ping while the worker is stuck"
            release.set()
            assert worker.join(5)
            frames_for(0.2)
        assert sink.pings > stuck_at
        wait_until(lambda: notify.count("WATCHDOG=1") == sink.pings, what="every ping counted")
        messages = [r.getMessage() for r in caplog.records]
        assert any(m.startswith("output snapshots has been busy with one item for ") for m in messages)
        assert "outputs are moving again: watchdog pings resume" in messages
    finally:
        release.set()
        worker.close()


@pytest.fixture
def bottle_frame(videos_dir: Path) -> object:
    from camapp.frames import Frame

    return Frame(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 1)[0], 0, time.monotonic_ns(), "test")


# -- camapp run as a service ------------------------------------------------------------------


@pytest.mark.slow
def test_run_is_ready_pings_while_frames_flow_and_stops_cleanly_on_sigterm(
    notify: NotifySocket, tmp_path: Path, videos_dir: Path, models_dir: Path
) -> None:
    results = tmp_path / "results.jsonl"
    proc = CamappProcess(
        [
            "run",
            "--source",
            str(videos_dir / "bottle-detection.mp4"),
            "--loop",
            "--realtime",
            "--model",
            str(models_dir / CLASSIFIER),
            "-o",
            str(results),
        ],
        tmp_path,
        service_env(notify),
    )
    try:
        wait_until(lambda: notify.count("READY=1") == 1, what="READY=1", proc=proc)
        ready = next(m for m in notify.messages() if "READY=1" in m)
        assert "STATUS=running" in ready and CLASSIFIER in ready
        wait_until(lambda: notify.count("WATCHDOG=1") >= 4, what="watchdog pings", proc=proc)
        wait_until(lambda: any(f.startswith("STATUS=") and "fps inferred" in f for f in notify.fields()), what="a stats STATUS", proc=proc)
        assert len(json_lines(results)) > 0, "pings come with processed frames"
        code, _seconds = proc.stop(timeout=5)  # the unit's promise: SIGTERM ends camapp within 5 s
    finally:
        proc.kill()
    assert code == 0, proc.log()
    assert notify.fields()[-2:] == ["STOPPING=1", "STATUS=stopping"]
    log = proc.log()
    assert "stats: " in log and "skipped" in log, "the periodic one-line summary"
    assert "Traceback" not in log


@pytest.mark.slow
def test_watchdog_pings_stop_while_the_stream_stalls_and_resume_after(
    notify: NotifySocket, tmp_path: Path, videos_dir: Path, models_dir: Path
) -> None:
    jpegs = encode_jpegs(read_video_frames(str(videos_dir / "bottle-detection.mp4"), 24))
    with MjpegServer(jpegs, fps=25, repeat=True) as server:
        proc = CamappProcess(
            ["run", "--source", server.url, "--model", str(models_dir / CLASSIFIER)],
            tmp_path,
            service_env(notify, CAMAPP_SERVICE_STALL_TIMEOUT="1", CAMAPP_SERVICE_RECONNECT_MAX="1"),
        )
        try:
            wait_until(lambda: notify.count("WATCHDOG=1") >= 3, what="pings while the stream flows", proc=proc)
            server.pause()
            time.sleep(1.0)  # frames already decoded drain through the pipeline
            stalled = time.monotonic()
            time.sleep(3.0)  # three watchdog periods (WATCHDOG_USEC=1 s): no ping may come
            assert notify.count("WATCHDOG=1", since=stalled) == 0, notify.messages(stalled)
            assert any("reconnecting" in f for f in notify.fields(since=stalled - 1.0)), "STATUS says why"
            assert proc.poll() is None, "a stalled source is not a crash"
            server.resume()
            resumed = time.monotonic()
            wait_until(lambda: notify.count("WATCHDOG=1", since=resumed) >= 2, what="pings after the stall", proc=proc)
            code, _ = proc.stop(timeout=5)
        finally:
            proc.kill()
    assert code == 0, proc.log()
    assert "STOPPING=1" in notify.fields()
    assert proc.log().count("stopped delivering frames") == 1, proc.log()


@pytest.mark.slow
def test_sigterm_leaves_a_recorded_video_that_plays(tmp_path: Path, videos_dir: Path, models_dir: Path) -> None:
    video, results = tmp_path / "recorded.mp4", tmp_path / "results.jsonl"
    proc = CamappProcess(
        [
            "run",
            "--source",
            str(videos_dir / "bottle-detection.mp4"),
            "--loop",
            "--realtime",
            "--model",
            str(models_dir / CLASSIFIER),
            "--save",
            str(video),
            "-o",
            str(results),
        ],
        tmp_path,
    )
    try:
        wait_until(lambda: len(json_lines(results)) >= 45, what="some recorded frames", proc=proc)
        code, _ = proc.stop(timeout=5)
    finally:
        proc.kill()
    assert code == 0, proc.log()
    cap = cv2.VideoCapture(str(video))
    try:
        assert cap.isOpened(), "the mp4 has its index: the writer was released on SIGTERM"
        decoded = 0
        while cap.read()[0]:
            decoded += 1
    finally:
        cap.release()
    assert decoded >= 45 and decoded >= len(json_lines(results)) - 2


# -- logs -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_under_systemd_logs_carry_syslog_priorities_and_no_timestamps(tmp_path: Path, videos_dir: Path, models_dir: Path) -> None:
    env = {"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}
    proc = CamappProcess(
        ["run", "--source", str(videos_dir / "asl_gestures_book.mkv"), "--model", str(models_dir / CLASSIFIER)], tmp_path, env
    )
    assert proc.proc.wait(timeout=120) == 0
    ours = [ln for ln in proc.log().splitlines() if ln.startswith("<")]
    assert any(ln.startswith("<6>INFO camapp") and "running" in ln for ln in ours), proc.log()
    assert not any(ln[3:7].isdigit() for ln in ours), "journald adds the time itself"
    bad = CamappProcess(["run", "--source", str(tmp_path / "missing.mp4"), "--model", str(models_dir / CLASSIFIER)], tmp_path, env)
    assert bad.proc.wait(timeout=60) == 2
    assert any(ln.startswith("<3>camapp: error: source") for ln in bad.log().splitlines()), bad.log()


def test_log_levels_per_module_from_the_config() -> None:
    try:
        setup_logging("warning", False, {"camapp.sources": "debug", "camapp.outputs": "error"})
        assert logging.getLogger("camapp.sources.reconnect").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("camapp.inference").isEnabledFor(logging.INFO)
        assert not logging.getLogger("camapp.outputs.guard").isEnabledFor(logging.WARNING)
        setup_logging("info", False, {})  # a reload without them puts everything back to the root level
        assert not logging.getLogger("camapp.sources.reconnect").isEnabledFor(logging.DEBUG)
        assert logging.getLogger("camapp.outputs.guard").isEnabledFor(logging.INFO)
    finally:
        setup_logging("info", False, {})
