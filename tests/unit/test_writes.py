"""Files autotune writes outside a bundle (predictions, metrics, report pages, the log, TensorBoard logs):
checked before any work, written whole or not at all, and every failure one `error:` line with exit 2."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import DATA

from autotune.cli.commands import OutputPath, cli

# Path options that name something autotune reads, or whose checks another part of the code owns.
READ_OPTIONS = {("fit", "weights")}  # an input file: a missing one is the backbone's business


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def _path_options() -> list[tuple[tuple[str, ...], click.Option]]:
    """Every option of every command whose value is a path: a new one is covered without editing this test."""
    return [(name, param) for name, command in _commands(cli) for param in command.params
            if isinstance(param, click.Option) and isinstance(param.type, click.Path)]


def test_every_path_option_is_an_output_or_a_known_input():
    """A new file option must say what it is: OutputPath (checked before any work) or a file that is read."""
    for name, param in _path_options():
        key = (" ".join(name), param.name)
        assert isinstance(param.type, OutputPath) or key in READ_OPTIONS, key


def test_an_interrupted_write_keeps_the_old_file(tmp_path):
    """The helper behind every such file: an exception mid-write leaves the previous file as it was."""
    from autotune.files import atomic_write

    target = tmp_path / "metrics.json"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target, "the metrics") as fh:
            fh.write("new, half")
            raise KeyboardInterrupt
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]
    with atomic_write(target, "the metrics") as fh:
        fh.write("new\n")
    assert target.read_text() == "new\n" and list(tmp_path.iterdir()) == [target]
    assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions


def test_a_log_file_that_fails_mid_run_is_one_line(tmp_path):
    """`--log-file /dev/full`: opening it works, every write fails (ENOSPC). One line, exit 2, no traceback."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    result = CliRunner().invoke(cli, ["fit", str(DATA / "penguins.csv"), "--target", "species", "-o",
                                      str(tmp_path / "out"), "--log-file", "/dev/full", "--json"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: /dev/full: cannot write the log (No space left on device)"), lines
    assert [line for line in lines if line.startswith("error: ")] == [lines[-1]] and "Traceback" not in result.output
    assert json.loads(result.stdout)["exit_code"] == 2
    assert not (tmp_path / "out").exists()
