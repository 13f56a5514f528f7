"""The systemd units and `camapp service install | uninstall | status`: right paths, right directives,
verified by systemd, and never a unit that cannot start because its sandbox hides camapp."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from camapp.cli import main
from camapp.commands import service
from camapp.commands.service_paths import (
    FIX,
    Installation,
    Needed,
    editable_source_from,
    hidden_from_service,
    refuse_hidden,
    this_installation,
)
from camapp.commands.service_unit import UnitParams, render_unit, template_params
from camapp.errors import UsageError
from tests.commands.conftest import CliResult, assert_one_line_error, run_camapp

REPO = Path(__file__).resolve().parents[2]
VENV_CAMAPP = str(Path(sys.executable).parent / "camapp")
HARDENING = [
    "NoNewPrivileges",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    "ProtectProc",
    "RestrictAddressFamilies",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "CapabilityBoundingSet",
    "UMask",
]

# An installation where the service can see everything: what scripts/camapp makes with CAMAPP_VENV=/opt/camapp/venv.
OPT_INSTALL = Installation(
    "/opt/camapp/venv/bin/camapp",
    (
        Needed("the venv", "/opt/camapp/venv"),
        Needed("the camapp program", "/opt/camapp/venv/bin/camapp"),
        Needed("the base Python", "/usr"),
        Needed("the Python interpreter", "/usr/bin/python3.11"),
        Needed("the camapp package", "/opt/camapp/venv/lib/python3.11/site-packages/camapp"),
    ),
)


def unit_settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def camapp_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    code = main(list(args))
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


@pytest.fixture
def installed_in_opt(monkeypatch: pytest.MonkeyPatch) -> Installation:
    """The hidden-path check pointed at an /opt installation, whatever venv runs the tests."""
    monkeypatch.setattr(service, "this_installation", lambda: OPT_INSTALL)
    return OPT_INSTALL


@pytest.fixture
def sandbox_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that really write units and configs below tmp_path, which a real unit could not see
    (PrivateTmp); the refusal itself is specified by the tests further down."""
    monkeypatch.setattr(service, "refuse_hidden", lambda *args, **kwargs: None)


# -- the unit texts ---------------------------------------------------------------------------------


def test_the_repository_units_are_the_templates_with_the_default_paths() -> None:
    # One source of truth: the command writes what the repository shows.
    assert (REPO / "systemd" / "camapp.service").read_text() == render_unit(UnitParams())
    assert (REPO / "systemd" / "camapp@.service").read_text() == render_unit(template_params())


def test_the_unit_is_a_notify_service_with_watchdog_restart_directories_and_hardening() -> None:
    s = unit_settings(render_unit(UnitParams()))
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"] and re.fullmatch(r"\d+s", s["WatchdogSec"][0])
    assert s["ExecStart"] == ["/opt/camapp/venv/bin/camapp run --config /etc/camapp/camapp.yaml"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"], "systemctl reload = SIGHUP = reload config and model"
    assert s["User"] == ["camapp"] and s["SupplementaryGroups"] == ["video"]
    assert s["ConfigurationDirectory"] == ["camapp"] and s["StateDirectory"] == ["camapp"] and s["CacheDirectory"] == ["camapp"]
    assert s["WorkingDirectory"] == ["%S/camapp"], "relative output paths land in the state directory"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes"}.items():
        assert s[key] == [value], key
    # What must stay allowed: camera devices (no PrivateDevices, no closed device policy) and IP.
    assert s["PrivateDevices"] == ["no"] and "DevicePolicy" not in s
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(s["RestrictAddressFamilies"][0].split())


def test_each_camera_instance_has_its_own_config_state_and_env_file_and_shares_the_model_cache() -> None:
    s = unit_settings(render_unit(template_params()))
    assert s["ExecStart"] == ["/opt/camapp/venv/bin/camapp run --config /etc/camapp/%i.yaml"]
    assert s["StateDirectory"] == ["camapp/%i"] and s["WorkingDirectory"] == ["%S/camapp/%i"]
    assert s["CacheDirectory"] == ["camapp"] and s["Environment"] == unit_settings(render_unit(UnitParams()))["Environment"]
    assert s["EnvironmentFile"] == ["-/etc/camapp/%i.env"]
    assert "%i" in s["Description"][0]


def test_the_per_camera_template_has_the_same_hardening_and_restart_policy() -> None:
    single, template = unit_settings(render_unit(UnitParams())), unit_settings(render_unit(template_params()))
    for key in [*HARDENING, "Type", "Restart", "WatchdogSec", "User", "SupplementaryGroups", "StartLimitIntervalSec"]:
        assert template[key] == single[key], key


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (scripts/test installs Debian's systemd)")
    return tool


# verify needs ExecStart's program to exist: point it at this venv's camapp, as install would.
UNITS = {
    "camapp.service": render_unit(UnitParams(camapp=VENV_CAMAPP)),
    "camapp@.service": render_unit(template_params(camapp=VENV_CAMAPP)),
    # an instance of the template, as systemd loads it for `systemctl start camapp@front`
    "camapp@front.service": render_unit(template_params(camapp=VENV_CAMAPP)),
}


@pytest.mark.parametrize("name", list(UNITS))
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, systemd_analyze: str, name: str) -> None:
    unit = tmp_path / name
    unit.write_text(UNITS[name])
    result = subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "camapp" not in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["camapp.service", "camapp@front.service"])
