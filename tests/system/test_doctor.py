"""camapp doctor's checks: each one against this machine's real facts, and against constructed
facts (a 32-bit Pi, a Bookworm venv, a /sys tree with a Pi 5's video nodes) for what cannot happen
here. The Bookworm trap is also reproduced for real: a venv made from Debian's /usr/bin/python3
with the system site-packages, apt's numpy 1.24 shadowed by a numpy 2 inside the venv, and the
stand-in picamera2 (tests/fakes/standin_site) that breaks under it the way the real one does.
"""

from __future__ import annotations

import http.server
import json
import os
import platform
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest

from camapp.inference import runtime
from camapp.system import doctor, probes
from camapp.system import install_profile as ip
from camapp.system.checkup import CHECKS, DoctorOptions, Facts, guarded, run_checks
from camapp.system.probes import PicameraProbe, PythonEnv, VideoDevice
from tests.conftest import REPO, require

STANDIN_SITE = REPO / "tests" / "fakes" / "standin_site"
SYSTEM_PYTHON = "/usr/bin/python3"
SYSTEM_SITE = "/usr/lib/python3/dist-packages"
NOT_INSTALLED = PicameraProbe(False, missing=True, error="ModuleNotFoundError: No module named 'picamera2'")
PI5 = "Raspberry Pi 5 Model B Rev 1.0"


def venv_env(prefix: Path, system_site: bool, version: str = "3.11.2") -> PythonEnv:
    cfg = {"home": "/usr/bin", "include-system-site-packages": "true" if system_site else "false", "version": version}
    return PythonEnv(str(prefix / "bin" / "python"), version, str(prefix), "/usr", "/usr/bin/python3.11", cfg)


def system_python(numpy_version: str | None, picamera2: bool) -> ip.PythonFacts:
    return ip.PythonFacts(
        executable=SYSTEM_PYTHON,
        version="3.11.2",
        picamera2_path=f"{SYSTEM_SITE}/picamera2/__init__.py" if picamera2 else None,
        numpy_version=numpy_version,
        numpy_path=f"{SYSTEM_SITE}/numpy/__init__.py" if numpy_version else None,
    )


# --- os ------------------------------------------------------------------------------------------


def test_the_os_line_names_this_machines_os_and_architecture() -> None:
    check = doctor.check_os(ip.machine(), probes.board_model())
    assert check.status == "ok" and check.fix is None
    assert ip.read_os_release()["PRETTY_NAME"] in check.found
    assert platform.machine() in check.found and "64-bit userland" in check.found


def test_a_32_bit_pi_os_fails_because_litert_has_no_armv7_wheels() -> None:
    pi_32 = ip.Machine("raspbian", "bookworm", "Raspbian GNU/Linux 12 (bookworm)", machine="aarch64", pointer_bits=32)
    check = doctor.check_os(pi_32, "Raspberry Pi 4 Model B Rev 1.4")
    assert check.status == "fail"
    assert "needs a 64-bit OS, because no LiteRT wheels exist for armv7" in check.found
    assert check.found.startswith("Raspberry Pi 4 Model B Rev 1.4; Raspbian GNU/Linux 12 (bookworm), aarch64, 32-bit")
    assert check.fix and "64-bit" in check.fix


