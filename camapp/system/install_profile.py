"""Which install profile this machine needs, and the pip constraints that go with it.

On Raspberry Pi OS the Pi camera stack comes from apt (python3-picamera2, with simplejpeg and
friends compiled against apt's numpy). A venv sees it only with --system-site-packages, and then
any numpy that pip puts into the venv shadows the system's: on Bookworm (numpy 1.24) a numpy 2 in
the venv makes `import picamera2` fail with "numpy.dtype size changed". So the rule is: where the
system Python can import picamera2, the venv sees the system site-packages and keeps the system's
numpy exactly (a constraint pins it), and every other package is held to versions that work with
that numpy. Everywhere else the venv is isolated and gets the current versions.

The profile is decided by what the system Python can import, not by the OS name, so Ubuntu or a
self-built libcamera behave the same way; the OS name only labels it.

scripts/camapp runs this file with the *system* python before camapp is installed, so it uses the
standard library only:
    python3 camapp/system/install_profile.py shell        # profile=...; system_site=0|1 (for eval)
    python3 camapp/system/install_profile.py constraints  # the pip constraints file
    python3 camapp/system/install_profile.py              # a readable summary
`camapp doctor` and `camapp service install` import it.
"""

from __future__ import annotations

import json
import platform
import shlex
import struct
import subprocess
import sys
from dataclasses import dataclass, field

PI_BOOKWORM = "pi-bookworm"
PI_TRIXIE = "pi-trixie"
STANDARD = "standard"

PROFILE_SUMMARY = {
    PI_BOOKWORM: "picamera2 and numpy 1.x from apt (Pi OS Bookworm): venv with system site-packages, "
    "keeps the system numpy, OpenCV < 4.12",
    PI_TRIXIE: "picamera2 and numpy 2.x from apt (Pi OS Trixie): venv with system site-packages, keeps the system numpy, current versions",
    STANDARD: "no Pi camera stack in the system Python: an isolated venv with the current versions",
}

# Held back where the system numpy is 1.x. opencv-python 4.12 and later require numpy >= 2 (4.11
# supports numpy >= 1.23.5 on Python 3.11); ai-edge-litert 2.3.0 needs numpy >= 1.23.2, so LiteRT
# is not held back. Checked by scripts/check-wheels (pip resolving for aarch64, run in CI).
NUMPY1_PINS = (
    ("opencv-python<4.12", "4.12 and later require numpy >= 2"),
    ("opencv-python-headless<4.12", "the same for the headless build"),
)

# The probe runs in the Python the venv will be made from (the system one on a Pi). It imports
# picamera2 as a user would, so a broken camera stack shows up here with its own message.
_PROBE = r"""
import json, platform, sys
facts = {"version": platform.python_version(), "picamera2": None, "picamera2_error": None, "numpy": None, "numpy_path": None}
try:
    import numpy
    facts["numpy"] = numpy.__version__
    facts["numpy_path"] = numpy.__file__
except Exception as exc:
    facts["numpy_error"] = f"{type(exc).__name__}: {exc}"
try:
    import av
    facts["av"] = av.__version__
except Exception:
    pass
try:
    import picamera2
    facts["picamera2"] = getattr(picamera2, "__file__", None) or "?"
except Exception as exc:
    facts["picamera2_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
print(json.dumps(facts))
"""


@dataclass(frozen=True)
class PythonFacts:
    """What one Python interpreter can import: the base of the venv camapp will live in."""

    executable: str
    version: str
    picamera2_path: str | None = None
    picamera2_error: str | None = None
    numpy_version: str | None = None
    numpy_path: str | None = None
    av_version: str | None = None  # PyAV (python3-av on a Pi: picamera2's encoders use it)
    probe_failed: bool = False  # the interpreter could not be asked, or died importing picamera2


@dataclass(frozen=True)
class Machine:
    os_id: str
    os_codename: str
    os_pretty: str
    machine: str  # platform.machine(): the kernel's view (aarch64 under a 32-bit userland too)
    pointer_bits: int  # 64 or 32: what the userland, and so pip's wheels, really are


@dataclass(frozen=True)
class Profile:
    name: str
    system_site_packages: bool
    constraints: list[str] = field(default_factory=list)  # lines of the pip constraints file
    why: str = ""


def read_os_release(path: str = "/etc/os-release") -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip().strip('"')
    except OSError:
        pass
    return values


def machine() -> Machine:
    osr = read_os_release()
    return Machine(
        os_id=osr.get("ID", "unknown"),
        os_codename=osr.get("VERSION_CODENAME", ""),
        os_pretty=osr.get("PRETTY_NAME", platform.system()),
        machine=platform.machine(),
        pointer_bits=struct.calcsize("P") * 8,
    )


