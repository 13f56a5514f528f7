"""Running as a systemd service: sd_notify, the watchdog, journald logs, periodic stats, SIGHUP reload.

sd_notify is a tiny datagram protocol (systemd's sd_notify(3)): newline-separated KEY=VALUE
lines sent to the AF_UNIX socket named by $NOTIFY_SOCKET (a leading '@' means the abstract
namespace). It is spoken here with the socket module rather than a dependency: READY=1 once the
pipeline runs, WATCHDOG=1 while frames really flow, STATUS=... one-line state, RELOADING=1 with
MONOTONIC_USEC on SIGHUP, STOPPING=1 on the way out. Without $NOTIFY_SOCKET every call is a no-op,
so `camapp run` behaves the same in a terminal.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from camapp import early_signals
from camapp.outputs.base import Delivery, SinkBase
from camapp.sources.status import SourceState, SourceStatus
from camapp.stats import PipelineStats

if TYPE_CHECKING:
    from camapp.config import Config
    from camapp.outputs.base import Sink
    from camapp.sources.base import Source

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address: str | None = None
        addr = env.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):
            self.address = "\0" + addr[1:]
        elif addr.startswith("/"):
            self.address = addr
        elif addr:
            log.warning("NOTIFY_SOCKET=%s is not a unix socket path; systemd notifications are off", addr)
        self.watchdog_interval = _watchdog_interval(env)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False
        self.sent: list[str] = []  # the last messages, for status pages and debugging
        self._t0 = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        if self.address is None:
            return False
        message = "\n".join(fields)
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(message.encode("utf-8", "replace"), self.address)
            except OSError as exc:
                if not self._warned:  # systemd gone or socket full: say so once, never fail the run
                    log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc)
                    self._warned = True
                return False
            self.sent = [*self.sent[-19:], message]
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds of WatchdogSec, when systemd asks this very process for pings."""
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = int(env.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 and pid == os.getpid() else None


class WatchdogSink(SinkBase):
    """Pings the watchdog from the output thread, so pings stop whenever frames stop flowing.

    It sees every frame the worker finishes: a stalled camera, a hung interpreter or a deadlocked
    sink all stop the pings, and systemd restarts the service after WatchdogSec. Pings go out at
    half the interval, as sd_watchdog_enabled(3) advises. They also stop while a background
    output watched by `stats` (PipelineStats.watch) is stuck on one item.
    """

    def __init__(self, notifier: Notifier, interval: float, stats: PipelineStats | None = None) -> None:
        self.notifier = notifier
        self.period = interval / 2
        self.stats = stats
        self._last = 0.0
        self._held = False  # pings are held back for a stuck background output
        self.pings = 0

    def write(self, item: Delivery) -> None:
        now = time.monotonic()
        if now - self._last < self.period or self._stuck(now):
            return
        self._last = now
        if self.notifier.watchdog():
            self.pings += 1

    def _stuck(self, now: float) -> bool:
        # Snapshots are written on their own thread, so frames keep passing here while a frozen SD
        # card holds that thread in a write no timeout reaches. camapp cannot get it back by itself;
        # without pings systemd restarts the service after WatchdogSec, as for a hung camera.
        stuck = self.stats.stuck_worker(now) if self.stats is not None else None
        if stuck is not None and not self._held:
            log.error("output %s has been busy with one item for %.0f s: holding back watchdog pings", *stuck)
        elif stuck is None and self._held:
            log.info("outputs are moving again: watchdog pings resume")
        self._held = stuck is not None
        return self._held


def rss_mb() -> float | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def stats_line(stats: PipelineStats, previous: dict[str, Any] | None, source: SourceState | None = None) -> tuple[str, dict[str, Any]]:
    """One line for the log (and STATUS=), with counts over the last interval and since start."""
    s = stats.summary()
    now = {"read": s.frames_read, "processed": s.processed, "skipped": s.skipped, "t": s.seconds}
    prev = previous or {"read": 0, "processed": 0, "skipped": 0, "t": 0.0}
    span = max(1e-9, now["t"] - prev["t"])
    mem = rss_mb()
    source = source or SourceState()
    line = (
        f"{(now['processed'] - prev['processed']) / span:.1f} fps inferred, {stats.capture_fps():.1f} fps captured; "
        f"last {span:.0f} s: {now['processed'] - prev['processed']} processed, {now['skipped'] - prev['skipped']} skipped; "
        f"total {s.processed} processed, {s.skipped} skipped; inference p50 {s.inference_p50_ms:.1f} ms, p95 {s.inference_p95_ms:.1f} ms; "
        f"source {source.state}, {source.reconnects} reconnects" + (f"; memory {mem:.0f} MB" if mem is not None else "")
    )
    return line, now


class StatsReporter:
    """Logs one stats line every `interval` seconds and mirrors it into systemd's STATUS=."""

    def __init__(self, stats: PipelineStats, interval: float, notifier: Notifier, stop: threading.Event,
                 source: SourceStatus | None = None) -> None:
        self.stats = stats
        self.source = source or SourceStatus()
        self.interval = interval
        self.notifier = notifier
        self.stop = stop
        self.thread = threading.Thread(target=self._run, name="camapp-stats", daemon=True)
        self._previous: dict[str, Any] | None = None

    def start(self) -> None:
        if self.interval > 0:
            self.thread.start()

    def report(self) -> str:
        line, self._previous = stats_line(self.stats, self._previous, self.source.current)
        log.info("stats: %s", line)
        self.notifier.status(line)
        return line

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.report()
            except Exception:  # noqa: BLE001 - a broken report must not end the service
                log.exception("stats report failed")


class Reloader:
    """SIGHUP: re-read the config and load the model again, in the background, then swap it in.

    The running model keeps working while the new one loads, and stays if the config or the model
    is broken (one log line says why). The signal handler only sets an Event; all the work happens
    in this thread, because almost nothing is safe inside a signal handler.
    """

    def __init__(self, reload: Callable[[], str], notifier: Notifier, stop: threading.Event) -> None:
        self.reload = reload  # does the work, returns a status line; raises to keep the old state
        self.notifier = notifier
        self.stop = stop
        self.requested = threading.Event()
        self.done = 0
        self.failed = 0
        self.thread = threading.Thread(target=self._run, name="camapp-reload", daemon=True)

    def request(self, *_args: object) -> None:
        self.requested.set()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self.request)
            if early_signals.take_pending():  # sent while camapp was still starting
                self.request()

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.requested.wait(0.25):
                continue
            self.requested.clear()
            self.run_once()

    def run_once(self) -> bool:
        self.notifier.reloading()
        log.info("SIGHUP: reloading the config and the model")
        try:
            status = self.reload()
        except Exception as exc:  # noqa: BLE001 - CamappError or a runtime that refuses the model
            self.failed += 1
            log.error("reload failed, the running model and config stay: %s", exc)
            self.notifier.ready("reload failed, still running the previous model")
            return False
        self.done += 1
        self.notifier.ready(status)
        return True


