"""The HTTP side of the web view: fixed routes only, an optional token, one thread per client.

Why the standard library's ThreadingHTTPServer: it is already on every Pi, a thread per client is
the simplest correct model for a handful of LAN viewers plus a Prometheus scraper (each MJPEG
viewer is a long-lived response that mostly sleeps), and the blocking socket writes of a slow
viewer stay in that viewer's own thread. An asyncio framework would add a dependency and an event
loop for no gain at this scale; `max_connections` bounds the thread count (see Limits below).

Security: routes are an exact-match table, so no request path is ever mapped to the file system
(no traversal is possible: "/../etc/passwd", "/%2e%2e/" and friends are simply unknown paths).
With a token set, every route but /healthz needs `Authorization: Bearer <token>` or `?token=`,
compared in constant time. Without one, the Host header must name this camera (HostCheck: DNS
rebinding).

Limits (a Pi has little memory for threads): at most `max_connections` connections are open; one
more is answered 503 on the accepting thread and closed, without a thread. A client must send
its request line and headers within REQUEST_TIMEOUT_S of their first byte, and a kept-alive
connection with no request is closed after IDLE_TIMEOUT_S. Per-receive socket timeouts alone do
not bound a client that sends a byte every few seconds, so each connection's deadline is kept in
a table (Connections) that the server's loop checks four times a second.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import ipaddress
import json
import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, urlsplit

from camapp.errors import OutputError
from camapp.metrics import CONTENT_TYPE as METRICS_TYPE
from camapp.outputs.web.broadcast import FrameBroadcaster
from camapp.sources.redact import redact_query_values

log = logging.getLogger(__name__)

BOUNDARY = "camappframe"
PUBLIC = frozenset({"/healthz"})
SEND_TIMEOUT_S = 10.0  # a viewer that takes no data for this long is dropped
REQUEST_TIMEOUT_S = 10.0  # from a request's first byte to the end of its headers
# A kept-alive connection waits this long for its next request. The page polls every second;
# 20 s rather than 15 so that a scraper polling every 15 s (Prometheus' usual interval) finds its
# connection open instead of racing the close.
IDLE_TIMEOUT_S = 20.0
RETRY_AFTER_S = 5
MAX_POST_BODY = 1024  # POST routes take no body or a small JSON one (teaching); a larger one is not read
RESET_WAIT_S = 5.0  # how long POST /api/reset waits for the worker to apply it
PAGE_CSP = "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'"
# The charting library the page draws with, served by camapp itself (Pis often have no internet):
# uPlot 1.6.32, MIT (camapp/outputs/web/vendor/LICENSE-uPlot).
VENDOR = {"/vendor/uplot.js": ("uPlot.iife.min.js", "text/javascript; charset=utf-8"),
          "/vendor/uplot.css": ("uPlot.min.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer",  # keeps ?token= out of Referer headers
}


@dataclass(frozen=True)
class Limits:
    """How many connections may be open, and how long a client may take (tests shorten the times)."""

    max_connections: int = 64
    request_timeout_s: float = REQUEST_TIMEOUT_S
    idle_timeout_s: float = IDLE_TIMEOUT_S


class HostCheck:
    """Without a token, serve only requests whose Host header names this camera (DNS rebinding).

    A page on evil.example can re-point that name at the camera's LAN address; the browser then
    treats the camera as evil.example and lets the page read the stream and the API. Its requests
    still say `Host: evil.example`, so refusing names the camera does not answer to stops it. IP
    addresses cannot be re-pointed and are always accepted, like localhost, the listen name, this
    machine's own names (host name, its .local mDNS name, the FQDN) and http.allowed_hosts.
    """

    def __init__(self, listen_host: str, allowed: Iterable[str] = ()) -> None:
        names = {"localhost", *(_bare(a) for a in allowed)}
        if not _ip_literal(_bare(listen_host)):
            names.add(_bare(listen_host))
        me = _bare(socket.gethostname())
        if me:
            names.update({me, me + ".local"})
        self.names = frozenset(names)
        self.any = "*" in names
        self._fqdn: str | None = None  # looked up on the first miss: a slow DNS must not delay the start
        self._warned: set[str] = set()

    def refusal(self, headers: list[str], version: str) -> tuple[HTTPStatus, str] | None:
        """None when a request with these Host headers may be served, else its status and a one-line reason."""
        if len(headers) > 1:
            return HTTPStatus.BAD_REQUEST, "a request may have only one Host header"
        if not headers:
            if version in ("HTTP/0.9", "HTTP/1.0"):
                return None  # older clients may omit Host; a rebinding browser never does
            return HTTPStatus.BAD_REQUEST, "an HTTP/1.1 request needs a Host header"
        header = headers[0]
        host = _host_of(header)
        if host is not None and (self.any or _ip_literal(host) or host in self.names or host == self._fqdn_name()):
            return None
        shown = (header.strip() if host is None else host)[:100]  # the name to add, without its port
        if shown not in self._warned and len(self._warned) < 20:  # the journal says why a client got 421, once per name
            self._warned.add(shown)
            log.warning("refused a request for host '%s': add it to http.allowed_hosts or set http.token", shown)
        why = f"this camera does not answer to the name '{shown}': add it to http.allowed_hosts or set http.token"
        return HTTPStatus.MISDIRECTED_REQUEST, why

    def _fqdn_name(self) -> str:
        if self._fqdn is None:
            self._fqdn = _bare(socket.getfqdn())
        return self._fqdn


def _bare(name: str) -> str:
    """A host name as compared: lower case, no trailing dot, IPv6 without brackets."""
    name = name.strip().lower().rstrip(".")
    return name[1:-1] if name.startswith("[") and name.endswith("]") else name


def _host_of(header: str) -> str | None:
    """The host of a Host header ('cam:8080', '[::1]:8080', 'cam.'), or None when it is malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or not _ip_literal(host):
            return None
    else:
        host, colon, port = value.partition(":")
        rest = colon + port
    if rest and not (rest[0] == ":" and (rest[1:].isdigit() or rest == ":")):
        return None
    return host.rstrip(".")


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass
class _Connection:
    deadline: float | None = None  # time.monotonic() by which the awaited bytes must be in
    started: bool = False  # a request has begun arriving: past the deadline it is a slow client
    reaped: bool = False  # the deadline passed and reading was shut down


