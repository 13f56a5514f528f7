"""The web view over real HTTP: page, status, stream, snapshot, health, metrics, token, routes.

Every test runs the real server on a free port; the live ones run the real detector on the real
bottle video (or a real MJPEG stream that the test stalls) and read the server like a browser or a
Prometheus scraper would.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import pytest

from camapp.analytics.events import DebounceOptions
from camapp.analytics.stage import Analytics
from camapp.cli import main
from camapp.errors import EXIT_OUTPUT, OutputError
from camapp.inference.model import Model
from camapp.outputs.web import CameraInfo, WebOptions, WebSink
from camapp.pipeline import PipelineOptions
from camapp.sources import SourceOptions
from camapp.sources.status import SourceStatus
from camapp.stats import PipelineStats
from tests.outputs.conftest import finished, running, wait_until
from tests.sources.mjpeg_server import MjpegServer, encode_jpegs, read_video_frames

LIVE = SourceOptions(realtime=True, loop=True)  # the bottle video as a 30 FPS camera that never ends


def make_web(
    stats: PipelineStats | None = None, events: Analytics | None = None, source: SourceStatus | None = None, **options: object
) -> WebSink:
    opts = WebOptions(port=0, **options)  # type: ignore[arg-type]
    info = CameraInfo("ssd_mobilenet_v1", "bottle-detection.mp4", 29.8, "shelf")
    web = WebSink(opts, info, stats or PipelineStats(), events, source=source)
    web.start()  # what camapp.app.build_outputs does once every output is built
    return web


def get(web: WebSink, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", web.server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


class MjpegReader:
    """Reads /stream.mjpg part by part, the way a browser's <img> does."""

    def __init__(self, port: int, path: str = "/stream.mjpg") -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", path)
        self.res = self.conn.getresponse()
        assert self.res.status == 200, self.res.read()
        ctype = self.res.getheader("Content-Type", "")
        assert ctype.startswith("multipart/x-mixed-replace"), ctype
        self.boundary = b"--" + ctype.split("boundary=")[1].encode()

    def next_jpeg(self) -> bytes:
        line = self.res.readline().strip()
        while not line:  # the CRLF after the previous part
            line = self.res.readline().strip()
        assert line == self.boundary, line
        headers = {}
        while (line := self.res.readline().strip()) != b"":
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        return self.res.read(int(headers["content-length"]))

    def close(self) -> None:
        self.res.close()  # the response holds its own reference to the socket
        self.conn.close()


@contextmanager
def viewer(web: WebSink) -> Iterator[MjpegReader]:
    reader = MjpegReader(web.server.port)
    try:
        yield reader
    finally:
        reader.close()


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


# -- what the page, status and snapshot show ---------------------------------------------------------


def test_the_page_status_and_snapshot_describe_the_live_camera(detector: Model, bottle_video: str) -> None:
    stats = PipelineStats()
    events = Analytics.for_events(DebounceOptions())
    web = make_web(stats, events)
    with running(bottle_video, detector, [web], stats, LIVE, analytics=events):
        wait_until(lambda: stats.processed >= 10, 20, "ten processed frames")
        code, headers, page = get(web, "/")
        assert code == 200 and headers["content-type"].startswith("text/html")
        assert b'id="view"' in page and b"stream.mjpg" in page and b"api/status" in page
        status = json.loads(get(web, "/api/status")[2])
        assert status["model"] == "ssd_mobilenet_v1" and status["source"] == "bottle-detection.mp4" and status["camera"] == "shelf"
        assert status["healthy"] is True and status["processed"] >= 10 and status["capture_fps"] > 0
        assert status["task"] == "detect" and status["inference_ms"] > 0
        assert {d["label"] for d in status["results"]["detections"]} == {"bottle"}
        assert status["counts"] == {"bottle": 3} and status["events"][-1]["event"] == "appeared"
        code, headers, jpeg = get(web, "/snapshot.jpg")
        assert code == 200 and headers["content-type"] == "image/jpeg"
        assert decode(jpeg).shape == (360, 640, 3)


