"""Issue 19, item 1: the Python API — `autotune.fit` / `autotune.load` and a bundle that answers in DataFrames on
the caller's index, over the same pipeline (and the same bundle) as the command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, ROOT, load, run_cli

import autotune
from autotune.errors import InputError

FAST = {"max_trials": 2, "epochs": 6, "patience": 3, "seed": 0}


@pytest.fixture(scope="module")
def penguins_api(tmp_path_factory):
    """A DataFrame with a non-default index, fitted from Python without an output: published under runs/."""
    frame = load("penguins.csv")
    frame.index = pd.Index([f"id-{i:03d}" for i in range(len(frame))][::-1], name="penguin")
    where = tmp_path_factory.mktemp("api")
    cwd = os.getcwd()
    os.chdir(where)
    try:
        bundle = autotune.fit(frame, target="species", **FAST)
    finally:
        os.chdir(cwd)
    return frame, bundle, where


def test_fit_takes_a_dataframe_and_answers_on_its_index(penguins_api):
    from autotune.bundle.load import predict as cli_predict

    frame, bundle, where = penguins_api
    assert bundle.path.parent == where / "runs" and bundle.path.name.startswith("dataframe-")
    rows = frame.sample(40, random_state=1)
    predicted = bundle.predict(rows)
    assert list(predicted.columns) == ["species"]
    assert predicted.index.equals(rows.index)  # the caller's own labels, in the caller's order
    probabilities = bundle.predict_proba(rows)
    assert list(probabilities.columns) == ["Adelie", "Chinstrap", "Gentoo"] and probabilities.index.equals(rows.index)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities.idxmax(axis=1) == predicted["species"]).all()
    # the same answers as `autotune predict` gives for these rows (by position there)
    table = cli_predict(bundle, rows)
    assert table["prediction"].tolist() == predicted["species"].tolist()
    np.testing.assert_allclose(table[[f"p_{c}" for c in probabilities.columns]].to_numpy(), probabilities.to_numpy())
    # a label-carrying frame: the model beats chance by far on its own rows
    assert bundle.evaluate(frame)["accuracy"] > 0.9


def test_leaderboard_and_report_come_from_the_bundle(penguins_api):
    _, bundle, _ = penguins_api
    board = bundle.leaderboard()
    report = json.loads((bundle.path / "report.json").read_text())
    assert board["trial"].tolist() == [t["trial"] for t in report["search"]["trials"]]
    assert {"score", "status", "units", "learning_rate"} <= set(board.columns) and len(board) == 2
    assert bundle.report["headline"] == autotune.load(bundle.path).report["headline"]
    assert bundle.report["test_metrics"]["accuracy"] == report["test_metrics"]["accuracy"]


def test_the_api_and_the_cli_make_the_same_model(tmp_path):
    """Same options, same seed: `autotune.fit(path)` and `autotune fit path` are one pipeline (the CLI a thin
    layer over it), so their test metrics and trials agree exactly on a CPU."""
    args = ["--max-trials", "2", "--epochs", "6", "--patience", "3", "--seed", "0", "--tuner", "random"]
    done = run_cli("fit", str(DATA / "diabetes.csv"), "--target", "progression", "-o", str(tmp_path / "cli"),
                   "--quiet", *args)
    assert done.returncode == 0, done.stderr
    bundle = autotune.fit(DATA / "diabetes.csv", target="progression", output=tmp_path / "api", tuner="random", **FAST)
    assert bundle.path == tmp_path / "api"
    cli, api = (json.loads((tmp_path / name / "report.json").read_text()) for name in ("cli", "api"))
    assert api["test_metrics"] == cli["test_metrics"]
    assert [t["score"] for t in api["search"]["trials"]] == [t["score"] for t in cli["search"]["trials"]]
    rows = load("diabetes.csv").iloc[:5]
    with pytest.raises(InputError, match="predicts values, not class probabilities"):
        bundle.predict_proba(rows)
    assert bundle.predict(rows)["progression"].dtype.kind == "f"


def test_bad_input_is_an_input_error_naming_what_to_fix(tmp_path):
    frame = load("penguins.csv")
    with pytest.raises(InputError, match='no column "colour"'):
        autotune.fit(frame, target="colour", output=tmp_path / "x", **FAST)
    assert not (tmp_path / "x").exists()
    with pytest.raises(InputError, match="recipe image-small is for image data"):
        autotune.fit(frame, target="species", output=tmp_path / "y", recipe="image-small")
    with pytest.raises(InputError, match="no such bundle directory"):
        autotune.load(tmp_path / "nothing")


def test_importing_autotune_loads_neither_pandas_nor_tensorflow():
    code = "import sys, autotune; print(sorted(m for m in ('pandas', 'tensorflow', 'keras') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
    assert callable(autotune.fit) and callable(autotune.load)
