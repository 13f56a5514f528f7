"""camapp check-config FILE: validate a config and print the effective one, secrets masked.

"Effective" means what `camapp run --config FILE` would use: the file, then CAMAPP_* variables
from this environment, then defaults for everything unset. A service reads its environment from
the unit (and /etc/camapp/camapp.env), so run it with the same variables to see the same result.
Errors are one line naming the key and the file's line, exit code 2, as for every config error.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from camapp.config import effective_config, load_config
from camapp.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check-config",
        help="validate a config file and print the effective config (secrets masked)",
        description="Validate FILE (plus CAMAPP_* environment variables) and print the effective config as YAML.",
    )
    p.add_argument("file", metavar="FILE", help="the YAML config file, e.g. /etc/camapp/camapp.yaml")
    p.add_argument("--no-env", action="store_true", help="ignore CAMAPP_* environment variables: check the file alone")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing when the file is valid (exit code only)")
    p.set_defaults(handler=check_config)


def check_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.file, env={} if args.no_env else None)
    if not args.quiet:
        sys.stdout.write(f"# effective config from {args.file}{'' if args.no_env else ' and CAMAPP_* variables'}; secrets masked\n")
        sys.stdout.write(yaml.safe_dump(effective_config(cfg), sort_keys=False, default_flow_style=False, allow_unicode=True))
        print(f"{args.file}: OK", file=sys.stderr)
    return EXIT_OK
