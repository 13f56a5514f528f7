"""The camapp command line: the one place where errors become exit codes and messages."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from camapp import __version__, early_signals
from camapp.commands import COMMANDS, IMAGE_COMMANDS
from camapp.errors import EXIT_BUG, EXIT_INTERRUPTED, EXIT_USAGE, CamappError
from camapp.logs import quiet_native_logs, setup_logging, under_journal

log = logging.getLogger("camapp")


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line and exit code 2, like every other usage error.
        self.exit(EXIT_USAGE, f"camapp: error: {message} (see '{self.prog} --help')\n")


def build_parser(argv: list[str] | None = None) -> ArgumentParser:
    """The parser, with the full options of the command in `argv` (all commands when None)."""
    import importlib

    parser = ArgumentParser(prog="camapp", description="Real-time MobileNet classification and SSD detection for the Raspberry Pi.")
    parser.add_argument("--version", action="version", version=f"camapp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    wanted = _command_named(argv) if argv is not None else None
    everything = argv is None  # `camapp --help` needs only the help lines: no command module at all
    for name, (module, help_line) in COMMANDS.items():
        if everything or name == wanted:
            importlib.import_module(f"camapp.commands.{module}").add_parser(sub)
        else:
            sub.add_parser(name, help=help_line)  # listed in --help; its options load when it is run
    if everything or wanted not in COMMANDS:
        importlib.import_module(f"camapp.commands.{IMAGE_COMMANDS}").add_parser(sub)
    return parser


def _command_named(argv: list[str]) -> str | None:
    """The first argument that is not an option: the command (None for `camapp --help`)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _error_prefix() -> str:
    return "<3>" if under_journal() else ""


def main(argv: list[str] | None = None) -> int:
    early_signals.hold_sighup()  # before the slow imports: a reload must not kill a starting service
    quiet_native_logs(debug="--debug" in (sys.argv[1:] if argv is None else argv))  # before cv2 is imported
    given = sys.argv[1:] if argv is None else argv
    parser = build_parser(given)
    args = parser.parse_args(given)
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
