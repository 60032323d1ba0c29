"""Shared fixtures: small real runs of the whole pipeline, made once per test session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`autotune ARGS` in a fresh process, exactly as a user (or cron) runs it."""
    return subprocess.run([sys.executable, "-m", "autotune", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout)


TINY = dict(tuner="random", max_trials=2, epochs=6, patience=3, seed=0)


@pytest.fixture(scope="session")
def penguins_run(tmp_path_factory):
    """A real, tiny fit on the penguins data (missing values, string categories, string labels)."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path_factory.mktemp("penguins") / "bundle"
    return fit(FitConfig(DATA / "penguins.csv", target="species", output=out, **TINY))


@pytest.fixture(scope="session")
def diabetes_run(tmp_path_factory):
    """A real, tiny regression fit on scikit-learn's diabetes data."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path_factory.mktemp("diabetes") / "bundle"
    return fit(FitConfig(DATA / "diabetes.csv", target="progression", output=out, **TINY))