def test_the_stream_is_encoded_once_and_the_same_jpegs_go_to_every_viewer(detector: Model, bottle_video: str) -> None:
    stats = PipelineStats()
    web = make_web(stats)
    with running(bottle_video, detector, [web], stats, LIVE), viewer(web) as a, viewer(web) as b, viewer(web) as c:
        got: dict[str, list[bytes]] = {"a": [], "b": [], "c": []}
        for _ in range(12):
            for name, r in (("a", a), ("b", b), ("c", c)):
                got[name].append(r.next_jpeg())
        encoded = web.broadcaster.counters.encoded
        assert web.broadcaster.viewers == 3
    for jpegs in got.values():
        assert decode(jpegs[-1]).shape == (360, 640, 3)
    digests = {name: {hashlib.sha256(j).digest() for j in jpegs} for name, jpegs in got.items()}
    assert len(digests["a"] & digests["b"] & digests["c"]) >= 8  # byte-identical frames: one encode, three viewers
    assert encoded < 3 * 12


@pytest.mark.slow
def test_nothing_is_drawn_or_encoded_while_nobody_watches(detector: Model, bottle_video: str) -> None:
    stats = PipelineStats()
    web = make_web(stats)
    with running(bottle_video, detector, [web], stats, LIVE):
        wait_until(lambda: stats.processed >= 20, 20, "twenty processed frames")
        assert (web.broadcaster.counters.offered, web.broadcaster.counters.encoded) == (0, 0)
        with viewer(web) as v:
            for _ in range(3):
                v.next_jpeg()
        wait_until(lambda: web.broadcaster.viewers == 0, 10, "the viewer to be gone")
        encoded, processed = web.broadcaster.counters.encoded, stats.processed
        wait_until(lambda: stats.processed >= processed + 20, 20, "twenty more frames")
        assert web.broadcaster.counters.encoded <= encoded + 1  # at most the one in flight when it left


@pytest.mark.slow
def test_a_viewer_that_stops_reading_never_holds_up_the_pipeline(detector: Model, bottle_video: str) -> None:
    # File mode hands every frame to the sinks and waits for them, so a sink that blocked on a
    # stuck viewer would stop the run. Every frame is encoded (stream_fps 0): ~300 JPEGs of
    # ~40 kB, far more than the stuck viewer's socket buffers can hold.
    stats = PipelineStats()
    web = make_web(stats, stream_fps=0)
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", web.server.port))
    stuck.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # ...and never reads a byte
    wait_until(lambda: web.broadcaster.viewers == 1, 10, "the stuck viewer to be registered")
    fast: list[bytes] = []
    options = PipelineOptions(mode="file", max_frames=300)
    try:
        with running(bottle_video, detector, [web], stats, options=options) as pipeline, viewer(web) as reader:
            def read() -> None:
                while not finished(pipeline):
                    fast.append(reader.next_jpeg())

            t = threading.Thread(target=read, daemon=True)
            t.start()
            wait_until(lambda: finished(pipeline), 120, "the pipeline to get through 300 frames")
            t.join(15)
    finally:
        stuck.close()
    assert stats.processed == 300
    assert len(fast) > 50  # a reading viewer keeps getting frames meanwhile


# -- health and metrics ----------------------------------------------------------------------------


@pytest.mark.slow
def test_healthz_turns_503_when_the_source_stalls_and_200_when_frames_flow_again(detector: Model, bottle_video: str) -> None:
    jpegs = encode_jpegs(read_video_frames(bottle_video, 30))
    stats = PipelineStats()
    web = make_web(stats, stall_seconds=0.5)
    with MjpegServer(jpegs, fps=30, repeat=True) as camera, running(camera.url, detector, [web], stats):
        wait_until(lambda: stats.frames_read >= 10, 20, "frames from the stream")
        assert get(web, "/healthz")[0] == 200
        camera.pause()  # the connection stays open, no frames come: a hung camera
        wait_until(lambda: get(web, "/healthz")[0] == 503, 10, "/healthz to report the stall")
        code, _, body = get(web, "/healthz")
        health = json.loads(body)
        assert code == 503 and health["status"] == "stalled" and health["last_frame_age_s"] > 0.5
        assert json.loads(get(web, "/api/status")[2])["healthy"] is False
        camera.resume()
        wait_until(lambda: get(web, "/healthz")[0] == 200, 10, "/healthz to recover")