def test_systemd_rates_the_hardening_ok(tmp_path: Path, systemd_analyze: str, name: str) -> None:
    unit = tmp_path / name
    unit.write_text(UNITS[name])
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", str(unit)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    exposure = re.search(rf"Overall exposure level for {re.escape(name)}: ([\d.]+)", result.stdout)
    assert exposure, result.stdout + result.stderr
    assert float(exposure.group(1)) <= 2.5, "systemd's scale: below 4 is 'OK', 9+ is 'UNSAFE'; the units rate 2.0"


# -- what the sandbox hides -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "root", "setting"),
    [
        ("/home/pi/camapp/.venv/bin/camapp", "/home", "ProtectHome=yes"),
        ("/home", "/home", "ProtectHome=yes"),
        ("/root/.pyenv/versions/3.11.7/bin/python3.11", "/root", "ProtectHome=yes"),
        ("/run/user/1000/camapp", "/run/user", "ProtectHome=yes"),
        ("/tmp/camapp/.venv", "/tmp", "PrivateTmp=yes"),
        ("/var/tmp/camapp/.venv", "/var/tmp", "PrivateTmp=yes"),
    ],
)
def test_paths_under_home_root_run_user_and_the_tmp_dirs_are_hidden_from_the_service(path: str, root: str, setting: str) -> None:
    hidden = hidden_from_service(path)
    assert hidden is not None and hidden.root == root and hidden.setting == setting


@pytest.mark.parametrize(
    "path",
    [
        "/opt/camapp/venv/bin/camapp",
        "/usr/bin/python3.11",
        "/usr/lib/python3/dist-packages",
        "/homework/venv",
        "/tmpfs/x",
        "/var/lib/camapp",
    ],
)
def test_the_service_sees_opt_usr_and_look_alike_names(path: str) -> None:
    assert hidden_from_service(path) is None


def test_a_symlink_is_judged_by_where_it_leads(tmp_path: Path) -> None:
    # The venv's bin/python is such a link; pyenv puts its Pythons under /root or /home.
    link = tmp_path / "python3"
    link.symlink_to("/home/pi/.pyenv/versions/3.11.7/bin/python3.11")
    hidden = hidden_from_service(str(link))
    assert hidden is not None and hidden.path == "/home/pi/.pyenv/versions/3.11.7/bin/python3.11" and hidden.setting == "ProtectHome=yes"


def skip_unless_under_tmp(path: Path) -> None:
    if not str(path.resolve()).startswith(("/tmp/", "/var/tmp/")):
        pytest.skip(f"tmp_path {path} is not below /tmp or /var/tmp here (TMPDIR?)")


def test_a_symlink_that_leads_to_opt_still_counts_where_it_lies(tmp_path: Path) -> None:
    skip_unless_under_tmp(tmp_path)
    link = tmp_path / "camapp"
    link.symlink_to("/opt/camapp/venv/bin/camapp")
    hidden = hidden_from_service(str(link))
    assert hidden is not None and hidden.setting == "PrivateTmp=yes", "ExecStart= names the link, which the service cannot open"


def test_an_editable_install_points_at_its_source_and_a_copied_one_does_not() -> None:
    editable = '{"url": "file:///home/pi/my%20camapp", "dir_info": {"editable": true}}'
    assert editable_source_from(editable) == "/home/pi/my camapp"
    assert editable_source_from('{"url": "file:///home/pi/camapp", "dir_info": {}}') is None
    assert editable_source_from('{"url": "https://example.org/camapp.whl", "archive_info": {}}') is None
    assert editable_source_from(None) is None and editable_source_from("not json") is None


def test_this_installation_names_the_venv_the_real_interpreter_and_the_package_source() -> None:
    import camapp

    needs = {n.what: n.path for n in this_installation().needs}
    assert needs["the venv"] == sys.prefix and needs["the camapp program"] == VENV_CAMAPP
    assert needs["the Python interpreter"] == os.path.realpath(sys.executable), "symlinks resolved: pyenv's python lies elsewhere"
    assert needs["the camapp package"] == str(Path(camapp.__file__).parent)
    if Path(camapp.__file__).parent == REPO / "camapp":  # an editable install of this checkout
        assert needs["the editable install's source"] == str(REPO)


