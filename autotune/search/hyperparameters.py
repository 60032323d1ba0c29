"""A trial's hyperparameters drawn from the recipe's space, and the optimizer and learning-rate schedule
they make."""
from __future__ import annotations

import keras
import keras_tuner as kt

CLIP_NORM = 5.0


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


def learning_rate(hp: kt.HyperParameters, space: dict) -> float:
    """The trial's initial learning rate; its schedule (lr_schedule) is registered here too and applied
    per epoch by `schedule_callback`."""
    rate = choose(hp, space, "learning_rate")
    choose(hp, space, "lr_schedule")
    return rate


def scheduled_rate(schedule: str, rate: float, epoch: int) -> float:
    """The learning rate of a (0-based, cumulative) epoch. Counted in epochs, not optimizer steps, so
    "halve every 10 epochs" means that whatever the rows fed: the search's folds, the final fit on
    train + validation, a --sample, oversampled rows, a Hyperband trial continued from a checkpoint."""
    if schedule == "step":  # halve every 10 epochs
        return rate * 0.5 ** (epoch // 10)
    if schedule == "exponential":  # decay to ~0.36x over 20 epochs
        return rate * 0.95**epoch
    return rate


def epoch_rate(hp: kt.HyperParameters):
    """The trial's learning rate as a function of the (0-based) epoch, or None for a constant rate."""
    schedule, rate = hp.get("lr_schedule"), float(hp.get("learning_rate"))
    if schedule == "constant":
        return None
    return lambda epoch: scheduled_rate(schedule, rate, epoch)


def schedule_callback(hp: kt.HyperParameters) -> keras.callbacks.Callback | None:
    """Sets the optimizer's learning rate at the start of each epoch from the trial's schedule."""
    rate = epoch_rate(hp)
    return None if rate is None else keras.callbacks.LearningRateScheduler(lambda epoch, lr: rate(epoch))


def make_optimizer(hp: kt.HyperParameters, space: dict) -> keras.optimizers.Optimizer:
    """The trial's optimizer at its initial learning rate, drawn from the space, gradient norm clipped."""
    name = choose(hp, space, "optimizer")
    rate = learning_rate(hp, space)
    # Clipping the gradient norm keeps the bolder corners of the space (SGD at a high rate) from diverging.
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, global_clipnorm=CLIP_NORM)
    return {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
            "adagrad": keras.optimizers.Adagrad}[name](rate, global_clipnorm=CLIP_NORM)
