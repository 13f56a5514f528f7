"""camapp check-config FILE: validate a config and print the effective one, secrets masked.

"Effective" means what `camapp run --config FILE` would use: the file, then CAMAPP_* variables
from this environment, then systemd credentials for secrets still unset, then defaults. A service
reads its environment from the unit (and /etc/camapp/camapp.env), so run it with the same variables
to see the same result.

Unlike `camapp run`, which stops at the first problem, this reports every problem at once, one
`camapp: error:` line each (key, allowed values, YAML line or variable), then a count line, exit 2.
It also checks that the files the config names exist, so a typo in a path shows up before the
service starts, not at 3 a.m. when it restarts.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

from camapp.config import CREDENTIALS, ConfigCheck, effective_config, inspect_config
from camapp.errors import EXIT_OK, EXIT_USAGE, CamappError, ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check-config",
        help="validate a config file and print the effective config (secrets masked)",
        description="Validate FILE (plus CAMAPP_* environment variables and systemd credentials), check that the files it "
        "names exist, and print the effective config as YAML. Every problem is reported, one line each.",
    )
    p.add_argument("file", metavar="FILE", help="the YAML config file, e.g. /etc/camapp/camapp.yaml")
    p.add_argument(
        "--no-env", action="store_true", help="ignore CAMAPP_* environment variables and systemd credentials: check the file alone"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing when the file is valid (exit code only)")
    p.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace) -> int:
    try:
        check = inspect_config(args.file, env={} if args.no_env else None)
    except ConfigError as exc:  # not YAML at all, or no such file: nothing further can be checked
        return _report(args.file, [exc])
    problems = [*check.problems, *missing_files(check)]
    if problems or check.config is None:
        return _report(args.file, problems)
    if not args.quiet:
        sources = "" if args.no_env else " and CAMAPP_* variables"
        sys.stdout.write(f"# effective config from {args.file}{sources}; secrets masked\n")
        for line in _secret_sources(check):
            sys.stdout.write(f"# {line}\n")
        sys.stdout.write(yaml.safe_dump(effective_config(check.config), sort_keys=False, default_flow_style=False, allow_unicode=True))
        print(f"{args.file}: OK", file=sys.stderr)
    return EXIT_OK


def _report(path: str, problems: list[ConfigError]) -> int:
    for problem in problems:
        print(f"camapp: error: {problem}", file=sys.stderr)
    count = len(problems)
    print(f"camapp: {path}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
    return EXIT_USAGE


def _secret_sources(check: ConfigCheck) -> list[str]:
    """Where each secret that is set came from (its value stays masked), e.g. a systemd credential."""
    lines = []
    for key in CREDENTIALS.values():
        if check.config is not None and getattr(getattr(check.config, key[0]), key[1]) is not None:
            lines.append(f"{'.'.join(key)} from {check.origin.get(key, check.path or 'the config')}")
    return lines


def missing_files(check: ConfigCheck) -> list[ConfigError]:
    """The files and folders the config names that do not exist, one error each naming its key.

    Cameras (picam, webcam indexes, /dev/videoN, which may be plugged in later) and URLs are not
    files; a glob pattern must match something; a model id is looked up in the manifest."""
    problems: list[ConfigError] = []

    def text(*key: str) -> str | None:
        node: Any = check.data
        for part in key:
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, str) and node.strip() else None

    def problem(key: tuple[str, ...], what: str) -> None:
        problems.append(ConfigError(f"config key '{'.'.join(key)}'{check.where(key)}: {what}"))

    def must_exist(key: tuple[str, ...], kind: str) -> None:
        value = text(*key)
        if value is None:
            return
        path = os.path.expanduser(value)
        ok = os.path.isdir(path) if kind == "folder" else os.path.isfile(path) if kind == "file" else os.path.exists(path)
        if not ok:
            relative = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
            problem(key, f"{kind} '{value}' does not exist{relative}")

    uri = text("source", "uri")
    if uri is not None:
        from camapp.sources.spec import parse_source  # the one source grammar: cameras, URLs, globs, paths

        try:
            parse_source(uri)
        except CamappError as exc:
            problem(("source", "uri"), str(exc))

    name = text("model", "name")
    if name is not None:
        from camapp.models.manifest import find_entry
        from camapp.models.resolve import looks_like_path

        if looks_like_path(os.path.expanduser(name)):
            must_exist(("model", "name"), "file")
        else:
            try:
                find_entry(name)
            except CamappError as exc:
                problem(("model", "name"), str(exc))
    must_exist(("model", "labels"), "file")
    mirror = text("model", "mirror")
    if mirror is not None and "://" not in mirror:
        must_exist(("model", "mirror"), "folder")
    for key in ("cafile", "certfile", "keyfile"):
        must_exist(("mqtt", key), "file")
    return problems
