"""What a small-data run says it does, from real tiny fits in-process. The same through the CLI in
subprocesses is in tests/system/test_run_labels.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, StopAtSearch

from autotune.config import FitConfig
from autotune.events import Reporter
from autotune.modality import SMALL_DATA_ROWS
from autotune.pipeline import Interrupted, fit


class Notes(Reporter):
    def __init__(self):
        self.notes = []

    def note(self, message):
        self.notes.append(message)


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


def test_a_large_table_gets_the_three_best_configurations_averaged(tmp_path):
    """Past the small-data mode (one validation split, no k-fold) the final model still averages the 3 best distinct
    configurations: on the suite's larger tuning sets that was worth +0.017 R² on gss_wages and +0.011 on ames, 3 seeds
    each (bench/README, "Development runs (issue 17): the ensemble and the ramps")."""
    rng = np.random.default_rng(0)
    rows = 3000
    x = rng.normal(size=(rows, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "kind": rng.choice(["p", "q", "r"], rows),
                          "label": np.where(x[:, 0] + 0.5 * x[:, 1] ** 2 > 0.5, "yes", "no")})
    frame.to_csv(tmp_path / "large.csv", index=False)
    notes = Notes()
    result = fit(FitConfig.of(tmp_path / "large.csv", target="label", output=tmp_path / "o", tuner="random",
                              max_trials=3, epochs=2, patience=1, baseline=False, seed=0), notes)
    line = next(n for n in notes.notes if "averages" in n)
    train_rows = result.report["final_model"]["train_rows"]
    assert train_rows > SMALL_DATA_ROWS and line.startswith(f"{train_rows} training rows:"), line
    assert "fold" not in line and "the final model averages the 3 best configurations" in line, line
    members = result.report["final_model"]["members"]
    assert len(members) == 3 and len({m["trial"] for m in members}) == 3, members
