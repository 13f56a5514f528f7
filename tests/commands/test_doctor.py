"""camapp doctor: one aligned line per check, the fix under each problem, a count of problems,
exit code 1 only when something FAILs, --json for scripts, and never a traceback."""

from __future__ import annotations

import argparse
import io
import json
import re
from pathlib import Path

import pytest

from camapp.commands import doctor as command
from camapp.system import checkup
from camapp.system.doctor import Check
from tests.commands.conftest import run_camapp

LINE = re.compile(r"^(?P<name>\S+)\s+(?P<marker>ok|WARN|FAIL)\s+(?P<found>\S.*)$")


def args(*argv: str) -> argparse.Namespace:
    """The namespace the real parser gives for `camapp doctor ARGV`."""
    parser = argparse.ArgumentParser(prog="camapp")
    command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["doctor", *argv])


def run_in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = command.run(args(*argv))
    return code, capsys.readouterr().out


def test_the_screen_has_one_aligned_line_per_check_and_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_in_process(capsys)
    lines = out.splitlines()
    check_lines = [ln for ln in lines if LINE.match(ln)]
    assert [LINE.match(ln)["name"] for ln in check_lines] == [name for name, _ in checkup.CHECKS]  # type: ignore[index]
    assert len({ln.index(LINE.match(ln)["found"]) for ln in check_lines}) == 1, "the found column is aligned"  # type: ignore[index]
    markers = [LINE.match(ln)["marker"] for ln in check_lines]  # type: ignore[index]
    problems = sum(m != "ok" for m in markers)
    assert lines[-1] == ("no problems found" if problems == 0 else f"{problems} problem{'' if problems == 1 else 's'}")
    assert code == (1 if "FAIL" in markers else 0)
    assert "\033[" not in out, "no colours when stdout is not a terminal"


def test_json_has_every_check_and_the_problem_count(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_in_process(capsys, "--json")
    report = json.loads(out)
    assert [c["name"] for c in report["checks"]] == [name for name, _ in checkup.CHECKS]
    assert all(set(c) == {"name", "status", "found", "fix"} for c in report["checks"])
    assert report["problems"] == sum(c["status"] != "ok" for c in report["checks"])
    assert code == (1 if any(c["status"] == "fail" for c in report["checks"]) else 0)


def test_a_failing_check_prints_its_fix_and_exits_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("CAMAPP_MODEL_MIRROR", str(tmp_path / "no-such-mirror"))
    code, out = run_in_process(capsys)
    assert code == 1
    lines = out.splitlines()
    mirror = next(i for i, ln in enumerate(lines) if ln.startswith("mirror "))
    assert LINE.match(lines[mirror])["marker"] == "FAIL"  # type: ignore[index]
    assert f"{tmp_path / 'no-such-mirror'} is not a folder" in lines[mirror]
    fix = lines[mirror + 1]
    assert fix.strip().startswith("fix: set CAMAPP_MODEL_MIRROR")
    assert fix.index("fix:") == lines[mirror].index(LINE.match(lines[mirror])["found"]), "the fix sits under what was found"  # type: ignore[index]
    assert "problem" in lines[-1]


def test_a_config_file_is_checked_too(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment overrides the file, as for `camapp run`: take it away to see the file's values.
    monkeypatch.delenv("CAMAPP_MODEL_MIRROR", raising=False)
    monkeypatch.delenv("CAMAPP_MODEL_CACHE_DIR", raising=False)
    config = tmp_path / "camapp.yaml"
    config.write_text(f"model:\n  cache_dir: {tmp_path / 'cache'}\n  mirror: {tmp_path}\n")
    code, out = run_in_process(capsys, "--json", "--config", str(config))
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["config"]["status"] == "ok" and checks["config"]["found"].startswith(str(config))
    assert checks["models"]["found"].startswith(f"cache {tmp_path / 'cache'}:")
    assert checks["mirror"] == {"name": "mirror", "status": "warn", "found": f"{tmp_path} holds no .tflite files",
                                "fix": "copy the model files into it (camapp models list names them)"}


def test_a_check_that_crashes_is_a_warning_line_not_a_traceback(capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def crashes(facts: checkup.Facts) -> Check:
        return {}["missing key"]  # type: ignore[no-any-return]

    monkeypatch.setattr(checkup, "CHECKS", [("os", checkup.CHECKS[0][1]), ("cameras", crashes)])
    code, out = run_in_process(capsys)
    lines = out.splitlines()
    assert LINE.match(lines[1])["marker"] == "WARN"  # type: ignore[index]
    assert "the check itself failed: KeyError: 'missing key'" in lines[1]
    assert lines[-1] == "1 problem" and code == 0


def test_colours_only_at_a_terminal() -> None:
    checks = [Check("os", "ok", "Debian"), Check("numpy", "fail", "2.2.1 shadows 1.24.2", "rm -rf .venv && bash scripts/camapp doctor")]
    plain = command.render(checks)
    assert plain == (
        "os     ok    Debian\n"
        "numpy  FAIL  2.2.1 shadows 1.24.2\n"
        "             fix: rm -rf .venv && bash scripts/camapp doctor\n"
        "1 problem\n"
    )
    coloured = command.render(checks, colour=True)
    assert "\033[31mFAIL\033[0m" in coloured and "\033[32mok\033[0m" in coloured
    assert not command.wants_colour(io.StringIO())


def _doctor_is_registered() -> bool:
    from camapp.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return "doctor" in sub.choices


@pytest.mark.slow
@pytest.mark.skipif(not _doctor_is_registered(), reason="'doctor' is not registered in camapp/cli.py yet")
def test_camapp_doctor_from_the_command_line() -> None:
    result = run_camapp("doctor")
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert [LINE.match(ln)["name"] for ln in lines if LINE.match(ln)] == [name for name, _ in checkup.CHECKS]  # type: ignore[index]
    assert result.code == (1 if any(" FAIL " in ln for ln in lines) else 0), result.stdout
    as_json = run_camapp("doctor", "--json")
    assert [c["name"] for c in json.loads(as_json.stdout)["checks"]] == [name for name, _ in checkup.CHECKS]
