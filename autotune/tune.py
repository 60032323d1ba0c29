"""Run the keras-tuner search and read its trials back as a leaderboard.

keras-tuner does the searching; this module only picks the tuner by name, wires in early stopping
and a clock, and turns its trials into plain dicts for the report.
"""
from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np

from autotune.config import TUNERS
from autotune.errors import InputError, NoResultError
from autotune.space import BudgetExhausted

log = logging.getLogger(__name__)

HYPERBAND_FACTOR = 3
FINAL_CANDIDATES = 6  # the ensemble's members and fallbacks for a diverging retrain


@dataclass(frozen=True)
class SearchSettings:
    tuner: str = "bayesian"
    max_trials: int = 12
    epochs: int = 60
    patience: int = 8
    seed: int = 0
    folds: int = 1  # > 1: score each trial by k-fold cross-validation over train + validation
    time_budget: float | None = None  # seconds from `started` to the end of the search
    started: float | None = None  # time.time() when the run began


@dataclass(frozen=True)
class SearchResult:
    best_hyperparameters: dict
    hyperparameters: kt.HyperParameters  # the same values, as keras-tuner rebuilds a model from
    best_epochs: int
    objective: str
    trials: list[dict]  # leaderboard rows, best first
    seconds: float
    stopped_by_budget: bool
    candidates: list  # (HyperParameters, epochs) of the best few trials, best first: fallbacks for the final fit


def make_tuner(settings: SearchSettings, hypermodel: kt.HyperModel, directory: Path) -> kt.Tuner:
    direction = "max" if hypermodel.higher_is_better else "min"
    common = dict(objective=kt.Objective(hypermodel.objective, direction), seed=settings.seed, directory=str(directory),
                  project_name="search", overwrite=False, max_consecutive_failed_trials=3)
    if settings.tuner == "bayesian":
        # keras-tuner's default starts with 3 random trials per hyperparameter (33 here): with a budget of
        # a dozen trials the Gaussian process would never get to choose one.
        initial = max(3, min(10, settings.max_trials // 3))
        return kt.BayesianOptimization(hypermodel, max_trials=settings.max_trials, num_initial_points=initial,
                                       **common)
    if settings.tuner == "random":
        return kt.RandomSearch(hypermodel, max_trials=settings.max_trials, **common)
    if settings.tuner == "grid":
        return kt.GridSearch(hypermodel, max_trials=settings.max_trials, **common)
    if settings.tuner == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=settings.epochs, factor=HYPERBAND_FACTOR, **common)
    raise InputError(f"unknown tuner {settings.tuner!r}; use one of: {', '.join(TUNERS)}")


def _trial_row(trial: kt.engine.trial.Trial, objective: str) -> dict:
    """One leaderboard row from the summary the hypermodel returned for the trial (see space.py)."""

    def metric(name: str) -> float | None:
        return float(trial.metrics.get_last_value(name)) if trial.metrics.exists(name) else None

    score = metric(objective)
    row = {
        "trial": trial.trial_id,
        "status": trial.status.lower(),
        "score": score if score is not None and np.isfinite(score) else None,
        "best_epoch": int(round(metric("best_epoch") or 0)) or None,
        "epochs": int(metric("epochs") or 0),
        "seconds": None if metric("seconds") is None else round(metric("seconds"), 3),
        "fit_seconds": None if metric("fit_seconds") is None else round(metric("fit_seconds"), 3),
        "rss_mb": None if metric("rss_mb") is None else round(metric("rss_mb"), 1),
        "hyperparameters": {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")},
    }
    for name in ("val_accuracy", "val_log_loss", "val_rmse"):
        if metric(name) is not None and name != objective:
            row[name] = metric(name)
    return row


def leaderboard(tuner: kt.Tuner) -> list[dict]:
    objective = tuner.oracle.objective
    # A trial still "running" was refused by the time budget (or interrupted): it has no result.
    rows = [_trial_row(t, objective.name) for t in tuner.oracle.trials.values() if t.status != "RUNNING"]
    sign = -1 if objective.direction == "max" else 1
    rows.sort(key=lambda r: (r["score"] is None, sign * r["score"] if r["score"] is not None else 0, r["trial"]))
    return rows


def run_search(hypermodel: kt.HyperModel, x, y, validation_data, *, settings: SearchSettings,
               directory: Path) -> SearchResult:
    """Search with keras-tuner; x/y/validation_data are whatever the hypermodel's fit() takes."""
    if settings.tuner not in TUNERS:
        raise InputError(f"unknown tuner {settings.tuner!r}; use one of: {', '.join(TUNERS)}")
    if settings.tuner == "hyperband" and settings.folds > 1:
        raise InputError("Hyperband continues trials from checkpoints and cannot score them by cross-validation; "
                         "use --search-folds 1 with --tuner hyperband")
    start = time.perf_counter()
    keras.utils.set_random_seed(settings.seed)
    objective = hypermodel.objective
    hypermodel.keep_checkpoints = settings.tuner == "hyperband"
    if settings.time_budget:
        hypermodel.deadline = (settings.started or time.time()) + settings.time_budget
    stopped_by_budget = False
    # keras-tuner prints to stdout ("Reloading Tuner…", failed trials' tracebacks), which belongs to --json:
    # keep it for the log instead.
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            # The Bayesian oracle's Gaussian process warns about length scales at its bounds: noise to users.
            warnings.filterwarnings("ignore", module="sklearn.gaussian_process")
            tuner = make_tuner(settings, hypermodel, directory)
            tuner.search(x, y, validation_data=validation_data, epochs=settings.epochs, verbose=0)
    except BudgetExhausted as exc:
        stopped_by_budget = True
        log.info("search stopped: %s", exc)
    except RuntimeError as exc:  # keras-tuner stops after several failed trials in a row
        if "consecutive failures" not in str(exc):
            raise
        log.warning("search stopped early: %s", exc)
    finally:
        if printed.getvalue().strip():
            log.info("keras-tuner printed:\n%s", printed.getvalue())
    rows = leaderboard(tuner)
    completed = [r for r in rows if r["score"] is not None]
    if not completed:
        raise NoResultError("every trial failed (diverged or raised); run with --verbose to see why, "
                            "or lower the learning rates in the search space")
    best = completed[0]
    candidates = [(tuner.oracle.trials[r["trial"]].hyperparameters, r["best_epoch"] or settings.epochs)
                  for r in completed[:FINAL_CANDIDATES]]
    return SearchResult(
        best_hyperparameters=best["hyperparameters"],
        hyperparameters=candidates[0][0],
        best_epochs=candidates[0][1],
        objective=objective,
        trials=rows,
        seconds=time.perf_counter() - start,
        candidates=candidates,
        stopped_by_budget=stopped_by_budget,
    )
