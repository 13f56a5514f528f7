"""The web server under abuse and failure: a connection limit, slow and idle clients, the Host check
(DNS rebinding), and /healthz while an output is stuck.

Everything is real: the camapp server on a free port, TCP sockets that connect and then do nothing
(or dribble a byte every two seconds), Host headers a rebinding page would send, a pipeline running
the real detector on the real bottle video, and a `camapp run` process whose results pipe nobody
reads any more, which is what a frozen disk looks like to the output thread.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camapp.config import load_config
from camapp.inference.model import Model
from camapp.outputs.base import Delivery, SinkBase
from camapp.outputs.threaded import BackgroundWorker
from camapp.outputs.web import CameraInfo, WebOptions, WebSink
from camapp.pipeline import PipelineOptions
from camapp.sources import SourceOptions
from camapp.stats import PipelineStats
from tests.outputs.conftest import DETECTOR, free_port, running, wait_until

LIVE = SourceOptions(realtime=True, loop=True)  # the bottle video as a 30 FPS camera that never ends
CAMERA = PipelineOptions(mode="live")  # ...run like one: inference goes on while outputs are stuck
TOKEN = "s3cret-t0ken"


def make_web(stats: PipelineStats | None = None, **options: Any) -> WebSink:
    web = WebSink(WebOptions(port=0, **options), CameraInfo("ssd_mobilenet_v1", "bottle.mp4"), stats or PipelineStats())
    web.start()
    return web


@pytest.fixture
def web() -> Iterator[WebSink]:
    sink = make_web()
    yield sink
    sink.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request; a "Host" in `headers` replaces the one http.client would send."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


def raw(port: int, request: bytes) -> bytes:
    """Send `request` as bytes and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    return reply


def http_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "camapp-http")


# -- the connection limit ----------------------------------------------------------------------------


def test_300_idle_connections_against_a_limit_of_64_get_64_threads_and_236_prompt_503s() -> None:
    web = make_web(max_connections=64)
    port = web.server.port
    socks: list[socket.socket] = []
    try:
        t0 = time.monotonic()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]  # ...and send nothing
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        refused: dict[socket.socket, bytes] = {}
        while len(refused) < 236 and time.monotonic() - t0 < 10:
            for key, _ in sel.select(0.5):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                refused[s] = s.recv(4096)
                sel.unregister(s)
        took = time.monotonic() - t0
        assert len(refused) == 236 and took < 3.0, (len(refused), took)  # about 0.03 s here
        for reply in refused.values():
            head, _, body = reply.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 Service Unavailable")
            assert b"Retry-After: 5" in head and b"Connection: close" in head
            assert body == b"the camera has too many open connections; try again in a few seconds\n"
        assert not sel.select(0.5), "the 64 admitted connections wait for a request: nothing is sent to them"
        assert web.server.connections.open == 64 and web.server.connections.peak == 64
        assert http_threads() == 64  # one thread per admitted connection, none for the refused ones
        metrics = web.registry.render()
        assert "camapp_http_connections 64\n" in metrics and 'camapp_http_rejected_total{reason="connections"} 236\n' in metrics
    finally:
        for s in socks:
            s.close()
    try:
        wait_until(lambda: web.server.connections.open == 0, 5, "the 64 handler threads to see their clients leave")
        code, page = get(port, "/")
        assert code == 200 and b'id="view"' in page
        wait_until(lambda: http_threads() == 0, 5, "the handler threads to end")
    finally:
        web.close()


def test_a_browser_keeps_working_beside_viewers_while_the_limit_holds(detector: Model, bottle_video: str) -> None:
    # Viewers count against max_connections like any client: the 4th connection is refused, and a
    # freed slot is usable at once.
    stats = PipelineStats()
    web = make_web(stats, max_connections=3)
    port = web.server.port
    with running(bottle_video, detector, [web], stats, LIVE):
        viewer = socket.create_connection(("127.0.0.1", port), timeout=10)
        viewer.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert viewer.recv(100).startswith(b"HTTP/1.1 200")
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10)]
        wait_until(lambda: web.server.connections.open == 2, 5, "two connections")
        assert get(port, "/api/status")[0] == 200  # the third slot
        wait_until(lambda: web.server.connections.open == 2, 5, "the third slot to be free again")
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        wait_until(lambda: web.server.connections.open == 3, 5, "three connections")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fourth:
            assert fourth.recv(100).startswith(b"HTTP/1.1 503")
        viewer.close()
        wait_until(lambda: web.server.connections.open == 2, 10, "the viewer's slot to be free")
        assert get(port, "/api/status")[0] == 200
        for s in idle:
            s.close()


