"""What a small-data run says it does: the k-fold / ensemble mode in the log, what "epochs" means in each
trials table, and what the --cv figure estimates, wherever it is shown."""
from __future__ import annotations

import json

import pytest
from conftest import DATA, run_cli

EPOCHS_CAPTION = "epochs: epochs trained in the trial"


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    """A tiny small-data penguins run with --cv 2, from the CLI without a terminal."""
    out = tmp_path_factory.mktemp("labels") / "bundle"
    done = run_cli("fit", str(DATA / "penguins.csv"), "--target", "species", "-o", str(out), "--tuner", "random",
                   "--max-trials", "3", "--epochs", "4", "--patience", "2", "--cv", "2", "--no-baseline", "--json")
    assert done.returncode == 0, done.stderr
    return out, done


def test_small_data_mode_is_said_before_the_search(cv_run):
    _, done = cv_run
    lines = done.stderr.splitlines()
    mode = [i for i, line in enumerate(lines) if "small data (" in line]
    search = next(i for i, line in enumerate(lines) if " search: " in line)
    assert len(mode) == 1 and mode[0] < search, done.stderr
    line = lines[mode[0]]
    rows = json.loads((cv_run[0] / "report.json").read_text())["final_model"]["train_rows"]
    assert f"small data ({rows} training rows): each trial is scored by 3-fold cross-validation" in line
    assert "the final model averages the 3 best configurations" in line
    assert "--search-folds 1" in line and "--ensemble 1" in line


def test_each_trials_table_says_what_epochs_means(cv_run):
    out, _ = cv_run
    assert EPOCHS_CAPTION in (out / "report.md").read_text()
    assert EPOCHS_CAPTION in (out / "report.html").read_text()
    shown = run_cli("report", str(out))
    assert shown.returncode == 0 and EPOCHS_CAPTION in shown.stdout, shown.stderr


def test_cv_says_what_it_estimates_everywhere(cv_run):
    out, done = cv_run
    report = json.loads((out / "report.json").read_text())
    cv = report["cross_validation"]
    assert cv["optimistic"] is True
    estimates = cv["estimates"]
    assert "optimistic" in estimates and "test" in estimates and "3" in estimates
    # the exported kind of model: the final model's members with their epoch counts, over train + validation
    # rows only (the test rows stay untouched, so the test figure stays the honest one)
    members = report["final_model"]["members"]
    assert cv["members"] == [{"trial": m["trial"], "epochs": m["epochs"]} for m in members]
    assert cv["pooled"]["rows"] == report["split"]["train"] + report["split"]["validation"]
    assert sum(f["rows"] for f in cv["per_fold"]) == cv["pooled"]["rows"]
    assert estimates in (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "optimistic" in html and "honest estimate" in html
    assert "optimistic" in next(line for line in done.stderr.splitlines() if "cross-validation" in line and "±" in line)
    assert json.loads(done.stdout)["cross_validation"]["estimates"] == estimates
    shown = run_cli("report", str(out))
    assert "optimistic" in shown.stdout
    assert json.loads(run_cli("report", str(out), "--json").stdout)["cross_validation"]["optimistic"] is True
