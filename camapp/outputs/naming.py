"""New files only: a run never overwrites what an earlier run saved.

A service restarts (a crash, a reboot, a SIGHUP gone wrong) with the same --save and --output, so
opening them with "w" would silently replace the previous recording and its results. Instead the
name is claimed with O_EXCL: `annotated.mp4` when it is free, else `annotated-2.mp4`, `-3`, ...
The check and the creation are one system call, so two processes never get the same name.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import stat

log = logging.getLogger(__name__)


def numbered(path: str, n: int) -> str:
    """`path` for n == 1, else the n-th numbered name: clip.mp4 -> clip-2.mp4."""
    if n == 1:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}-{n}{ext}"


def create_new_file(path: str) -> tuple[int, str]:
    """Create the first free name of `path`'s series; returns the open fd (write-only) and the name.

    A path that exists and is not a regular file (a FIFO a script reads, /dev/stdout, /dev/null)
    is opened as it is: there is nothing there to overwrite. OSError other than "exists" (no such
    folder, permission denied, disk full) goes to the caller.
    """
    if _is_special(path):
        return os.open(path, os.O_WRONLY | os.O_CLOEXEC), path
    for n in itertools.count(1):
        candidate = numbered(path, n)
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        if n > 1:
            log.info("%s exists: saving to %s instead (camapp never overwrites an earlier run's files)", path, candidate)
        return fd, candidate
    raise AssertionError("unreachable")  # itertools.count never ends


def _is_special(path: str) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)  # follows links: /dev/stdout -> a pipe or tty
    except OSError:
        return False  # absent (the usual case) or unreadable: the O_EXCL path says what is wrong


def claim_new_file(path: str) -> str:
    """Like create_new_file, for writers that open the file by name themselves (an empty file is left)."""
    fd, name = create_new_file(path)
    os.close(fd)
    return name


def remove_quietly(path: str) -> None:
    """Remove a file camapp was writing when that failed; it may already be gone."""
    with contextlib.suppress(OSError):
        os.remove(path)
