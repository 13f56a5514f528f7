"""camapp service install | uninstall | status: the systemd unit, filled in for the venv camapp runs from.

The unit text lives here (systemd/camapp.service in the repository is this template rendered with
the default paths, and a test keeps the two equal), so an installed wheel can write it too.
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

from camapp.errors import EXIT_OK, UsageError

UNIT_NAME = "camapp.service"
DEFAULT_UNIT_DIR = "/etc/systemd/system"
DEFAULT_CONFIG = "/etc/camapp/camapp.yaml"
DEFAULT_CAMAPP = "/opt/camapp/venv/bin/camapp"  # what the repository's systemd/camapp.service shows

UNIT_TEMPLATE = """\
# camapp as a systemd service: starts at boot, restarts on failure or when the watchdog fires.
# Written by `camapp service install` with the paths of the venv it ran from; see docs/service.md.
# Configuration: {config} (created empty-ish on install); reload it with `systemctl reload camapp`.

[Unit]
Description=camapp camera vision (MobileNet classification / SSD-MobileNet detection)
Wants=network-online.target
After=network-online.target
# Never give up restarting: a camera or a stream may come back hours later.
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
ExecStart={camapp} run --config {config}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
# camapp pings only while frames flow through inference; a source lost for longer than this (after
# its in-process reconnect tries, service.stall_timeout / reconnect_max) or a hang means a restart.
WatchdogSec=60s
# Loading a model on a Pi Zero takes a while; SIGTERM ends camapp within 5 s (video files closed).
TimeoutStartSec=120s
TimeoutStopSec=15s

User={user}
Group={user}
# /dev/video*, /dev/media*, /dev/v4l-subdev*, /dev/dma_heap/* and /dev/vchiq belong to group video
# on Raspberry Pi OS: that is all USB webcams and the Pi camera (libcamera / picamera2) need.
SupplementaryGroups=video
ConfigurationDirectory=camapp
ConfigurationDirectoryMode=0750
StateDirectory=camapp
CacheDirectory=camapp
WorkingDirectory=%S/camapp
Environment=PYTHONUNBUFFERED=1
# Models pulled by id are cached here (the only writable places are /var/lib/camapp and /var/cache/camapp).
Environment=CAMAPP_MODEL_CACHE_DIR=%C/camapp/models
EnvironmentFile=-/etc/camapp/camapp.env

# Hardening that still leaves cameras and the network usable.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
# PrivateDevices=yes would hide the cameras; device access is granted by group video instead.
PrivateDevices=no
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=
UMask=0027
# Not MemoryDenyWriteExecute: libffi closures (picamera2's dependencies) and JIT kernels need W+X pages.

[Install]
WantedBy=multi-user.target
"""

STARTER_CONFIG = """\
# camapp service configuration: every key is described in docs/ and `camapp check-config` checks it.
# After editing: sudo camapp check-config {config} && sudo systemctl reload camapp
source:
  uri: picam              # or 0, /dev/video0, rtsp://..., http://...
model:
  name: ssd_mobilenet_v1_coco_quant
service:
  stats_interval: 300     # one stats line in the journal every 5 minutes
"""


@dataclass(frozen=True)
class UnitParams:
    camapp: str = DEFAULT_CAMAPP
    config: str = DEFAULT_CONFIG
    user: str = "camapp"


def render_unit(params: UnitParams) -> str:
    return UNIT_TEMPLATE.format(camapp=params.camapp, config=params.config, user=params.user)


def venv_camapp() -> str:
    """The camapp script of the running interpreter's venv (not resolved: the venv path is what counts)."""
    beside = Path(sys.executable).parent / "camapp"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("camapp")
    if found:
        return str(Path(found).absolute())
    raise UsageError("cannot find the camapp program of this installation", "run `camapp service install` from the venv's bin/camapp")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("service", help="install, remove or show the systemd service", description="Manage the camapp systemd unit.")
    ss = p.add_subparsers(dest="action", metavar="ACTION")
    ss.required = True
    inst = ss.add_parser("install", help="write the unit for this venv, create the config and user, enable it")
    inst.add_argument("--user", default="camapp", help="the account camapp runs as (default camapp)")
    inst.add_argument("--create-user", action="store_true", help="create that system user (in group video) if it is missing")
    inst.add_argument(
        "--config", dest="service_config", default=DEFAULT_CONFIG, help=f"config file the service reads (default {DEFAULT_CONFIG})"
    )
    inst.add_argument("--unit-dir", default=DEFAULT_UNIT_DIR, help=f"where the unit goes (default {DEFAULT_UNIT_DIR})")
    inst.add_argument("--enable", action="store_true", help="also enable and start it now (systemctl enable --now)")
    inst.add_argument("--dry-run", action="store_true", help="print the unit and the steps, change nothing")
    un = ss.add_parser("uninstall", help="stop, disable and remove the unit (config, data and user stay)")
    un.add_argument("--unit-dir", default=DEFAULT_UNIT_DIR, help=f"where the unit is (default {DEFAULT_UNIT_DIR})")
    un.add_argument("--dry-run", action="store_true", help="print the steps, change nothing")
    ss.add_parser("status", help="systemctl status camapp, and where the unit and config are")
    p.set_defaults(handler=service)


