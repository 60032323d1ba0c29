"""Test-set metrics and the baselines' comparisons (autotune.evaluate.metrics, autotune.evaluate.baseline), on small real
arrays and real scikit-learn fits: macro-F1 over the classes the rows hold, labels never seen in
training, the trivial baseline, and the paired tests that decide a win, a loss or a tie."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autotune.evaluate.baseline import compare, trivial
from autotune.evaluate.metrics import classification_metrics, score

LABELS = ["a", "b", "c"]


def _onehot(indices, k: int = 3) -> np.ndarray:
    return np.eye(k)[np.asarray(indices)]


def test_perfect_predictions_on_two_of_three_classes_score_one():
    truth = ["a", "b", "a", "b", "b"]
    metrics = classification_metrics(truth, _onehot([0, 1, 0, 1, 1]), LABELS)
    assert metrics["accuracy"] == 1.0 and metrics["f1_macro"] == 1.0
    assert list(metrics["per_class"]) == ["a", "b"] and metrics["absent_labels"] == ["c"]
    # The search's per-epoch scorer gives the same number on class indices.
    assert score("f1_macro", np.array([0, 1, 0, 1, 1]), _onehot([0, 1, 0, 1, 1])) == 1.0


def test_a_predicted_class_absent_from_the_rows_counts_in_macro_f1():
    truth, predicted = ["a", "a", "b", "b"], [0, 2, 1, 1]  # one "a" predicted as "c", which no row holds
    metrics = classification_metrics(truth, _onehot(predicted), LABELS)
    assert metrics["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    f1_a, f1_b = 2 / 3, 1.0  # a: precision 1, recall 1/2; b: precision 1, recall 1
    assert metrics["f1_macro"] == pytest.approx((f1_a + f1_b + 0.0) / 3)
    assert score("f1_macro", np.array([0, 0, 1, 1]), _onehot(predicted)) == pytest.approx(metrics["f1_macro"])


def test_unseen_labels_are_errors_in_every_metric():
    truth = ["a", "b", "c", "new", "new"]
    metrics = classification_metrics(truth, _onehot([0, 1, 2, 0, 1]), LABELS)
    assert metrics["accuracy"] == pytest.approx(3 / 5) and metrics["unseen_labels"] == ["new"]
    new = metrics["per_class"]["new"]
    assert new == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    # "a" and "b" each got one "new" row: precision 1/2, recall 1, F1 2/3; "c" is perfect.
    assert metrics["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 0) / 4)
    cm = metrics["confusion_matrix"]
    assert cm["labels"] == ["a", "b", "c", "new"]
    matrix = np.array(cm["matrix"])
    assert matrix.sum() == 5 and matrix[3].tolist() == [1, 1, 0, 0]
    assert np.trace(matrix) / matrix.sum() == metrics["accuracy"]
    assert [m["support"] for m in metrics["per_class"].values()] == matrix.sum(axis=1).tolist()
    # The rows the model never saw a label for get (almost) no probability: a large log loss, never dropped.
    assert metrics["log_loss"] > 5


def test_trivial_baseline_predicts_the_majority_class_or_the_mean():
    y_train = pd.Series(["b", "a", "b", "c", "b", "a"])
    entry, outputs = trivial("classification", y_train, pd.Series(["a", "b", "b"]), LABELS, "accuracy")
    np.testing.assert_allclose(outputs, [[2 / 6, 3 / 6, 1 / 6]] * 3)
    assert entry["model"] == "majority class 'b'" and entry["value"] == pytest.approx(2 / 3)
    entry, outputs = trivial("regression", pd.Series([1.0, 2.0, 6.0]), pd.Series([3.0, 5.0]), None, "rmse")
    np.testing.assert_allclose(outputs, [3.0, 3.0])
    assert entry["model"] == "training mean 3" and entry["value"] == pytest.approx(np.sqrt(2))


def test_mcnemar_one_row_difference_on_36_rows_is_a_tie():
    truth = np.zeros(36, int)
    ours, theirs = _onehot([0] * 35 + [1]), _onehot([0] * 34 + [1, 1])
    result = compare("classification", "accuracy", truth, ours, theirs, seed=0)
    assert result["method"] == "exact McNemar test" and result["decision"] == "tied"
    assert result["discordant"] == [1, 0] and result["p_value"] == 1.0
    assert result["difference"] == pytest.approx(1 / 36)
    low, high = result["interval"]
    assert low < 0 < high


def test_mcnemar_a_large_difference_on_many_rows_is_a_win_or_a_loss():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 200)
    good = truth.copy()
    good[:10] = (truth[:10] + 1) % 3
    bad = truth.copy()
    bad[:80] = (truth[:80] + 1) % 3
    win = compare("classification", "accuracy", truth, _onehot(good), _onehot(bad), seed=0)
    assert win["decision"] == "better" and win["p_value"] < 1e-6 and win["discordant"] == [70, 0]
    loss = compare("classification", "accuracy", truth, _onehot(bad), _onehot(good), seed=0)
    assert loss["decision"] == "worse"


def test_paired_bootstrap_for_other_metrics():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=300)
    close, far = truth + rng.normal(scale=0.1, size=300), truth + rng.normal(scale=1.0, size=300)
    result = compare("regression", "rmse", truth, close, far, seed=0)
    assert result["method"].startswith("paired bootstrap") and result["decision"] == "better"
    assert result["interval"][1] < 0  # RMSE: lower is better, and the whole interval says so
    # Two models that differ by noise only: tied, and the interval straddles zero.
    other = truth + rng.normal(scale=0.1, size=300)
    tie = compare("regression", "rmse", truth, close, other, seed=0)
    assert tie["decision"] == "tied" and tie["interval"][0] < 0 < tie["interval"][1]
    # Seeded: the same rows give the same interval.
    assert compare("regression", "rmse", truth, close, other, seed=0) == tie
    # Macro-F1 on classes: one row of 36 again is a tie.
    labels = np.zeros(36, int)
    labels[:12], labels[12:24] = 1, 2
    ours, theirs = labels.copy(), labels.copy()
    theirs[0] = 0
    f1 = compare("classification", "f1_macro", labels, _onehot(ours), _onehot(theirs), seed=0)
    assert f1["decision"] == "tied" and f1["difference"] > 0
