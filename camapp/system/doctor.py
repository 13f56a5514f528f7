"""The checks of `camapp doctor`: what camapp found on this machine, and what to do about it.

Each check is a small function from facts (see camapp/system/probes.py and install_profile.py) to
one Check, so a test can hand it a 32-bit machine or a Bookworm venv that this machine is not.
run_checks() gathers the real facts, once each, and never raises: a check that itself fails
becomes a WARN line naming its error, because the doctor is run when things are already broken.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import site
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from camapp.system import install_profile as ip
from camapp.system.probes import PicameraProbe, PythonEnv, VideoDevice

Status = Literal["ok", "warn", "fail"]
OK: Status = "ok"
WARN: Status = "warn"
FAIL: Status = "fail"

MB = 1024 * 1024
MIN_FREE_DISK = 200 * MB  # a model or two, plus the recorder's reserve
MIN_AVAILABLE_MEMORY = 150 * MB  # an SSD model, OpenCV and a few frames
SMALL_BOARD = 768 * MB  # a 512 MB Pi reports ~430 MB (the GPU keeps the rest)
OPENCV_DISTS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless")
RUNTIME_DISTS = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    found: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def size_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit == "GB" else f"{n:.0f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def recreate_fix(env: PythonEnv) -> str:
    """How to rebuild the venv with the right profile: scripts/camapp makes it again on next use."""
    prefix = Path(env.prefix)
    if prefix.name == ".venv":
        here = "" if Path.cwd().resolve() == prefix.parent.resolve() else f"cd {prefix.parent} && "
        return f"{here}rm -rf .venv && bash scripts/camapp doctor"
    return f"rm -rf {prefix} && CAMAPP_VENV={prefix} bash scripts/camapp doctor (in the camapp clone)"


def check_os(m: ip.Machine, board: str | None = None) -> Check:
    found = f"{m.os_pretty}, {m.machine}, {m.pointer_bits}-bit userland"
    if board:
        found = f"{board}; {found}"
    if ip.sixty_four_bit_problem(m):
        return Check("os", FAIL, f"{found}: needs a 64-bit OS, because no LiteRT wheels exist for armv7",
                     "install Raspberry Pi OS (64-bit) or another 64-bit image")
    return Check("os", OK, found)


def check_python(env: PythonEnv) -> Check:
    where = "not in a venv"
    if env.in_venv:
        site_text = "sees the system site-packages" if env.sees_system_site else "isolated from the system site-packages"
        where = f"venv {env.prefix} ({site_text})"
    found = f"{env.version} {env.executable}, {where}"
    if tuple(int(p) for p in env.version.split(".")[:2]) < (3, 11):
        return Check("python", FAIL, found, "camapp needs Python 3.11 or newer (Raspberry Pi OS Bookworm has 3.11)")
    return Check("python", OK, found)


def _profile_text(p: ip.Profile) -> str:
    pins = [line.split("#")[0].strip() for line in p.constraints if line.startswith("numpy==")]
    kind = "venv with system site-packages" if p.system_site_packages else "isolated venv"
    return f"{p.name} ({kind}{', keeps ' + pins[0] if pins else ''})"


def check_profile(needed: ip.Profile, env: PythonEnv, recorded: str | None, base: ip.PythonFacts) -> Check:
    """The profile the base interpreter calls for (install_profile.choose) against the venv."""
    if base.probe_failed:
        return Check("profile", WARN, f"cannot ask the base interpreter: {base.picamera2_error}", recreate_fix(env))
    needs = f"needs {_profile_text(needed)}"
    if not env.in_venv:
        return Check("profile", OK, f"{needs}; camapp runs without a venv, so the system packages are used directly")
    if needed.system_site_packages and not env.sees_system_site:
        return Check("profile", FAIL, f"{needs}, but the venv is isolated and cannot see the system's picamera2", recreate_fix(env))
    if not needed.system_site_packages and env.sees_system_site:
        return Check("profile", WARN, f"{needs}, but the venv sees the system site-packages, whose packages can shadow its own",
                     recreate_fix(env))
    if recorded and recorded != needed.name:
        return Check("profile", WARN, f"{needs}, but the venv was made for {recorded}", recreate_fix(env))
    made = "made by scripts/camapp" if recorded else "not made by scripts/camapp, but it fits"
    return Check("profile", OK, f"{needs}; the venv matches ({made})")


def _inside(path: str, folder: str) -> bool:
    # Both spellings: a venv under a symlinked home, or a package symlinked into the venv.
    return any(p.startswith(f + os.sep) for p, f in ((os.path.abspath(path), os.path.abspath(folder)),
                                                      (os.path.realpath(path), os.path.realpath(folder))))


def _origin(path: str, env: PythonEnv) -> str:
    if env.in_venv and _inside(path, env.prefix):
        return "the venv"
    if _inside(path, site.getusersitepackages()):
        return "the user site (~/.local)"
    return "the system"


def check_numpy(version: str | None, path: str | None, env: PythonEnv, base: ip.PythonFacts, error: str | None = None) -> Check:
    if not version or not path:
        return Check("numpy", FAIL, f"does not import: {error or 'not installed'}", recreate_fix(env))
    origin = _origin(path, env)
    found = f"{version} from {origin} ({os.path.dirname(os.path.dirname(path))})"
    shadows = env.in_venv and env.sees_system_site and origin == "the venv" and base.numpy_version
    if not shadows:
        return Check("numpy", OK, found)
    shadow = f"{version} in the venv shadows the system's {base.numpy_version}"
    if base.picamera2_path and version.split(".")[0] != str(base.numpy_version).split(".")[0]:
        return Check("numpy", FAIL, f"{shadow}, which the system's picamera2 is built against: importing it fails", recreate_fix(env))
    uninstall = f"{env.prefix}/bin/python -m pip uninstall -y numpy"
    return Check("numpy", WARN, shadow, f"{uninstall} (the system's {base.numpy_version} is then used)")


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_runtime() -> Check:
    from camapp.errors import CamappError
    from camapp.inference import runtime

    try:
        name, _ = runtime.interpreter_class()
    except CamappError as exc:
        return Check("runtime", FAIL, exc.message, exc.hint)
    forced = " (forced by CAMAPP_RUNTIME)" if os.environ.get("CAMAPP_RUNTIME", "").strip() else ""
    others = [f"{other} {_dist_version(dist) or 'not installed'}" for other, dist in RUNTIME_DISTS.items() if other != name]
    return Check("runtime", OK, f"{runtime.runtime_version()} in use{forced}; {', '.join(others)}")


def check_opencv(version: str, packages: list[str], backends: list[str]) -> Check:
    package = ", ".join(packages) if packages else "no pip package (apt's python3-opencv?)"
    found = f"{version} from {package}; video I/O: {', '.join(backends) or 'none'}"
    if any(p.endswith("-headless") for p in packages):
        found += " (headless: no --show window)"
    if len(packages) > 1:
        return Check("opencv", WARN, f"{found}: several OpenCV packages overwrite each other's cv2",
                     f"pip uninstall -y {' '.join(packages)} && pip install opencv-python")
    if "V4L2" not in backends:
        return Check("opencv", WARN, f"{found}: no V4L2, so webcams cannot be opened", "pip install opencv-python (its wheels have V4L2)")
    if not {"FFMPEG", "GSTREAMER"} & set(backends):
        return Check("opencv", WARN, f"{found}: no FFMPEG or GSTREAMER for video files and streams", "pip install opencv-python")
    return Check("opencv", OK, found)


def opencv_check() -> Check:
    """check_opencv on the cv2 this interpreter imports."""
    try:
        import cv2
    except Exception as exc:
        return Check("opencv", FAIL, f"does not import: {type(exc).__name__}: {exc}", "pip install opencv-python (in the venv)")
    from cv2 import videoio_registry as registry

    backends = list(dict.fromkeys(registry.getBackendName(b) for b in registry.getBackends()))
    return check_opencv(cv2.__version__, [d for d in OPENCV_DISTS if _dist_version(d)], backends)


def _is_pi(board: str | None) -> bool:
    return bool(board and board.startswith("Raspberry Pi"))


def check_picamera2(probe: PicameraProbe, board: str | None, base: ip.PythonFacts, env: PythonEnv) -> Check:
    if probe.imported:
        return Check("picamera2", OK, f"{probe.version or 'imports'} from {os.path.dirname(os.path.dirname(probe.path or '?'))}")
    if probe.missing and base.picamera2_path:
        return Check("picamera2", WARN, f"the system Python has it ({base.picamera2_path}) but this venv cannot see it", recreate_fix(env))
    if probe.missing and _is_pi(board):
        return Check("picamera2", WARN, "not installed: the Pi camera (--source picam) needs it",
                     f"sudo apt install -y python3-picamera2, then {recreate_fix(env)}")
    if probe.missing:
        return Check("picamera2", OK, "not installed (only needed for the Pi camera)")
    error = probe.error or "unknown error"
    if "numpy" in error:
        return Check("picamera2", FAIL, f"does not import: {error}", f"the venv's numpy must be the system's: {recreate_fix(env)}")
    return Check("picamera2", FAIL, f"does not import: {error}",
                 f"see the whole error: {env.executable} -c 'import picamera2'; sudo apt install --reinstall python3-picamera2")


def check_cameras(devices: list[VideoDevice], probe: PicameraProbe) -> Check:
    parts = [f"{d.path} {d.name}" for d in devices if not d.pi_internal]
    internal = sum(d.pi_internal for d in devices)
    if internal:
        parts.append(f"{internal} Pi ISP/codec nodes (not cameras)")
    if probe.imported:
        parts.append(f"libcamera: {', '.join(probe.cameras) if probe.cameras else 'none'}")
    found = "; ".join(parts) or "none (video files, images and network streams still work)"
    locked = [d.path for d in devices if not d.accessible and not d.pi_internal]
    if locked:
        return Check("cameras", WARN, f"{found}; no permission for {', '.join(locked)}", "sudo usermod -aG video $USER, then log in again")
    if probe.imported and probe.cameras_error:
        return Check("cameras", WARN, f"{found}; listing libcamera's cameras failed: {probe.cameras_error}", "rpicam-hello --list-cameras")
    if probe.imported and probe.cameras == []:
        return Check("cameras", WARN, f"{found}: picamera2 finds no camera",
                     "check the ribbon cable (power off first), then rpicam-hello --list-cameras")
    return Check("cameras", OK, found)


def _existing(path: Path) -> Path:
    """The folder itself or its nearest existing parent: a cache made on first pull lands there."""
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(places: list[tuple[str, Path]], min_free: int = MIN_FREE_DISK) -> Check:
    by_device: dict[int, tuple[list[str], int]] = {}
    for label, path in places:
        where = _existing(path)
        labels, _ = by_device.setdefault(where.stat().st_dev, ([], shutil.disk_usage(where).free))
        labels.append(f"{label} {path}")
    low = [(labels, free) for labels, free in by_device.values() if free < min_free]
    found = "; ".join(f"{size_text(free)} free for {' and '.join(labels)}" for labels, free in by_device.values())
    if low:
        return Check("disk", WARN, f"{found}: under {size_text(min_free)}",
                     "free some space (sudo apt clean; sudo journalctl --vacuum-size=50M) or set CAMAPP_MODEL_CACHE_DIR to a bigger disk")
    return Check("disk", OK, found)


def check_memory(meminfo: dict[str, int], min_available: int = MIN_AVAILABLE_MEMORY) -> Check:
    total, available, swap = meminfo["MemTotal"], meminfo.get("MemAvailable", meminfo.get("MemFree", 0)), meminfo.get("SwapTotal", 0)
    found = f"{size_text(total)} total, {size_text(available)} available, swap {size_text(swap)}"
    small = "use a small model, e.g. --model mobilenet_v1_0.25_128_quant, and --every 2"
    board = "; a 512 MB board" if total < SMALL_BOARD else ""
    if available < min_available:
        low = f"{found}: under {size_text(min_available)} available{board}"
        return Check("memory", WARN, low, f"stop other programs, add swap, or {small}")
    return Check("memory", OK, f"{found}{board}: {small}" if board else found)


def check_config(path: str | None, env: dict[str, str]) -> Check:
    """The settings camapp would run with here: --config FILE, then CAMAPP_* variables."""
    from camapp.config import env_keys, load_config
    from camapp.errors import CamappError

    names = sorted(name for name in env if name in env_keys())
    found = f"{path or 'no config file'}; " + (f"CAMAPP_* variables: {', '.join(names)}" if names else "no CAMAPP_* variables")
    try:
        load_config(path, env=env)
    except CamappError as exc:
        return Check("config", FAIL, f"{found}: {exc.message}", exc.hint or "fix or unset that setting (camapp check-config FILE)")
    return Check("config", OK, found)


def _tflite_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.tflite")) if folder.is_dir() else []


def check_models(cache_dir: Path, system_dir: Path) -> Check:
    files = _tflite_files(cache_dir)
    found = f"cache {cache_dir}: " + (f"{len(files)} models, {size_text(sum(f.stat().st_size for f in files))}" if files else
                                      "no models yet (filled on first use)")
    if system_dir.is_dir():
        found += f"; {system_dir}: {len(_tflite_files(system_dir))} models"
    if not os.access(_existing(cache_dir), os.W_OK):
        return Check("models", WARN, f"{found}: not writable", "set model.cache_dir (CAMAPP_MODEL_CACHE_DIR) to a writable folder")
    return Check("models", OK, found)


def check_mirror(mirror: str | None, online: bool = False, probe_file: str = "", timeout: float = 5.0) -> Check:
    if not mirror:
        return Check("mirror", OK, "CAMAPP_MODEL_MIRROR not set: model ids are downloaded from the publishers' URLs")
    if "://" in mirror:
        if not online:
            return Check("mirror", OK, f"{mirror} (not contacted; --online checks it)")
        return _contact_mirror(mirror, probe_file, timeout)
    folder = Path(mirror).expanduser()
    if not folder.is_dir():
        return Check("mirror", FAIL, f"{mirror} is not a folder",
                     "set CAMAPP_MODEL_MIRROR (model.mirror) to the folder holding the .tflite files, or unset it")
    count = len(_tflite_files(folder))
    if not count:
        return Check("mirror", WARN, f"{mirror} holds no .tflite files", "copy the model files into it (camapp models list names them)")
    return Check("mirror", OK, f"{mirror}: {count} .tflite files")


def _contact_mirror(mirror: str, probe_file: str, timeout: float) -> Check:
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    url = mirror.rstrip("/") + "/" + quote(probe_file)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return Check("mirror", OK, f"{mirror}: reachable, serves {probe_file}")
    except urllib.error.HTTPError as exc:
        return Check("mirror", WARN, f"{mirror}: answers HTTP {exc.code} for {probe_file}", f"put {probe_file} on the mirror")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("mirror", FAIL, f"{mirror}: cannot be reached ({reason})", "check the URL and the network, or unset the mirror")