def test_the_board_model_is_read_from_the_device_tree_without_its_trailing_nul(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(PI5.encode() + b"\0")
    assert probes.board_model(str(model)) == PI5
    assert probes.board_model(str(tmp_path / "absent")) is None
    assert probes.board_model() == (Path("/proc/device-tree/model").read_bytes().rstrip(b"\0").decode()
                                    if Path("/proc/device-tree/model").exists() else None)


def test_os_release_is_read_from_the_given_file(tmp_path: Path) -> None:
    osr = tmp_path / "os-release"
    osr.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n')
    values = ip.read_os_release(str(osr))
    m = ip.Machine(values["ID"], values["VERSION_CODENAME"], values["PRETTY_NAME"], "aarch64", 64)
    assert doctor.check_os(m, PI5).found == f"{PI5}; Debian GNU/Linux 12 (bookworm), aarch64, 64-bit userland"


# --- python and the install profile ----------------------------------------------------------------


def test_the_python_line_describes_the_interpreter_running_the_tests() -> None:
    env = probes.current_python()
    check = doctor.check_python(env)
    assert check.status == "ok"
    assert sys.executable in check.found and platform.python_version() in check.found
    if sys.prefix != sys.base_prefix:
        assert f"venv {sys.prefix}" in check.found
        site_text = "sees the system site-packages" if env.sees_system_site else "isolated from the system site-packages"
        assert site_text in check.found
    else:
        assert "not in a venv" in check.found


def test_pyvenv_cfg_decides_whether_the_venv_sees_the_system_site_packages(tmp_path: Path) -> None:
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\nversion = 3.11.2\n")
    cfg = probes.read_pyvenv_cfg(tmp_path / "pyvenv.cfg")
    assert cfg == {"home": "/usr/bin", "include-system-site-packages": "true", "version": "3.11.2"}
    env = PythonEnv(str(tmp_path / "bin/python"), "3.11.2", str(tmp_path), "/usr", "/usr/bin/python3.11", cfg)
    assert env.in_venv and env.sees_system_site
    assert "(sees the system site-packages)" in doctor.check_python(env).found
    assert probes.read_pyvenv_cfg(tmp_path / "absent.cfg") is None


def test_an_old_python_fails() -> None:
    check = doctor.check_python(venv_env(Path("/opt/v"), False, version="3.9.2"))
    assert check.status == "fail" and check.fix and "3.11" in check.fix


def test_the_profile_scripts_camapp_recorded_is_read_back_from_the_constraints_file(tmp_path: Path) -> None:
    bookworm = ip.choose(system_python("1.24.2", picamera2=True))
    (tmp_path / "camapp-constraints.txt").write_text(ip.constraints_file(bookworm))
    assert probes.venv_profile(str(tmp_path)) == ip.PI_BOOKWORM
    assert probes.venv_profile(str(tmp_path / "elsewhere")) is None


def test_this_machine_needs_the_profile_its_base_interpreter_calls_for() -> None:
    env = probes.current_python()
    base = ip.probe_python(env.base_executable)
    needed = ip.choose(base, ip.machine())
    check = doctor.check_profile(needed, env, probes.venv_profile(env.prefix), base)
    assert f"needs {needed.name} " in check.found
    assert check.status == ("fail" if needed.system_site_packages and env.in_venv and not env.sees_system_site else check.status)


def test_a_pi_whose_venv_is_isolated_fails_with_the_command_that_rebuilds_it() -> None:
    bookworm = ip.choose(system_python("1.24.2", picamera2=True))
    check = doctor.check_profile(bookworm, venv_env(Path("/home/pi/camapp/.venv"), False), None, system_python("1.24.2", True))
    assert check.status == "fail" and "needs pi-bookworm" in check.found and "keeps numpy==1.24.2" in check.found
    assert check.fix and check.fix.endswith("rm -rf .venv && bash scripts/camapp doctor")


def test_a_venv_made_for_another_profile_or_seeing_what_it_need_not_is_a_warning() -> None:
    pi_base = system_python("2.2.4", picamera2=True)
    trixie = ip.choose(pi_base)
    made_for_bookworm = doctor.check_profile(trixie, venv_env(Path("/opt/camapp/venv"), True), ip.PI_BOOKWORM, pi_base)
    assert made_for_bookworm.status == "warn" and "made for pi-bookworm" in made_for_bookworm.found
    rebuild = "rm -rf /opt/camapp/venv && CAMAPP_VENV=/opt/camapp/venv bash scripts/camapp doctor (in the camapp clone)"
    assert made_for_bookworm.fix == rebuild
    plain_base = system_python("1.24.2", picamera2=False)
    leaky = doctor.check_profile(ip.choose(plain_base), venv_env(Path("/opt/v"), True), None, plain_base)
    assert leaky.status == "warn" and "shadow" in leaky.found
    matching = doctor.check_profile(trixie, venv_env(Path("/opt/v"), True), ip.PI_TRIXIE, pi_base)
    assert matching.status == "ok" and "made by scripts/camapp" in matching.found


def test_a_base_interpreter_that_cannot_run_is_a_warning() -> None:
    gone = ip.probe_python("/nonexistent/python3")
    check = doctor.check_profile(ip.choose(gone), venv_env(Path("/opt/v"), False), None, gone)
    assert check.status == "warn" and "/nonexistent/python3" in check.found


# --- numpy -------------------------------------------------------------------------------------------


def test_numpy_line_says_which_numpy_this_interpreter_uses_and_where_from() -> None:
    env = probes.current_python()
    check = doctor.check_numpy(numpy.__version__, numpy.__file__, env, ip.probe_python(env.base_executable))
    assert numpy.__version__ in check.found
    assert str(Path(numpy.__file__).parent.parent) in check.found
    expected_origin = "the venv" if env.in_venv and Path(numpy.__file__).is_relative_to(sys.prefix) else "the"
    assert f"from {expected_origin}" in check.found


def test_the_bookworm_trap_fails_when_a_venv_numpy_2_shadows_the_numpy_1_picamera2_needs(tmp_path: Path) -> None:
    env = venv_env(tmp_path / ".venv", system_site=True)
    venv_numpy = str(tmp_path / ".venv/lib/python3.11/site-packages/numpy/__init__.py")
    check = doctor.check_numpy("2.2.1", venv_numpy, env, system_python("1.24.2", picamera2=True))
    assert check.status == "fail"
    assert "2.2.1 in the venv shadows the system's 1.24.2" in check.found and "picamera2" in check.found
    assert check.fix and check.fix.endswith("rm -rf .venv && bash scripts/camapp doctor")


def test_any_other_shadowing_is_a_warning_and_an_isolated_venv_shadows_nothing(tmp_path: Path) -> None:
    venv_numpy = str(tmp_path / "lib/python3.11/site-packages/numpy/__init__.py")
    same_major = doctor.check_numpy("1.26.4", venv_numpy, venv_env(tmp_path, True), system_python("1.24.2", picamera2=True))
    assert same_major.status == "warn" and same_major.fix and "pip uninstall -y numpy" in same_major.fix
    isolated = doctor.check_numpy("2.2.1", venv_numpy, venv_env(tmp_path, False), system_python("1.24.2", picamera2=True))
    assert isolated.status == "ok" and "from the venv" in isolated.found
    system = doctor.check_numpy("1.24.2", f"{SYSTEM_SITE}/numpy/__init__.py", venv_env(tmp_path, True), system_python("1.24.2", True))
    assert system.status == "ok" and "from the system" in system.found


def _system_has_apt_numpy_and_scipy() -> bool:
    return Path(SYSTEM_PYTHON).exists() and Path(SYSTEM_SITE, "numpy").is_dir() and Path(SYSTEM_SITE, "scipy").is_dir()


@pytest.mark.slow
def test_the_real_bookworm_trap_is_two_fail_lines_with_the_import_error(tmp_path: Path) -> None:
    """A venv from Debian's python3 with --system-site-packages, apt's numpy 1.24 under it and this
    venv's numpy 2 inside it; the stand-in picamera2 (on PYTHONPATH, so the system Python sees it
    too) imports a C extension built against numpy 1.24, as python3-picamera2 imports simplejpeg."""
    require(_system_has_apt_numpy_and_scipy(), "needs Debian's python3-numpy and python3-scipy (scripts/test installs them)")
    trap = tmp_path / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", str(trap)], check=True, timeout=120)
    site_packages = next(trap.glob("lib/python3*/site-packages"))
    ours = Path(numpy.__file__).parent.parent
    for name in ("numpy", "numpy.libs"):
        if (ours / name).exists():
            (site_packages / name).symlink_to(ours / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{STANDIN_SITE}"
    code = "import json; from camapp.system.checkup import run_checks; print(json.dumps([c.to_dict() for c in run_checks()]))"
    proc = subprocess.run([str(trap / "bin/python"), "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout.splitlines()[-1])}
    assert list(checks) == [name for name, _ in CHECKS], "every check gives its line, even without camapp's dependencies"
    assert "needs pi-bookworm" in checks["profile"]["found"]
    assert checks["numpy"]["status"] == "fail" and "shadows the system's 1.24" in checks["numpy"]["found"]
    assert checks["picamera2"]["status"] == "fail" and "numpy" in checks["picamera2"]["found"]
    assert checks["picamera2"]["fix"].startswith("the venv's numpy must be the system's: rm -rf")


# --- runtime and OpenCV ----------------------------------------------------------------------------------


@pytest.fixture
def fresh_runtime_choice() -> Iterator[None]:
    runtime.interpreter_class.cache_clear()
    yield
    runtime.interpreter_class.cache_clear()


def test_the_runtime_line_names_the_runtime_camapp_uses_and_the_other_one(fresh_runtime_choice: None) -> None:
    check = doctor.check_runtime()
    name, _ = runtime.interpreter_class()
    other = next(o for o in runtime.RUNTIMES if o != name)
    assert check.status == "ok" and check.found.startswith(f"{runtime.runtime_version()} in use")
    other_version = doctor._dist_version(doctor.RUNTIME_DISTS[other])
    assert f"{other} {other_version or 'not installed'}" in check.found


def test_a_runtime_camapp_does_not_know_fails_with_the_runtimes_own_message(
    fresh_runtime_choice: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMAPP_RUNTIME", "tensorflow")
    check = doctor.check_runtime()
    assert check.status == "fail" and "CAMAPP_RUNTIME=tensorflow" in check.found
    assert check.fix and "ai_edge_litert" in check.fix


def test_the_opencv_line_has_the_version_package_and_video_backends() -> None:
    import cv2

    check = doctor.opencv_check()
    assert check.found.startswith(f"{cv2.__version__} from ")
    backends = {cv2.videoio_registry.getBackendName(b) for b in cv2.videoio_registry.getBackends()}
    assert all(b in check.found for b in backends)
    assert any(p in check.found for p in doctor.OPENCV_DISTS)


def test_opencv_problems_a_user_can_have() -> None:
    both = doctor.check_opencv("4.11.0", ["opencv-python", "opencv-python-headless"], ["FFMPEG", "V4L2"])
    assert both.status == "warn" and both.fix == "pip uninstall -y opencv-python opencv-python-headless && pip install opencv-python"
    headless = doctor.check_opencv("4.11.0", ["opencv-python-headless"], ["FFMPEG", "V4L2"])
    assert headless.status == "ok" and "no --show window" in headless.found
    no_v4l2 = doctor.check_opencv("4.6.0", [], ["FFMPEG"])
    assert no_v4l2.status == "warn" and "webcams" in no_v4l2.found and "apt's python3-opencv" in no_v4l2.found
    no_video = doctor.check_opencv("4.11.0", ["opencv-python"], ["V4L2", "CV_IMAGES"])
    assert no_video.status == "warn" and "FFMPEG" in no_video.found


# --- picamera2 and cameras -------------------------------------------------------------------------------


def fake_picamera2(tmp_path: Path, body: str) -> dict[str, str]:
    """An environment whose Python imports a picamera2 package with this __init__.py."""
    package = tmp_path / "site" / "picamera2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    return {**os.environ, "PYTHONPATH": str(tmp_path / "site")}


def test_without_picamera2_on_a_machine_that_is_not_a_pi_the_line_is_neutral() -> None:
    probe = probes.probe_picamera2()
    base = ip.probe_python(probes.current_python().base_executable)
    if probe.imported:
        pytest.skip("picamera2 is installed here")
    assert probe.missing and probe.error and "picamera2" in probe.error
    check = doctor.check_picamera2(probe, None, base, probes.current_python())
    expected = "warn" if base.picamera2_path else "ok"
    assert check.status == expected
    if expected == "ok":
        assert check.found == "not installed (only needed for the Pi camera)" and check.fix is None


def test_on_a_pi_a_missing_picamera2_says_how_to_install_it() -> None:
    check = doctor.check_picamera2(NOT_INSTALLED, PI5, system_python("1.24.2", False), venv_env(Path("/home/pi/camapp/.venv"), True))
    assert check.status == "warn" and check.fix and check.fix.startswith("sudo apt install -y python3-picamera2")
    hidden = doctor.check_picamera2(NOT_INSTALLED, PI5, system_python("1.24.2", True), venv_env(Path("/home/pi/camapp/.venv"), False))
    assert hidden.status == "warn" and "this venv cannot see it" in hidden.found


def test_a_picamera2_broken_by_numpy_shows_its_own_import_error(tmp_path: Path) -> None:
    env = fake_picamera2(tmp_path, 'raise ValueError("numpy.dtype size changed, may indicate binary incompatibility. '
                                   'Expected 96 from C header, got 88 from PyObject")\n')
    probe = probes.probe_picamera2(env=env)
    assert not probe.imported and not probe.missing
    assert probe.error == ("ValueError: numpy.dtype size changed, may indicate binary incompatibility. "
                           "Expected 96 from C header, got 88 from PyObject")
    check = doctor.check_picamera2(probe, PI5, system_python("1.24.2", True), venv_env(tmp_path / ".venv", True))
    assert check.status == "fail" and "numpy.dtype size changed" in check.found
    assert check.fix and "rm -rf .venv && bash scripts/camapp doctor" in check.fix


def test_a_picamera2_whose_dependency_is_missing_is_broken_not_absent(tmp_path: Path) -> None:
    probe = probes.probe_picamera2(env=fake_picamera2(tmp_path, "import simplejpeg_that_is_not_here\n"))
    assert not probe.imported and not probe.missing and "simplejpeg_that_is_not_here" in (probe.error or "")
    check = doctor.check_picamera2(probe, None, system_python(None, False), venv_env(tmp_path, False))
    assert check.status == "fail" and check.fix and "import picamera2" in check.fix


def test_a_camera_stack_that_aborts_the_process_is_reported_not_fatal(tmp_path: Path) -> None:
    aborts = "import sys, os\nsys.stderr.write('libcamera: bad things\\n')\nos.abort()\n"
    probe = probes.probe_picamera2(env=fake_picamera2(tmp_path, aborts))
    assert not probe.imported and probe.error
    assert "killed the process (signal 6)" in probe.error and "libcamera: bad things" in probe.error


@pytest.mark.slow
def test_a_camera_stack_that_hangs_is_given_up_on(tmp_path: Path) -> None:
    probe = probes.probe_picamera2(timeout=1, env=fake_picamera2(tmp_path, "import time\ntime.sleep(120)\n"))
    assert not probe.imported and probe.error == "importing picamera2 did not finish within 1 s"


CAMERA_INFO = """
class Picamera2:
    @staticmethod
    def global_camera_info():
        return CAMERAS
"""


def test_libcamera_cameras_are_listed_through_picamera2(tmp_path: Path) -> None:
    body = "__version__ = 'x'\nCAMERAS = [{'Model': 'imx708_wide', 'Location': 2, 'Rotation': 180, "
    body += "'Id': '/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a', 'Num': 0}]\n" + CAMERA_INFO
    probe = probes.probe_picamera2(env=fake_picamera2(tmp_path, body))
    assert probe.imported and probe.cameras == ["imx708_wide (/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a)"]
    assert doctor.check_picamera2(probe, PI5, system_python("1.24.2", True), venv_env(tmp_path, True)).status == "ok"
    check = doctor.check_cameras([], probe)
    assert check.status == "ok" and check.found == "libcamera: imx708_wide (/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a)"


def test_picamera2_without_a_camera_points_at_the_ribbon_cable(tmp_path: Path) -> None:
    probe = probes.probe_picamera2(env=fake_picamera2(tmp_path, "CAMERAS = []\n" + CAMERA_INFO))
    assert probe.imported and probe.cameras == []
    check = doctor.check_cameras([], probe)
    assert check.status == "warn" and "libcamera: none" in check.found and check.fix and "ribbon cable" in check.fix


def fake_sys_tree(tmp_path: Path, names: dict[str, str]) -> tuple[str, str]:
    sys_root, dev_root = tmp_path / "sys/class/video4linux", tmp_path / "dev"
    dev_root.mkdir(parents=True)
    for node, name in names.items():
        (sys_root / node).mkdir(parents=True)
        (sys_root / node / "name").write_text(name + "\n")
        (dev_root / node).touch()
    return str(sys_root), str(dev_root)


def test_a_pi_5s_webcam_is_listed_and_its_twenty_isp_nodes_are_only_counted(tmp_path: Path) -> None:
    nodes = {"video0": "USB2.0 HD UVC WebCam", "video1": "USB2.0 HD UVC WebCam"}
    nodes.update({f"video{n}": f"rp1-cfe-csi2_ch{n - 20}" for n in range(20, 28)})
    nodes.update({f"video{n}": f"pispbe-output{n - 28}" for n in range(28, 40)})
    devices = probes.video_devices(*fake_sys_tree(tmp_path, nodes))
    assert [d.path for d in devices][:3] == [str(tmp_path / "dev/video0"), str(tmp_path / "dev/video1"), str(tmp_path / "dev/video20")]
    check = doctor.check_cameras(devices, NOT_INSTALLED)
    assert check.status == "ok"
    webcams = f"{tmp_path}/dev/video0 USB2.0 HD UVC WebCam; {tmp_path}/dev/video1 USB2.0 HD UVC WebCam"
    assert check.found == f"{webcams}; 20 Pi ISP/codec nodes (not cameras)"


def test_a_webcam_this_user_cannot_open_says_to_join_the_video_group() -> None:
    check = doctor.check_cameras([VideoDevice("/dev/video0", "USB Camera", accessible=False)], NOT_INSTALLED)
    assert check.status == "warn" and "no permission for /dev/video0" in check.found
    assert check.fix == "sudo usermod -aG video $USER, then log in again"


def test_this_machines_cameras_are_what_sys_lists() -> None:
    devices = probes.video_devices()
    listed = sorted(p.name for p in Path("/sys/class/video4linux").glob("video*")) if Path("/sys/class/video4linux").is_dir() else []
    assert sorted(Path(d.path).name for d in devices) == listed
    if not devices:
        assert doctor.check_cameras(devices, NOT_INSTALLED).found == "none (video files, images and network streams still work)"


# --- disk and memory ---------------------------------------------------------------------------------


def test_disk_reports_free_space_once_per_filesystem(tmp_path: Path) -> None:
    import shutil

    cache = tmp_path / "not" / "made" / "yet"
    check = doctor.check_disk([("the working dir", tmp_path), ("the model cache", cache)])
    free = shutil.disk_usage(tmp_path).free
    assert check.found == f"{doctor.size_text(free)} free for the working dir {tmp_path} and the model cache {cache}"
    assert check.status == ("ok" if free >= doctor.MIN_FREE_DISK else "warn")
    full = doctor.check_disk([("the working dir", tmp_path)], min_free=free * 1000)
    assert full.status == "warn" and full.fix and "CAMAPP_MODEL_CACHE_DIR" in full.fix


def test_memory_on_this_machine(tmp_path: Path) -> None:
    info = probes.read_meminfo()
    check = doctor.check_memory(info)
    assert check.found.startswith(f"{doctor.size_text(info['MemTotal'])} total, {doctor.size_text(info['MemAvailable'])} available")
    assert check.status == ("ok" if info["MemAvailable"] >= doctor.MIN_AVAILABLE_MEMORY else "warn")


def test_a_busy_512_mb_board_is_told_to_use_a_small_model(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:         444608 kB\nMemFree:           30000 kB\nMemAvailable:     120000 kB\n"
                       "SwapTotal:        102396 kB\nHugePages_Total:       0\n")
    info = probes.read_meminfo(str(meminfo))
    assert info["MemTotal"] == 444608 * 1024 and info["HugePages_Total"] == 0
    check = doctor.check_memory(info)
    assert check.status == "warn"
    assert check.found == "434 MB total, 117 MB available, swap 100 MB: under 150 MB available; a 512 MB board"
    assert check.fix and "mobilenet_v1_0.25_128_quant" in check.fix
    idle = doctor.check_memory({**info, "MemAvailable": 300 * doctor.MB})
    assert idle.status == "ok"
    assert idle.found.endswith("; a 512 MB board: use a small model, e.g. --model mobilenet_v1_0.25_128_quant, and --every 2")


# --- config, model cache and mirror ----------------------------------------------------------------------------


def test_the_config_line_names_the_variables_and_fails_on_a_bad_one(tmp_path: Path) -> None:
    good = doctor.check_config(None, {"CAMAPP_MODEL_THREADS": "3", "HOME": "/root"})
    assert good.status == "ok" and good.found == "no config file; CAMAPP_* variables: CAMAPP_MODEL_THREADS"
    bad = doctor.check_config(None, {"CAMAPP_MODEL_THREADS": "many"})
    assert bad.status == "fail" and "CAMAPP_MODEL_THREADS" in bad.found and bad.fix
    config = tmp_path / "camapp.yaml"
    config.write_text("model:\n  threadz: 2\n")
    unknown = doctor.check_config(str(config), {})
    assert unknown.status == "fail" and "threadz" in unknown.found


def test_the_model_cache_counts_its_models(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "a.tflite").write_bytes(b"x" * 2048)
    (cache / "b.tflite").write_bytes(b"x" * 1024)
    (cache / "a.tflite.part").write_bytes(b"x")
    check = doctor.check_models(cache, tmp_path / "no-system-dir")
    assert check.status == "ok" and check.found == f"cache {cache}: 2 models, 3 KB"
    empty = doctor.check_models(tmp_path / "later", tmp_path / "no-system-dir")
    assert empty.status == "ok" and "no models yet" in empty.found


def test_a_folder_mirror_is_counted_and_a_missing_one_fails(models_dir: Path, tmp_path: Path) -> None:
    check = doctor.check_mirror(str(models_dir))
    assert check.status == "ok" and check.found == f"{models_dir}: {len(list(models_dir.glob('*.tflite')))} .tflite files"
    missing = doctor.check_mirror(str(tmp_path / "absent"))
    assert missing.status == "fail" and missing.fix and "CAMAPP_MODEL_MIRROR" in missing.fix
    assert doctor.check_mirror(str(tmp_path)).status == "warn"
    assert doctor.check_mirror(None).status == "ok"


@pytest.fixture
def http_mirror(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "detect.tflite").write_bytes(b"model")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_an_http_mirror_is_contacted_only_when_asked(http_mirror: str) -> None:
    offline = doctor.check_mirror(http_mirror, online=False, probe_file="detect.tflite")
    assert offline.status == "ok" and "not contacted" in offline.found
    online = doctor.check_mirror(http_mirror, online=True, probe_file="detect.tflite")
    assert online.status == "ok" and online.found == f"{http_mirror}: reachable, serves detect.tflite"
    lacking = doctor.check_mirror(http_mirror, online=True, probe_file="other.tflite")
    assert lacking.status == "warn" and "HTTP 404" in lacking.found


def test_an_http_mirror_that_is_down_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    check = doctor.check_mirror(f"http://127.0.0.1:{port}", online=True, probe_file="detect.tflite")
    assert check.status == "fail" and "cannot be reached" in check.found


# --- running them all ------------------------------------------------------------------------------------------


def test_every_check_runs_on_this_machine_in_order() -> None:
    checks = run_checks(DoctorOptions())
    assert [c.name for c in checks] == [name for name, _ in CHECKS]
    assert all(c.status in ("ok", "warn", "fail") and c.found for c in checks)
    assert all(c.fix for c in checks if c.status != "ok"), "every problem says what to do"


def test_a_check_that_errors_becomes_a_warning_naming_the_error() -> None:
    def broken(facts: Facts) -> doctor.Check:
        raise RuntimeError("the probe exploded\nsecond line")

    check = guarded("cameras", broken, Facts(DoctorOptions()))
    assert check == doctor.Check("cameras", "warn", "the check itself failed: RuntimeError: the probe exploded", check.fix)
    assert check.fix


def test_a_base_interpreter_that_cannot_be_asked_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    dead = ip.PythonFacts(SYSTEM_PYTHON, "unknown", picamera2_error="importing it ended /usr/bin/python3 (exit code -6)", probe_failed=True)
    check = doctor.check_profile(ip.choose(dead), venv_env(tmp_path, system_site=True), None, dead)
    assert check.status == doctor.WARN and "cannot ask the base interpreter" in check.found and check.fix
