"""The camapp command line: the one place where errors become exit codes and messages."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from camapp import __version__, early_signals
from camapp.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, CamappError
from camapp.logs import quiet_native_logs, setup_logging, under_journal

log = logging.getLogger("camapp")


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit code 2, like every other usage error.
        self.exit(EXIT_USAGE, f"camapp: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> ArgumentParser:
    from camapp.commands import images, run

    parser = ArgumentParser(prog="camapp", description="Real-time MobileNet classification and SSD detection for the Raspberry Pi.")
    parser.add_argument("--version", action="version", version=f"camapp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for module in (run, images, *_optional_commands()):
        module.add_parser(sub)
    return parser


def _optional_commands() -> list:  # type: ignore[type-arg]
    """Command modules added by later features; each registers itself with add_parser()."""
    import importlib

    found = []
    for name in ("models", "bench", "service", "check_config", "doctor"):
        try:
            found.append(importlib.import_module(f"camapp.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"camapp.commands.{name}":
                raise
    return found


def _error_prefix() -> str:
    return "<3>" if under_journal() else ""


def main(argv: list[str] | None = None) -> int:
    early_signals.hold_sighup()  # before the slow imports: a reload must not kill a starting service
    quiet_native_logs(debug="--debug" in (sys.argv[1:] if argv is None else argv))  # before cv2 is imported
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "run":
        early_signals.release_sighup()
    debug = bool(getattr(args, "debug", False))
    level = getattr(args, "log_level", None) or ("info" if args.command == "run" else "warning")
    setup_logging(level, debug)
    try:
        return int(args.handler(args))
    except CamappError as exc:
        if debug:
            traceback.print_exc()
        print(f"{_error_prefix()}camapp: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("camapp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        prefix = _error_prefix()
        print(f"{prefix}camapp: internal error: {type(exc).__name__}: {exc} (run again with --debug and report it)", file=sys.stderr)
        return EXIT_BUG
