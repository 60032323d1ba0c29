"""--sample: the search on fewer rows, the final fit on all of them (a real fit in-process). Devices and
workers, which need their own processes, are in tests/system/test_scale.py."""
from __future__ import annotations

import json

from conftest import DATA


def test_sample_searches_on_fewer_rows_and_trains_on_all(tmp_path):
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    result = fit(FitConfig.of(DATA / "breast_cancer.csv", output=tmp_path / "o", tuner="random", max_trials=1, epochs=3,
                           baseline=False, search_folds=1, ensemble=1, sample=60))
    report = result.report
    assert report["compute"]["sample"] == 60
    assert report["compute"]["precision"] == "float32"  # tabular networks train in float32 on a CPU, bfloat16 or not
    # the thread pools it computed with, which a seed's numbers depend on (devices.thread_counts)
    threads = report["compute"]["threads"]
    assert threads["cpus"] >= 1 and threads["blas"] and all(n >= 1 for n in threads["blas"].values())
    assert json.loads((result.output / "metadata.json").read_text())["compute"]["threads"] == threads
    assert report["final_model"]["train_rows"] == report["split"]["train"] + report["split"]["validation"] > 300
