"""Where log lines go: a terminal or the journal, per-module levels, and the native libraries' own lines.

Under systemd (INVOCATION_ID or JOURNAL_STREAM set) lines carry a syslog priority prefix and no
timestamp, because journald adds one; in a terminal they are terse.

OpenCV's and FFmpeg's own log lines stay out of the terminal and the journal unless --debug.

Both libraries write straight to stderr from C: 5-14 lines ("[ WARN:0@0.011] global cap_v4l.cpp
...") before camapp's one good line about a missing camera, and about 700 lines in 45 s ("[mjpeg @
0x...] overread 8", "error count: 68") from a stream with corrupt JPEGs. camapp says what matters
in its own words instead, and counts the frames it had to skip (camapp_frames_unreadable_total in
/metrics). Both libraries read their level from the environment when first used, so this runs
before cv2 is imported; a value the user set is kept.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, MutableMapping

AV_LOG_QUIET = -8  # FFmpeg's libavutil/log.h


def quiet_native_logs(debug: bool, env: MutableMapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    if debug:
        return  # --debug shows everything the libraries say
    env.setdefault("OPENCV_LOG_LEVEL", "OFF")
    # Read by OpenCV's FFmpeg backend when it starts: av_log_set_level(this).
    env.setdefault("OPENCV_FFMPEG_LOGLEVEL", str(AV_LOG_QUIET))


# Python level -> syslog priority, for the "<N>" line prefix journald turns into PRIORITY=N.
SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}
_module_levels: set[str] = set()  # loggers given their own level, reset when the config is reloaded


def under_journal(env: Mapping[str, str] | None = None) -> bool:
    """True when systemd started us: stderr goes to the journal, which adds its own timestamps."""
    env = os.environ if env is None else env
    return bool(env.get("JOURNAL_STREAM") or env.get("INVOCATION_ID"))


class JournalFormatter(logging.Formatter):
    """`<N>LEVEL logger: message`, the prefix on every line so a multi-line record keeps its priority."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prio = SYSLOG_PRIORITY.get(record.levelno, 3 if record.levelno > logging.WARNING else 6)
        return "\n".join(f"<{prio}>{line}" for line in super().format(record).split("\n"))


def setup_logging(level: str, debug: bool, levels: Mapping[str, str] | None = None) -> None:
    """Terse lines in a terminal; under systemd no timestamps and syslog priorities (journalctl -p
    works); `levels` gives single modules their own level (config log.levels)."""
    handler = logging.StreamHandler(sys.stderr)
    if under_journal():
        handler.setFormatter(JournalFormatter())
    elif debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("camapp: %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)
    for name in _module_levels:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _module_levels.clear()
    for name, module_level in (levels or {}).items():
        logging.getLogger(name).setLevel(getattr(logging, module_level.upper(), logging.INFO))
        _module_levels.add(name)
