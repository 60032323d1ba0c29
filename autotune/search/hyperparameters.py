"""A trial's hyperparameters drawn from the recipe's space, and the optimizer and learning-rate schedule
they make."""
from __future__ import annotations

import math

import keras
import keras_tuner as kt

CLIP_NORM = 5.0
# AdamW's decoupled weight decay (a variable shrinks by rate x this a step, before Adam's update, as Keras's AdamW and
# PyTorch's): TabM's (Gorishniy et al. 2025) 3e-4, the value its recipe trained at 2e-3 with (bench/README, "TabM on
# the suite's splits"); stacked.py's and numpy_mlp.py's update rules apply the same.
WEIGHT_DECAY = 3e-4


def choose(hp: kt.HyperParameters, space: dict, name: str):
    """Register one hyperparameter from its recipe spec: {min, max} is an integer range, one value is
    fixed, several are choices."""
    spec = space[name]
    if isinstance(spec, dict):  # default: the lowest, but a network over the linear model (layers from 0)
        default = min(max(spec["min"], 1), spec["max"])
        return hp.Int(name, spec["min"], spec["max"], step=spec.get("step", 1), default=default)
    values = list(spec)
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    if name == "batch_norm" and set(values) == {False, True}:
        return hp.Boolean(name)
    return hp.Choice(name, values)


def learning_rate(hp: kt.HyperParameters, space: dict, horizon: int | None = None) -> float:
    """The trial's initial learning rate; its schedule (lr_schedule) is registered here too and applied
    per epoch by `schedule_callback`. A cosine schedule also fixes its length, lr_horizon: the epochs it anneals
    over (`horizon`, the run's epoch cap; a configuration that already has one keeps it)."""
    rate = choose(hp, space, "learning_rate")
    if choose(hp, space, "lr_schedule") == "cosine":
        with hp.conditional_scope("lr_schedule", ["cosine"]):
            hp.Fixed("lr_horizon", int(horizon or DEFAULT_HORIZON))
    return rate


# The epochs a cosine schedule anneals over where its hypermodel was given no cap (one made outside a search: tests,
# bench scripts): the tabular default, modality.TABULAR_EPOCHS
DEFAULT_HORIZON = 60


def scheduled_rate(schedule: str, rate: float, epoch: int, horizon: int | None = None) -> float:
    """The learning rate of a (0-based, cumulative) epoch. Counted in epochs, not optimizer steps, so
    "halve every 10 epochs" means that whatever the rows fed: the search's folds, the final fit on
    train + validation, a --sample, oversampled rows, a Hyperband trial continued from a checkpoint."""
    if schedule == "step":  # halve every 10 epochs
        return rate * 0.5 ** (epoch // 10)
    if schedule == "exponential":  # decay to ~0.36x over 20 epochs
        return rate * 0.95**epoch
    if schedule == "cosine":  # half a cosine from the rate down to 0 at the horizon (Loshchilov & Hutter 2017)
        horizon = horizon or DEFAULT_HORIZON
        return rate * 0.5 * (1.0 + math.cos(math.pi * min(epoch, horizon) / horizon))
    return rate


def epoch_rate(hp: kt.HyperParameters):
    """The trial's learning rate as a function of the (0-based) epoch, or None for a constant rate."""
    schedule, rate = hp.get("lr_schedule"), float(hp.get("learning_rate"))
    if schedule == "constant":
        return None
    horizon = hp.values.get("lr_horizon")
    return lambda epoch: scheduled_rate(schedule, rate, epoch, horizon)


def schedule_callback(hp: kt.HyperParameters) -> keras.callbacks.Callback | None:
    """Sets the optimizer's learning rate at the start of each epoch from the trial's schedule."""
    rate = epoch_rate(hp)
    return None if rate is None else keras.callbacks.LearningRateScheduler(lambda epoch, lr: rate(epoch))


def optimizer_choice(hp: kt.HyperParameters, space: dict, horizon: int | None = None) -> tuple[str, float]:
    """The trial's optimizer and initial learning rate (its schedule registered with it: learning_rate)."""
    return choose(hp, space, "optimizer"), learning_rate(hp, space, horizon)


def make_optimizer(hp: kt.HyperParameters, space: dict, horizon: int | None = None) -> keras.optimizers.Optimizer:
    """The trial's optimizer at its initial learning rate, drawn from the space, gradient norm clipped (`horizon`:
    learning_rate's)."""
    name, rate = optimizer_choice(hp, space, horizon)
    # Clipping the gradient norm keeps the bolder corners of the space (SGD at a high rate) from diverging.
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, global_clipnorm=CLIP_NORM)
    if name == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=WEIGHT_DECAY, global_clipnorm=CLIP_NORM)
    return {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
            "adagrad": keras.optimizers.Adagrad}[name](rate, global_clipnorm=CLIP_NORM)
