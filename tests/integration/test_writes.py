"""Every output path option refuses an unwritable path before any work (real bundles in-process). The option
inventory is in tests/unit/test_writes.py, SIGTERM mid-write in tests/system/test_writes.py."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA

# Path options that name something autotune reads, or whose checks another part of the code owns.
from unit.test_writes import READ_OPTIONS, _commands, _path_options

from autotune.cli.commands import cli


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