class Connections:
    """The open connections and their deadlines.

    The accepting thread admits (or refuses) each connection, its handler thread sets and clears
    deadlines, and the server's loop (service_actions) shuts down reading on any connection past
    its deadline: the blocked read returns, and the handler thread ends.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[socket.socket, _Connection] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.rejected: Counter[str] = Counter()  # "connections" (503), "host" (421), "slow" (408)
        self.peak = 0  # most connections open at once

    @property
    def open(self) -> int:
        return len(self._open)

    def admit(self, sock: socket.socket) -> bool:
        with self._lock:
            if len(self._open) >= self.limit:
                self.rejected["connections"] += 1
                return False
            self._open[sock] = _Connection()
            self.peak = max(self.peak, len(self._open))
            return True

    def release(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.pop(sock, None)
            self._changed.notify_all()

    def expect(self, sock: socket.socket, seconds: float, started: bool) -> None:
        """The connection now waits for bytes that must arrive within `seconds`."""
        with self._lock:
            c = self._open.get(sock)
            if c is not None:
                c.deadline, c.started = time.monotonic() + seconds, started

    def arrived(self, sock: socket.socket) -> bool:
        """The request's headers are in: no deadline while it is answered. False if they came too late."""
        with self._lock:
            c = self._open.get(sock)
            if c is None:
                return True
            c.deadline = None
            return not c.reaped

    def too_late(self, sock: socket.socket) -> bool:
        with self._lock:
            c = self._open.get(sock)
            return c is not None and c.reaped

    def count(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def reap(self, now: float) -> None:
        with self._lock:
            for sock, c in self._open.items():
                if c.deadline is not None and now > c.deadline:
                    c.deadline, c.reaped = None, True
                    if c.started:
                        self.rejected["slow"] += 1
                    _shutdown(sock, socket.SHUT_RD)  # wakes the handler's read with end-of-file

    def close_all(self, timeout: float) -> bool:
        """Shut every connection down and wait up to `timeout` s for their threads; True if all ended."""
        with self._lock:
            for sock in self._open:
                _shutdown(sock, socket.SHUT_RDWR)
            return self._changed.wait_for(lambda: not self._open, timeout)


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):  # already closed by the client
        sock.shutdown(how)


