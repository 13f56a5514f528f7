"""The HTTP side of the web view: fixed routes only, an optional token, one thread per client.

Why the standard library's ThreadingHTTPServer: it is already on every Pi, a thread per client is
the simplest correct model for a handful of LAN viewers plus a Prometheus scraper (each MJPEG
viewer is a long-lived response that mostly sleeps), and the blocking socket writes of a slow
viewer stay in that viewer's own thread. An asyncio framework would add a dependency and an event
loop for no gain at this scale; `max_clients` bounds the thread count.

Security: routes are an exact-match table, so no request path is ever mapped to the file system
(no traversal is possible: "/../etc/passwd", "/%2e%2e/" and friends are simply unknown paths).
With a token set, every route but /healthz needs `Authorization: Bearer <token>` or `?token=`,
compared in constant time.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from camapp.errors import OutputError
from camapp.metrics import CONTENT_TYPE as METRICS_TYPE
from camapp.outputs.web.broadcast import FrameBroadcaster
from camapp.sources.redact import redact_query_values

log = logging.getLogger(__name__)

BOUNDARY = "camappframe"
PUBLIC = frozenset({"/healthz"})
SEND_TIMEOUT_S = 10.0  # a viewer that takes no data for this long is dropped
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",  # keeps ?token= out of Referer headers
}


class WebApp:
    """What the handler serves; the sink builds it. Callables are read at request time."""

    def __init__(
        self,
        broadcaster: FrameBroadcaster,
        page: bytes,
        status: Callable[[], dict[str, Any]],
        health: Callable[[], tuple[bool, dict[str, Any]]],
        metrics: Callable[[], str],
        token: str | None = None,
        max_clients: int = 32,
    ) -> None:
        self.broadcaster = broadcaster
        self.page = page
        self.status = status
        self.health = health
        self.metrics = metrics
        self.token = token.encode() if token else None
        self.max_clients = max_clients

    def authorised(self, header: str | None, query_token: str | None) -> bool:
        if self.token is None:
            return True
        offered = None
        if header and header[:7].lower() == "bearer ":
            offered = header[7:].strip()
        elif query_token is not None:
            offered = query_token
        return offered is not None and hmac.compare_digest(offered.encode(), self.token)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a viewer left open never keeps camapp from exiting
    allow_reuse_address = True
    app: WebApp


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive for the page's status polling
    server_version = "camapp"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection gives its thread back after a minute

    ROUTES = {
        "/": "page",
        "/index.html": "page",
        "/stream.mjpg": "stream",
        "/snapshot.jpg": "snapshot",
        "/api/status": "status",
        "/healthz": "healthz",
        "/metrics": "metrics",
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        # The request line may carry ?token=: never in a log, not even under --debug.
        log.debug("%s %s", self.address_string(), redact_query_values(format % args))

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._dispatch(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch(send_body=False)

    def _not_allowed(self) -> None:
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, b"only GET and HEAD\n", "text/plain", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def _dispatch(self, send_body: bool) -> None:
        self._send_body = send_body
        url = urlsplit(self.path)
        route = self.ROUTES.get(url.path)
        if route is None:
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        app = self.server.app
        if url.path not in PUBLIC and not app.authorised(self.headers.get("Authorization"), _query_token(url.query)):
            body = b"a token is required: Authorization: Bearer <token> or ?token=<token>\n"
            self._reply(HTTPStatus.UNAUTHORIZED, body, "text/plain", {"WWW-Authenticate": 'Bearer realm="camapp"'})
            return
        getattr(self, "_" + route)(app)

    # -- routes ---------------------------------------------------------------------------
    def _page(self, app: WebApp) -> None:
        csp = "default-src 'self'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"
        self._reply(HTTPStatus.OK, app.page, "text/html; charset=utf-8", {"Content-Security-Policy": csp})

    def _status(self, app: WebApp) -> None:
        self._json(HTTPStatus.OK, app.status())

    def _healthz(self, app: WebApp) -> None:
        ok, body = app.health()
        self._json(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, body)

    def _metrics(self, app: WebApp) -> None:
        self._reply(HTTPStatus.OK, app.metrics().encode(), METRICS_TYPE)

    def _snapshot(self, app: WebApp) -> None:
        jpeg = app.broadcaster.snapshot(timeout=3.0) if self._send_body else b""
        if jpeg is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame within 3 s: the source is not delivering\n", "text/plain")
            return
        self._reply(HTTPStatus.OK, jpeg, "image/jpeg")

    def _stream(self, app: WebApp) -> None:
        b = app.broadcaster
        start = b.add_viewer(app.max_clients) if self._send_body else 0
        if start is None:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, b"too many viewers\n", "text/plain", {"Retry-After": "10"})
            return
        try:
            self.send_response(HTTPStatus.OK)
            self._headers({"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Connection": "close"})
            self.close_connection = True
            if self._send_body:
                self.connection.settimeout(SEND_TIMEOUT_S)
                self._send_frames(b, start)
        except (ConnectionError, TimeoutError, OSError):
            pass  # the viewer left or stopped reading: its thread ends, nobody else notices
        finally:
            if self._send_body:
                b.remove_viewer()

    def _send_frames(self, b: FrameBroadcaster, seq: int) -> None:
        while not b.closed:
            got = b.next_frame(seq, timeout=1.0)
            if got is None:
                continue
            seq, jpeg = got
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode("ascii")
            self.wfile.write(head + jpeg + b"\r\n")

    # -- plumbing -------------------------------------------------------------------------
    def _json(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        self._reply(status, json.dumps(body, separators=(",", ":")).encode(), "application/json")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self._headers({"Content-Type": content_type, "Content-Length": str(len(body)), **(extra or {})})
        if getattr(self, "_send_body", True):
            self.wfile.write(body)

    def _headers(self, headers: dict[str, str]) -> None:
        for name, value in {"Cache-Control": "no-store", **SECURITY_HEADERS, **headers}.items():
            self.send_header(name, value)
        self.end_headers()


def _query_token(query: str) -> str | None:
    values = parse_qs(query).get("token")
    return values[0] if values else None


class WebServer:
    """The listening socket and its thread."""

    def __init__(self, app: WebApp, host: str, port: int) -> None:
        server_class = type("Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
        try:
            self.httpd = server_class((host, port), Handler)
        except OSError as exc:
            raise OutputError(
                f"cannot serve the web view on {host}:{port}: {exc.strerror or exc}",
                "choose another address or port with --http HOST:PORT, or stop the program using it",
            ) from exc
        self.httpd.app = app
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.25}, name="camapp-web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
