"""The search's time budget: the error that ends a search with no room for another trial, the callback
that cuts the running trial at the deadline, and the time kept back for what follows the search."""
from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import keras_tuner as kt
import numpy as np


class BudgetExhausted(kt.errors.FatalError):
    """Raised before a trial that the time budget has no room for; ends tuner.search() cleanly."""


class Deadline(keras.callbacks.Callback):
    """Stops the running trial once the time budget is spent; its epochs so far still count."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline

    def on_train_batch_end(self, batch, logs=None):
        if time.time() > self.deadline:
            self.model.stop_training = True

    on_epoch_end = on_train_batch_end


@dataclass(frozen=True)
class Reserve:
    """The seconds a run needs after its search (the final fit of each ensemble member, --cv's networks,
    evaluation, baseline, export), kept out of --time-budget so that the budget covers the whole run.
    Estimated before the search from a timed default configuration trained for --epochs; once trials
    have run, from the epoch counts they measured (what the final fit retrains for)."""

    network_setup: float  # seconds to build and trace one network
    epoch: float  # seconds per epoch of one network on the rows of one search fold
    rows_ratio: float  # rows the final fit trains on / rows of one search fold
    networks: int  # networks trained after the search
    epochs: int  # --epochs: the most each of them trains for
    after: float  # evaluation, baseline and export

    def seconds(self, best_epochs: list[float] | None = None) -> float:
        epochs = min(self.epochs, max(1.0, float(np.mean(best_epochs)))) if best_epochs else self.epochs
        return self.networks * (self.network_setup + epochs * self.epoch * self.rows_ratio) + self.after
