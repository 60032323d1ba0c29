"""Pipeline refusals that come before any training (leave-one-out on larger data). The whole job through
the Python API is in tests/integration/test_pipeline.py."""
from __future__ import annotations

import pytest
from conftest import DATA, TINY

from autotune.config import FitConfig
from autotune.errors import InputError
from autotune.pipeline import fit


def test_leave_one_out_is_refused_on_larger_data(tmp_path):
    with pytest.raises(InputError, match="--cv loo trains one model per row: refused above 200 rows"):
        fit(FitConfig.of(DATA / "breast_cancer.csv", output=tmp_path / "out", cv="loo",
                      **{**TINY, "max_trials": 1, "epochs": 2}))
    assert not (tmp_path / "out").exists()


def test_the_bundle_size_estimate_counts_each_final_member_once():
    """Hyperband continues a trial under a new id with the same configuration: the leaderboard's first rows can be
    one configuration twice, which the final fit trains once (its candidates are the distinct configurations)."""
    from types import SimpleNamespace

    from autotune.pipeline import member_parameters

    rows = [{"trial": "0003", "parameters": 5000, "status": "completed"},  # continued from 0001
            {"trial": "0001", "parameters": 5000, "status": "completed"},
            {"trial": "0002", "parameters": 700, "status": "completed"},
            {"trial": "0000", "parameters": 90, "status": "completed"}]
    search = SimpleNamespace(trials=rows, candidate_trials=["0003", "0002", "0000"])
    assert member_parameters(search, 3) == 5790
    assert member_parameters(search, 1) == 5000
