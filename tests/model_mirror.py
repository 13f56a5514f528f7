"""A real HTTP model mirror for tests: http.server on 127.0.0.1 at a random port, in a thread.

It serves a folder the way an offline fleet's web server would (files by name), records every
request path so a test can tell a cache hit from a download, and can misbehave on purpose:

    with MirrorServer(folder) as mirror:                  # normal file server
        mirror.url, mirror.requests
    with MirrorServer(folder, drop_half=True) as mirror:  # announces the full Content-Length,
        ...                                               # sends half the bytes, hangs up
    with MirrorServer(folder, drop_half=True, send_length=False):  # same without a length
"""

from __future__ import annotations

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


class _Handler(SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # keep test output clean

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.server.drop_half:
            self._send_half()
        else:
            super().do_GET()

    def _send_half(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        content = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.server.send_length:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content[: len(content) // 2])
        self.wfile.flush()
        self.close_connection = True  # the server hangs up with half the body sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[str]
    drop_half: bool
    send_length: bool


class MirrorServer:
    def __init__(self, folder: Path, drop_half: bool = False, send_length: bool = True) -> None:
        self._server = _Server(("127.0.0.1", 0), partial(_Handler, directory=str(folder)))
        self._server.requests = []
        self._server.drop_half = drop_half
        self._server.send_length = send_length
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="model-mirror", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def __enter__(self) -> MirrorServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def closed_port_url(name: str) -> str:
    """An http URL on 127.0.0.1 where nothing listens: a machine with no way to the publisher."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"
