"""The systemd units camapp installs: camapp.service (one camera) and camapp@.service (one per camera).

The unit text lives here, not only in systemd/, so an installed wheel can write it too. The
repository's systemd/camapp.service and systemd/camapp@.service are these templates rendered with
the default paths, and a test keeps them equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNIT_NAME = "camapp.service"
TEMPLATE_NAME = "camapp@.service"
DEFAULT_CONFIG_DIR = "/etc/camapp"
DEFAULT_CONFIG = f"{DEFAULT_CONFIG_DIR}/camapp.yaml"
DEFAULT_VENV = "/opt/camapp/venv"
DEFAULT_CAMAPP = f"{DEFAULT_VENV}/bin/camapp"  # what the repository's units show

# An instance name becomes a file name (/etc/camapp/NAME.yaml), a directory (/var/lib/camapp/NAME)
# and an MQTT topic level, so it is kept to characters that are plain in all three. A '-' is fine:
# the unit uses %i (the name as written), not %I (where systemd would unescape '-' to '/').
INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

UNIT_TEMPLATE = """\
# camapp as a systemd service: starts at boot, restarts on failure or when the watchdog fires.
{purpose}
# Written by `camapp service install` with the paths of the venv it ran from, which must lie outside
# /home, /root, /run/user, /tmp and /var/tmp: ProtectHome= and PrivateTmp= below hide those from
# the service. The usual venv is {venv}; see docs/service.md.

[Unit]
Description={description}
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
{state}
# Relative paths in the config (output.save, output.jsonl, snapshots.dir, events.output) land here.
WorkingDirectory={working_directory}
Environment=PYTHONUNBUFFERED=1
# Models pulled by id are cached here (the only writable places are /var/lib/camapp and /var/cache/camapp).
Environment=CAMAPP_MODEL_CACHE_DIR=%C/camapp/models
EnvironmentFile=-{env_file}

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

# What differs between the one-camera unit and the per-camera template; everything else is shared,
# so the two can never drift apart in their hardening or restart policy.
_SINGLE = {
    "purpose": "# Configuration: {config} (a starter is written on install); `systemctl reload camapp` rereads it.",
    "description": "camapp camera vision (MobileNet classification / SSD-MobileNet detection)",
    "state": "StateDirectory=camapp\nCacheDirectory=camapp",
    "working_directory": "%S/camapp",
}
_PER_CAMERA = {
    "purpose": (
        "# One instance per camera: camapp@NAME reads {config} with %i = NAME, keeps its own state in\n"
        "# /var/lib/camapp/NAME and shares the model cache. `systemctl reload camapp@NAME` rereads the config."
    ),
    "description": "camapp camera vision, camera %i (MobileNet classification / SSD-MobileNet detection)",
    # Each camera its own state (recordings, snapshots, JSON lines); one model cache for all of them.
    "state": "StateDirectory=camapp/%i\nCacheDirectory=camapp",
    "working_directory": "%S/camapp/%i",
}


@dataclass(frozen=True)
class UnitParams:
    """The paths a unit is filled in with; for the per-camera template `config` and `env_file` contain %i."""

    camapp: str = DEFAULT_CAMAPP
    config: str = DEFAULT_CONFIG
    user: str = "camapp"
    env_file: str = f"{DEFAULT_CONFIG_DIR}/camapp.env"
    per_camera: bool = False


def template_params(camapp: str = DEFAULT_CAMAPP, config_dir: str = DEFAULT_CONFIG_DIR, user: str = "camapp") -> UnitParams:
    """The per-camera template's parameters: instance NAME reads CONFIG_DIR/NAME.yaml and NAME.env."""
    return UnitParams(camapp=camapp, config=f"{config_dir}/%i.yaml", user=user, env_file=f"{config_dir}/%i.env", per_camera=True)


def render_unit(params: UnitParams) -> str:
    kind = _PER_CAMERA if params.per_camera else _SINGLE
    fields = {key: value.format(config=params.config) for key, value in kind.items()}
    return UNIT_TEMPLATE.format(
        **fields, venv=DEFAULT_VENV, camapp=params.camapp, config=params.config, user=params.user, env_file=params.env_file
    )


def unit_file_name(instance: str | None) -> str:
    """The file in the unit directory: camapp.service, or the one template all instances share."""
    return TEMPLATE_NAME if instance else UNIT_NAME


def service_name(instance: str | None) -> str:
    """What systemctl is given: camapp.service or camapp@NAME.service."""
    return f"camapp@{instance}.service" if instance else UNIT_NAME


STARTER_CONFIG = """\
# camapp service configuration: every key is described in docs/ and `camapp check-config` checks it.
# After editing: sudo camapp check-config {config} && sudo systemctl reload {service}
# Relative paths (output.save, output.jsonl, snapshots.dir, events.output) land in {state_dir}.
source:
  uri: picam              # or picam:1, 0, /dev/video0, rtsp://..., http://...
model:
  name: ssd_mobilenet_v1_coco_quant
service:
  stats_interval: 300     # one stats line in the journal every 5 minutes
"""

# Added for an instance: several cameras on one board must not collide on names or ports.
INSTANCE_STARTER_EXTRA = """\
mqtt:
  camera: {instance}  # topics camapp/{instance}/... once mqtt.host is set
# http:
#   listen: 0.0.0.0:8081  # every instance needs its own port
"""


def starter_config(config: str, instance: str | None) -> str:
    if not instance:
        return STARTER_CONFIG.format(config=config, service="camapp", state_dir="/var/lib/camapp")
    text = STARTER_CONFIG.format(config=config, service=f"camapp@{instance}", state_dir=f"/var/lib/camapp/{instance}")
    return text + INSTANCE_STARTER_EXTRA.format(instance=instance)