def test_the_refusal_is_one_line_naming_each_hidden_place_once_its_setting_and_the_fix() -> None:
    needs = [
        Needed("the venv", "/home/pi/camapp/.venv"),
        Needed("the camapp program", "/home/pi/camapp/.venv/bin/camapp"),
        Needed("the Python interpreter", "/root/.pyenv/versions/3.11.7/bin/python3.11"),
        Needed("the base Python", "/root/.pyenv/versions/3.11.7"),
        Needed("the config", "/etc/camapp/camapp.yaml"),
    ]
    with pytest.raises(UsageError) as caught:
        refuse_hidden(needs)
    line = str(caught.value)
    assert "\n" not in line and line.count("/home/pi/camapp/.venv") == 1 and line.count("/root/.pyenv") == 1
    assert "the venv /home/pi/camapp/.venv (ProtectHome=yes hides /home)" in line
    assert "the Python interpreter /root/.pyenv/versions/3.11.7/bin/python3.11 (ProtectHome=yes hides /root)" in line
    assert "/etc/camapp" not in line and line.endswith(FIX)
    assert FIX == "sudo CAMAPP_VENV=/opt/camapp/venv bash scripts/camapp service install --create-user"


def test_nothing_is_refused_for_an_installation_in_opt() -> None:
    refuse_hidden([*OPT_INSTALL.needs, Needed("the config", "/etc/camapp/camapp.yaml")])


# -- camapp service install ------------------------------------------------------------------------


def test_install_dry_run_from_this_checkout_points_outside_the_hidden_dirs_or_refuses_in_one_line(tmp_path: Path) -> None:
    # The checkout may be a clone under /home or /tmp, its venv's Python may live in /root/.pyenv:
    # then the unit could never start, and install must say so instead of writing it.
    result = run_camapp("service", "install", "--dry-run", "--create-user", "--user", "camapp-test-nobody", "--unit-dir", str(tmp_path))
    if result.code == 0:
        program = unit_settings(result.stdout)["ExecStart"][0].split()[0]
        assert hidden_from_service(program) is None and all(hidden_from_service(n.path) is None for n in this_installation().needs)
    else:
        assert_one_line_error(result, 2, "the service could not start", FIX)
        assert result.stdout == "", "no unit is printed for an installation the service cannot see"
    assert list(tmp_path.iterdir()) == [], "a dry run writes nothing"


def fake_venv_under(directory: Path) -> Path:
    """A venv in `directory` whose camapp is this checkout (a .pth instead of an install), like a
    clone's .venv: `bin/camapp` in it is what a user would run."""
    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (purelib / "camapp-checkout.pth").write_text(f"{REPO}\n{sysconfig.get_paths()['purelib']}\n")
    program = venv / "bin" / "camapp"
    program.write_text(f"#!{venv}/bin/python\nimport sys\nfrom camapp.cli import main\nsys.exit(main())\n")
    program.chmod(0o755)
    return venv


@pytest.mark.slow
def test_install_from_a_venv_under_tmp_is_refused_with_the_hidden_path_the_setting_and_the_fix(tmp_path: Path) -> None:
    skip_unless_under_tmp(tmp_path)
    venv = fake_venv_under(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    for extra in ([], ["--instance", "front"]):
        proc = subprocess.run(
            [str(venv / "bin" / "camapp"), "service", "install", "--dry-run", "--create-user", "--unit-dir", str(units), *extra],
            capture_output=True,
            text=True,
            check=False,
        )
        result = CliResult(proc.returncode, proc.stdout, proc.stderr)
        assert_one_line_error(result, 2, f"the venv {venv.resolve()} (PrivateTmp=yes replaces with an empty private directory /tmp", FIX)
        assert result.stdout == "" and list(units.iterdir()) == []
    assert result.error_lines[0].endswith(FIX + " --instance front")


def test_install_dry_run_for_an_installation_in_opt_prints_the_unit_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], installed_in_opt: Installation
) -> None:
    result = camapp_in_process(
        capsys, "service", "install", "--dry-run", "--create-user", "--user", "camapp-test-nobody", "--unit-dir", str(tmp_path)
    )
    assert result.code == 0, result.stderr
    s = unit_settings(result.stdout)
    assert s["ExecStart"] == ["/opt/camapp/venv/bin/camapp run --config /etc/camapp/camapp.yaml"]
    assert s["User"] == ["camapp-test-nobody"]
    assert "would run: useradd --system" in result.stderr and "--groups video" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a dry run writes nothing"


