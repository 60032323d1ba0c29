"""How a command ends: every failure becomes one line on stderr (and in the --log-file, and the --json error
document) with the exit code autotune/errors.py documents, in one place for every command.

`Command.invoke` runs each command's body inside `run`; `Command.parse_args` gives Click's own refusal of a
command line that asked for --json its document too, deciding "asked" with Click's parser, not by reading argv.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from autotune.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, AutotuneError

T = TypeVar("T")
_WRITTEN = "autotune.written"  # ctx.meta key: the files a command has put in place so far


def append_log(log_file: Path | None, text: str) -> bool:
    """Add `text` to the --log-file; False where there is none or it cannot be written (a full disk: the
    caller has the message on stderr, or another place for it)."""
    if log_file is None:
        return False
    try:
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(text)
        return True
    except OSError:
        return False


def fail(message: str, code: int, as_json: bool = False, log_file: Path | None = None) -> NoReturn:
    """End the command: `error: message` on stderr and in the log, the error document for --json, `code`."""
    click.echo(f"error: {message}", err=True)
    append_log(log_file, f"{datetime.now():%Y-%m-%d %H:%M:%S} error: {message}\n")
    if as_json:  # a script reading stdout gets a document even when the run fails
        click.echo(json.dumps({"status": "error", "exit_code": code, "error": message}))
    sys.exit(code)


def traceback_file(log_file: Path | None) -> Path:
    """Where an internal error's traceback goes: the --log-file, else a new file in the temp directory."""
    text = f"{datetime.now():%Y-%m-%d %H:%M:%S} internal error\n{traceback.format_exc()}"
    if append_log(log_file, text):
        return Path(log_file)
    import tempfile

    handle, name = tempfile.mkstemp(prefix="autotune-error-", suffix=".log")
    with os.fdopen(handle, "w", encoding="utf-8") as log:
        log.write(text)
    return Path(name)


def run(action: Callable[[], T], verbose: bool = False, as_json: bool = False, log_file: Path | None = None,
        written: Sequence[Path] = ()) -> T:
    """Run a command body, turning every failure into one line on stderr and an exit code. `written`: the
    files the body has put in place so far (each whole: see files.atomic_write), for an interruption."""
    try:
        return action()
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise  # Click's own ending (Exit is a RuntimeError): Click says it
    except AutotuneError as exc:
        fail(exc.message, exc.exit_code, as_json, log_file)
    except KeyboardInterrupt:
        done = f"wrote only {', '.join(map(str, written))}" if written else "nothing was written"
        fail(f"interrupted; {done}", EXIT_INTERRUPTED, as_json, log_file)
    except BrokenPipeError:  # `autotune predict … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - the edge of the program: never a bare traceback
        if verbose:
            traceback.print_exc()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        where = traceback_file(log_file)
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", []))  # e.g. how to resume the run
        fail(f"internal error: {type(exc).__name__}: {detail} (traceback in {where}){notes}", EXIT_INTERNAL, as_json)


def wrote(path: Path) -> None:
    """Note a file the running command has put in place (whole), for the message of a later interruption."""
    click.get_current_context().meta.setdefault(_WRITTEN, []).append(path)


class JsonUsageError(click.UsageError):
    """Click's refusal of a command line that asked for --json: Click's message on stderr, as always, then
    the error document on stdout, as for every other failure (a cron script reads a document either way)."""

    def __init__(self, error: click.UsageError):
        super().__init__(error.message, error.ctx)
        self.error, self.exit_code = error, error.exit_code

    def format_message(self) -> str:
        return self.error.format_message()

    def show(self, file: Any = None) -> None:
        self.error.show(file)
        click.echo(json.dumps({"status": "error", "exit_code": self.exit_code, "error": self.format_message()}))


class Command(click.Command):
    """An autotune command: its body runs inside `run` with the --verbose, --json and --log-file it was given
    (none of them: off), and its --json also covers Click's refusal of its command line."""

    def invoke(self, ctx: click.Context) -> Any:
        return run(partial(super().invoke, ctx), verbose=ctx.params.get("verbose") or False,
                   as_json=ctx.params.get("as_json") or False, log_file=ctx.params.get("log_file"),
                   written=ctx.meta.setdefault(_WRITTEN, []))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # Click's parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            if ctx.resilient_parsing or not self._asks_for_json(ctx, given):
                raise
            raise JsonUsageError(error) from None

    def _asks_for_json(self, ctx: click.Context, args: list[str]) -> bool:
        """Whether Click, parsing `args` again past what it refused (as for shell completion), finds --json:
        `--target --json` is a target named --json, not a request for JSON."""
        probe = self.make_context(ctx.info_name, args, parent=ctx.parent, resilient_parsing=True)
        return bool(probe.params.get("as_json"))


class Group(click.Group):
    """autotune's group: its commands are `Command`s and its sub-groups `Group`s."""

    command_class = Command
    group_class = type
