"""Exceptions and exit codes.  The CLI maps every exception through
:func:`exit_code_for`; the library raises only :class:`ForensicsError` kinds.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes (documented in docs/cli.md, "Exit codes")."""

    OK = 0
    #: Ran, but some inputs were unreadable or missing (others were processed).
    PARTIAL = 1
    #: Bad usage: unknown option, bad value.
    USAGE = 2
    #: No input could be read at all.
    NO_INPUT = 3
    #: Input data is unusable (e.g. no events, bad format override) or --strict tripped.
    DATA = 4
    #: An output could not be written.
    OUTPUT = 5
    #: Unexpected internal error (a bug): please report with --traceback.
    INTERNAL = 70
    #: Interrupted by Ctrl-C.
    INTERRUPTED = 130


class ForensicsError(Exception):
    """Base class for errors with a one-line message for the user."""

    exit_code: ExitCode = ExitCode.DATA


class InputError(ForensicsError):
    """An input path is missing or unreadable."""

    exit_code = ExitCode.NO_INPUT


class DataError(ForensicsError):
    """The input was read but cannot be used."""

    exit_code = ExitCode.DATA


class OutputError(ForensicsError):
    """An output file could not be written."""

    exit_code = ExitCode.OUTPUT


class UsageError(ForensicsError):
    """An option value is invalid."""

    exit_code = ExitCode.USAGE


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map any exception to the process exit code."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, ForensicsError):
        return exc.exit_code
    if isinstance(exc, (PermissionError, FileNotFoundError, IsADirectoryError)):
        return ExitCode.NO_INPUT
    return ExitCode.INTERNAL