def test_install_dry_run_of_an_instance_prints_the_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], installed_in_opt: Installation
) -> None:
    result = camapp_in_process(
        capsys, "service", "install", "--dry-run", "--instance", "front", "--user", "root", "--unit-dir", str(tmp_path)
    )
    assert result.code == 0, result.stderr
    assert result.stdout == render_unit(template_params(user="root"))
    assert f"would write {tmp_path / 'camapp@.service'}" in result.stderr and "/etc/camapp/front.yaml" in result.stderr
    assert "systemctl enable --now camapp@front.service" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_config_the_service_cannot_see_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], installed_in_opt: Installation
) -> None:
    result = camapp_in_process(
        capsys, "service", "install", "--dry-run", "--user", "root", "--unit-dir", str(tmp_path), "--config", "/home/pi/camapp.yaml"
    )
    assert_one_line_error(result, 2, "the config /home/pi/camapp.yaml (ProtectHome=yes hides /home)")


def test_install_writes_the_unit_and_a_starter_config_that_checks_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_not_checked: None
) -> None:
    config = tmp_path / "etc" / "camapp.yaml"
    args = ("service", "install", "--user", "root", "--unit-dir", str(tmp_path), "--config", str(config))
    result = camapp_in_process(capsys, *args)
    assert result.code == 0, result.stderr
    unit = (tmp_path / "camapp.service").read_text()
    assert unit == render_unit(UnitParams(camapp=VENV_CAMAPP, config=str(config), user="root"))
    assert run_camapp("check-config", "--no-env", str(config)).code == 0
    again = camapp_in_process(capsys, *args)
    assert again.code == 0 and "keep the existing" in again.stderr, "an edited config is never overwritten"
    removed = camapp_in_process(capsys, "service", "uninstall", "--unit-dir", str(tmp_path))
    assert removed.code == 0 and not (tmp_path / "camapp.service").exists() and config.exists()


@pytest.mark.slow
def test_instances_share_one_template_which_goes_with_the_last_enabled_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_not_checked: None
) -> None:
    etc = tmp_path / "etc"
    template = tmp_path / "camapp@.service"
    for name in ("front", "back"):
        result = camapp_in_process(
            capsys, "service", "install", "--instance", name, "--user", "root", "--unit-dir", str(tmp_path), "--config-dir", str(etc)
        )
        assert result.code == 0, result.stderr
        assert "camapp: error" not in result.stderr
    assert template.read_text() == render_unit(template_params(camapp=VENV_CAMAPP, config_dir=str(etc), user="root"))
    for name in ("front", "back"):
        config = etc / f"{name}.yaml"
        assert f"camera: {name}" in config.read_text(), "each camera publishes under its own name"
        assert run_camapp("check-config", "--no-env", str(config)).code == 0
    # What `systemctl enable camapp@back` leaves in the unit directory.
    wants = tmp_path / "multi-user.target.wants"
    wants.mkdir()
    (wants / "camapp@back.service").symlink_to(template)
    kept = camapp_in_process(capsys, "service", "uninstall", "--instance", "front", "--unit-dir", str(tmp_path))
    assert kept.code == 0 and template.exists() and "still enabled: camapp@back.service" in kept.stderr
    (wants / "camapp@back.service").unlink()
    removed = camapp_in_process(capsys, "service", "uninstall", "--instance", "back", "--unit-dir", str(tmp_path))
    assert removed.code == 0 and not template.exists()
    assert (etc / "front.yaml").exists() and (etc / "back.yaml").exists(), "configs stay"


@pytest.mark.parametrize("name", ["../etc", "front door", "-x", "a/b"])
def test_an_instance_name_that_is_no_plain_file_name_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    result = camapp_in_process(capsys, "service", "install", "--dry-run", f"--instance={name}", "--unit-dir", str(tmp_path))
    assert_one_line_error(result, 2, "bad instance name")


def test_an_instance_reads_its_config_dir_not_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], installed_in_opt: Installation
) -> None:
    result = camapp_in_process(
        capsys, "service", "install", "--dry-run", "--instance", "front", "--config", "/etc/camapp/x.yaml", "--unit-dir", str(tmp_path)
    )
    assert_one_line_error(result, 2, "--config does not go with --instance", "--config-dir")


def test_status_of_an_instance_that_is_not_installed_says_how_to_install_it(capsys: pytest.CaptureFixture[str]) -> None:
    if Path("/etc/systemd/system/camapp@.service").exists():
        pytest.skip("camapp@.service is installed on this machine")
    result = camapp_in_process(capsys, "service", "status", "--instance", "front")
    assert result.code == 1
    assert "camapp@front.service is not installed" in result.stdout and "--instance front" in result.stdout


def test_install_for_a_missing_user_says_how_to_create_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], installed_in_opt: Installation
) -> None:
    result = camapp_in_process(capsys, "service", "install", "--user", "camapp-test-nobody", "--unit-dir", str(tmp_path))
    assert_one_line_error(result, 2, "--create-user")
    assert not (tmp_path / "camapp.service").exists()
