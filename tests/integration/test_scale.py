"""Scaling out: several devices in one trial (MirroredStrategy over logical CPUs), mixed precision,
and one search spread over processes with keras-tuner's chief/worker mode, on loopback.

Device layouts cannot change once TensorFlow has started, so these run autotune in subprocesses.
"""
from __future__ import annotations

from conftest import DATA


def test_sample_searches_on_fewer_rows_and_trains_on_all(tmp_path):
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    result = fit(FitConfig(DATA / "breast_cancer.csv", output=tmp_path / "o", tuner="random", max_trials=1, epochs=3,
                           baseline=False, search_folds=1, ensemble=1, sample=60))
    report = result.report
    assert report["compute"]["sample"] == 60
    assert report["final_model"]["train_rows"] == report["split"]["train"] + report["split"]["validation"] > 300
