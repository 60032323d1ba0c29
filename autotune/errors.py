"""Errors that reach the user as one line and a documented exit code.

The Python API raises these; only the CLI turns them into messages and exit codes.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_NO_RESULT = 3
EXIT_INTERRUPTED = 130


class AutotuneError(Exception):
    """Base error: a message meant for the user and the exit code the CLI should use."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputError(AutotuneError):
    """The user's data, arguments or bundle cannot be used as given (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class ColumnError(InputError):
    """A problem with one named column, rendered as `column "name": message`."""

    def __init__(self, column: str, message: str):
        super().__init__(f'column "{column}": {message}')
        self.column = column


class NoResultError(AutotuneError):
    """The run finished but produced nothing usable, e.g. every trial failed (exit 3)."""

    exit_code = EXIT_NO_RESULT
