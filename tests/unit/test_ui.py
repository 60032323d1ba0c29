"""What people and logs see: rich tables on a terminal, plain timestamped lines without one."""
from __future__ import annotations

import io
import re

import pandas as pd
from conftest import DATA

from autotune.cli.ui import ConsoleReporter, QuietReporter, make_console
from autotune.data.clean import learn_features
from autotune.data.profile import profile
from autotune.data.split import drop_unusable_rows, split


def penguins_profile():
    frame = pd.read_csv(DATA / "penguins.csv")
    prof = profile(frame, "species")
    rows, actions = drop_unusable_rows(frame, prof)
    _, more = learn_features(split(rows, prof, 0.2, 0.2, 0).train, prof)
    return prof, actions + more


def reporter(tty: bool) -> tuple[ConsoleReporter, io.StringIO]:
    buffer = io.StringIO()
    ticks = iter(range(0, 10_000, 5))
    console = make_console(file=buffer, force_terminal=tty)
    console.width = 120
    return ConsoleReporter(console, clock=lambda: float(next(ticks))), buffer


def test_plain_lines_without_a_terminal():
    rep, buffer = reporter(tty=False)
    prof, actions = penguins_profile()
    rep.stage("load")
    rep.profiled(prof, actions)
    rep.search_started("bayesian", 12, 60, "val_xent")
    rep.budget_preview(3.5, 0.04, 12, 60, 30.0, 10.0)
    rep.trial_finished("00", 1, 0.25, 0.25, 14, 1.5, {"units": 64})
    rep.trial_finished("01", 2, None, 0.25, 3, 0.5, {"units": 32})
    rep.warning("strong class imbalance")
    lines = buffer.getvalue().splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line) for line in lines), lines
    text = buffer.getvalue()
    assert "\x1b[" not in text and "┃" not in text
    assert "profile: 344 rows, classification of species; island=categorical" in text
    assert "target: Adelie 152 (44%), Gentoo 124 (36%), Chinstrap 68 (20%)" in text
    assert 'clean: filled 6 missing value(s) in "sex" with a \'missing\' category of its own' in text
    assert "trial 00 (1 of 12): val_xent 0.25 ★, best 0.25, 14 epochs, 1.5 s" in text
    assert "trial 01 (2 of 12): failed, best 0.25" in text
    assert ("estimate: ~3.5 s to start a trial and ~0.04 s per epoch, so at most ~71 s for 12 trials × 60 epochs"
            in text and "the time budget of 30 s covers the whole run, ~10 s of it kept for the final fit and export — it "
            "will end the search" in text)
    assert rep.warnings == ["strong class imbalance"]


def test_without_a_time_budget_the_estimate_comes_from_the_first_trial():
    """No trial of its own is timed before the search: the first trial's start-up and epochs give the estimate line,
    said once, marked as measured."""
    from autotune.search.prepare import TrialProgress

    rep, buffer = reporter(tty=False)
    progress = TrialProgress(rep, "val_loss", max_trials=12)
    progress.preview = (12, 60)
    progress({"units": 64}, {"val_loss": 0.5, "seconds": 3.0, "startup_seconds": 1.0, "epochs": 20}, "00")
    progress({"units": 32}, {"val_loss": 0.4, "seconds": 9.0, "startup_seconds": 4.0, "epochs": 10}, "01")
    text = buffer.getvalue()
    assert text.count("estimate") == 1
    assert "estimate from the first trial: ~1 s to start a trial and ~0.1 s per epoch" in text
    assert "at most ~84 s for 12 trials × 60 epochs" in text  # (1 + 0.1 × 60) × 12 s
    assert text.index("trial 00") < text.index("estimate") < text.index("trial 01")


def test_quiet_prints_only_warnings():
    buffer = io.StringIO()
    rep = QuietReporter(make_console(file=buffer, force_terminal=False))
    rep.stage("load")
    rep.trial_finished("0", 1, 0.1, 0.1, 3, 1.0, {})
    rep.warning("column \"x\": non-numeric values '?' read as missing")
    assert buffer.getvalue() == "warning: column \"x\": non-numeric values '?' read as missing\n"
