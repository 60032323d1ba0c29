"""Budgets and resume: a search stops on time, and an interrupted run continues where it stopped."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import DATA, ROOT, StopAtSearch

from autotune.config import FitConfig, parse_duration
from autotune.errors import InputError
from autotune.events import Reporter
from autotune.export import work_dir
from autotune.pipeline import Interrupted, fit


@pytest.mark.parametrize("text,seconds", [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("45", 45),
                                          ("2.5m", 150)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "10x", "-5", "0", "1h30"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(ValueError):
        parse_duration(text)


class Trials(Reporter):
    """Counts the trials this process actually trains, and can stop the run after some of them."""

    def __init__(self, stop_after: int | None = None):
        self.seen, self.stop_after = [], stop_after

    def trial_finished(self, trial, number, score, best, epochs, seconds, hyperparameters):
        self.seen.append(hyperparameters)
        if self.stop_after and len(self.seen) == self.stop_after:
            raise KeyboardInterrupt


def test_interrupted_search_resumes_without_rerunning_finished_trials(tmp_path):
    out = tmp_path / "out"
    config = FitConfig(DATA / "wine.csv", output=out, tuner="random", max_trials=4, epochs=4, patience=2, seed=3)
    first = Trials(stop_after=3)  # trials 1 and 2 finish; the run is stopped while trial 3 reports
    with pytest.raises(Interrupted, match="--resume") as info:
        fit(config, first)
    assert info.value.exit_code == 130
    assert not out.exists() and work_dir(out).is_dir()

    with pytest.raises(InputError, match="pass --resume to continue it"):
        fit(config)
    with pytest.raises(InputError, match="different seed"):
        fit(FitConfig(**{**config.__dict__, "seed": 4, "resume": True}))

    second = Trials()
    result = fit(FitConfig(**{**config.__dict__, "resume": True}), second)
    trials = result.report["search"]["trials"]
    assert len(trials) == 4 and all(t["status"] == "completed" for t in trials)
    assert len(second.seen) == 2  # the interrupted trial 3 again, and trial 4; not 1 and 2
    assert {json.dumps(h, sort_keys=True) for h in first.seen[:2]}.isdisjoint(
        json.dumps(h, sort_keys=True) for h in second.seen)
    assert (out / "model.keras").exists() and not work_dir(out).exists()


def test_resume_with_nothing_to_resume_is_refused(tmp_path):
    with pytest.raises(InputError, match="nothing to resume"):
        fit(FitConfig(DATA / "wine.csv", output=tmp_path / "out", resume=True))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_resumes_and_finishes(tmp_path, signum):
    """SIGTERM (cron, supervisors, Ctrl-C alike) exits 130 with a resume hint; SIGKILL gives no chance to
    say anything. Either way the output is untouched and --resume finishes the run."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "autotune", "fit", "data/wine.csv", "-o", str(out), "--tuner", "random",
            "--max-trials", "3", "--epochs", "300", "--patience", "300", "--search-folds", "1"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((work_dir(out) / "search" / "search").glob("trial_*")):
        time.sleep(0.5)
    time.sleep(2)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    if signum == signal.SIGTERM:
        assert process.returncode == 130, stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("error: interrupted") and "--resume" in last
    else:
        assert process.returncode == -signal.SIGKILL
    assert not out.exists() and work_dir(out).is_dir()

    resumed = subprocess.run([*args, "--resume", "--time-budget", "5s"], cwd=ROOT, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "saved_model").is_dir() and not work_dir(out).exists()


@pytest.mark.parametrize("seconds,text", [(90, "90 s"), (45, "45 s"), (2.5, "2.5 s"), (600, "10 min"),
                                          (150, "150 s"), (3600, "1 h"), (5400, "1 h 30 min"),
                                          (3725, "3725 s"), (7200, "2 h")])
def test_durations_print_as_given(seconds, text):
    from autotune.ui import _duration

    assert _duration(seconds) == text


def test_time_budget_covers_the_whole_run(tmp_path):
    """Load to published bundle: the search stops early enough for the final fit (3 networks on small
    data) and the export to end inside the budget."""
    budget = 40.0
    start = time.time()
    result = fit(FitConfig(DATA / "penguins.csv", target="species", output=tmp_path / "out", tuner="random",
                           max_trials=50, epochs=15, patience=15, time_budget=budget, search_folds=1,
                           baseline=False))
    elapsed = time.time() - start
    assert result.report["search"]["stopped_by_budget"] and len(result.report["final_model"]["members"]) == 3
    assert elapsed <= budget * 1.15 + 3, (elapsed, result.report["timings"])
    assert (result.output / "saved_model").is_dir() and not work_dir(result.output).exists()


def test_a_budget_too_short_for_one_trial_and_the_final_fit_is_refused_up_front(tmp_path):
    out = tmp_path / "out"
    reporter = Trials()
    with pytest.raises(InputError, match=r"--time-budget 2 s is too short for one trial plus the final fit "
                                         r"\(~.* on this machine\); use at least \d+") as info:
        fit(FitConfig(DATA / "penguins.csv", target="species", output=out, tuner="random", max_trials=5, epochs=40,
                      patience=40, time_budget=2.0), reporter)
    assert info.value.exit_code == 2
    assert not reporter.seen and not out.exists() and not work_dir(out).exists()


@pytest.mark.parametrize("change,named", [({"sample": 60}, "sample"),
                                          ({"space": {"units": [8, 16]}, "recipe": "mine"}, "space"),
                                          ({"space": {"units": [8, 16]}}, "space")])
def test_resume_refuses_any_changed_search_setting(tmp_path, change, named):
    out = tmp_path / "out"
    config = FitConfig(DATA / "wine.csv", output=out, tuner="random", max_trials=1, epochs=2, patience=2,
                       space={"units": [8, 32]}, recipe="mine")
    with pytest.raises(Interrupted):
        fit(config, StopAtSearch())
    with pytest.raises(InputError, match=f"different {named}") as info:
        fit(FitConfig(**{**config.__dict__, **change, "resume": True}))
    assert "recipe" not in info.value.message or "recipe" in change
    # what may differ on resume (the output's handling, the time budget, logging, how the search is spread,
    # what happens after it) does not stop it
    result = fit(FitConfig(**{**config.__dict__, "resume": True, "time_budget": 600.0, "cv": 2, "ensemble": 1}))
    assert len(result.report["search"]["trials"]) == 1