def plain_response(status: HTTPStatus, body: str, extra: dict[str, str] | None = None) -> bytes:
    """A complete response that closes the connection, for answers written outside a handler."""
    data = (body + "\n").encode()
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": str(len(data)),
        "Connection": "close",
        "Cache-Control": "no-store",
        **SECURITY_HEADERS,
        **(extra or {}),
    }
    head = f"HTTP/1.1 {status.value} {status.phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode("latin-1") + data


BUSY = plain_response(
    HTTPStatus.SERVICE_UNAVAILABLE,
    "the camera has too many open connections; try again in a few seconds",
    {"Retry-After": str(RETRY_AFTER_S)},
)


def refuse(sock: socket.socket) -> None:
    """Answer 503 and close, on the accepting thread: never waits for the client."""
    try:
        sock.setblocking(False)
        sock.send(BUSY)  # a new connection's send buffer is empty: this never has to wait
        sock.shutdown(socket.SHUT_WR)
        for _ in range(4):  # read what the client already sent: closing with unread bytes sends a
            if not sock.recv(65536):  # reset, which can destroy the 503 before the client reads it
                break
    except OSError:
        pass  # nothing more to read now (BlockingIOError), or the client is gone
    finally:
        sock.close()


class TeachRoutes(Protocol):
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[HTTPStatus, str, bytes]: ...


