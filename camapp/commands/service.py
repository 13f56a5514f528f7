"""camapp service install | uninstall | status: the systemd unit, filled in for the venv camapp runs from.

`--instance NAME` works on the per-camera template camapp@.service instead: one file serves every
camera, and camapp@NAME reads /etc/camapp/NAME.yaml. The unit text is in service_unit.py; what the
unit's sandbox can see is decided in service_paths.py.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from camapp.commands import COMMANDS
from camapp.commands.service_paths import FIX, Needed, refuse_hidden, this_installation
from camapp.commands.service_unit import (
    DEFAULT_CAMAPP,
    DEFAULT_CONFIG,
    DEFAULT_CONFIG_DIR,
    INSTANCE_NAME,
    TEMPLATE_NAME,
    UNIT_NAME,
    UnitParams,
    render_unit,
    service_name,
    starter_config,
    template_params,
    unit_file_name,
)
from camapp.errors import EXIT_OK, UsageError

__all__ = ["DEFAULT_CAMAPP", "UNIT_NAME", "TEMPLATE_NAME", "UnitParams", "render_unit", "template_params", "add_parser", "service"]

DEFAULT_UNIT_DIR = "/etc/systemd/system"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("service", help=COMMANDS["service"][1], description="Manage the camapp systemd unit.")
    ss = p.add_subparsers(dest="action", metavar="ACTION")
    ss.required = True
    instance_help = "one camera of several: camapp@NAME.service, reading CONFIG_DIR/NAME.yaml"
    inst = ss.add_parser("install", help="write the unit for this venv, create the config and user, enable it")
    inst.add_argument("--instance", metavar="NAME", help=instance_help)
    inst.add_argument("--user", default="camapp", help="the account camapp runs as (default camapp)")
    inst.add_argument("--create-user", action="store_true", help="create that system user (in group video) if it is missing")
    inst.add_argument("--config", dest="service_config", metavar="FILE", help=f"config file the service reads (default {DEFAULT_CONFIG})")
    inst.add_argument(
        "--config-dir",
        default=DEFAULT_CONFIG_DIR,
        metavar="DIR",
        help=f"with --instance: where NAME.yaml and NAME.env are (default {DEFAULT_CONFIG_DIR})",
    )
    inst.add_argument("--unit-dir", default=DEFAULT_UNIT_DIR, metavar="DIR", help=f"where the unit goes (default {DEFAULT_UNIT_DIR})")
    inst.add_argument("--enable", action="store_true", help="also enable and start it now (systemctl enable --now)")
    inst.add_argument("--dry-run", action="store_true", help="print the unit and the steps, change nothing")
    un = ss.add_parser("uninstall", help="stop, disable and remove the unit (config, data and user stay)")
    un.add_argument("--instance", metavar="NAME", help=instance_help)
    un.add_argument("--unit-dir", default=DEFAULT_UNIT_DIR, metavar="DIR", help=f"where the unit is (default {DEFAULT_UNIT_DIR})")
    un.add_argument("--dry-run", action="store_true", help="print the steps, change nothing")
    st = ss.add_parser("status", help="systemctl status camapp, and where the unit and config are")
    st.add_argument("--instance", metavar="NAME", help=instance_help)
    p.set_defaults(handler=service)


def service(args: argparse.Namespace) -> int:
    instance = _instance(args.instance)
    if args.action == "install":
        return install(args, instance)
    if args.action == "uninstall":
        return uninstall(args, instance)
    return status(instance)


def _instance(name: str | None) -> str | None:
    if name is not None and not INSTANCE_NAME.fullmatch(name):
        raise UsageError(f"bad instance name {name!r}", "use letters, digits, '-' and '_' (up to 64), starting with a letter or digit")
    return name


def _step(dry_run: bool, text: str) -> None:
    print(f"{'would ' if dry_run else ''}{text}", file=sys.stderr)


def _run(cmd: list[str], dry_run: bool, check: bool = True) -> int:
    _step(dry_run, "run: " + " ".join(cmd))
    if dry_run:
        return 0
    if shutil.which(cmd[0]) is None:
        raise UsageError(f"'{cmd[0]}' is not installed", "camapp service needs systemd (and useradd to create the user)")
    result = subprocess.run(cmd, check=False)
    if check and result.returncode != 0:
        raise UsageError(f"'{' '.join(cmd)}' failed with exit code {result.returncode}", "see its message above")
    return result.returncode


def _needs_root(path: str, dry_run: bool) -> None:
    if not dry_run and os.geteuid() != 0 and not os.access(path, os.W_OK):
        raise UsageError(f"writing to {path} needs root", "run it with sudo, or add --dry-run to only print the unit")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@dataclass(frozen=True)
class Plan:
    """What one install writes: the unit's parameters and the config file its starter goes to."""

    params: UnitParams
    config: str  # the real file (for an instance: CONFIG_DIR/NAME.yaml, not the %i pattern)