def sixty_four_bit_problem(m: Machine) -> str | None:
    """Why camapp cannot run on this machine's userland, or None. A Pi with a 64-bit kernel but
    the 32-bit Pi OS userland reports aarch64 from uname, so the pointer size decides."""
    if m.pointer_bits == 64:
        return None
    return (
        f"camapp needs a 64-bit OS: this {m.os_pretty} userland is {m.pointer_bits}-bit ({m.machine}), and LiteRT publishes "
        "no wheels for armv7 / 32-bit; install Raspberry Pi OS (64-bit) or another 64-bit image"
    )


def probe_python(executable: str = sys.executable, timeout: float = 60.0) -> PythonFacts:
    """Ask `executable` what it can import, in a child process: importing a broken camera stack
    can abort, and the venv's own packages must not leak into the answer."""
    try:
        probe = subprocess.run([executable, "-c", _PROBE], capture_output=True, text=True, timeout=timeout, check=False, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return PythonFacts(executable, "unknown", picamera2_error=f"could not run {executable}: {exc}", probe_failed=True)
    out = probe.stdout.strip().splitlines()
    try:
        facts = json.loads(out[-1]) if out else None
    except ValueError:
        facts = None
    if facts is None:
        # No answer: importing the camera stack killed the interpreter (an abort in a C extension).
        last = (probe.stderr.strip().splitlines() or [""])[-1]
        error = f"importing it ended {executable} (exit code {probe.returncode}) {last}".rstrip()
        return PythonFacts(executable, "unknown", picamera2_error=error, probe_failed=True)
    return PythonFacts(
        executable=executable,
        version=facts.get("version", "unknown"),
        picamera2_path=facts.get("picamera2"),
        picamera2_error=facts.get("picamera2_error"),
        numpy_version=facts.get("numpy"),
        numpy_path=facts.get("numpy_path"),
        av_version=facts.get("av"),
    )


def choose(py: PythonFacts, m: Machine | None = None) -> Profile:
    """The profile for a venv made from `py`: see the module docstring for the rule."""
    label = f" ({m.os_pretty})" if m else ""
    if not py.picamera2_path:
        return Profile(STANDARD, system_site_packages=False, why=PROFILE_SUMMARY[STANDARD] + label)
    if not py.numpy_version:
        # picamera2 without numpy cannot happen with apt's package; keep the venv able to see it.
        return Profile(STANDARD, system_site_packages=True, why="picamera2 in the system Python without numpy" + label)
    keep = f"numpy=={py.numpy_version}"
    # The system's PyAV too: picamera2 imports av for its encoders, and a PyPI copy in the venv
    # would shadow it (and add 100 MB); Debian's FFmpeg behind it has libx264 for recordings.
    keep_av = [f"av=={py.av_version}  # the system's own PyAV (python3-av), which picamera2 uses"] if py.av_version else []
    if int(py.numpy_version.split(".")[0]) < 2:
        lines = [f"{keep}  # the system's own numpy: python3-picamera2 and simplejpeg are built against it", *keep_av]
        lines += [f"{pin}  # {why}" for pin, why in NUMPY1_PINS]
        return Profile(PI_BOOKWORM, system_site_packages=True, constraints=lines, why=PROFILE_SUMMARY[PI_BOOKWORM] + label)
    lines = [f"{keep}  # the system's own numpy: python3-picamera2 is built against it", *keep_av]
    return Profile(PI_TRIXIE, system_site_packages=True, constraints=lines, why=PROFILE_SUMMARY[PI_TRIXIE] + label)


def constraints_file(profile: Profile) -> str:
    head = f"# pip constraints of camapp's install profile '{profile.name}', written by camapp/system/install_profile.py\n"
    return head + "".join(line + "\n" for line in profile.constraints)


def main(argv: list[str]) -> int:
    m = machine()
    problem = sixty_four_bit_problem(m)
    if problem:
        print(f"camapp: error: {problem}", file=sys.stderr)
        return 2
    py = probe_python(sys.executable)
    profile = choose(py, m)
    mode = argv[0] if argv else "summary"
    if py.probe_failed:
        print(f"camapp: warning: picamera2 could not be probed: {py.picamera2_error}; run `camapp doctor` once camapp is installed",
              file=sys.stderr)
    if mode == "shell":
        # One probe for scripts/camapp (importing picamera2 takes about a second on a Pi): the
        # constraints file comes along in a variable.
        print(f"profile={shlex.quote(profile.name)}; system_site={int(profile.system_site_packages)}; "
              f"profile_why={shlex.quote(profile.why)}; constraints={shlex.quote(constraints_file(profile))}")
    elif mode == "constraints":
        sys.stdout.write(constraints_file(profile))
    elif mode == "summary":
        print(f"install profile: {profile.name}: {profile.why}")
        print(f"python: {py.executable} {py.version}; numpy: {py.numpy_version or 'none'}; "
              f"picamera2: {py.picamera2_path or py.picamera2_error or 'not installed'}")
        for line in profile.constraints:
            print(f"  constraint: {line}")
    else:
        print(f"usage: {argv and argv[0]} [shell|constraints|summary]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
