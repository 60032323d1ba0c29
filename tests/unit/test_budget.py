"""Budgets and resume, the parts that need no training: durations parsed, --resume with nothing to resume
refused. Real runs are in tests/integration/test_budget.py and tests/system/test_budget.py."""
from __future__ import annotations

import pytest
from conftest import DATA

from autotune.config import FitConfig, parse_duration
from autotune.errors import InputError
from autotune.pipeline import fit


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("45", 45),
                                          ("2.5m", 150)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "10x", "-5", "0", "1h30"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_resume_with_nothing_to_resume_is_refused(tmp_path):
    with pytest.raises(InputError, match="nothing to resume"):
        fit(FitConfig.of(DATA / "wine.csv", output=tmp_path / "out", resume=True))


@pytest.mark.parametrize("seconds,text", [(90, "90 s"), (45, "45 s"), (2.5, "2.5 s"), (600, "10 min"),
                                          (150, "150 s"), (3600, "1 h"), (5400, "1 h 30 min"),
                                          (3725, "3725 s"), (7200, "2 h")])
def test_durations_print_as_given(seconds, text):
    from autotune.cli.ui import _duration

    assert _duration(seconds) == text
