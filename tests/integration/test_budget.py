"""Budgets and resume: a search stops on time, and an interrupted run continues where it stopped."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from conftest import DATA, ROOT, StopAtSearch

from autotune.bundle.export import work_dir
from autotune.config import FitConfig
from autotune.errors import InputError
from autotune.events import Reporter
from autotune.pipeline import Interrupted, fit


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
    config = FitConfig.of(DATA / "wine.csv", output=out, tuner="random", max_trials=4, epochs=4, patience=2, seed=3)
    first = Trials(stop_after=3)  # trials 1 and 2 finish; the run is stopped while trial 3 reports
    with pytest.raises(Interrupted, match="--resume") as info:
        fit(config, first)
    assert info.value.exit_code == 130
    assert not out.exists() and work_dir(out).is_dir()

    with pytest.raises(InputError, match="pass --resume to continue it"):
        fit(config)
    with pytest.raises(InputError, match="different seed"):
        fit(config.replace(seed=4, resume=True))

    second = Trials()
    result = fit(config.replace(resume=True), second)
    trials = result.report["search"]["trials"]
    assert len(trials) == 4 and all(t["status"] == "completed" for t in trials)
    assert len(second.seen) == 2  # the interrupted trial 3 again, and trial 4; not 1 and 2
    assert {json.dumps(h, sort_keys=True) for h in first.seen[:2]}.isdisjoint(
        json.dumps(h, sort_keys=True) for h in second.seen)
    assert (out / "model.keras").exists() and not work_dir(out).exists()


@pytest.mark.serial  # it times itself: run alone, after the parallel pass
def test_time_budget_covers_the_whole_run(tmp_path):
    """Load to published bundle: the search stops early enough for the final fit (3 networks on small
    data) and the export to end inside the budget. 60 s leaves room for three trials on a loaded 2-core
    machine (at 40 s a CI run had time for one, so the 3-member final fit went untested)."""
    budget = 60.0
    start = time.time()
    result = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "out", tuner="random",
                           max_trials=1000, epochs=15, patience=15, time_budget=budget, search_folds=1,
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
        fit(FitConfig.of(DATA / "penguins.csv", target="species", output=out, tuner="random", max_trials=5, epochs=40,
                      patience=40, time_budget=2.0), reporter)
    assert info.value.exit_code == 2
    assert not reporter.seen and not out.exists() and not work_dir(out).exists()


@pytest.mark.parametrize("change,named", [({"sample": 60}, "sample"),
                                          ({"space": {"units": [8, 16]}, "recipe": "mine"}, "space"),
                                          ({"space": {"units": [8, 16]}}, "space")])
def test_resume_refuses_any_changed_search_setting(tmp_path, change, named):
    out = tmp_path / "out"
    config = FitConfig.of(DATA / "wine.csv", output=out, tuner="random", max_trials=1, epochs=2, patience=2,
                       space={"units": [8, 32]}, recipe="mine")
    with pytest.raises(Interrupted):
        fit(config, StopAtSearch())
    with pytest.raises(InputError, match=f"different {named}") as info:
        fit(config.replace(**change, resume=True))
    assert "recipe" not in info.value.message or "recipe" in change
    # what may differ on resume (the output's handling, the time budget, logging, how the search is spread,
    # what happens after it) does not stop it
    result = fit(config.replace(resume=True, time_budget=600.0, cv=2, ensemble=1))
    assert len(result.report["search"]["trials"]) == 1


def _enospc(bundle, report):
    """What a full disk does to the report's writing (failure injected at one write; the fit is real)."""
    import errno
    import os

    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(bundle / "report.json"))