class ServiceContext:
    """What `camapp run` adds around the pipeline to live as a service; run.py calls it step by step."""

    def __init__(self, cfg: Config, stats: PipelineStats, stop: threading.Event, notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.stats = stats
        self.stop = stop
        self.notifier = notifier or Notifier()
        self.source_status = SourceStatus()  # written by the reconnecting source, read by the outputs
        self.reporter = StatsReporter(stats, cfg.service.stats_interval, self.notifier, stop, self.source_status)
        self.reload_fn: Callable[[], str] | None = None
        # Installed first thing: SIGHUP's default action would kill the process while the model loads.
        self.reloader = Reloader(self._reload, self.notifier, stop)
        self.reloader.install()

    def source(self, make: Callable[[], Source]) -> Source:
        """The source, wrapped to survive outages when it is live (camera, stream) and reconnect is on."""
        from camapp.sources.reconnect import ReconnectingSource, ReconnectOptions

        first = make()
        s = self.cfg.service
        if not (s.reconnect and first.is_live):
            return first
        options = ReconnectOptions(s.stall_timeout, s.reconnect_min, s.reconnect_max)
        return ReconnectingSource(make, options, self.stop, self.stats, on_state=self._source_state, status=self.source_status)

    def _source_state(self, _state: str, text: str) -> None:
        self.notifier.status(text)

    def sinks(self, sinks: list[Sink]) -> list[Sink]:
        from camapp.outputs.guard import GuardedSink

        out: list[Sink] = [GuardedSink(s) for s in sinks]
        if self.cfg.service.watchdog and self.notifier.watchdog_interval:
            out.append(WatchdogSink(self.notifier, self.notifier.watchdog_interval, self.stats))
        return out

    def _reload(self) -> str:
        if self.reload_fn is None:
            raise RuntimeError("not running yet")
        return self.reload_fn()

    def started(self, status: str, reload_fn: Callable[[], str]) -> None:
        self.reload_fn = reload_fn
        self.notifier.ready(status)
        self.reporter.start()
        self.reloader.start()

    def stopping(self) -> None:
        self.notifier.stopping()