class ControlRoutes(Protocol):
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[HTTPStatus, str, bytes]: ...


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
        limits: Limits | None = None,
        hosts: HostCheck | None = None,
        reset: Callable[[], bool] | None = None,
    ) -> None:
        self.reset = reset  # POST /api/reset: zone visits and line totals back to 0 (True once applied)
        self.broadcaster = broadcaster
        self.page = page
        self.status = status
        self.health = health
        self.metrics = metrics
        self.token = token.encode() if token else None
        self.max_clients = max_clients
        self.limits = limits or Limits()
        self.hosts = hosts  # None: no Host check (the token protects, or the caller chose so)
        self.teach: TeachRoutes | None = None  # /teach and /api/teach/* (camapp.outputs.web.teach), set by its panel
        self.control: ControlRoutes | None = None  # /api/model, /api/settings, ... (camapp.outputs.web.control_api)
        self.history: Callable[[], dict[str, Any]] | None = None  # GET /api/history (camapp.outputs.web.history)
        self.media: ControlRoutes | None = None  # /api/media*: saved snapshots and clips (camapp.outputs.web.media)

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
    block_on_close = False  # WebServer.close() ends the connections itself, within a time limit
    allow_reuse_address = True
    # A burst of connections waits in the kernel's queue instead of having its SYNs dropped (and
    # retried a second later): the loop takes each one at once, with a thread or a 503. Measured
    # with 300 connections at once: 1-2 s with 128 (SYNs retried after 1 s), under 0.1 s with 512.
    request_queue_size = 512
    app: WebApp
    connections: Connections

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.admit(request):
            refuse(request)
            return
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address), name="camapp-http", daemon=True)
        try:
            thread.start()
        except BaseException:
            self.connections.release(request)  # the caller closes the socket
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release(request)

    def service_actions(self) -> None:
        self.connections.reap(time.monotonic())  # serve_forever calls this every poll_interval

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # a client that left mid-answer: no traceback on stderr
            log.debug("connection from %s ended: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive for the page's status polling
    server_version = "camapp"
    sys_version = ""
    timeout = 60  # per send or receive; the server's deadlines close idle and slow clients sooner
    body = b""  # the POST body just read (at most MAX_POST_BODY bytes)

    ROUTES = {
        "/": "page",
        "/index.html": "page",
        "/stream.mjpg": "stream",
        "/snapshot.jpg": "snapshot",
        "/api/status": "status",
        "/healthz": "healthz",
        "/metrics": "metrics",
        "/teach": "teach",
        "/api/teach": "teach",
        "/api/teach/live": "teach",
        "/api/teach/thumb": "teach",
        "/api/controls": "control",
        "/api/compare": "control",
        "/api/zones": "control",
        "/api/history": "history",
        "/api/media": "media",
        "/api/media/file": "media",
        "/api/media/thumb": "media",
        "/vendor/uplot.js": "vendor",
        "/vendor/uplot.css": "vendor",
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        # The request line may carry ?token=: never in a log, not even under --debug.
        log.debug("%s %s", self.address_string(), redact_query_values(format % args))

    # -- deadlines (see Connections) ------------------------------------------------------
    def handle_one_request(self) -> None:
        limits, gate = self.server.app.limits, self.server.connections
        gate.expect(self.connection, limits.idle_timeout_s, started=False)
        if not self._next_request_started():
            self.close_connection = True  # idle too long, or the client closed
            return
        gate.expect(self.connection, limits.request_timeout_s, started=True)
        super().handle_one_request()

    def _next_request_started(self) -> bool:
        try:
            return bool(cast(io.BufferedReader, self.rfile).peek(1))  # buffered bytes of a pipelined request count
        except OSError:
            return False

    def parse_request(self) -> bool:
        """Reads the headers; a request whose deadline passed meanwhile gets 408 instead of an answer."""
        gate = self.server.connections
        ok = not gate.too_late(self.connection) and super().parse_request()
        if gate.arrived(self.connection):
            return ok
        self.close_connection = True
        seconds = self.server.app.limits.request_timeout_s
        with contextlib.suppress(OSError):
            self.wfile.write(plain_response(HTTPStatus.REQUEST_TIMEOUT, f"the request line and headers must arrive within {seconds:g} s"))
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._dispatch(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch(send_body=False)

    # Routes that change state: POST only, and only with a token (see _reset).
    POST_ROUTES = {
        "/api/reset": "reset",
        "/api/teach/record": "teach",
        "/api/teach/class": "teach",
        "/api/teach/build": "teach",
        "/api/teach/use": "teach",
        "/api/model": "control",
        "/api/settings": "control",
        "/api/snapshot": "control",
        "/api/config/save": "control",
        "/api/compare": "control",
        "/api/zones": "control",
    }

    def _not_allowed(self) -> None:
        allow = "POST" if urlsplit(self.path).path in self.POST_ROUTES else "GET, HEAD"
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, f"only {allow}\n".encode(), "text/plain", {"Allow": allow})

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_POST_BODY:
            self.close_connection = True
            too_large = f"a body may have at most {MAX_POST_BODY} bytes\n".encode()
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large, "text/plain", {"Connection": "close"})
            return
        self.body = self.rfile.read(int(length))  # read so the next request on this connection starts clean
        self._dispatch(send_body=True, routes=self.POST_ROUTES)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def _dispatch(self, send_body: bool, routes: dict[str, str] | None = None) -> None:
        self._send_body = send_body
        app = self.server.app
        refusal = app.hosts.refusal(self.headers.get_all("Host", []), self.request_version) if app.hosts else None
        if refusal is not None:
            self.server.connections.count("host")
            self.close_connection = True
            self._reply(refusal[0], refusal[1].encode() + b"\n", "text/plain; charset=utf-8", {"Connection": "close"})
            return
        url = urlsplit(self.path)
        route = (self.ROUTES if routes is None else routes).get(url.path)
        if route is None:
            if routes is None and url.path in self.POST_ROUTES or routes is not None and url.path in self.ROUTES:
                self._not_allowed()
                return
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        if routes is not None and (cross := _cross_site(self.headers)) is not None:
            log.warning("%s %s", url.path, cross)  # the journal says why a page's change was refused
            self._json(HTTPStatus.FORBIDDEN, {"error": cross})
            return
        if url.path not in PUBLIC and not app.authorised(self.headers.get("Authorization"), _query_token(url.query)):
            body = b"a token is required: Authorization: Bearer <token> or ?token=<token>\n"
            self._reply(HTTPStatus.UNAUTHORIZED, body, "text/plain", {"WWW-Authenticate": 'Bearer realm="camapp"'})
            return
        getattr(self, "_" + route)(app)

    # -- routes ---------------------------------------------------------------------------
    def _page(self, app: WebApp) -> None:
        self._reply(HTTPStatus.OK, app.page, "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_CSP})

    def _teach(self, app: WebApp) -> None:
        # Like /api/reset: a change (POST) needs a token, and without one every change is refused.
        if app.teach is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "teaching from the page is off (teach.enabled)"})
        elif self.command == "POST" and app.token is None:
            self._json(HTTPStatus.FORBIDDEN, {"error": "teaching needs a token: set http.token (or CAMAPP_HTTP_TOKEN)"})
        else:
            url = urlsplit(self.path)
            status, kind, body = app.teach.handle(self.command, url.path, parse_qs(url.query), self.body if self.command == "POST" else b"")
            self._reply(status, body, kind, {"Content-Security-Policy": PAGE_CSP} if kind.startswith("text/html") else None)

    def _control(self, app: WebApp) -> None:
        # Like /api/reset and teaching: a change (POST) needs a token, and without one every change is refused.
        if app.control is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "the controls are not available in this run"})
        elif self.command == "POST" and app.token is None:
            self._json(HTTPStatus.FORBIDDEN, {"error": "changing the camera needs a token: set http.token (or CAMAPP_HTTP_TOKEN)"})
        else:
            url = urlsplit(self.path)
            body = self.body if self.command == "POST" else b""
            status, kind, answer = app.control.handle(self.command, url.path, parse_qs(url.query), body)
            self._reply(status, answer, kind)

    def _media(self, app: WebApp) -> None:
        if app.media is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no snapshots folder in this run (snapshots.dir)"})
            return
        url = urlsplit(self.path)
        status, kind, body = app.media.handle(self.command, url.path, parse_qs(url.query), b"")
        cache = {"Cache-Control": "private, max-age=3600"} if url.path != "/api/media" and status == HTTPStatus.OK else None
        self._reply(status, body, kind, cache)  # a saved file never changes under its name

    def _history(self, app: WebApp) -> None:
        if app.history is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no history in this run"})
        else:
            self._json(HTTPStatus.OK, app.history())

    def _vendor(self, app: WebApp) -> None:
        name, kind = VENDOR[urlsplit(self.path).path]
        data = resources.files("camapp.outputs.web").joinpath("vendor", name).read_bytes()
        self._reply(HTTPStatus.OK, data, kind, {"Cache-Control": "private, max-age=86400"})

    def _reset(self, app: WebApp) -> None:
        # A state change from a browser on the LAN could be forged by any page it visits (a form
        # POST sends no Authorization header, and the Host check does not stop it): so resets need
        # a token, and without one the route is closed.
        if app.token is None:
            self._reply(HTTPStatus.FORBIDDEN, b"resetting counts needs a token: set http.token (or CAMAPP_HTTP_TOKEN)\n", "text/plain")
        elif app.reset is None:
            self._reply(HTTPStatus.NOT_FOUND, b"nothing to reset: no zones or lines are configured\n", "text/plain")
        elif app.reset():
            self._json(HTTPStatus.OK, {"reset": True})
        else:
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, b"the pipeline did not apply the reset in time (is it running?)\n", "text/plain")

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


