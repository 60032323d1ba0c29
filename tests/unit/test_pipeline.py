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