# -- slow and idle clients ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_client_that_sends_a_byte_every_2_s_is_cut_off_at_the_request_timeout() -> None:
    # Each byte would reset a per-receive timeout: only a deadline for the whole request stops it.
    web = make_web(request_timeout_s=3.0)
    request = b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40
    try:
        with socket.create_connection(("127.0.0.1", web.server.port), timeout=10) as s:
            s.settimeout(2.0)
            t0 = time.monotonic()
            reply, sent = b"", 0
            while sent < len(request) and time.monotonic() - t0 < 15:
                try:
                    s.send(request[sent:sent + 1])
                    sent += 1
                    chunk = s.recv(4096)  # waits 2 s for an answer, then the next byte goes out
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                reply += chunk
                if not chunk:
                    break
            cut_off = time.monotonic() - t0
            assert 2.9 < cut_off < 5.0, cut_off  # the deadline (3 s) plus at most a poll of the server's loop
            assert sent <= 3, "the request never got far"
            assert reply.startswith(b"HTTP/1.1 408 Request Timeout") and b"within 3 s" in reply, reply
            assert get(web.server.port, "/healthz")[0] == 200  # other clients never noticed
        assert web.server.connections.rejected["slow"] == 1
        wait_until(lambda: web.server.connections.open == 0, 5, "its thread to end")
    finally:
        web.close()


@pytest.mark.slow
def test_a_kept_alive_connection_lives_while_used_and_is_closed_once_idle() -> None:
    web = make_web(idle_timeout_s=1.0)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", web.server.port, timeout=10)
        for _ in range(4):  # the page's polling, faster than the idle timeout: one connection throughout
            conn.request("GET", "/healthz")
            assert conn.getresponse().read()
            time.sleep(0.5)
        sock = conn.sock
        assert sock is not None and web.server.connections.peak == 1
        t0 = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, without a reply
        assert 0.4 < time.monotonic() - t0 < 2.0
        conn.close()
        with socket.create_connection(("127.0.0.1", web.server.port), timeout=10) as silent:
            t0 = time.monotonic()
            assert silent.recv(1) == b""  # a connection that never sends anything goes the same way
            assert 0.9 < time.monotonic() - t0 < 2.0
        assert web.server.connections.rejected["slow"] == 0  # idle is not slow
    finally:
        web.close()


# -- the Host check (DNS rebinding) ------------------------------------------------------------------

ROUTES = ["/", "/api/status", "/metrics", "/snapshot.jpg", "/stream.mjpg", "/healthz", "/no-such-page"]


@pytest.mark.parametrize("path", ROUTES)
def test_without_a_token_a_foreign_host_gets_421_on_every_route(web: WebSink, path: str) -> None:
    code, body = get(web.server.port, path, {"Host": "evil.example"})
    assert code == 421
    assert body == b"this camera does not answer to the name 'evil.example': add it to http.allowed_hosts or set http.token\n"


