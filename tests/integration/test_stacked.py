"""The folds of a tabular trial trained side by side (search/stacked.py) learn exactly what the Keras network that
TabularHyperModel builds learns alone: same weights in, same batches, same outputs and scores out."""
from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest

from autotune.search.hyperparameters import CLIP_NORM, scheduled_rate
from autotune.search.space import TabularHyperModel
from autotune.search.stacked import Copy, StackedMLP, train_side_by_side


def wine(regression: bool = False):
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    if regression:  # predict the first column (standardised) from the others
        return x[:120, 1:], x[:120, 0].copy(), x[120:, 1:], x[120:, 0].copy()
    return x[:120], y[:120].astype(np.int32), x[120:], y[120:].astype(np.int32)


def configuration(optimizer: str, schedule: str, **fixed) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    values = {"optimizer": optimizer, "lr_schedule": schedule, "learning_rate": 3e-2, "layers": 2, "units": 32,
              "activation": "tanh", "batch_norm": True, "dropout": 0.0, "l1": 1e-4, "l2": 1e-3, "batch_size": 16,
              "numeric_encoding": "piecewise_linear", **fixed}
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


@pytest.mark.parametrize("optimizer,schedule,regression,numbers", [
    ("adam", "constant", False, "piecewise_linear"), ("sgd", "step", False, "standardized"),
    ("rmsprop", "exponential", True, "standardized"), ("adagrad", "constant", True, "piecewise_linear")])
def test_a_copy_learns_what_the_keras_network_learns(optimizer, schedule, regression, numbers):
    """From the Keras network's initial weights, on the same batches, with the run's gradient clipping, L1/L2,
    batch norm and learning-rate schedule: the same validation curve and the same outputs after training."""
    x, y, x_val, y_val = wine(regression)
    ramps = [3, 4, 5] if numbers == "standardized" else []  # columns the network leaves out (KeepColumns)
    task = "regression" if regression else "classification"
    n_out = 1 if regression else 3
    hp = configuration(optimizer, schedule, numeric_encoding=numbers)
    hypermodel = TabularHyperModel(x.shape[1], n_out, task, len(x), seed=0, patience=100)
    hypermodel.ramp_columns = ramps
    keras.utils.set_random_seed(0)
    network = hypermodel.build(hp)
    keep = [i for i in range(x.shape[1]) if i not in ramps]
    copies = [Copy(x, y, x_val, y_val, keep=keep), Copy(x[::-1].copy(), y[::-1].copy(), x_val, y_val)]
    stacked = StackedMLP(hp, hypermodel.space, copies, n_out, regression, seed=0, category_dropout=0.0)
    stacked.set_copy(0, network, keep)
    rate = None if schedule == "constant" else (lambda e: scheduled_rate(schedule, 3e-2, e))
    monitor = "val_rmse" if regression else "val_log_loss"
    histories = train_side_by_side(stacked, copies, optimizer=optimizer, learning_rate=3e-2, batch_size=16,
                                   epochs=12, patience=100, monitor=monitor, metrics=[monitor[4:]], clip=CLIP_NORM,
                                   seed=0, shuffle=False, rate=rate)
    callbacks = [keras.callbacks.LearningRateScheduler(lambda e, lr: rate(e))] if rate else []
    keras_history = network.fit(x, y, batch_size=16, epochs=12, shuffle=False, verbose=0, callbacks=callbacks,
                                validation_data=(x_val, y_val)).history
    np.testing.assert_allclose(histories[0][monitor], keras_history[monitor], rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(histories[0]["val_loss"], keras_history["val_loss"], rtol=2e-3, atol=2e-4)
    expected = network.predict(x_val, verbose=0)
    import tensorflow as tf

    got = stacked(tf.constant(np.stack([x_val, x_val])), training=False).numpy()[0]
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-4)
    # the second copy trained on its own rows (reversed): a curve of its own, not the first's
    assert not np.allclose(histories[1][monitor], histories[0][monitor])


def test_narrower_copy_is_padded_masked_and_unaffected_by_its_neighbour():
    """A fold whose encoding is narrower trains, padded and masked, exactly as it would alone."""
    x, y, x_val, y_val = wine()
    hp = configuration("adam", "constant", batch_norm=False)
    hypermodel = TabularHyperModel(x.shape[1] - 3, 3, "classification", len(x), seed=0)
    keras.utils.set_random_seed(1)
    narrow = hypermodel.build(hp)
    alone = Copy(x[:, :-3], y, x_val[:, :-3], y_val)
    pair = [Copy(x, y, x_val, y_val), alone]
    results = []
    for copies in (pair, [alone]):
        stacked = StackedMLP(hp, hypermodel.space, copies, 3, False, seed=0, category_dropout=0.0)
        stacked.set_copy(len(copies) - 1, narrow)
        results.append(train_side_by_side(stacked, copies, optimizer="adam", learning_rate=3e-2,
                                          batch_size=16, epochs=6, patience=100, monitor="val_log_loss",
                                          metrics=["accuracy"], clip=CLIP_NORM, seed=0, shuffle=False)[-1])
    np.testing.assert_allclose(results[0]["val_log_loss"], results[1]["val_log_loss"], rtol=1e-4, atol=1e-6)
    assert results[0]["val_accuracy"][-1] > 0.8


def test_category_dropout_moves_rows_to_each_copys_own_slots():
    """Training only: a block's rows land on its unseen/missing slots, each copy's blocks where its encoding has them."""
    import tensorflow as tf

    hp = configuration("adam", "constant", layers=0)
    rows = np.zeros((200, 6), np.float32)
    rows[:, 1] = rows[:, 4] = 1.0  # a category that is neither slot
    copies = [Copy(rows, np.zeros(200, np.int32), rows, np.zeros(200, np.int32), blocks=[[0, 3, [0]]]),
              Copy(rows, np.zeros(200, np.int32), rows, np.zeros(200, np.int32), blocks=[[3, 3, [0, 2]]])]
    stacked = StackedMLP(hp, TabularHyperModel(6, 2, "classification", 200, seed=0).space, copies, 2, False, seed=0,
                         category_dropout=0.5)
    out = stacked._category_dropout(tf.constant(np.stack([rows, rows]))).numpy()
    first, second = out[0], out[1]
    moved = first[:, 0] == 1
    assert 40 < moved.sum() < 160 and np.all(first[moved, 1] == 0) and np.array_equal(first[:, 3:], rows[:, 3:])
    moved = second[:, 4] == 0
    assert 40 < moved.sum() < 160 and np.all(second[moved, 5] + second[moved, 3] == 1)
    assert np.array_equal(second[:, :3], rows[:, :3])