def test_a_full_disk_after_the_search_keeps_it_for_resume(tmp_path, monkeypatch):
    """ENOSPC while the bundle is written: exit 2 with one line saying how to resume, the work directory
    kept; --resume then finishes from it without training any trial again."""
    from click.testing import CliRunner

    from autotune import pipeline
    from autotune.cli.commands import cli

    out = tmp_path / "out"
    args = ["fit", str(DATA / "wine.csv"), "-o", str(out), "--tuner", "random", "--max-trials", "2", "--epochs", "3",
            "--patience", "2", "--search-folds", "1", "--ensemble", "1", "--no-baseline", "--json"]
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "write_report", _enospc)
        full = CliRunner().invoke(cli, args)
    work = work_dir(out)
    assert full.exit_code == 2, full.output
    last = full.stderr.strip().splitlines()[-1]
    assert last == (f"error: {work / 'bundle' / 'report.json'}: no space left on device while writing the bundle; "
                    f"the finished search (2 trials) is kept in {work}: free some space, then re-run the same "
                    "command with --resume"), last
    assert json.loads(full.stdout)["exit_code"] == 2
    assert not out.exists() and (work / "search").is_dir() and not (work / "bundle").exists()

    resumed = CliRunner().invoke(cli, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed: 2 finished trial(s) kept, 0 to run" in resumed.stderr
    assert not [line for line in resumed.stderr.splitlines() if line.startswith("trial ")], resumed.stderr
    assert json.loads(resumed.stdout)["trials"] == 2
    assert (out / "report.html").is_file() and not work.exists()


def test_any_failure_after_the_search_keeps_it_and_says_how_to_resume(tmp_path):
    """Not only a full disk: a failure in the final fit, evaluation or export keeps the finished search."""
    out = tmp_path / "out"

    class Broken(Reporter):
        def stage(self, name):
            if name == "evaluate":
                raise RuntimeError("evaluation broke")

    with pytest.raises(RuntimeError, match="evaluation broke") as info:
        fit(FitConfig.of(DATA / "wine.csv", output=out, tuner="random", max_trials=1, epochs=2, patience=2,
                      search_folds=1, ensemble=1, baseline=False), Broken())
    assert info.value.__notes__ == [f"the finished search (1 trial) is kept in {work_dir(out)}: re-run the same "
                                    "command with --resume"]
    assert not out.exists() and (work_dir(out) / "search").is_dir()


def test_too_little_free_space_for_the_bundle_is_refused_before_the_final_fit(tmp_path, monkeypatch):
    """For real, on a small tmpfs (in a private mount namespace; skipped where mounting is not allowed): the
    finished search fits, the bundle would not, and the run says so before the final fit instead of failing
    half-way through the export; with more space, --resume finishes without training a trial again."""
    import shlex
    import shutil

    from click.testing import CliRunner

    from autotune import pipeline
    from autotune.cli.commands import cli

    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a small filesystem")
    tiny = ["--tuner", "random", "--max-trials", "2", "--epochs", "3", "--patience", "2", "--search-folds", "1",
            "--ensemble", "1", "--no-baseline"]
    first = tmp_path / "first" / "out"
    with monkeypatch.context() as patch:  # a finished search in a work directory, as a full disk leaves it
        patch.setattr(pipeline, "write_report", _enospc)
        assert CliRunner().invoke(cli, ["fit", str(DATA / "wine.csv"), "-o", str(first), *tiny]).exit_code == 2
    kept = work_dir(first)
    used = sum(p.stat().st_size for p in kept.rglob("*") if p.is_file())
    small = tmp_path / "small"
    small.mkdir()
    fit_args = shlex.join([sys.executable, "-m", "autotune", "fit", str(DATA / "wine.csv"), "-o", str(small / "out"),
                           *tiny, "--resume"])
    script = (f"mount -t tmpfs -o size={used + 128 * 1024} tmpfs {small} || exit 77\n"
              f"cp -a {kept} {work_dir(small / 'out')}\n"
              f"{fit_args}; echo rc=$? >&2\n"
              f"mount -o remount,size=64m {small}\n"
              f"{fit_args}; echo rc=$? >&2\n")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    if done.returncode == 77 or "unshare failed" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[-200:]}")
    lines = done.stderr.strip().splitlines()
    refused = lines[[i for i, line in enumerate(lines) if line.startswith("rc=")][0] - 1]
    assert re.fullmatch(rf"error: {re.escape(str(small))}: [\d.]+ [kM]B free, and the bundle needs about [\d.]+ [kM]B; "
                        rf"the finished search \(2 trials\) is kept in {re.escape(str(work_dir(small / 'out')))}: free "
                        "some space, then re-run the same command with --resume", refused), done.stderr
    assert "rc=2" in lines and lines[-1] == "rc=0", done.stderr
    assert not [line for line in lines if line.startswith("trial ")], done.stderr


def test_a_trial_trained_fold_after_fold_starts_no_fold_past_the_deadline():
    """Keras's fit trains a cross-validated trial's folds one after the other (a text sequence encoder, --tensorboard,
    several devices). Past the budget's deadline the running fold stops at its next batch; a fold started after it
    would still build, trace and train a batch — seconds each for a GRU: `--recipe text-thorough --time-budget 60s`
    on data/reviews.csv ended 66.6 s after its start. Past the deadline the trial keeps the folds it reached."""
    import time

    import keras_tuner as kt
    import numpy as np

    from autotune.search.space import TabularHyperModel

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 5)).astype(np.float32), rng.integers(0, 2, 120).astype(np.int32)
    hypermodel = TabularHyperModel(5, 2, "classification", 120, seed=0, patience=2, folds=3)
    hypermodel.side_by_side = False  # the folds through Keras's fit, one after the other
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    hypermodel._initial_epoch, hypermodel._kept = 0, None
    hypermodel.deadline = None
    runs, _ = hypermodel._fit_runs(hp, model, x[:90], y[:90], (x[90:], y[90:]), [], epochs=2)
    assert len(runs) == 3
    hypermodel.deadline = time.time() - 1  # spent before the trial starts: its first fold stops after one batch
    runs, _ = hypermodel._fit_runs(hp, model, x[:90], y[:90], (x[90:], y[90:]), [], epochs=2)
    assert len(runs) == 1 and len(runs[0]["loss"]) == 1