def test_with_the_token_set_the_token_protects_and_any_host_is_served() -> None:
    web = make_web(token=TOKEN)
    try:
        port = web.server.port
        assert get(port, "/api/status", {"Host": "evil.example", "Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(port, "/healthz", {"Host": "evil.example:8080"})[0] == 200
        assert get(port, "/api/status", {"Host": "evil.example"})[0] == 401
    finally:
        web.close()


def test_addresses_localhost_and_this_machines_own_names_are_served(web: WebSink) -> None:
    port = web.server.port
    me = socket.gethostname()
    hosts = [
        f"127.0.0.1:{port}", "127.0.0.1", "192.168.1.50:8080", "[::1]", f"[::1]:{port}", "[fe80::1]:80",
        "localhost", f"localhost:{port}", "LOCALHOST.", me, me.upper() + ":8080", f"{me}.local", f"{me}.local.:{port}",
        socket.getfqdn(),
    ]
    for host in hosts:
        assert get(port, "/healthz", {"Host": host})[0] == 200, host
    for host in ["evil.example", f"{me}.evil.example", "localhost.evil.example", "127.0.0.1.evil.example", "[::1", "::1",
                 "localhost:80:80", "localhost:http", "evil.example@127.0.0.1", ""]:
        assert get(port, "/healthz", {"Host": host})[0] == 421, host
    assert web.server.connections.rejected["host"] == 10
    code, body = get(port, "/", {"Host": "Shelf-Cam.lan:8080"})
    assert code == 421 and body.startswith(b"this camera does not answer to the name 'shelf-cam.lan': add it to"), "the name to add"


def test_allowed_hosts_come_from_the_config_or_the_environment() -> None:
    cfg = load_config(env={"CAMAPP_HTTP_LISTEN": "127.0.0.1:0", "CAMAPP_HTTP_ALLOWED_HOSTS": "shelf-cam.lan, Camera.Example."})
    assert cfg.http.allowed_hosts == ["shelf-cam.lan", "camera.example"]
    web = WebSink(WebOptions.from_config(cfg), CameraInfo("m", "s"), PipelineStats())
    web.start()
    try:
        port = web.server.port
        for host in ["shelf-cam.lan", "shelf-cam.lan:8080", "SHELF-CAM.LAN.", "camera.example"]:
            assert get(port, "/healthz", {"Host": host})[0] == 200, host
        for host in ["evil.shelf-cam.lan", "shelf-cam.lan.evil.example"]:
            assert get(port, "/healthz", {"Host": host})[0] == 421, host
    finally:
        web.close()
    assert load_config(env={"CAMAPP_HTTP_ALLOWED_HOSTS": "[a.lan, b.lan]"}).http.allowed_hosts == ["a.lan", "b.lan"]
    anyone = make_web(allowed_hosts=("*",))
    try:
        assert get(anyone.server.port, "/healthz", {"Host": "evil.example"})[0] == 200
    finally:
        anyone.close()


def test_http_1_0_may_omit_host_and_http_1_1_may_not(web: WebSink) -> None:
    assert raw(web.server.port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")
    reply = raw(web.server.port, b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400") and reply.endswith(b"an HTTP/1.1 request needs a Host header\n")
    two = raw(web.server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert two.startswith(b"HTTP/1.1 400"), "a second Host header never hides behind a first"


# -- /healthz while an output is stuck ---------------------------------------------------------------


class BlockingSink(SinkBase):
    """An output whose write() waits while `go` is clear: a disk that froze, then came back."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.go.set()
        self.blocked = threading.Event()

    def write(self, item: Delivery) -> None:
        if not self.go.is_set():
            self.blocked.set()
            assert self.go.wait(60)
            self.blocked.clear()

    def close(self) -> None:
        self.go.set()

    def __enter__(self) -> BlockingSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.go.set()  # before the pipeline is stopped: its output thread must be able to finish


def health(port: int) -> tuple[int, dict[str, Any]]:
    code, body = get(port, "/healthz")
    return code, json.loads(body)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["live", "file"])
def test_a_blocked_output_makes_healthz_503_outputs_stuck_and_ok_again_after(detector: Model, bottle_video: str, mode: str) -> None:
    stats = PipelineStats()
    web = make_web(stats, stall_seconds=1.0)
    port = web.server.port
    stuck = BlockingSink()
    with running(bottle_video, detector, [stuck, web], stats, LIVE, PipelineOptions(mode=mode)), stuck:  # type: ignore[arg-type]
        wait_until(lambda: stats.processed >= 5, 20, "five processed frames")
        assert health(port)[1]["status"] == "ok"
        stuck.go.clear()
        wait_until(stuck.blocked.is_set, 5, "the output thread to block")
        blocked_at = time.monotonic()
        wait_until(lambda: health(port)[0] == 503, 5, "/healthz to report the stuck output")
        noticed = time.monotonic() - blocked_at
        code, body = health(port)
        assert body["status"] == "outputs_stuck" and body["reason"].startswith("outputs have not taken a frame for ")
        assert 0.8 < noticed < 2.5, noticed  # stall_seconds, plus the frame inference was busy with
        if mode == "live":
            processed = stats.processed
            wait_until(lambda: stats.processed > processed + 5, 10, "inference to go on meanwhile")
        else:  # every frame waits for the outputs, so capture stops too: still the outputs' fault
            wait_until(lambda: health(port)[1]["last_frame_age_s"] > 1.5, 5, "capture to be held back")
            assert health(port)[1]["status"] == "outputs_stuck"
        status = json.loads(get(port, "/api/status")[1])
        assert status["healthy"] is False and status["health"] == "outputs_stuck"
        assert status["health_reason"].startswith("outputs have not taken a frame for ")
        stuck.go.set()
        wait_until(lambda: health(port)[0] == 200, 5, "/healthz to recover")


@pytest.mark.slow
def test_a_background_output_stuck_on_one_item_makes_healthz_503(detector: Model, bottle_video: str) -> None:
    release = threading.Event()

    def save(_item: int) -> None:  # a write to an SD card that froze, until `release`
        release.wait(60)

    worker: BackgroundWorker[int] = BackgroundWorker("snapshots", save, 4).start()
    stats = PipelineStats()
    stats.watch(worker, stuck_after=1.0)
    web = make_web(stats, stall_seconds=1.0)
    port = web.server.port
    try:
        with running(bottle_video, detector, [web], stats, LIVE, CAMERA):
            wait_until(lambda: stats.processed >= 5, 20, "five processed frames")
            worker.submit(1)
            time.sleep(0.5)
            assert health(port)[0] == 200, "busy for less than its limit is fine"
            wait_until(lambda: health(port)[0] == 503, 5, "/healthz to report the stuck worker")
            body = health(port)[1]
            assert body["status"] == "outputs_stuck" and body["reason"].startswith("output snapshots busy with one item for ")
            release.set()
            wait_until(lambda: health(port)[0] == 200, 5, "/healthz to recover")
    finally:
        release.set()
        worker.close()


@pytest.mark.slow
def test_camapp_run_reports_outputs_stuck_while_nobody_reads_its_results_and_recovers(
    tmp_path: Path, models_dir: Path, bottle_video: str
) -> None:
    # A real blocked write: `-o -` writes JSON lines to a pipe this test stops reading, so once the
    # pipe's buffer is full the output thread blocks in write(), as on a frozen disk. (Stdout rather
    # than `-o FIFO`: the results file is created anew, so an existing FIFO's name is not reused.)
    port = free_port()
    env = {**os.environ, "CAMAPP_HTTP_STALL_SECONDS": "1"}
    args = ["run", "--source", bottle_video, "--loop", "--realtime", "--mode", "live", "--model", str(models_dir / DETECTOR),
            "-o", "-", "--http", f"127.0.0.1:{port}"]
    with open(tmp_path / "stderr.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "camapp", *args], stdout=subprocess.PIPE, stderr=log, env=env)
    assert proc.stdout is not None
    fcntl.fcntl(proc.stdout, fcntl.F_SETPIPE_SZ, 4096)  # one page instead of 64 KB: fills in a few frames
    reading = threading.Event()
    reading.set()
    lines = [0]

    def reader() -> None:
        assert proc.stdout is not None
        while reading.wait():
            line = proc.stdout.readline()
            if not line:
                return
            lines[0] += 1

    def alive() -> None:
        assert proc.poll() is None, (tmp_path / "stderr.log").read_text()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        wait_until(lambda: alive() or _health(port) == "ok" and lines[0] > 10, 60, "camapp to serve and write results")
        reading.clear()  # the reader stops: the pipe fills, then the JSON lines write blocks
        wait_until(lambda: alive() or _health(port) == "outputs_stuck", 20, "/healthz to report the blocked output")
        held = lines[0]
        time.sleep(1.0)
        assert _health(port) == "outputs_stuck" and lines[0] <= held + 1
        reading.set()
        wait_until(lambda: alive() or _health(port) == "ok", 20, "/healthz to recover once the pipe is read again")
        assert lines[0] > held + 5
    finally:
        reading.set()
        proc.terminate()
        proc.wait(15)
        thread.join(5)  # it ends at the pipe's end of file
        proc.stdout.close()


def _health(port: int) -> str | None:
    try:
        return str(json.loads(get(port, "/healthz")[1])["status"])
    except OSError:
        return None  # not listening yet
