"""Install profiles: a venv that keeps the Pi camera stack importable on Pi OS Bookworm and Trixie.

The end-to-end test simulates Pi OS Bookworm on this Debian 12 machine honestly: Debian's own
/usr/bin/python3 (3.11.2, as on Bookworm), apt's python3-numpy 1.24 and python3-scipy (a C
extension compiled against it), and a stand-in `picamera2` (tests/fakes/standin_site) that
imports that extension the way the real package imports simplejpeg. scripts/test installs the
apt packages; the stand-in is put on the system Python's path with PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from camapp.system import install_profile as ip
from tests.conftest import REPO, require

STANDIN_SITE = REPO / "tests" / "fakes" / "standin_site"
SYSTEM_PYTHON = "/usr/bin/python3"
SYSTEM_SITE = "/usr/lib/python3/dist-packages"


def facts(numpy: str | None, picamera2: bool, av: str | None = None) -> ip.PythonFacts:
    return ip.PythonFacts(
        executable="/usr/bin/python3",
        version="3.11.2",
        picamera2_path="/usr/lib/python3/dist-packages/picamera2/__init__.py" if picamera2 else None,
        numpy_version=numpy,
        av_version=av,
    )


def test_bookworm_keeps_the_system_numpy_and_holds_opencv_below_4_12() -> None:
    profile = ip.choose(facts("1.24.2", picamera2=True))
    assert profile.name == ip.PI_BOOKWORM and profile.system_site_packages
    pins = [line.split("#")[0].strip() for line in profile.constraints]
    assert pins == ["numpy==1.24.2", "opencv-python<4.12", "opencv-python-headless<4.12"]


def test_the_system_pyav_that_picamera2_uses_is_kept_too() -> None:
    pins = [line.split("#")[0].strip() for line in ip.choose(facts("1.24.2", picamera2=True, av="10.0.0")).constraints]
    assert pins[:2] == ["numpy==1.24.2", "av==10.0.0"]
    pins = [line.split("#")[0].strip() for line in ip.choose(facts("2.2.4", picamera2=True, av="14.2.0")).constraints]
    assert pins == ["numpy==2.2.4", "av==14.2.0"]


def test_trixie_keeps_the_system_numpy_and_takes_current_versions() -> None:
    profile = ip.choose(facts("2.2.4", picamera2=True))
    assert profile.name == ip.PI_TRIXIE and profile.system_site_packages
    assert [line.split("#")[0].strip() for line in profile.constraints] == ["numpy==2.2.4"]


def test_without_a_pi_camera_stack_the_venv_is_isolated_and_unpinned() -> None:
    profile = ip.choose(facts("1.24.2", picamera2=False))
    assert profile.name == ip.STANDARD and not profile.system_site_packages and profile.constraints == []


def test_a_32_bit_userland_is_refused_even_under_a_64_bit_kernel() -> None:
    pi_32 = ip.Machine("raspbian", "bookworm", "Raspbian GNU/Linux 12 (bookworm)", machine="aarch64", pointer_bits=32)
    problem = ip.sixty_four_bit_problem(pi_32)
    assert problem and "64-bit" in problem and "armv7" in problem
    assert ip.sixty_four_bit_problem(ip.machine()) is None  # this machine is 64-bit


def _system_has_apt_numpy_and_scipy() -> bool:
    return Path(SYSTEM_PYTHON).exists() and all(Path(SYSTEM_SITE, name).is_dir() for name in ("numpy", "scipy", "av"))


def _standin_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    env["PYTHONPATH"] = str(STANDIN_SITE)
    env.update(extra)
    return env


def test_the_standin_imports_under_the_system_numpy_and_fails_under_numpy_2() -> None:
    """The control that makes the end-to-end test meaningful: the stand-in breaks exactly when the
    venv's numpy shadows apt's, as the real picamera2 does."""
    require(_system_has_apt_numpy_and_scipy(), "needs Debian's python3-numpy, python3-scipy and python3-av (scripts/test installs them)")
    ok = subprocess.run([SYSTEM_PYTHON, "-c", "import picamera2, numpy; print(numpy.__version__)"],
                        env=_standin_env(), capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().startswith("1.")
    # The test venv has numpy 2 and sees the system site-packages *after* its own, as a venv made
    # with --system-site-packages does.
    shadowed = subprocess.run(
        [sys.executable, "-c",
         f"import sys; sys.path.append({SYSTEM_SITE!r}); import numpy; assert numpy.__version__ >= '2'; import picamera2"],
        env=_standin_env(), capture_output=True, text=True, timeout=60,
    )
    assert shadowed.returncode != 0
    assert "numpy" in shadowed.stderr.splitlines()[-1]


def test_a_broken_camera_stack_is_one_line_that_says_what_to_do(videos_dir: Path) -> None:
    require(_system_has_apt_numpy_and_scipy(), "needs Debian's python3-numpy, python3-scipy and python3-av (scripts/test installs them)")
    code = (
        f"import sys; sys.path.append({SYSTEM_SITE!r}); from camapp.cli import main; "
        "sys.exit(main(['run', '--source', 'picam', '--model', 'ssd_mobilenet_v1_coco_quant', '--max-frames', '1']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_standin_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("camapp: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "picamera2" in errors[0] and "camapp doctor" in errors[0] and "rm -rf .venv" in errors[0]


def _copy_clone(dest: Path) -> Path:
    """The files a fresh clone has (tracked and new, not ignored), without .venv or caches."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@pytest.mark.slow
