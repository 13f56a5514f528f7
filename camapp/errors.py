"""The error types camapp raises on purpose, and the exit code each one maps to.

Anything the user can fix raises a CamappError whose message is one line saying what was wrong
and what to do. cli.main() is the one place that turns them into exit codes; any other exception
is a bug and is reported as such (with a traceback only under --debug).
"""

from __future__ import annotations

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments, config, model, labels, source string, unreadable input file
EXIT_SOURCE = 3  # a source that could not be opened or was lost at run time
EXIT_RUNTIME = 4  # the interpreter failed while running
EXIT_OUTPUT = 5  # an output (file, window, server) could not be created
EXIT_BUG = 70  # an unexpected exception: a camapp bug (EX_SOFTWARE)
EXIT_INTERRUPTED = 130


class CamappError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class UsageError(CamappError):
    exit_code = EXIT_USAGE


class ConfigError(CamappError):
    exit_code = EXIT_USAGE


class ModelError(CamappError):
    """The model file or its labels are unusable (missing, corrupt, unsupported)."""

    exit_code = EXIT_USAGE


class InputError(CamappError):
    """An input file (image, video) the user named cannot be read."""

    exit_code = EXIT_USAGE


class SourceError(CamappError):
    """A camera or stream could not be opened, or stopped delivering frames."""

    exit_code = EXIT_SOURCE


class InferenceError(CamappError):
    exit_code = EXIT_RUNTIME


class OutputError(CamappError):
    exit_code = EXIT_OUTPUT
