"""Issue 19, item 3: permutation importance of each input column on the test rows, in every tabular report."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from autotune.config import FitConfig
from autotune.evaluate.importance import permutation_importance
from autotune.pipeline import fit


def test_the_column_that_carries_the_label_ranks_first_and_noise_near_zero(tmp_path):
    rng = np.random.default_rng(0)
    rows = 600
    label = rng.integers(0, 2, rows)
    frame = pd.DataFrame({
        "noise": rng.normal(size=rows),                                    # nothing to do with the label
        "signal": label * 2.0 + rng.normal(scale=0.5, size=rows),          # most of the label
        "colour": np.where(rng.random(rows) < 0.7, np.where(label, "red", "blue"), "green"),  # some of it
        "label": np.where(label, "yes", "no"),
    })
    data = tmp_path / "rows.csv"
    frame.to_csv(data, index=False)
    run = fit(FitConfig.of(data, target="label", output=tmp_path / "b", max_trials=2, epochs=20, patience=4, seed=0,
                           tuner="random"))
    report = json.loads((run.output / "report.json").read_text())
    importance = report["feature_importance"]
    assert importance["metric"] == report["headline"]["metric"] == "accuracy"
    assert importance["rows"] == report["split"]["test"] and importance["repeats"] == 5
    assert importance["baseline"] == pytest.approx(report["test_metrics"]["accuracy"])
    by_name = {c["column"]: c for c in importance["columns"]}
    assert [c["column"] for c in importance["columns"]][0] == "signal"
    assert by_name["signal"]["importance"] > 0.2
    assert by_name["colour"]["importance"] > 0.02  # it carries part of the label too
    assert abs(by_name["noise"]["importance"]) < 0.03 and by_name["noise"]["sd"] is not None
    markdown = (run.output / "report.md").read_text()
    assert "## Feature importance (permutation, test rows)" in markdown and "| signal |" in markdown
    page = (run.output / "report.html").read_text()
    assert '<h3 id="importance">Feature importance</h3>' in page and page.count('<span class="bar"') >= 3


def test_shuffled_copies_go_through_the_model_in_few_calls_and_score_as_one_at_a_time():
    """Batching every shuffled copy into one call gives each column's drops as shuffling it alone would."""
    rng = np.random.default_rng(1)
    x = {"a": rng.normal(size=300).astype(np.float32), "b": rng.normal(size=300).astype(np.float32)}
    truth = (x["a"] > 0).astype(int)
    calls = []

    def predict(columns):  # a fixed "model": the probability of class 1 rises with a, ignores b
        calls.append(len(columns["a"]))
        p = 1 / (1 + np.exp(-4 * columns["a"]))
        return np.stack([1 - p, p], axis=1)

    out = permutation_importance(predict, x, predict(x), {"a": "A", "b": "B"}, truth, "accuracy", repeats=4, seed=0)
    assert calls == [300, 2 * 4 * 300]  # the unshuffled rows (given), then every shuffled copy at once
    assert out["baseline"] == 1.0 and [c["column"] for c in out["columns"]] == ["A", "B"]
    b = out["columns"][1]
    assert b["importance"] == 0.0 and b["sd"] == 0.0
    # column A's drop, recomputed one shuffle at a time with the same seeded permutations
    order_rng = np.random.default_rng(0)
    drops = []
    for _ in range(4):
        shuffled = {**x, "a": x["a"][order_rng.permutation(300)]}
        drops.append(1.0 - float(np.mean(predict(shuffled).argmax(1) == truth)))
    assert out["columns"][0]["importance"] == pytest.approx(np.mean(drops))
