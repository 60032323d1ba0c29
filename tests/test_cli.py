"""The command line as users and cron jobs meet it: help, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT, fake_image_folder, load, run_cli

from autotune.cli.commands import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_and_usage_errors_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from autotune.cli.commands import cli\n"
        "runner = CliRunner()\n"
        "codes = [runner.invoke(cli, args).exit_code for args in (['--help'], ['fit', '--help'],"
        " ['fit', 'data/penguins.csv', '--max-trials', '0'], ['fit', 'nope.csv'], ['predict', '--help'],"
        " ['fit', 'data/penguins.csv', '--target', 'nope'], ['fit', 'data/penguins.csv'])]\n"
        "print(codes, sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[0, 0, 2, 2, 0, 2, 2] []"


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


def test_output_that_holds_a_bundle_is_refused_before_any_work(penguins_run):
    result = invoke("fit", str(DATA / "penguins.csv"), "--target", "species", "-o", str(penguins_run.output))
    assert result.exit_code == 2
    assert "already exists and is not empty; pass --overwrite" in result.stderr


def test_predict_writes_a_csv_and_ignores_extra_and_target_columns(penguins_run, tmp_path):
    out = tmp_path / "preds.csv"
    result = invoke("predict", str(penguins_run.output), str(DATA / "penguins.csv"), "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction,p_Adelie,p_Chinstrap,p_Gentoo" and len(lines) == 345
    assert f"wrote 344 predictions to {out}" in result.stderr


def test_predict_names_the_missing_column(penguins_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("island,bill_length_mm\nDream,40\n")
    result = invoke("predict", str(penguins_run.output), str(rows))
    assert result.exit_code == 2
    assert result.stderr.startswith('error: column "bill_depth_mm": required by the model but not in the data')


def test_predict_refuses_a_directory_that_is_not_a_bundle(tmp_path):
    result = invoke("predict", str(tmp_path), str(DATA / "penguins.csv"))
    assert result.exit_code == 2 and "not an autotune bundle" in result.stderr


def test_evaluate_reports_metrics_on_labelled_rows(penguins_run, tmp_path):
    result = invoke("evaluate", str(penguins_run.output), str(DATA / "penguins.csv"), "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["rows"] == 344 and 0.5 < metrics["accuracy"] <= 1.0
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 344


def test_evaluate_prints_its_result_on_stdout_as_plain_text(penguins_run, tmp_path):
    """Without a TTY: the metrics line, the per-class table and the confusion matrix on stdout, plain text;
    one line each when the rows lack a class the model knows and when they hold a label it never saw."""
    frame = load("penguins.csv")
    frame = frame[frame.species != "Chinstrap"].copy()
    frame.loc[frame.index[:3], "species"] = "Emperor"
    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)
    result = run_cli("evaluate", str(penguins_run.output), str(rows))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    metrics = json.loads(run_cli("evaluate", str(penguins_run.output), str(rows), "--json").stdout)
    assert f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['f1_macro']:.4f} on {len(frame)} rows" in out
    assert "these rows hold no 'Chinstrap', a class the model knows" in out
    assert "these rows hold 1 label the model never saw: 'Emperor' (3 rows, counted as errors in every metric)" in out
    assert "\x1b[" not in out and "│" not in out and "┃" not in out  # no colour codes, no box drawing
    lines = out.splitlines()
    confusion = lines[lines.index("confusion matrix (rows: true, columns: predicted):") + 1:]
    assert confusion[0].split() == ["true", "\\", "predicted", "Adelie", "Chinstrap", "Gentoo", "Emperor"]
    emperor = confusion[4].split()
    assert emperor[0] == "Emperor" and sum(map(int, emperor[1:])) == 3 and emperor[-1] == "0"
    assert "Emperor" in [line.split()[0] for line in lines if line.strip()]  # a row of the per-class table
    assert "accuracy" not in result.stderr and "Adelie" not in result.stderr  # nothing of the result on stderr


def test_evaluate_needs_the_target(penguins_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text((DATA / "penguins.csv").read_text().replace("species,", "kind,", 1))
    result = invoke("evaluate", str(penguins_run.output), str(rows))
    assert result.exit_code == 2 and 'column "species": the target column is needed' in result.stderr


def test_fit_without_a_terminal_logs_plain_lines(tmp_path):
    """Cron: no TTY, so no colour codes or progress bars, timestamped lines on stderr, JSON on stdout."""
    out = tmp_path / "bundle"
    result = run_cli("fit", "data/wine.csv", "-o", str(out), "--tuner", "random", "--max-trials", "1",
                     "--epochs", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(" trial 0 (1 of 1): val_log_loss " in line for line in lines)  # keras-tuner's id, then the count
    assert json.loads(result.stdout)["best_trial"] == "0"
    assert all(line[:4].isdigit() for line in lines), lines
    summary = json.loads(result.stdout)
    assert summary["status"] == "ok" and summary["headline"]["metric"] == "accuracy"
    assert (out / "saved_model").is_dir()


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
            fit(FitConfig(DATA / "wine.csv", output=out))
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_broken_model_file_is_bad_input(penguins_run, tmp_path):
    """A SavedModel that cannot be read (here: its graph overwritten, the hashes recomputed to match)."""
    from autotune.bundle.export import seal

    bundle = tmp_path / "bundle"
    shutil.copytree(penguins_run.output, bundle)
    (bundle / "saved_model" / "saved_model.pb").write_bytes(b"not a protocol buffer")
    seal(bundle)
    result = invoke("predict", str(bundle), str(DATA / "penguins.csv"))
    assert result.exit_code == 2
    assert "saved_model: cannot be loaded" in result.stderr and "re-export the bundle" in result.stderr


def test_internal_error_is_one_line_with_a_traceback_file(tmp_path, capsys):
    """A failure nobody foresaw never prints a bare traceback: one line, exit 1, and the traceback in
    the --log-file (or a temporary file) that the line names."""
    from pathlib import Path

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


def test_predict_into_a_closed_pipe_exits_quietly(penguins_run, tmp_path):
    """`autotune predict … | head -2`: no error message when the reader stops early (the output, ~400 KB,
    is far larger than a pipe's buffer, so the write does hit the closed pipe)."""
    import subprocess as sp

    big = tmp_path / "big.csv"
    text = (DATA / "penguins.csv").read_text()
    big.write_text(text + "".join(text.split("\n", 1)[1] for _ in range(20)))
    command = f"{sys.executable} -m autotune predict {penguins_run.output} {big} | head -2"
    done = sp.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.splitlines()[0] == "prediction,p_Adelie,p_Chinstrap,p_Gentoo" and len(done.stdout.splitlines()) == 2
    assert "error" not in done.stderr and done.returncode == 0


def test_json_document_even_when_click_refuses_the_command_line():
    """A cron script that passed --json reads a document on stdout for a usage error too."""
    result = run_cli("fit", "data/penguins.csv", "--json", "--tuner", "nope")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["status"] == "error" and document["exit_code"] == 2 and "--tuner" in document["error"]
    assert "Error: Invalid value for '--tuner'" in result.stderr


def test_whether_a_refused_command_line_asked_for_json_is_clicks_parse_not_a_word_in_argv():
    """--json counts where Click parses it as the option, past an option Click does not know; not where it
    is another option's value (a target named --json), nor for a command that has no --json."""
    runner = CliRunner()
    unknown = runner.invoke(cli, ["fit", "data/penguins.csv", "--json", "--nosuch"])
    assert unknown.exit_code == 2 and json.loads(unknown.stdout) == {
        "status": "error", "exit_code": 2, "error": "No such option '--nosuch'. Did you mean '--epochs'?"}
    as_value = runner.invoke(cli, ["fit", "data/penguins.csv", "--target", "--json", "--tuner", "nope"])
    assert as_value.exit_code == 2 and as_value.stdout == "" and "Invalid value for '--tuner'" in as_value.stderr
    no_option = runner.invoke(cli, ["predict", "bundle", "rows.csv", "--json"])
    assert no_option.exit_code == 2 and no_option.stdout == "" and "No such option '--json'" in no_option.stderr


def test_an_output_that_holds_the_cwd_home_or_data_is_refused_before_anything_loads(tmp_path):
    """`-o .` used to fail only after the whole run (`-o . --overwrite` with Errno 16): the resolved output
    is checked first, in a second, before TensorFlow is imported and before the data is read."""
    data = tmp_path / "inputs" / "t.csv"
    data.parent.mkdir()
    data.write_bytes((DATA / "penguins.csv").read_bytes())
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from autotune.cli.commands import cli\n"
        f"data = {str(data)!r}\n"
        "tiny = ['--tuner', 'random', '--max-trials', '1', '--epochs', '1', '--search-folds', '1', '--ensemble', '1']\n"
        "runs = [CliRunner().invoke(cli, ['fit', data, '--target', 'species', '-o', o, *tiny, *x])\n"
        f"        for o, x in [('.', []), ('.', ['--overwrite']), ('..', []), ('/', []), ({str(Path.home())!r}, []),\n"
        f"                     ({str(data.parent)!r}, []), ({str(tmp_path)!r}, ['--overwrite']), (data, [])]]\n"
        "print(json.dumps([[r.exit_code, r.stderr.strip().splitlines()] for r in runs]))\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules))\n"
    )
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=here,
                         timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    runs, imported = out.stdout.strip().splitlines()[-2:]
    assert imported == "[]"
    what = ["the current directory", "the current directory", "a parent of the current directory",
            "the filesystem root", "your home directory", "a parent of the data", "a parent of the data",
            "the data itself"]
    for (code_, lines), said in zip(json.loads(runs), what, strict=True):
        assert code_ == 2 and len(lines) == 1, lines
        assert lines[0].startswith("error: --output ") and f"is {said}" in lines[0], lines[0]
        assert lines[0].endswith("choose a new directory for the bundle, e.g. --output runs/t"), lines[0]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["a", "a/b", "inputs", "inputs/t.csv"]


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
            fit(FitConfig(DATA / "wine.csv", output=link))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"] and link.is_symlink()