def _cross_site(headers: Any) -> str | None:
    """Why a state-changing request comes from another site's page, or None.

    A browser on the LAN that visits evil.example can be made to post to the camera; with the token
    in a bookmarked URL or a form field, the token alone would not stop it. Browsers say where a
    request comes from: `Sec-Fetch-Site` (Chromium, Firefox, Safari) must be same-origin or none
    (typed, a bookmark), and an `Origin` header must name this camera (the Host it was asked by).
    Scripts and curl send neither and are not affected."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return f"refused: a request from another site's page (Sec-Fetch-Site: {site.strip()[:40]})"
    origin = headers.get("Origin")
    if origin is not None:
        host = (headers.get("Host") or "").strip().lower()
        # Behind a reverse proxy the page's origin is the proxy's name: X-Forwarded-Host carries it. A
        # page cannot forge that header cross-site (it is not CORS-safelisted: the browser would ask
        # first with OPTIONS, which is a 405 here).
        forwarded = {h.strip().lower() for h in (headers.get("X-Forwarded-Host") or "").split(",") if h.strip()}
        netloc = urlsplit(origin.strip()).netloc.lower() if origin.strip() != "null" else ""
        if not netloc or (netloc != host and netloc not in forwarded):
            return f"refused: a request from another site's page (Origin {origin.strip()[:100]} is not {host or 'this camera'})"
    return None


def _query_token(query: str) -> str | None:
    values = parse_qs(query).get("token")
    return values[0] if values else None


class WebServer:
    """The listening socket, its thread, and the open connections."""

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
        self.httpd.connections = self.connections = Connections(app.limits.max_connections)
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
        if self._thread.is_alive():
            self.httpd.shutdown()  # waits for serve_forever to end: only when it runs
        self.httpd.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if not self.connections.close_all(timeout=2.0):
            log.debug("%d web connections still open at close", self.connections.open)
