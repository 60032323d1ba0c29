"""The command line as users and cron jobs meet it: help, exit codes, one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, fake_image_folder

from autotune.cli.commands import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_command_has_help():
    for command in ("fit", "predict", "evaluate"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage: " in result.output and command in result.output


def test_version():
    assert invoke("--version").output.startswith("autotune, version ")


def _write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path





def _rows(n: int, classes=("a", "b")) -> str:
    return "x,z,label\n" + "".join(f"{i},{i % 7},{classes[i % len(classes)]}\n" for i in range(n))


BAD_INPUTS = {
    "missing file": (lambda tmp: tmp / "nope.csv", [], "no such file"),
    "directory without class folders": (lambda tmp: fake_image_folder(tmp, {}), [], "no class subfolders"),
    "directory with no images": (lambda tmp: fake_image_folder(tmp, {"a": ["x.txt"], "b": ["y.txt"]}), [],
                                 "none of the 2 files is a readable image"),
    "empty class folder": (lambda tmp: fake_image_folder(tmp, {"a": ["x.txt"], "b": []}), [],
                           'class folder "b" holds no files'),
    "empty file": (lambda tmp: _write(tmp, "empty.csv", ""), [], "the file is empty"),
    "header only": (lambda tmp: _write(tmp, "header.csv", "x,label\n"), [], "no data rows"),
    "binary": (lambda tmp: _write(tmp, "blob.csv", bytes(range(256)) * 8), [], "binary file"),
    "json": (lambda tmp: _write(tmp, "data.csv", json.dumps([{"x": 1, "label": "a"}])), [], "looks like JSON"),
    "unknown target": (lambda tmp: DATA / "penguins.csv", ["--target", "Species"], 'did you mean "species"'),
    "no target guessable": (lambda tmp: DATA / "penguins.csv", [], "pass --target with one of: species"),
    "single class": (lambda tmp: _write(tmp, "one.csv", _rows(30, ("a",))), [], 'only one class ("a")'),
    "too few rows": (lambda tmp: _write(tmp, "few.csv", _rows(8)), [], "only 8 usable rows"),
    "class with one row": (lambda tmp: _write(tmp, "rare.csv", _rows(40) + "3,3,c\n"), [], 'class "c" has only 1 row'),
    "target all missing": (lambda tmp: _write(tmp, "nolabel.csv", "x,label\n" + "1,\n2,\n" * 10), [],
                           "missing in every row"),
    "duplicate columns": (lambda tmp: _write(tmp, "dupe.csv", "x,x,label\n1,2,a\n"), [], "duplicate column names"),
    "ragged rows": (lambda tmp: _write(tmp, "ragged.csv", "x,label\n1,a\n2,b,3,4\n"), [], "cannot parse as CSV"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, tmp_path):
    make, extra, message = BAD_INPUTS[case]
    data = make(tmp_path)
    out = tmp_path / "out"
    result = invoke("fit", str(data), "-o", str(out), *extra)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]] and message in lines[-1], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_a_metric_for_the_other_task_is_refused_before_training(tmp_path):
    result = invoke("fit", str(DATA / "diabetes.csv"), "--target", "progression", "--metric", "accuracy",
                    "-o", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --metric accuracy is for classification, and this is regression; use one of: rmse, mae, r2")
    assert list(tmp_path.iterdir()) == []


def test_usage_error_exits_2():
    result = invoke("fit", str(DATA / "penguins.csv"), "--tuner", "genetic")
    assert result.exit_code == 2 and "Invalid value for '--tuner'" in result.output
    result = invoke("fit", str(DATA / "penguins.csv"), "--image-size", "3x3")
    assert result.exit_code == 2 and "Invalid value for '--image-size'" in result.output
    assert "sides from 8 to 1024" in result.output
    result = invoke("fit", str(DATA / "penguins.csv"), "--workers", "many")
    assert result.exit_code == 2 and "'many' is neither auto nor a count of processes" in result.output


def test_predict_refuses_a_directory_that_is_not_a_bundle(tmp_path):
    result = invoke("predict", str(tmp_path), str(DATA / "penguins.csv"))
    assert result.exit_code == 2 and "not an autotune bundle" in result.stderr


def test_json_on_failure_and_log_file(tmp_path):
    log = tmp_path / "run.log"
    result = invoke("fit", str(tmp_path / "nope.csv"), "--json", "--log-file", str(log))
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"status": "error", "exit_code": 2,
                                         "error": f"{tmp_path / 'nope.csv'}: no such file; check the path"}
    assert log.read_text().splitlines()[-1].endswith("error: " + json.loads(result.stdout)["error"])


def test_a_second_fit_into_a_locked_output_fails_at_once(tmp_path):
    from autotune.bundle.export import output_lock
    from autotune.config import FitConfig
    from autotune.errors import InputError
    from autotune.pipeline import fit

    out = tmp_path / "out"
    with output_lock(out):
        with pytest.raises(InputError, match=r"another `autotune fit` \(pid \d+\) is writing to it"):
            fit(FitConfig.of(DATA / "wine.csv", output=out))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_internal_error_is_one_line_with_a_traceback_file(tmp_path, capsys):
    """A failure nobody foresaw never prints a bare traceback: one line, exit 1, and the traceback in
    the --log-file (or a temporary file) that the line names."""

    from autotune.cli.exits import run as _run

    def bug():
        raise RuntimeError("something nobody foresaw")

    log = tmp_path / "run.log"
    with pytest.raises(SystemExit) as info:
        _run(bug, verbose=False, log_file=log)
    assert info.value.code == 1
    line = capsys.readouterr().err.strip()
    assert line == f"error: internal error: RuntimeError: something nobody foresaw (traceback in {log})"
    assert "Traceback (most recent call last)" in log.read_text() and "in bug" in log.read_text()
    with pytest.raises(SystemExit):
        _run(bug, verbose=False)
    where = Path(capsys.readouterr().err.strip().rsplit("(traceback in ", 1)[1].rstrip(")"))
    assert "RuntimeError: something nobody foresaw" in where.read_text()


def test_a_lock_on_the_output_refuses_a_run_to_a_symlink_of_it(tmp_path):
    """The lock is taken on the resolved path: `link -> out` is the same output as `out`."""
    from autotune.bundle.export import output_lock
    from autotune.config import FitConfig
    from autotune.errors import InputError
    from autotune.pipeline import fit

    out, link = tmp_path / "out", tmp_path / "link"
    link.symlink_to(out, target_is_directory=True)
    with output_lock(out):
        with pytest.raises(InputError, match=r"another `autotune fit` \(pid \d+\) is writing to it"):
            fit(FitConfig.of(DATA / "wine.csv", output=link))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"] and link.is_symlink()


def test_whether_a_refused_command_line_asked_for_json_is_clicks_parse_not_a_word_in_argv():
    """--json counts where Click parses it as the option, past an option Click does not know; not where it
    is another option's value (a target named --json), nor for a command that has no --json."""
    runner = CliRunner()
    unknown = runner.invoke(cli, ["fit", "data/penguins.csv", "--json", "--nosuch"])
    assert unknown.exit_code == 2 and json.loads(unknown.stdout) == {
        "status": "error", "exit_code": 2, "error": "No such option '--nosuch'. Did you mean '--epochs'?"}
    as_value = runner.invoke(cli, ["fit", "data/penguins.csv", "--target", "--json", "--tuner", "nope"])
    assert as_value.exit_code == 2 and as_value.stdout == "" and "Invalid value for '--tuner'" in as_value.stderr
    no_option = runner.invoke(cli, ["serve", "bundle", "--json"])
    assert no_option.exit_code == 2 and no_option.stdout == "" and "No such option '--json'" in no_option.stderr