def _plan(args: argparse.Namespace, instance: str | None, camapp: str) -> Plan:
    if instance is None:
        config = os.path.abspath(args.service_config or DEFAULT_CONFIG)
        return Plan(UnitParams(camapp=camapp, config=config, user=args.user), config)
    if args.service_config:
        raise UsageError(
            "--config does not go with --instance",
            f"instance {instance} reads CONFIG_DIR/{instance}.yaml; change CONFIG_DIR with --config-dir",
        )
    config_dir = os.path.abspath(args.config_dir)
    return Plan(template_params(camapp, config_dir, args.user), os.path.join(config_dir, f"{instance}.yaml"))


def install(args: argparse.Namespace, instance: str | None) -> int:
    found = this_installation()
    plan = _plan(args, instance, found.camapp)
    # Refuse before anything is printed or written: a unit that cannot start is worse than none.
    refuse_hidden([*found.needs, Needed("the config", plan.config)], FIX + (f" --instance {instance}" if instance else ""))
    unit = render_unit(plan.params)
    unit_path = Path(args.unit_dir) / unit_file_name(instance)
    dry = args.dry_run
    if dry:
        sys.stdout.write(unit)
    _needs_root(args.unit_dir, dry)
    if not _user_exists(args.user):
        if not args.create_user:
            raise UsageError(f"user '{args.user}' does not exist", "add --create-user, or give an existing one with --user")
        _create_user(args.user, dry)
    _step(dry, f"write {unit_path}")
    if not dry:
        unit_path.write_text(unit, encoding="utf-8")
    _starter_config(plan.config, args.user, instance, dry)
    name = service_name(instance)
    if args.unit_dir == DEFAULT_UNIT_DIR:
        _run(["systemctl", "daemon-reload"], dry)
        if args.enable:
            _run(["systemctl", "enable", "--now", name], dry)
    print(
        f"{'would install' if dry else 'installed'} {unit_path} running {found.camapp}; "
        f"edit {plan.config}, then: sudo systemctl enable --now {name}; journalctl -u {name} -f",
        file=sys.stderr,
    )
    return EXIT_OK


def _create_user(user: str, dry: bool) -> None:
    groups = ",".join(g for g in ("video", "render") if _group_exists(g))
    home = ["--no-create-home", "--home-dir", "/var/lib/camapp", "--shell", "/usr/sbin/nologin"]
    _run(["useradd", "--system", "--user-group", *home, *(["--groups", groups] if groups else []), user], dry)


def _starter_config(path: str, user: str, instance: str | None, dry: bool) -> None:
    if os.path.exists(path):
        _step(dry, f"keep the existing {path}")
        return
    _step(dry, f"write a starter {path} (edit it: source and model)")
    if dry:
        return
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    Path(path).write_text(starter_config(path, instance), encoding="utf-8")
    if _user_exists(user) and os.geteuid() == 0:
        # Readable by the service's group only: the config may hold an MQTT password or a token.
        gid = pwd.getpwnam(user).pw_gid
        os.chown(os.path.dirname(path), 0, gid)
        os.chown(path, 0, gid)
        os.chmod(path, 0o640)


def uninstall(args: argparse.Namespace, instance: str | None) -> int:
    unit_path = Path(args.unit_dir) / unit_file_name(instance)
    dry = args.dry_run
    if not unit_path.exists():
        raise UsageError(f"{unit_path} is not installed", "nothing to remove")
    _needs_root(args.unit_dir, dry)
    name = service_name(instance)
    if args.unit_dir == DEFAULT_UNIT_DIR:
        _run(["systemctl", "disable", "--now", name], dry, check=False)
    # The template serves every camera: it goes only with the last enabled instance.
    others = sorted(p.name for p in Path(args.unit_dir).glob("*.wants/camapp@*.service") if p.name != name) if instance else []
    if others:
        _step(dry, f"keep {unit_path}: still enabled: {', '.join(others)}")
    else:
        _step(dry, f"remove {unit_path}")
        if not dry:
            unit_path.unlink()
    if args.unit_dir == DEFAULT_UNIT_DIR:
        _run(["systemctl", "daemon-reload"], dry)
    state = f"/var/lib/camapp/{instance}" if instance else "/var/lib/camapp"
    print(f"kept /etc/camapp, {state}, /var/cache/camapp and the user; remove them by hand if wanted", file=sys.stderr)
    return EXIT_OK


def status(instance: str | None) -> int:
    unit_path = Path(DEFAULT_UNIT_DIR) / unit_file_name(instance)
    name = service_name(instance)
    if not unit_path.exists():
        how = FIX + (f" --instance {instance}" if instance else "")
        print(f"{name} is not installed ({unit_path} missing): {how}")
        return 1
    exec_start = next((ln.split("=", 1)[1] for ln in unit_path.read_text().splitlines() if ln.startswith("ExecStart=")), "?")
    if instance:
        exec_start = exec_start.replace("%i", instance)
    print(f"unit: {unit_path}\nExecStart: {exec_start}")
    if shutil.which("systemctl") is None:
        raise UsageError("systemctl is not available here", "camapp service status needs systemd")
    # systemctl's own exit codes (3: inactive) say whether the service runs; pass them on.
    return subprocess.run(["systemctl", "status", "--no-pager", "--lines=15", name], check=False).returncode
