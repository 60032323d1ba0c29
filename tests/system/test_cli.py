"""The command line in subprocesses, as cron jobs meet it: imports, pipes, plain log lines, --json on
Click's own errors. In-process CLI tests are in tests/unit/test_cli.py and tests/integration/test_cli.py."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import DATA, ROOT, load, run_cli


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


def test_shell_completion_for_bash_zsh_and_fish_without_tensorflow():
    """Click's own completion (issue 19, item 6): the scripts a shell sources, and the answers they ask for —
    command names, option names — from a process that never imports TensorFlow."""
    def complete(words: str, index: int, shell: str = "bash") -> subprocess.CompletedProcess:
        env = {**os.environ, "_AUTOTUNE_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(index)}
        return subprocess.run([sys.executable, "-X", "importtime", "-m", "autotune"], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=60)

    for shell, marker in (("bash", "complete -o nosort -F _autotune_completion autotune"),
                          ("zsh", "#compdef autotune"), ("fish", "complete --no-files --command autotune")):
        env = {**os.environ, "_AUTOTUNE_COMPLETE": f"{shell}_source"}
        script = subprocess.run([sys.executable, "-m", "autotune"], capture_output=True, text=True, cwd=ROOT,
                                env=env, timeout=60)
        assert script.returncode == 0 and marker in script.stdout, (shell, script.stdout[-300:])
    done = complete("autotune fi", 1)
    assert done.returncode == 0 and done.stdout.split() == ["plain,fit"]
    done = complete("autotune fit --max-t", 2)
    assert done.stdout.split() == ["plain,--max-trials"]
    assert "import time:" in done.stderr and "tensorflow" not in done.stderr  # -X importtime lists every import


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


def test_report_json_prints_the_document_fit_json_printed(tmp_path):
    """`autotune report BUNDLE --json` reproduces `fit --json` byte for byte: one summary of report.json, with
    fit's keys (cron scripts parse them), the run's facts, and every warning the run gave on stderr."""
    frame = load("penguins.csv")
    frame["depth"] = [str(i % 17) for i in range(len(frame))]
    frame.loc[frame.index[:3], "depth"] = "unknown"  # a data profile warning, said on stderr and in --json
    data, out = tmp_path / "penguins.csv", tmp_path / "bundle"
    frame.to_csv(data, index=False)
    fit = run_cli("fit", str(data), "--target", "species", "-o", str(out), "--tuner", "random", "--max-trials", "1",
                  "--epochs", "2", "--search-folds", "1", "--ensemble", "1", "--json")
    assert fit.returncode == 0, fit.stderr
    shown = run_cli("report", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == fit.stdout
    document = json.loads(fit.stdout)
    assert list(document)[:5] == ["status", "output", "task", "target", "metadata_sha256"]
    assert document["output"] == str(out.resolve()) and document["headline"]["metric"] == "accuracy"
    assert document["metadata_sha256"] == hashlib.sha256((out / "metadata.json").read_bytes()).hexdigest()
    report = json.loads((out / "report.json").read_text())
    assert document["data"] == "penguins.csv" and document["fingerprint"] == report["data"]["fingerprint"]
    assert document["test_rows"] == report["test_metrics"]["rows"] == document["test_metrics"]["rows"]
    assert "per_class" not in document["test_metrics"] and document["evaluated_on"] is None
    assert document["best_trial"] == report["search"]["trials"][0]["trial"] and document["trials"] == 1
    said = [line.split(" warning: ", 1)[1] for line in fit.stderr.splitlines() if " warning: " in line]
    assert document["warnings"] == said == report["warnings"]  # every warning the log showed, none left out
    assert "column \"depth\": non-numeric values 'unknown' read as missing" in said


def test_columns_named_like_python_keywords_or_apart_only_by_punctuation_export_and_serve(tmp_path):
    """Column names that are no Python parameter names: a keyword ("class") and "size.mm" beside "size_mm".
    tf.function takes the SavedModel signature's input names as parameter names: it refused "class" and the pair
    (one name once sanitized), after the whole search, and printed a notice on stderr for every dotted name at
    export and at each predict. The bundle's input keys are identifiers, the signature's own names, so a deployment
    calls it with the keys metadata.json lists and cron's stderr holds only the log's lines."""
    import keyword

    frame = load("penguins.csv").rename(columns={"island": "class", "bill_length_mm": "size.mm",
                                                 "bill_depth_mm": "size_mm"})
    data, out = tmp_path / "penguins.csv", tmp_path / "bundle"
    frame.to_csv(data, index=False)
    fit = run_cli("fit", str(data), "--target", "species", "-o", str(out), "--tuner", "random", "--max-trials", "1",
                  "--epochs", "2", "--search-folds", "1", "--ensemble", "1", "--json")
    assert fit.returncode == 0, fit.stderr
    assert all(line[:4].isdigit() for line in fit.stderr.strip().splitlines()), fit.stderr
    keys = {f["name"]: f["key"] for f in json.loads((out / "metadata.json").read_text())["inputs"]}
    assert {"class", "size.mm", "size_mm"} <= set(keys) and len(set(keys.values())) == len(keys)
    assert all(k.isidentifier() and not keyword.iskeyword(k) for k in keys.values()), keys
    predicted = run_cli("predict", str(out), str(data))
    assert predicted.returncode == 0, predicted.stderr
    assert all(line.startswith("warning: column") for line in predicted.stderr.strip().splitlines()), predicted.stderr
    lines = predicted.stdout.splitlines()
    assert lines[0] == "prediction,p_Adelie,p_Chinstrap,p_Gentoo" and len(lines) == len(frame) + 1
    code = ("import json, sys, tensorflow as tf\n"
            "signature = tf.saved_model.load(sys.argv[1] + '/saved_model').signatures['serving_default']\n"
            "print(json.dumps(sorted(signature.structured_input_signature[1])))\n")
    served = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=120)
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout) == sorted(keys.values())  # what TF Serving's requests name


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
