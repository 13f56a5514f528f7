"""The workers x threads arrangement `camapp bench pipeline --remember` measured best, kept for `auto`.

`auto` otherwise decides by rule (two one-thread interpreters for a file on two cores, and so on,
see camapp.app.choose_arrangement). A rule cannot know a board's memory bandwidth or a model's
shape, so the bench can measure every arrangement on the board itself and remember the fastest,
per model file (by its sha256, so a replaced file is measured again) and per number of cores (a
container or taskset may see fewer). Only the throughput case uses it: the bench measures frames
read as fast as possible, which is what a file or a camera faster than one invoke is like.

Two files, like the model folders: /var/lib/camapp/arrangements.json (the service's state folder,
written when the bench runs as root) and ~/.local/state/camapp/arrangements.json (the user's). The
user's entry wins when both know the model.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from camapp.atomic import write_json_atomic

log = logging.getLogger(__name__)

SYSTEM_FILE = Path("/var/lib/camapp/arrangements.json")


def user_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "camapp" / "arrangements.json"


def search_path() -> tuple[Path, ...]:
    return (user_file(), SYSTEM_FILE)


def writable_file() -> Path:
    """Where --remember writes: the service's state folder as root, else the user's."""
    return SYSTEM_FILE if os.geteuid() == 0 else user_file()


@dataclass(frozen=True)
class Remembered:
    """One measured choice."""

    model: str  # the file's name, for people reading the JSON
    sha256: str
    cores: int
    workers: int
    threads: int
    fps: float
    measured: str  # ISO date
    source: str  # what was replayed, e.g. "768x432 one-by-one-person-detection.mp4"

    def describe(self) -> str:
        return (f"measured best by camapp bench pipeline on {self.measured} "
                f"({self.workers} x {self.threads}, {self.fps:.0f} fps on {self.source})")


def _key(sha256: str, cores: int) -> str:
    return f"{sha256}/{cores}"


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # A damaged file costs only the remembered choice: the rule still decides.
        log.warning("ignoring %s (%s): auto falls back to its rule; run camapp bench pipeline --remember again", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def recall(sha256: str, cores: int, files: tuple[Path, ...] | None = None) -> Remembered | None:
    """The remembered choice for this model file on this many cores, if a bench stored one."""
    for path in files or search_path():
        entry = _read(path).get(_key(sha256, cores))
        if not isinstance(entry, dict):
            continue
        try:
            choice = Remembered(**entry)  # type: ignore[arg-type]
        except TypeError:
            continue
        if choice.workers >= 1 and choice.threads >= 1 and choice.workers * choice.threads <= cores:
            return choice
    return None


def remember(choice: Remembered, path: Path | None = None) -> Path:
    """Store the choice (replacing the model's earlier one), atomically: a crash leaves the old file."""
    path = path or writable_file()
    data = _read(path)
    data[_key(choice.sha256, choice.cores)] = asdict(choice)
    write_json_atomic(path, data)  # 0o644: the service's user reads what root wrote
    return path
