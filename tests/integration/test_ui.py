"""What people see on a terminal: rich tables from a real run's events. Plain log lines are in
tests/unit/test_ui.py."""
from __future__ import annotations

import re

from unit.test_ui import penguins_profile, reporter


def test_tables_on_a_terminal(penguins_run):
    rep, buffer = reporter(tty=True)
    prof, actions = penguins_profile()
    rep.profiled(prof, actions)
    rep.search_started("random", 2, 6, "val_xent")
    rep.trial_finished("0", 1, 0.5, 0.5, 6, 1.0, {})
    rep.finished(penguins_run.report, penguins_run.output)
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buffer.getvalue())
    assert "344 rows × 8 columns — classification of “species”" in text
    assert re.search(r"│ sex\s+│ categorical │\s+3\.2 │\s+2 │", text)
    accuracy = penguins_run.report["test_metrics"]["accuracy"]
    assert re.search(rf"│ test accuracy\s+│ {accuracy:.4f}", text)
    assert "per class (test set)" in text and "Chinstrap" in text
    assert rep._status is None  # the spinner is gone once the run is over