def service(args: argparse.Namespace) -> int:
    if args.action == "install":
        return install(args)
    if args.action == "uninstall":
        return uninstall(args)
    return status()


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


def install(args: argparse.Namespace) -> int:
    params = UnitParams(venv_camapp(), os.path.abspath(args.service_config), args.user)
    unit = render_unit(params)
    unit_path = Path(args.unit_dir) / UNIT_NAME
    dry = args.dry_run
    if dry:
        sys.stdout.write(unit)
    _needs_root(args.unit_dir, dry)
    if not _user_exists(args.user):
        if not args.create_user:
            raise UsageError(f"user '{args.user}' does not exist", "add --create-user, or give an existing one with --user")
        groups = ",".join(g for g in ("video", "render") if _group_exists(g))
        _run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/var/lib/camapp",
                "--shell",
                "/usr/sbin/nologin",
                *(["--groups", groups] if groups else []),
                args.user,
            ],
            dry,
        )
    _step(dry, f"write {unit_path}")
    if not dry:
        unit_path.write_text(unit, encoding="utf-8")
    _starter_config(params.config, args.user, dry)
    if args.unit_dir == DEFAULT_UNIT_DIR:
        _run(["systemctl", "daemon-reload"], dry)
        if args.enable:
            _run(["systemctl", "enable", "--now", UNIT_NAME], dry)
    print(
        f"{'would install' if dry else 'installed'} {unit_path} running {params.camapp}; "
        f"edit {params.config}, then: sudo systemctl enable --now camapp; journalctl -u camapp -f",
        file=sys.stderr,
    )
    return EXIT_OK


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _starter_config(path: str, user: str, dry: bool) -> None:
    if os.path.exists(path):
        _step(dry, f"keep the existing {path}")
        return
    _step(dry, f"write a starter {path} (edit it: source and model)")
    if dry:
        return
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    Path(path).write_text(STARTER_CONFIG.format(config=path), encoding="utf-8")
    if _user_exists(user) and os.geteuid() == 0:
        # Readable by the service's group only: the config may hold an MQTT password or a token.
        gid = pwd.getpwnam(user).pw_gid
        os.chown(os.path.dirname(path), 0, gid)
        os.chown(path, 0, gid)
        os.chmod(path, 0o640)


def uninstall(args: argparse.Namespace) -> int:
    unit_path = Path(args.unit_dir) / UNIT_NAME
    dry = args.dry_run
    if not unit_path.exists():
        raise UsageError(f"{unit_path} is not installed", "nothing to remove")
    _needs_root(args.unit_dir, dry)
    if args.unit_dir == DEFAULT_UNIT_DIR:
        _run(["systemctl", "disable", "--now", UNIT_NAME], dry, check=False)
    _step(dry, f"remove {unit_path}")
    if not dry:
        unit_path.unlink()
    if args.unit_dir == DEFAULT_UNIT_DIR:
        _run(["systemctl", "daemon-reload"], dry)
    print("kept /etc/camapp, /var/lib/camapp, /var/cache/camapp and the user; remove them by hand if wanted", file=sys.stderr)
    return EXIT_OK


def status() -> int:
    unit_path = Path(DEFAULT_UNIT_DIR) / UNIT_NAME
    if not unit_path.exists():
        print(f"{UNIT_NAME} is not installed ({unit_path} missing): sudo camapp service install --create-user")
        return 1
    exec_start = next((ln.split("=", 1)[1] for ln in unit_path.read_text().splitlines() if ln.startswith("ExecStart=")), "?")
    print(f"unit: {unit_path}\nExecStart: {exec_start}")
    if shutil.which("systemctl") is None:
        raise UsageError("systemctl is not available here", "camapp service status needs systemd")
    # systemctl's own exit codes (3: inactive) say whether the service runs; pass them on.
    return subprocess.run(["systemctl", "status", "--no-pager", "--lines=15", UNIT_NAME], check=False).returncode
