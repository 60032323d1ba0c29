"""The Task registry: one class per task, each answering every question a stage asks of it."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from autotune.config import METRICS
from autotune.task import CLASSIFICATION, REGRESSION, TASKS, Task, task_of


def test_the_registry_holds_both_tasks_under_the_names_reports_use():
    assert list(TASKS) == [CLASSIFICATION, REGRESSION] == ["classification", "regression"]
    assert all(task_of(name).name == name for name in TASKS)
    with pytest.raises(ValueError, match="unknown task 'multilabel'; use classification or regression"):
        task_of("multilabel")


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_overrides_every_abstract_method(name):
    task = task_of(name)
    abstract = [k for k, v in vars(Task).items() if hasattr(v, "__code__") and "NotImplementedError" in v.__code__.co_names]
    assert len(abstract) > 10
    assert [k for k in abstract if getattr(type(task), k) is getattr(Task, k)] == []
    assert task.metrics == [m for m, (t, _) in METRICS.items() if t == name]
    assert task.default_metric() in task.metrics and task.search_metric in task.metrics
    assert task.loss_monitor == f"val_{task.search_metric}"
    assert {key for key, _ in task.metric_table} <= set(task.metrics)


def test_classification_reads_encodes_and_tabulates_labels():
    task = task_of(CLASSIFICATION)
    y = task.read_target(pd.Series([1.0, 2.0, None, 1.0]))
    assert y[[0, 1, 3]].tolist() == ["1", "2", "1"] and pd.isna(y[2])  # 1.0 and 1 read alike; missing stays missing
    labels = task.labels(pd.Series(["b", "a"]), pd.Series(["c"]))
    assert labels == ["a", "b", "c"] and task.n_outputs(labels) == 3
    (train, val), scale = task.encode_target(labels, (["c", "a"], ["b"]))
    assert train.tolist() == [2, 0] and val.tolist() == [1] and scale is None
    frame = task.prediction_frame(np.array([[0.1, 0.7, 0.2]]), labels)
    assert frame.columns.tolist() == ["prediction", "p_a", "p_b", "p_c"] and frame["prediction"][0] == "b"
    outputs, model = task.trivial(pd.Series(["a", "b", "b"]), 2, labels)
    assert model == "majority class 'b'" and outputs.shape == (2, 3) and outputs[0, 1] == pytest.approx(2 / 3)
    assert task.truth(np.array(["c", "z"]), labels).tolist() == [2, 3]  # an unseen label: past the known ones
    weights, oversample = task.balancing(np.array([0] * 9 + [1]), ["a", "b"], "auto")
    assert weights[1] > weights[0] and not oversample
    assert task.check_labels(["a"]) == "must list at least 2 distinct class names"
    assert task.check_labels(["a", "b"]) is None
    assert task.stratify_by(y) is y


def test_regression_reads_and_standardises_values():
    task = task_of(REGRESSION)
    y = task.learnable_target(pd.Series(["1.5", "inf", "2.5", "1e39"]))
    assert y.tolist()[0] == 1.5 and np.isnan(y.tolist()[1]) and np.isnan(y.tolist()[3])
    assert task.labels(pd.Series([1.0])) is None and task.n_outputs(None) == 1
    assert task.prediction_frame(np.array([[1.5], [2.0]]), None)["prediction"].tolist() == [1.5, 2.0]
    outputs, model = task.trivial(pd.Series([1.0, 3.0]), 3, None)
    assert model == "training mean 2" and outputs.tolist() == [2.0, 2.0, 2.0]
    assert task.balancing(np.array([0.1, 0.2]), None, "oversample") == (None, False)
    assert task.check_labels(["a", "b"]) == "must be null for a regression bundle"
    assert task.stratify_by(pd.Series([1.0])) is None


def test_importing_the_task_module_loads_no_numeric_or_deep_learning_library():
    code = ("import sys, autotune.task; heavy = [m for m in ('numpy', 'pandas', 'sklearn', 'tensorflow', 'keras') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
