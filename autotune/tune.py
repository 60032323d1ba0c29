"""Run the keras-tuner search and read its trials back as a leaderboard.

keras-tuner does the searching; this module only picks the tuner by name, wires in early stopping
and a clock, and turns its trials into plain dicts for the report.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np

from autotune.errors import InputError, NoResultError
from autotune.space import TabularHyperModel, objective_metric

log = logging.getLogger(__name__)

TUNERS = ("bayesian", "random", "hyperband", "grid")
HYPERBAND_FACTOR = 3


@dataclass(frozen=True)
class SearchSettings:
    tuner: str = "bayesian"
    max_trials: int = 12
    epochs: int = 60
    patience: int = 8
    seed: int = 0


@dataclass(frozen=True)
class SearchResult:
    best_hyperparameters: dict
    hyperparameters: kt.HyperParameters  # the same values, as keras-tuner rebuilds a model from
    best_epochs: int
    objective: str
    trials: list[dict]  # leaderboard rows, best first
    seconds: float


class _Clock(keras.callbacks.Callback):
    """Adds `seconds` since the trial's fit began to each epoch's logs, so keras-tuner stores it."""

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self._start


def make_tuner(settings: SearchSettings, hypermodel: kt.HyperModel, directory: Path, objective: str) -> kt.Tuner:
    common = dict(objective=kt.Objective(objective, "min"), seed=settings.seed, directory=str(directory),
                  project_name="search", overwrite=False, max_consecutive_failed_trials=3)
    if settings.tuner == "bayesian":
        return kt.BayesianOptimization(hypermodel, max_trials=settings.max_trials, **common)
    if settings.tuner == "random":
        return kt.RandomSearch(hypermodel, max_trials=settings.max_trials, **common)
    if settings.tuner == "grid":
        return kt.GridSearch(hypermodel, max_trials=settings.max_trials, **common)
    if settings.tuner == "hyperband":
        return kt.Hyperband(hypermodel, max_epochs=settings.epochs, factor=HYPERBAND_FACTOR, **common)
    raise InputError(f"unknown tuner {settings.tuner!r}; use one of: {', '.join(TUNERS)}")


def _trial_row(trial: kt.engine.trial.Trial, objective: str) -> dict:
    metrics = trial.metrics
    history = metrics.get_history(objective) if metrics.exists(objective) else []
    seconds = metrics.get_history("seconds") if metrics.exists("seconds") else []
    hp = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
    row = {
        "trial": trial.trial_id,
        "status": trial.status.lower(),
        "score": None if trial.score is None or not np.isfinite(trial.score) else float(trial.score),
        "best_epoch": None if trial.best_step is None else int(trial.best_step) + 1,
        "epochs": len(history),
        "seconds": round(float(seconds[-1].value[0]), 3) if seconds else None,
        "hyperparameters": hp,
    }
    if metrics.exists("val_accuracy") and trial.best_step is not None:
        row["val_accuracy"] = float(metrics.get_best_value("val_accuracy"))
    return row


def leaderboard(tuner: kt.Tuner) -> list[dict]:
    objective = tuner.oracle.objective.name
    rows = [_trial_row(t, objective) for t in tuner.oracle.trials.values()]
    rows.sort(key=lambda r: (r["score"] is None, r["score"] if r["score"] is not None else 0, r["trial"]))
    return rows


def run_search(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
               task: str, n_outputs: int, settings: SearchSettings, directory: Path,
               on_trial_end: Callable[[dict, dict], None] | None = None) -> SearchResult:
    if settings.tuner not in TUNERS:
        raise InputError(f"unknown tuner {settings.tuner!r}; use one of: {', '.join(TUNERS)}")
    start = time.perf_counter()
    keras.utils.set_random_seed(settings.seed)
    hypermodel = TabularHyperModel(x_train.shape[1], n_outputs, task, len(x_train), settings.seed, on_trial_end)
    objective = objective_metric(task)
    tuner = make_tuner(settings, hypermodel, directory, objective)
    stop = keras.callbacks.EarlyStopping(monitor=objective, patience=settings.patience)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=settings.epochs,
                 callbacks=[stop, _Clock()], verbose=0)
    rows = leaderboard(tuner)
    completed = [r for r in rows if r["score"] is not None]
    if not completed:
        raise NoResultError("every trial failed; see the log for the first error, or try a smaller learning rate")
    best = completed[0]
    best_hp = tuner.oracle.trials[best["trial"]].hyperparameters
    return SearchResult(
        best_hyperparameters=best["hyperparameters"],
        hyperparameters=best_hp,
        best_epochs=best["best_epoch"] or settings.epochs,
        objective=objective,
        trials=rows,
        seconds=time.perf_counter() - start,
    )
