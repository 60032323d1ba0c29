"""Callbacks every trial's fit adds to Keras's logs: validation scores Keras does not compute itself, and
regression errors put back into the target's units."""
from __future__ import annotations

import keras
import numpy as np

from autotune.search.stopping import behind_the_median

# Metrics Keras computes itself during fit; the others are scored by ValidationScore each epoch.
NATIVE_METRICS = {"accuracy", "log_loss", "rmse"}


class ValidationScore(keras.callbacks.Callback):
    """Adds val_<metric> to each epoch's logs, scored by scikit-learn on the validation data, for the
    metrics Keras does not compute the same way (macro-F1, ROC AUC, MAE, R²)."""

    def __init__(self, metric: str, validation):
        super().__init__()
        self.metric, self.validation = metric, validation
        self._truth = None

    def on_epoch_end(self, epoch, logs=None):
        from autotune.evaluate.metrics import score

        outputs, truth = [], []
        for x, y in self.validation:
            outputs.append(np.asarray(self.model(x, training=False)))
            truth.append(np.asarray(y))
        value = score(self.metric, np.concatenate(truth), np.concatenate(outputs))
        if logs is not None:
            logs[f"val_{self.metric}"] = np.nan if value is None else value


class ValidationOutputs(keras.callbacks.Callback):
    """Keeps each epoch's validation outputs in `epochs` (and the labels, once, in `truth`): what a trial trained by
    Keras's fit keeps for the final model's decision rule (decision.py), as stacked.py's loop does."""

    def __init__(self, validation, truth: list, epochs: list):
        super().__init__()
        self.validation, self.truth, self.epochs = validation, truth, epochs
        self._labels = None

    def on_epoch_end(self, epoch, logs=None):
        outputs, labels = [], []
        for x, y in self.validation:
            outputs.append(np.asarray(self.model(x, training=False), np.float32))
            labels.append(np.asarray(y))
        self.epochs.append(np.concatenate(outputs))
        if self._labels is None:
            self._labels = np.concatenate(labels)
            self.truth.append(self._labels)


class BestEpochWeights(keras.callbacks.Callback):
    """Keeps a copy of the network's weights at its best epoch as the trial's summary ranks epochs (space.py,
    _summarise): the objective, ties by the lower loss, then the earlier epoch; NaN scores never best. `epoch` is
    1-based and counts as Keras does, from the configuration's start (a fit continued from initial_epoch goes on
    counting); None until an epoch scored. Placed after the callbacks that add or convert the logs it reads."""

    def __init__(self, objective: str, loss: str, higher_is_better: bool):
        super().__init__()
        self.objective, self.loss, self.sign = objective, loss, -1.0 if higher_is_better else 1.0
        self.weights: list[np.ndarray] | None = None
        self.epoch: int | None = None
        self._best: tuple[float, float] | None = None

    def on_epoch_end(self, epoch, logs=None):
        value, loss = (logs or {}).get(self.objective), (logs or {}).get(self.loss, 0.0)
        if value is None or not np.isfinite(value):
            return
        key = (self.sign * float(value), float(loss))
        if self._best is None or key < self._best:
            self._best, self.epoch, self.weights = key, epoch + 1, self.model.get_weights()

    def settled(self, summary: dict) -> bool:
        """Whether the weights kept are those of the epoch the trial's summary scores it at (never expected otherwise:
        the same rule); else the final fit retrains."""
        return self.weights is not None and self.epoch == summary["best_epoch"]


class TargetUnits(keras.callbacks.Callback):
    """Regression trains on standardised targets; this puts each epoch's logged errors back into the
    target's own units (RMSE and MAE times its standard deviation, the squared-error losses times its
    square) before early stopping, the history, TensorBoard and the leaderboard read them, so every
    score a person sees is in the units of the test metrics. R² is unit-free."""

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def on_epoch_end(self, epoch, logs=None):
        for key in list(logs or {}):
            base = key.removeprefix("val_")
            if base in ("rmse", "mae"):
                logs[key] = float(logs[key]) * self.std
            elif base == "loss":
                logs[key] = float(logs[key]) * self.std**2


class BehindTheMedian(keras.callbacks.Callback):
    """Stops a trial by the median stopping rule (`behind_the_median`), against the learning curves of the
    search's finished trials; `stopped` is then (the epoch, the median it was behind)."""

    def __init__(self, monitor: str, finished: list[list[float]], higher_is_better: bool, minimum: int):
        super().__init__()
        self.monitor, self.finished, self.higher, self.minimum = monitor, finished, higher_is_better, minimum
        self.values: list[float] = []
        self.stopped: tuple[int, float] | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        self.values.append(np.nan if value is None else float(value))
        median = behind_the_median(self.values, self.finished, self.higher, self.minimum)
        if median is not None:
            self.stopped = (epoch + 1, median)
            self.model.stop_training = True
