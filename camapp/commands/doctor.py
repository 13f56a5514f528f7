"""camapp doctor: one screen saying what camapp found on this machine and what to fix.

One aligned line per check (ok / WARN / FAIL, what was found), the fix under any line that is not
ok, and a last line counting the problems. Exit code 1 when any check FAILs, so a setup script
can stop on it; WARN lines are worth reading but camapp runs. The checks live in
camapp/system/doctor.py; docs/doctor.md explains each line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TextIO

from camapp.commands.common import add_common_args
from camapp.system.checkup import DoctorOptions, run_checks
from camapp.system.doctor import FAIL, OK, Check

EXIT_ALL_RAN = 0
EXIT_SOMETHING_FAILED = 1

MARKERS = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}
COLOURS = {"ok": "\033[32m", "warn": "\033[33m", "fail": "\033[31m"}
RESET = "\033[0m"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "doctor",
        help="check this machine (OS, Python, numpy, runtime, OpenCV, cameras, disk, memory, models) and say what to fix",
        description="Check what camapp needs on this machine and print one line per check, with the fix for each problem. "
        "Exit code 1 when any check fails.",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--online", action="store_true", help="contact an http(s) model mirror (by default it is only named)")
    add_common_args(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    options = DoctorOptions(online=bool(getattr(args, "online", False)), config=getattr(args, "config", None),
                            debug=bool(getattr(args, "debug", False)))
    checks = run_checks(options)
    if getattr(args, "json", False):
        json.dump({"checks": [c.to_dict() for c in checks], "problems": problems(checks)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(checks, colour=wants_colour(sys.stdout)))
    sys.stdout.flush()
    return EXIT_SOMETHING_FAILED if any(c.status == FAIL for c in checks) else EXIT_ALL_RAN


def problems(checks: list[Check]) -> int:
    return sum(c.status != OK for c in checks)


def wants_colour(stream: TextIO) -> bool:
    # Colours only for a person at a terminal: never in a pipe, a log file or the journal.
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def render(checks: list[Check], colour: bool = False) -> str:
    name_width = max((len(c.name) for c in checks), default=0) + 2
    indent = " " * (name_width + 6)
    lines = []
    for c in checks:
        marker = MARKERS[c.status]
        shown = f"{COLOURS[c.status]}{marker}{RESET}" if colour else marker
        lines.append(f"{c.name:<{name_width}}{shown}{' ' * (6 - len(marker))}{c.found}")
        if c.fix and c.status != OK:
            lines.append(f"{indent}fix: {c.fix}")
    n = problems(checks)
    lines.append(f"{n} problem{'' if n == 1 else 's'}" if n else "no problems found")
    return "\n".join(lines) + "\n"
