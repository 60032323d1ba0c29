"""Budgets and resume across processes: a run killed by SIGTERM or SIGKILL resumes and finishes. The
in-process budget tests are in tests/integration/test_budget.py, duration parsing in tests/unit/test_budget.py."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, wait_for

from autotune.bundle.export import work_dir


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_resumes_and_finishes(tmp_path, signum):
    """SIGTERM (cron, supervisors, Ctrl-C alike) exits 130 with a resume hint; SIGKILL gives no chance to
    say anything. Either way the output is untouched and --resume finishes the run."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "autotune", "fit", "data/wine.csv", "-o", str(out), "--tuner", "random",
            "--max-trials", "3", "--epochs", "300", "--patience", "300", "--search-folds", "1"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: list((work_dir(out) / "search" / "search").glob("trial_*")), 120, process, "the first trial")
    time.sleep(2)  # well into the trial: the kill lands mid-training
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
