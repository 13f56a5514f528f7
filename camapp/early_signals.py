"""SIGHUP that arrives before camapp can reload: held, not fatal.

`systemctl reload camapp` (or a config-management run) can send SIGHUP while camapp is still
importing and loading its model, and SIGHUP's default action ends the process: a reload in the
first second killed the service. cli.main() holds SIGHUP from its first line; `run`'s Reloader
takes a held one over when it installs its own handler, and every other command gets the default
action back (a terminal that hangs up still ends a `camapp bench`).
"""

from __future__ import annotations

import os
import signal
import threading

_pending = threading.Event()


def _remember(_signum: int, _frame: object) -> None:
    _pending.set()


def hold_sighup() -> None:
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, _remember)


def release_sighup() -> None:
    """The default action again, for commands that do not reload; a held SIGHUP is delivered now."""
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        if _pending.is_set():
            os.kill(os.getpid(), signal.SIGHUP)


def take_pending() -> bool:
    """True once if a SIGHUP was held since start-up."""
    held = _pending.is_set()
    _pending.clear()
    return held
