"""Run every doctor check against this machine's real facts, gathering each fact once.

Facts several checks share (the base interpreter's probe, the picamera2 probe) are computed
lazily and cached, so `camapp doctor` starts each child process once. Nothing here raises: a
check that fails with a CamappError (a bad CAMAPP_* variable, say) is a FAIL line with its own
message, and any other exception is a WARN line naming it, since it says nothing about the machine.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from camapp.system import doctor, probes
from camapp.system import install_profile as ip
from camapp.system.doctor import FAIL, WARN, Check

MIRROR_PROBE_MODEL = "ssd_mobilenet_v1_coco_quant"  # the README's first example: a mirror should have it


@dataclass(frozen=True)
class DoctorOptions:
    online: bool = False  # contact an http(s) mirror
    config: str | None = None  # a YAML config, for model.cache_dir and model.mirror
    timeout: float = 30.0  # per child process (the base interpreter, the picamera2 import)
    debug: bool = False  # print the traceback of a check that fails itself


class Facts:
    def __init__(self, options: DoctorOptions) -> None:
        self.options = options

    @cached_property
    def machine(self) -> ip.Machine:
        return ip.machine()

    @cached_property
    def board(self) -> str | None:
        return probes.board_model()

    @cached_property
    def python(self) -> probes.PythonEnv:
        return probes.current_python()

    @cached_property
    def base(self) -> ip.PythonFacts:
        return ip.probe_python(self.python.base_executable, timeout=self.options.timeout)

    @cached_property
    def picamera(self) -> probes.PicameraProbe:
        return probes.probe_picamera2(sys.executable, timeout=self.options.timeout)

    @cached_property
    def model_settings(self) -> tuple[Path, str | None]:
        """(cache dir, mirror) as a run would use them; from the raw variables when the config is
        invalid, so that one bad setting is reported once, on the config line."""
        from camapp.config import load_config
        from camapp.errors import CamappError
        from camapp.models.store import default_cache_dir

        try:
            model = load_config(self.options.config).model
            cache_dir, mirror = model.cache_dir, model.mirror
        except CamappError:
            cache_dir, mirror = os.environ.get("CAMAPP_MODEL_CACHE_DIR"), os.environ.get("CAMAPP_MODEL_MIRROR")
        return (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()), mirror or None


def numpy_check(facts: Facts) -> Check:
    try:
        import numpy
    except Exception as exc:
        return doctor.check_numpy(None, None, facts.python, facts.base, f"{type(exc).__name__}: {exc}")
    return doctor.check_numpy(numpy.__version__, numpy.__file__, facts.python, facts.base)


def mirror_check(facts: Facts) -> Check:
    from camapp.models.manifest import find_entry

    _, mirror = facts.model_settings
    return doctor.check_mirror(mirror, facts.options.online, find_entry(MIRROR_PROBE_MODEL).file)


def models_check(facts: Facts) -> Check:
    from camapp.models.store import SYSTEM_MODEL_DIR

    return doctor.check_models(facts.model_settings[0], Path(SYSTEM_MODEL_DIR))


CHECKS: list[tuple[str, Callable[[Facts], Check]]] = [
    ("os", lambda f: doctor.check_os(f.machine, f.board)),
    ("python", lambda f: doctor.check_python(f.python)),
    ("profile", lambda f: doctor.check_profile(ip.choose(f.base, f.machine), f.python, probes.venv_profile(f.python.prefix), f.base)),
    ("numpy", numpy_check),
    ("runtime", lambda f: doctor.check_runtime()),
    ("opencv", lambda f: doctor.opencv_check()),
    ("picamera2", lambda f: doctor.check_picamera2(f.picamera, f.board, f.base, f.python)),
    ("cameras", lambda f: doctor.check_cameras(probes.video_devices(), f.picamera)),
    ("disk", lambda f: doctor.check_disk([("the working dir", Path.cwd()), ("the model cache", f.model_settings[0])])),
    ("memory", lambda f: doctor.check_memory(probes.read_meminfo())),
    ("config", lambda f: doctor.check_config(f.options.config, dict(os.environ))),
    ("models", models_check),
    ("mirror", mirror_check),
]


def guarded(name: str, check: Callable[[Facts], Check], facts: Facts) -> Check:
    from camapp.errors import CamappError

    try:
        return check(facts)
    except CamappError as exc:
        return Check(name, FAIL, exc.message, exc.hint)
    except ImportError as exc:
        # camapp imports its own dependencies lazily; one missing is an incomplete install.
        incomplete = f"camapp's install is incomplete: {doctor.recreate_fix(facts.python)}"
        return Check(name, WARN, f"cannot check: {type(exc).__name__}: {exc}", incomplete)
    except Exception as exc:
        if facts.options.debug:
            traceback.print_exc()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Check(name, WARN, f"the check itself failed: {type(exc).__name__}: {text}".rstrip(": "),
                     "a camapp bug: run `camapp doctor --debug` and report the traceback")


def run_checks(options: DoctorOptions | None = None, checks: list[tuple[str, Callable[[Facts], Check]]] | None = None) -> list[Check]:
    facts = Facts(options or DoctorOptions())
    return [guarded(name, check, facts) for name, check in (CHECKS if checks is None else checks)]
