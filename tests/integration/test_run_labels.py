"""What a small-data run says it does, from real tiny fits in-process. The same through the CLI in
subprocesses is in tests/system/test_run_labels.py."""
from __future__ import annotations

import pytest
from conftest import DATA, StopAtSearch

from autotune.config import FitConfig
from autotune.pipeline import Interrupted, fit


def test_no_small_data_line_when_the_mode_is_off(tmp_path):
    notes = StopAtSearch()
    with pytest.raises(Interrupted):
        fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "o", search_folds=1, ensemble=1),
            notes)
    assert not [n for n in notes.notes if "small data" in n or "fold" in n], notes.notes


def test_the_ensemble_said_is_no_larger_than_the_trials_run(tmp_path):
    """--max-trials 1 leaves one configuration to average: the log does not promise three (and the time
    budget does not keep room for three final fits)."""
    notes = StopAtSearch()
    with pytest.raises(Interrupted):
        fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "o", max_trials=1), notes)
    line = next(n for n in notes.notes if "small data" in n)
    assert "3-fold cross-validation" in line and "averages" not in line and "--ensemble 1" not in line, line
