"""The systemd unit and `camapp service install | uninstall`: right paths, right directives, verified by systemd."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from camapp.commands.service import UnitParams, render_unit
from tests.commands.conftest import run_camapp

REPO = Path(__file__).resolve().parents[2]
VENV_CAMAPP = str(Path(sys.executable).parent / "camapp")


def unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_repository_unit_is_the_template_with_the_default_paths() -> None:
    # One source of truth: the command writes what the repository shows.
    assert (REPO / "systemd" / "camapp.service").read_text() == render_unit(UnitParams())


def test_the_unit_is_a_notify_service_with_watchdog_restart_directories_and_hardening() -> None:
    s = unit_settings(render_unit(UnitParams()))
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"] and re.fullmatch(r"\d+s", s["WatchdogSec"][0])
    assert s["ExecStart"] == ["/opt/camapp/venv/bin/camapp run --config /etc/camapp/camapp.yaml"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"], "systemctl reload = SIGHUP = reload config and model"
    assert s["User"] == ["camapp"] and s["SupplementaryGroups"] == ["video"]
    assert s["ConfigurationDirectory"] == ["camapp"] and s["StateDirectory"] == ["camapp"] and s["CacheDirectory"] == ["camapp"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes"}.items():
        assert s[key] == [value], key
    # What must stay allowed: camera devices (no PrivateDevices, no closed device policy) and IP.
    assert s["PrivateDevices"] == ["no"] and "DevicePolicy" not in s
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(s["RestrictAddressFamilies"][0].split())


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (scripts/test installs Debian's systemd)")
    return tool


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, systemd_analyze: str) -> None:
    # verify needs ExecStart's program to exist: point it at this venv's camapp, as install does.
    unit = tmp_path / "camapp.service"
    unit.write_text(render_unit(UnitParams(camapp=VENV_CAMAPP)))
    result = subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "camapp.service" not in result.stderr, result.stderr


def test_systemd_rates_the_hardening_ok(tmp_path: Path, systemd_analyze: str) -> None:
    unit = tmp_path / "camapp.service"
    unit.write_text(render_unit(UnitParams(camapp=VENV_CAMAPP)))
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    exposure = re.search(r"Overall exposure level for camapp.service: ([\d.]+)", result.stdout)
    assert exposure, result.stdout + result.stderr
    assert float(exposure.group(1)) <= 3.0, "systemd's scale: below 4 is 'OK', 9+ is 'UNSAFE'"


def test_install_dry_run_prints_the_unit_for_this_venv_and_changes_nothing(tmp_path: Path) -> None:
    result = run_camapp(
        "service",
        "install",
        "--dry-run",
        "--create-user",
        "--user",
        "camapp-test-nobody",
        "--unit-dir",
        str(tmp_path),
        "--config",
        str(tmp_path / "etc" / "camapp.yaml"),
    )
    assert result.code == 0, result.stderr
    s = unit_settings(result.stdout)
    assert s["ExecStart"] == [f"{VENV_CAMAPP} run --config {tmp_path / 'etc' / 'camapp.yaml'}"]
    assert s["User"] == ["camapp-test-nobody"]
    assert "would run: useradd --system" in result.stderr and "--groups video" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a dry run writes nothing"


def test_install_writes_the_unit_and_a_starter_config_that_checks_out(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "camapp.yaml"
    result = run_camapp("service", "install", "--user", "root", "--unit-dir", str(tmp_path), "--config", str(config))
    assert result.code == 0, result.stderr
    unit = (tmp_path / "camapp.service").read_text()
    assert unit == render_unit(UnitParams(camapp=VENV_CAMAPP, config=str(config), user="root"))
    assert run_camapp("check-config", "--no-env", str(config)).code == 0
    again = run_camapp("service", "install", "--user", "root", "--unit-dir", str(tmp_path), "--config", str(config))
    assert again.code == 0 and "keep the existing" in again.stderr, "an edited config is never overwritten"
    removed = run_camapp("service", "uninstall", "--unit-dir", str(tmp_path))
    assert removed.code == 0 and not (tmp_path / "camapp.service").exists() and config.exists()


def test_install_for_a_missing_user_says_how_to_create_it(tmp_path: Path) -> None:
    result = run_camapp("service", "install", "--user", "camapp-test-nobody", "--unit-dir", str(tmp_path))
    assert result.code == 2 and "--create-user" in result.stderr
    assert not (tmp_path / "camapp.service").exists()
