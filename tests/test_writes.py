"""Files autotune writes outside a bundle (predictions, metrics, report pages, the log, TensorBoard logs):
checked before any work, written whole or not at all, and every failure one `error:` line with exit 2."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT

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


def _base_argv(command: str, bundle: Path, tmp: Path) -> list[str]:
    """A command line that would succeed, to which one bad output path is added."""
    return {
        "fit": ["fit", str(DATA / "penguins.csv"), "--target", "species", "-o", str(tmp / "runs" / "out"),
                "--tuner", "random", "--max-trials", "1", "--epochs", "1", "--search-folds", "1", "--ensemble", "1",
                "--no-baseline"],
        "predict": ["predict", str(bundle), str(DATA / "penguins.csv")],
        "evaluate": ["evaluate", str(bundle), str(DATA / "penguins.csv")],
        "report": ["report", str(bundle)],
    }[command]


def _unwritable(tmp: Path, directory: bool) -> dict[str, Path]:
    """Paths that cannot be written, each for a different reason; 0o555 only where it stops the user (root
    writes anyway, so the variant under a regular file stands in for it there)."""
    (tmp / "a-file").write_text("a regular file, not a directory")
    paths = {"under a regular file": tmp / "a-file" / "out.x"}
    if directory:  # a folder is made where it is missing, but not in place of a file
        paths["a regular file"] = tmp / "a-file"
    else:  # a file goes into a folder that exists, and not in place of a folder
        (tmp / "a-directory").mkdir()
        paths |= {"missing directory": tmp / "missing" / "out.x", "a directory": tmp / "a-directory"}
    if os.geteuid() != 0:
        locked = tmp / "read-only"
        locked.mkdir(mode=0o555)
        paths["read-only directory"] = locked / "out.x"
    return paths


OUTPUT_OPTIONS = [(" ".join(name), param) for name, param in _path_options()
                  if (" ".join(name), param.name) not in READ_OPTIONS]


@pytest.mark.parametrize("command,param", [pytest.param(c, p, id=f"{c}-{p.name}") for c, p in OUTPUT_OPTIONS])
def test_every_output_option_refuses_an_unwritable_path_before_any_work(command, param, penguins_run, tmp_path):
    flag = max(param.opts, key=len)
    as_json = any(p.name == "as_json" for p in dict(_commands(cli))[tuple(command.split())].params)
    for reason, path in _unwritable(tmp_path, directory=param.type.folder).items():
        argv = [*_base_argv(command, penguins_run.output, tmp_path), flag, str(path), *(["--json"] if as_json else [])]
        started = time.perf_counter()
        result = CliRunner().invoke(cli, argv)
        seconds = time.perf_counter() - started
        assert result.exit_code == 2, (reason, result.output)
        lines = result.stderr.strip().splitlines()
        assert [line for line in lines if line.startswith("error: ")] == [lines[-1]], (reason, result.stderr)
        assert lines[-1].startswith(f"error: {path}: cannot write ") and f"choose another {flag}" in lines[-1], lines
        assert "Traceback" not in result.output
        if as_json:
            assert json.loads(result.stdout) == {"status": "error", "exit_code": 2,
                                                 "error": lines[-1].removeprefix("error: ")}
        if command == "fit":  # refused before loading the data: nothing made, no second spent
            assert not (tmp_path / "runs").exists() and seconds < 5, (reason, seconds)
        assert not path.is_file() or path == tmp_path / "a-file", reason
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def _big_rows(tmp: Path, copies: int) -> Path:
    """Enough penguins rows that writing their predictions takes a few seconds."""
    frame = pd.read_csv(DATA / "penguins.csv")
    path = tmp / "many.csv"
    pd.concat([frame] * copies, ignore_index=True).to_csv(path, index=False)
    return path


def test_sigterm_while_predict_writes_its_output_leaves_no_partial_file(penguins_run, tmp_path):
    """`kill` from a supervisor in the middle of `predict -o`: the target is absent or complete, never a
    truncated CSV; no temporary file is left beside it; exit 130 and a message that says so."""
    rows = _big_rows(tmp_path, 600)  # 206,400 rows: about two seconds of CSV writing
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "predictions.csv"
    process = subprocess.Popen([sys.executable, "-m", "autotune", "predict", str(penguins_run.output), str(rows),
                                "-o", str(target)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 240
    while not any(out_dir.iterdir()):  # the temporary beside the target: the write has begun
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the write never started"
        time.sleep(0.005)
    temporary = next(out_dir.iterdir())
    assert temporary != target and temporary.name.startswith(".predictions.csv.")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["error: interrupted; nothing was written"], stderr
    assert list(out_dir.iterdir()) == []  # no partial target, no temporary

    # Uninterrupted, the same command writes the whole file, through the same temporary.
    done = subprocess.run([sys.executable, "-m", "autotune", "predict", str(penguins_run.output), str(rows),
                           "-o", str(target)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(target)) == 206_400 and list(out_dir.iterdir()) == [target]


def test_an_interrupted_write_keeps_the_old_file(tmp_path):
    """The helper behind every such file: an exception mid-write leaves the previous file as it was."""
    from autotune.bundle.export import atomic_write

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