def test_simulated_bookworm_fresh_clone_builds_a_venv_where_picamera2_and_detect_work(
    tmp_path: Path, images_dir: Path, videos_dir: Path
) -> None:
    require(_system_has_apt_numpy_and_scipy(), "needs Debian's python3-numpy, python3-scipy and python3-av (scripts/test installs them)")
    clone = _copy_clone(tmp_path / "camapp")
    env = _standin_env(CAMAPP_PYTHON=SYSTEM_PYTHON, PICAMERA2_STANDIN_VIDEO=str(videos_dir / "bottle-detection.mp4"))
    env.pop("CAMAPP_VENV", None)
    detect = subprocess.run(
        ["bash", "scripts/camapp", "detect", str(images_dir / "table.jpg"), "--model", "ssd_mobilenet_v1_coco_quant",
         "--threshold", "0.4"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=900,
    )
    assert detect.returncode == 0, detect.stderr[-3000:]
    assert "install profile pi-bookworm" in detect.stderr
    labels = {d["label"] for d in json.loads(detect.stdout.splitlines()[-1])["detections"]}
    assert {"knife", "dining table", "cup"} <= labels  # the published table.jpg result

    venv_python = clone / ".venv" / "bin" / "python"
    report = subprocess.run(
        [str(venv_python), "-c",
         "import json, numpy, cv2, av, picamera2; from importlib.metadata import version; "
         "print(json.dumps({'numpy': numpy.__version__, 'numpy_path': numpy.__file__, 'opencv': version('opencv-python'), "
         "'av_path': av.__file__, 'standin': picamera2.STANDIN}))"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=120,
    )
    assert report.returncode == 0, report.stderr
    found = json.loads(report.stdout)
    assert found["numpy_path"].startswith(SYSTEM_SITE)  # the system's numpy, not a copy in the venv
    assert found["numpy"].startswith("1.24")
    assert found["av_path"].startswith(SYSTEM_SITE)  # Debian's PyAV 10, which picamera2 would use
    assert tuple(int(p) for p in found["opencv"].split(".")[:2]) < (4, 12)
    assert found["standin"] is True
    assert not list((clone / ".venv" / "lib").glob("python3*/site-packages/numpy"))

    # The Pi camera source itself runs in that venv (the fake camera API behind the stand-in), and
    # records H.264 through Debian's PyAV.
    run = subprocess.run(
        ["bash", "scripts/camapp", "run", "--source", "picam", "--model", "ssd_mobilenet_v1_coco_quant",
         "--max-frames", "5", "--output", "-", "--save", str(tmp_path / "picam.mp4")],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    frames = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(frames) >= 1 and any(d["label"] == "bottle" for f in frames for d in f["detections"])
    assert "(libx264)" in run.stderr
    played = subprocess.run([str(venv_python), "-c", "import av, sys; print(sum(1 for _ in av.open(sys.argv[1]).decode(video=0)))",
                             str(tmp_path / "picam.mp4")], capture_output=True, text=True, timeout=60)
    assert played.stdout.strip() == str(len(frames)), played.stderr


def test_an_interpreter_that_dies_importing_picamera2_is_reported_not_taken_for_no_camera(tmp_path: Path) -> None:
    aborting = tmp_path / "site" / "picamera2"
    aborting.mkdir(parents=True)
    (aborting / "__init__.py").write_text("import os\nos.abort()  # as a C extension built for another numpy can\n")
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={aborting.parent} exec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    facts = ip.probe_python(str(wrapper))
    assert facts.probe_failed and facts.picamera2_path is None
    assert facts.picamera2_error and "ended" in facts.picamera2_error
    assert ip.probe_python(sys.executable).version == f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
