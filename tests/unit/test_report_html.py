"""Report pieces computed without a model: compact deterministic curves, and `autotune report` refusing a
bad bundle in one line. Rendering real runs is in tests/integration/test_report_html.py."""
from __future__ import annotations

import json

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
