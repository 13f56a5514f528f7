"""Facts about this machine that `camapp doctor` judges: read from files and child processes.

Every reader takes its path (or interpreter) as an argument so a test can point it at a
constructed tree; none of them judges anything. Standard library only: the doctor must still run
when the scientific stack of the venv is broken, which is when it is needed most.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Video nodes a Raspberry Pi's kernel creates for its ISP, codecs and CSI receiver: not webcams,
# and a Pi 5 has twenty of them, which would bury the one USB camera in the list.
PI_INTERNAL_VIDEO_PREFIXES = ("bcm2835-", "rp1-cfe", "pispbe", "rpivid", "rpi-hevc", "unicam")


@dataclass(frozen=True)
class PythonEnv:
    """The interpreter running camapp and the venv around it (None when not in a venv)."""

    executable: str
    version: str
    prefix: str
    base_prefix: str
    base_executable: str
    venv_cfg: dict[str, str] | None

    @property
    def in_venv(self) -> bool:
        return self.venv_cfg is not None

    @property
    def sees_system_site(self) -> bool:
        return self.venv_cfg is not None and self.venv_cfg.get("include-system-site-packages", "").lower() == "true"


def read_pyvenv_cfg(path: Path) -> dict[str, str] | None:
    """The key = value lines of a venv's pyvenv.cfg, or None when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


def current_python() -> PythonEnv:
    cfg = read_pyvenv_cfg(Path(sys.prefix) / "pyvenv.cfg") if sys.prefix != sys.base_prefix else None
    base = getattr(sys, "_base_executable", "") or sys.executable
    if cfg is not None and os.path.realpath(base) == os.path.realpath(sys.executable) and cfg.get("home"):
        # An old venv module left _base_executable pointing into the venv: pyvenv.cfg's home is
        # the folder of the interpreter the venv was made from.
        base = str(Path(cfg["home"]) / "python3")
    return PythonEnv(sys.executable, platform.python_version(), sys.prefix, sys.base_prefix, base, cfg)


def venv_profile(prefix: str) -> str | None:
    """The install profile scripts/camapp recorded in the venv (the constraints file's header)."""
    try:
        first = (Path(prefix) / "camapp-constraints.txt").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return None
    _, _, rest = first.partition("install profile '")
    return rest.partition("'")[0] or None


def board_model(path: str = "/proc/device-tree/model") -> str | None:
    try:
        return Path(path).read_bytes().rstrip(b"\0\n").decode("utf-8", "replace").strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class VideoDevice:
    path: str  # /dev/videoN
    name: str  # what the driver calls it: "USB2.0 HD UVC WebCam", "pispbe-output0"
    accessible: bool  # this user can open it (read and write)

    @property
    def pi_internal(self) -> bool:
        return self.name.startswith(PI_INTERNAL_VIDEO_PREFIXES)


def video_devices(sys_root: str = "/sys/class/video4linux", dev_root: str = "/dev") -> list[VideoDevice]:
    root = Path(sys_root)
    if not root.is_dir():
        return []
    found = []
    for node in sorted(root.glob("video*"), key=lambda p: (len(p.name), p.name)):
        try:
            name = (node / "name").read_text(encoding="utf-8").strip()
        except OSError:
            name = "?"
        dev = os.path.join(dev_root, node.name)
        found.append(VideoDevice(dev, name, os.access(dev, os.R_OK | os.W_OK)))
    return found


def read_meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    """/proc/meminfo in bytes: {"MemTotal": ..., "MemAvailable": ..., "SwapTotal": ...}."""
    values = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key.strip()] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    return values


@dataclass(frozen=True)
class PicameraProbe:
    """What importing picamera2 did in a child process of the interpreter camapp runs in."""

    imported: bool
    missing: bool = False  # picamera2 itself is not installed (as opposed to broken)
    error: str | None = None  # first line of why the import failed, or how the child died
    path: str | None = None
    version: str | None = None
    cameras: list[str] | None = None  # libcamera's cameras, "imx708 (/base/...)"; None if not asked
    cameras_error: str | None = None


# Runs in the child. Imports picamera2 exactly as `--source picam` does and lists libcamera's
# cameras; the last stdout line is the JSON answer (libcamera logs to stderr).
_PICAMERA_PROBE = r"""
import json
out = {"imported": False, "missing": False, "error": None, "path": None, "version": None, "cameras": None, "cameras_error": None}
def first_line(exc):
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
try:
    import picamera2
    out["imported"] = True
    out["path"] = getattr(picamera2, "__file__", None)
    try:
        from importlib.metadata import version
        out["version"] = version("picamera2")
    except Exception:
        pass
    try:
        infos = picamera2.Picamera2.global_camera_info()
        out["cameras"] = [f"{i.get('Model', '?')} ({i.get('Id', i.get('Location', '?'))})" for i in infos]
    except Exception as exc:
        out["cameras_error"] = first_line(exc)
except ModuleNotFoundError as exc:
    out["missing"] = exc.name == "picamera2"
    out["error"] = first_line(exc)
except BaseException as exc:
    out["error"] = first_line(exc)
print(json.dumps(out, default=str))
"""


def probe_picamera2(executable: str = sys.executable, timeout: float = 30.0, env: dict[str, str] | None = None) -> PicameraProbe:
    """Import picamera2 in a child: a broken camera stack can abort or hang the process."""
    try:
        proc = subprocess.run(
            [executable, "-c", _PICAMERA_PROBE], capture_output=True, text=True, timeout=timeout, check=False, cwd="/", env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return PicameraProbe(False, error=f"importing picamera2 did not finish within {timeout:g} s")
    except OSError as exc:
        return PicameraProbe(False, error=f"could not run {executable}: {exc.strerror}")
    answer = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not answer:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        last = proc.stderr.strip().splitlines()[-1:] or ["no message"]
        return PicameraProbe(False, error=f"importing picamera2 killed the process ({how}): {last[0]}")
    data = json.loads(answer[-1])
    return PicameraProbe(**data)