def parse_metrics(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.slow
def test_metrics_are_prometheus_text_with_frames_latency_labels_and_events(detector: Model, bottle_video: str) -> None:
    stats = PipelineStats()
    events = Analytics.for_events(DebounceOptions(3))
    web = make_web(stats, events)
    with running(bottle_video, detector, [web], stats, options=PipelineOptions(mode="file", max_frames=100), analytics=events) as pipeline:
        wait_until(lambda: finished(pipeline), 60, "100 frames")
        code, headers, body = get(web, "/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    m = parse_metrics(text)
    assert m["camapp_frames_read_total"] == 100 and m["camapp_frames_processed_total"] == 100
    assert m["camapp_frames_skipped_total"] == 0
    buckets = [(float(le), v) for le, v in re.findall(r'camapp_inference_seconds_bucket\{le="([^+"]+)"\} (\S+)', text)]
    counts = [float(v) for _, v in buckets]
    assert counts == sorted(counts) and len(buckets) >= 10  # cumulative
    assert m['camapp_inference_seconds_bucket{le="+Inf"}'] == m["camapp_inference_seconds_count"] == 100
    assert 0 < m["camapp_inference_seconds_sum"] < 100 * 1.0
    assert m['camapp_detections_total{label="bottle"}'] >= 200  # 2-3 bottles in each frame
    assert m['camapp_objects{label="bottle"}'] >= 1 and m['camapp_events_total{type="appeared"}'] == 1
    assert m['camapp_output_errors_total{output="web"}'] == 0
    assert text.count("# TYPE camapp_output_errors_total ") == 1


# -- access control and routes ---------------------------------------------------------------------

PROTECTED = ["/", "/index.html", "/api/status", "/metrics", "/snapshot.jpg", "/stream.mjpg"]


@pytest.fixture
def locked() -> Iterator[WebSink]:
    web = make_web(token="s3cret-t0ken")
    yield web
    web.close()


@pytest.mark.parametrize("path", PROTECTED)
def test_without_the_token_every_route_but_healthz_is_401(locked: WebSink, path: str) -> None:
    attempts = [({}, ""), ({"Authorization": "Bearer wrong"}, ""), ({}, "?token=wrong"), ({"Authorization": "Basic czNjcmV0"}, "")]
    for headers, query in attempts:
        code, h, body = get(locked, path + query, headers)
        assert code == 401, (path, headers, query)
        assert h["www-authenticate"].startswith("Bearer") and b"token" in body


def test_the_right_token_opens_routes_by_header_or_query_and_healthz_needs_none(locked: WebSink) -> None:
    assert get(locked, "/healthz")[0] == 200
    assert get(locked, "/api/status", {"Authorization": "Bearer s3cret-t0ken"})[0] == 200
    assert get(locked, "/metrics", {"Authorization": "bearer s3cret-t0ken"})[0] == 200
    code, _, page = get(locked, "/?token=s3cret-t0ken")
    assert code == 200 and b"s3cret" not in page  # the page passes on the token from its URL, it never embeds it
    reader = MjpegReader(locked.server.port, "/stream.mjpg?token=s3cret-t0ken")
    reader.close()


TRAVERSALS = [
    "/etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
    "/static/../../etc/passwd", "/api/status/../../../etc/passwd", "/index.html/..", "//etc/passwd", "/stream.mjpg/",
    "/page.html", "/camapp/outputs/web/page.html", "/favicon.ico", "/api", "/api/", "/.git/config",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_unknown_paths_are_404_and_no_path_reaches_the_file_system(path: str) -> None:
    web = make_web()
    try:
        code, _, body = get(web, path)
    finally:
        web.close()
    assert code == 404 and b"root:" not in body and b"<html" not in body


def test_raw_request_targets_outside_the_routes_are_404_too() -> None:
    web = make_web()
    try:
        for target in ["../../etc/passwd", "etc/passwd", "/..\\..\\etc\\passwd"]:
            with socket.create_connection(("127.0.0.1", web.server.port), timeout=5) as s:
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            assert reply.startswith(b"HTTP/1.1 404") and b"root:" not in reply, target
        assert get(web, "/api/status", method="POST")[0] == 405
        assert get(web, "/healthz", method="DELETE")[0] == 405
    finally:
        web.close()


# -- setting it up -----------------------------------------------------------------------------------


def test_a_port_in_use_is_an_output_error_that_says_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OutputError) as err:
            WebSink(WebOptions(port=port), CameraInfo("m", "s"), PipelineStats())
    assert err.value.exit_code == EXIT_OUTPUT and f"127.0.0.1:{port}" in str(err.value) and "--http" in str(err.value)


@pytest.mark.parametrize("value", ["nonsense", "127.0.0.1:99999", ":8080", "host:port"])
def test_a_bad_http_address_is_a_one_line_usage_error(value: str, bottle_video: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--source", bottle_video, "--model", "ssd_mobilenet_v1_coco_quant", "--http", value])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("camapp: error:")]
    assert "http" in line and "HOST:PORT" in line
