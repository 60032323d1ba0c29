"""Report pieces computed without a model: compact deterministic curves, and `autotune report` refusing a
bad bundle in one line. Rendering real runs is in tests/integration/test_report_html.py."""
from __future__ import annotations

import io
import json
import re

import numpy as np
from click.testing import CliRunner

from autotune.cli.commands import cli
from autotune.evaluate.metrics import CURVE_POINTS, SCATTER_POINTS, curves


def test_curves_are_compact_and_deterministic():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 5000)
    probabilities = rng.dirichlet([1, 1, 1], 5000)
    probabilities[np.arange(5000), truth] += 0.5
    labels = ["a", "b", "c"]
    y = [labels[i] for i in truth]
    first = curves("classification", y, probabilities, labels)
    assert first == curves("classification", y, probabilities, labels)
    assert [c["label"] for c in first["roc"]] == labels and all(c["auc"] > 0.7 for c in first["roc"])
    assert max(len(c["tpr"]) for c in first["roc"]) <= CURVE_POINTS
    assert max(len(c["recall"]) for c in first["precision_recall"]) <= CURVE_POINTS
    assert first["roc"][0]["fpr"][0] == 0 and first["roc"][0]["tpr"][-1] == 1
    binary = curves("classification", ["n", "y"] * 50, np.tile([[0.8, 0.2], [0.3, 0.7]], (50, 1)), ["n", "y"])
    assert [c["label"] for c in binary["roc"]] == ["y"] and binary["roc"][0]["auc"] == 1.0
    assert binary["calibration"]["of"] == "P(y)"
    actual = rng.normal(size=20_000)
    regression = curves("regression", actual, actual + rng.normal(scale=0.1, size=20_000), None)
    assert len(regression["actual"]) == SCATTER_POINTS and regression["rows"] == 20_000
    assert sum(regression["residual_histogram"]["counts"]) == 20_000
    assert len(json.dumps(regression)) < 60_000


def test_report_command_refuses_a_bad_bundle_in_one_line(tmp_path):
    for bad in (tmp_path / "missing", tmp_path):
        result = CliRunner().invoke(cli, ["report", str(bad)])
        assert result.exit_code == 2
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    (tmp_path / "report.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])  # a report alone is not a bundle (issue 15)
    assert result.exit_code == 2 and "no metadata.json" in result.output


def test_summary_keeps_fit_json_keys_every_warning_and_the_terminal_shows_it():
    """summary() is what `fit --json` and `report --json` print (less status, output, metadata_sha256): fit's keys
    and shapes, every warning the run gave; the terminal view leaves out those the data profile already says."""
    from rich.console import Console

    from autotune.report.summary import run_warnings, summary
    from autotune.report.terminal import print_summary

    trials = [{"trial": "3", "status": "completed", "score": 0.41, "epochs": 4, "seconds": 1.5,
               "hyperparameters": {"units": 32}},
              {"trial": "1", "status": "failed", "score": None, "epochs": 0, "seconds": 0.2, "hyperparameters": {}}]
    report = {"task": "classification", "target": "y", "kind": "tabular", "seed": 0, "created": "2026-12-03",
              "autotune_version": "0.1.0", "data": {"name": "d.csv", "fingerprint": "sha256:ab", "rows": 60},
              "headline": {"metric": "accuracy", "value": 0.9},
              "test_metrics": {"accuracy": 0.9, "f1_macro": 0.8, "rows": 12, "per_class": {}, "confusion_matrix": {}},
              "search": {"tuner": "random", "objective": "val_log_loss", "best_hyperparameters": {"units": 32},
                         "trials": trials},
              "baseline": {"model": "logistic regression", "metric": "accuracy", "value": 0.8, "verdict": "better",
                           "seconds": 0.3, "test_metrics": {}},
              "trivial_baseline": None, "cross_validation": None, "timings": {"search": 2.0, "total": 3.5},
              "profile": {"warnings": ["column \"x\": odd values"]}, "warnings": ["column \"x\": odd values", "slow"]}
    s = summary(report)
    assert list(s)[:15] == ["task", "target", "headline", "test_metrics", "best_hyperparameters", "best_trial",
                            "trials", "timings", "baseline", "cross_validation", "trivial_baseline", "warnings",
                            "data", "fingerprint", "kind"]
    assert s["headline"] == {"metric": "accuracy", "value": 0.9} and s["best_trial"] == "3" and s["trials"] == 2
    assert s["test_metrics"] == {"accuracy": 0.9, "f1_macro": 0.8, "rows": 12} and s["test_rows"] == 12
    assert s["baseline"] == {"model": "logistic regression", "metric": "accuracy", "value": 0.8, "verdict": "better"}
    assert s["warnings"] == report["warnings"] and run_warnings(report) == ["slow"]
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    print_summary(report, console)
    shown = console.file.getvalue()
    assert re.search(r"^test accuracy +0.9 on 12 rows$", shown, re.M) and re.search(r"^warning +slow$", shown, re.M)
    assert "odd values" not in shown and shown.splitlines()[-4].split()[:3] == ["3★", "completed", "0.41"]
