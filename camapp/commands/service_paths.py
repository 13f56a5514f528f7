"""Can the service see this installation? The directories the unit's sandbox hides, and what it needs.

The units run with ProtectHome=yes and PrivateTmp=yes. A venv in a clone under /home/pi, a pyenv
Python under /root/.pyenv or an editable install pointing into /home would make every start fail
with a bare "status=203/EXEC" or "No module named camapp" in the journal, so `camapp service
install` checks first and names the fix.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from camapp.errors import UsageError

# The one way to get an installation the service can see: scripts/camapp, run from the clone,
# creates this venv with the right install profile and installs camapp into it non-editable.
FIX = "sudo CAMAPP_VENV=/opt/camapp/venv bash scripts/camapp service install --create-user"


@dataclass(frozen=True)
class Hidden:
    path: str  # the path as the service would meet it (symlinks resolved where that is what hides it)
    root: str  # the hidden directory it lies in
    setting: str  # the unit setting that hides it, e.g. "ProtectHome=yes"


def hidden_from_service(path: str) -> Hidden | None:
    """The unit setting that hides `path` from the service, or None when the service can read it."""
    rules = (
        # ProtectHome=yes makes these three empty and inaccessible (systemd.exec(5)): every home
        # directory, root's (where pyenv keeps its Pythons) and the per-user runtime directories.
        ("/home", "ProtectHome=yes"),
        ("/root", "ProtectHome=yes"),
        ("/run/user", "ProtectHome=yes"),
        # PrivateTmp=yes mounts a new, empty /tmp and /var/tmp for the service: a path under them
        # is not merely unreadable, it names a different (empty) directory.
        ("/tmp", "PrivateTmp=yes"),
        ("/var/tmp", "PrivateTmp=yes"),
    )
    # Where a symlink really leads is checked first (a venv's bin/python usually points into the base
    # Python, which may be /root/.pyenv/...), then the path as written (the service opens that one).
    for candidate in (os.path.realpath(path), os.path.normpath(os.path.abspath(path))):
        for root, setting in rules:
            if candidate == root or candidate.startswith(root + "/"):
                return Hidden(candidate, root, setting)
    return None


@dataclass(frozen=True)
class Needed:
    what: str  # how the error names it: "the venv", "the Python interpreter", ...
    path: str


@dataclass(frozen=True)
class Installation:
    """The camapp the unit will start, and every path that start depends on."""

    camapp: str
    needs: tuple[Needed, ...]


def this_installation() -> Installation:
    """The running installation: its camapp program, venv, base Python and camapp's source."""
    import camapp

    program = camapp_program()
    # A hidden directory is named once, not per file in it: the first of related paths is named.
    needs = [
        Needed("the venv", sys.prefix),
        Needed("the camapp program", program),
        Needed("the Python interpreter", os.path.realpath(sys.executable)),
        Needed("the base Python", sys.base_prefix),
    ]
    source = editable_source()
    if source:
        needs.append(Needed("the editable install's source", source))
    needs.append(Needed("the camapp package", str(Path(camapp.__file__).parent)))
    return Installation(program, tuple(needs))


def camapp_program() -> str:
    """The camapp script of the running interpreter's venv (not resolved: the venv path is what counts)."""
    beside = Path(sys.executable).parent / "camapp"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("camapp")
    if found:
        return str(Path(found).absolute())
    raise UsageError("cannot find the camapp program of this installation", "run `camapp service install` from the venv's bin/camapp")


def editable_source() -> str | None:
    """The source directory an editable install of camapp keeps importing from, if it is one."""
    # Every camapp metadata on sys.path is asked: run from a clone, the first one found may be the
    # clone's own camapp.egg-info (the current directory comes first), which records no install.
    for dist in metadata.distributions(name="camapp"):
        source = editable_source_from(dist.read_text("direct_url.json"))
        if source:
            return source
    return None


def editable_source_from(direct_url_json: str | None) -> str | None:
    """PEP 610's direct_url.json: `pip install -e DIR` records file://DIR with dir_info.editable.
    A plain `pip install DIR` records the same URL but copied the files, so it needs nothing there."""
    try:
        data = json.loads(direct_url_json or "")
    except ValueError:
        return None
    url = data.get("url", "") if isinstance(data, dict) else ""
    if not (isinstance(data.get("dir_info"), dict) and data["dir_info"].get("editable")) or not url.startswith("file://"):
        return None
    return urllib.parse.unquote(urllib.parse.urlparse(url).path)


def refuse_hidden(needs: Iterable[Needed], fix: str = FIX) -> None:
    """One usage error naming every needed path the service could not see, why, and the fix."""
    reported: list[str] = []
    problems: list[str] = []
    for need in needs:
        hidden = hidden_from_service(need.path)
        if hidden is None or any(_related(hidden.path, p) for p in reported):
            continue
        reported.append(hidden.path)
        effect = "replaces with an empty private directory" if hidden.setting.startswith("PrivateTmp") else "hides"
        problems.append(f"{need.what} {hidden.path} ({hidden.setting} {effect} {hidden.root})")
    if problems:
        raise UsageError(
            "the service could not start: the unit cannot see " + ", ".join(problems),
            f"install camapp outside /home, /root, /run/user, /tmp and /var/tmp; from the clone run: {fix}",
        )


def _related(a: str, b: str) -> bool:
    """One path lies in the other (or they are the same)."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")
