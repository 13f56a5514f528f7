"""A real HTTP MJPEG server on 127.0.0.1, for testing stream sources without a network camera.

It speaks the same protocol as IP cameras, mjpg-streamer and most "motion JPEG" endpoints: one
HTTP response with Content-Type `multipart/x-mixed-replace; boundary=...`, each part a complete
JPEG with its own Content-Type and Content-Length.

The server is a context manager, and can be stopped and started again on the same port so that
fault-injection tests can take it away while a client is reading and bring it back later:

    with MjpegServer(jpegs) as server:          # listening on a random free port
        source = OpenCVSource(parse_source(server.url), SourceOptions())
        ...
        server.stop()       # listening socket closed, every open connection cut
        server.start()      # back on the same port
        server.drop_clients()   # cut open connections but keep listening
        server.pause() / server.resume()   # stall the stream without closing it
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import cv2
import numpy as np

BOUNDARY = "camappframe"


def encode_jpegs(images: Sequence[np.ndarray], quality: int = 90) -> list[bytes]:
    """JPEG-encode BGR images the way a camera would before streaming them."""
    out = []
    for image in images:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("cv2.imencode failed")
        out.append(buf.tobytes())
    return out


def read_video_frames(path: str, count: int) -> list[np.ndarray]:
    """The first `count` decoded frames of a video file (BGR)."""
    cap = cv2.VideoCapture(path)
    frames = []
    try:
        while len(frames) < count:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    if len(frames) < count:
        raise ValueError(f"{path} has only {len(frames)} frames, {count} wanted")
    return frames


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, so connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: MjpegServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # the connection closes when the stream ends, like most cameras

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature is http.server's
        pass

    def do_GET(self) -> None:  # noqa: N802 - name is http.server's
        owner = self.server.owner
        if self.path.split("?", 1)[0] != owner.path:
            self.send_error(404, "not found")
            return
        owner._register(self.connection)
        try:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            owner._stream(self.wfile)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            pass  # the client went away, or the test cut the connection
        finally:
            owner._unregister(self.connection)


class MjpegServer:
    """Serve JPEG frames as an MJPEG stream at http://127.0.0.1:PORT/stream.mjpg.

    frames: encoded JPEGs, sent in order to every client that connects.
    fps: pace the parts at this rate (None: as fast as the client reads).
    repeat: start again at the first frame after the last (a live camera); otherwise the
        response ends, and the connection closes, after the last frame (the stream ends).
    """

    def __init__(
        self,
        frames: Sequence[bytes],
        *,
        fps: float | None = None,
        repeat: bool = False,
        path: str = "/stream.mjpg",
        port: int = 0,
    ) -> None:
        if not frames:
            raise ValueError("an MJPEG server needs at least one frame")
        self.frames = list(frames)
        self.fps = fps
        self.repeat = repeat
        self.path = path
        self.port = port
        self.frames_sent = 0
        self.connections = 0  # clients that were served (counted when they connect)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._running = threading.Event()
        self._running.set()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def is_serving(self) -> bool:
        return self._httpd is not None

    def start(self) -> MjpegServer:
        """Listen (again) on the server's port; the first start picks a free port."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server(("127.0.0.1", self.port), _Handler)
        httpd.owner = self
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (a camera that lost power)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        self._running.set()  # a paused stream must notice the stop
        httpd.shutdown()
        httpd.server_close()
        self.drop_clients()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def drop_clients(self) -> None:
        """Cut every open connection at once, without a clean end of the multipart stream."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)

    def pause(self) -> None:
        """Stop sending frames but keep connections open (a stalled camera)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- used by the handler threads ------------------------------------------------------------

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)
            self.connections += 1

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)

    def _stream(self, wfile: object) -> None:
        write = wfile.write  # type: ignore[attr-defined]
        flush = wfile.flush  # type: ignore[attr-defined]
        period = 1.0 / self.fps if self.fps else 0.0
        next_due = time.monotonic()
        i = 0
        while not self._stopping.is_set():
            if i == len(self.frames):
                if not self.repeat:
                    break
                i = 0
            while not self._running.wait(0.05):
                if self._stopping.is_set():
                    return
            if period:
                next_due += period
                delay = next_due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            jpeg = self.frames[i]
            header = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode("ascii")
            write(header + jpeg + b"\r\n")
            flush()
            with self._lock:
                self.frames_sent += 1
            i += 1
        if not self._stopping.is_set():
            write(f"--{BOUNDARY}--\r\n".encode("ascii"))
            flush()
