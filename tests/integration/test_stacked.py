"""The folds of a tabular trial trained side by side (search/stacked.py) learn exactly what the Keras network that
TabularHyperModel builds learns alone: same weights in, same batches, same outputs and scores out."""
from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest

from autotune.search.hyperparameters import CLIP_NORM, scheduled_rate
from autotune.search.numpy_mlp import NumpyMLP
from autotune.search.space import TEXT_EMBEDDING, TEXT_FILTERS, TEXT_GRU, TabularHyperModel
from autotune.search.stacked import Copy, StackedMLP, train_side_by_side

ENGINES = pytest.mark.parametrize("engine", [StackedMLP, NumpyMLP], ids=["traced", "numpy"])


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


@ENGINES
@pytest.mark.parametrize("optimizer,schedule,regression,numbers,activation", [
    ("adam", "constant", False, "piecewise_linear", "tanh"), ("sgd", "step", False, "standardized", "gelu"),
    ("rmsprop", "exponential", True, "standardized", "selu"), ("adagrad", "constant", True, "piecewise_linear", "relu"),
    ("adam", "exponential", False, "standardized", "swish"), ("sgd", "constant", True, "piecewise_linear", "elu"),
    ("rmsprop", "step", False, "piecewise_linear", "sigmoid"), ("adamw", "step", True, "piecewise_linear", "gelu"),
    ("adamw", "constant", False, "standardized", "tanh")])
def test_a_copy_learns_what_the_keras_network_learns(engine, optimizer, schedule, regression, numbers, activation):
    """From the Keras network's initial weights, on the same batches, with the run's gradient clipping, L1/L2,
    batch norm and learning-rate schedule: the same validation curve and the same outputs after training."""
    x, y, x_val, y_val = wine(regression)
    ramps = [3, 4, 5] if numbers == "standardized" else []  # columns the network leaves out (KeepColumns)
    task = "regression" if regression else "classification"
    n_out = 1 if regression else 3
    hp = configuration(optimizer, schedule, numeric_encoding=numbers, activation=activation)
    # patience 2 (of the hypermodel; the loops below run all 12 epochs): 8 steps an epoch, so batch norm's moving
    # average is 0.9 (SearchHyperModel.batch_norm_momentum), not Keras's default, in both engines
    hypermodel = TabularHyperModel(x.shape[1], n_out, task, len(x), seed=0, patience=2)
    hypermodel.ramp_columns = ramps
    keras.utils.set_random_seed(0)
    network = hypermodel.build(hp)
    momentum = hypermodel.batch_norm_momentum(hp)
    assert momentum == 0.9 and [layer.momentum for layer in network.layers if "batch_norm" in layer.name] == [0.9] * 2
    keep = [i for i in range(x.shape[1]) if i not in ramps]
    copies = [Copy(x, y, x_val, y_val, keep=keep), Copy(x[::-1].copy(), y[::-1].copy(), x_val, y_val)]
    stacked = engine(hp, hypermodel.space, copies, n_out, regression, seed=0, category_dropout=0.0, momentum=momentum)
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
    got = outputs(stacked, np.stack([x_val, x_val]))[0]
    # float32 rounding differs between Keras's ops and ours: after 96 steps at a rate of 0.03 with Adam and batch
    # norm, a few probabilities drift apart by up to ~1.5e-3 (the gradients agree: test_numpy_gradients_are_tensorflows)
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=3e-3)
    # the second copy trained on its own rows (reversed): a curve of its own, not the first's
    assert not np.allclose(histories[1][monitor], histories[0][monitor])


@ENGINES
def test_the_searched_penalty_acts_on_the_linear_models_kernel(engine):
    """With 0 hidden layers the output layer's kernel is the network's only one, and the searched L1/L2 act on it, so
    the linear model the search draws with a penalty is ridge / L2-penalised logistic regression — in the Keras
    network and in both engines alike. (They acted on hidden layers' kernels only: a linear model drawn with l2 1e-3
    trained unpenalised, its figures the same to every digit as with 0; bench/README, "the portfolio's linear
    model".)"""
    x, y, x_val, y_val = wine(regression=True)
    norms = {}
    for l1, l2 in [(0.0, 0.0), (0.0, 0.3), (0.05, 0.0)]:
        hp = configuration("adam", "constant", layers=0, l1=l1, l2=l2, batch_norm=False)
        hypermodel = TabularHyperModel(x.shape[1], 1, "regression", len(x), seed=0, patience=2)
        keras.utils.set_random_seed(0)
        network = hypermodel.build(hp)
        assert len(network.losses) == (1 if l1 or l2 else 0)  # the output layer's kernel_regularizer
        copies = [Copy(x, y, x_val, y_val)]
        net = engine(hp, hypermodel.space, copies, 1, True, seed=0, category_dropout=0.0, momentum=0.9)
        net.set_copy(0, network)
        history = train_side_by_side(net, copies, optimizer="adam", learning_rate=3e-2, batch_size=16, epochs=12,
                                     patience=100, monitor="val_rmse", metrics=["rmse"], clip=CLIP_NORM, seed=0,
                                     shuffle=False)[0]
        keras_history = network.fit(x, y, batch_size=16, epochs=12, shuffle=False, verbose=0,
                                    validation_data=(x_val, y_val)).history
        np.testing.assert_allclose(history["val_loss"], keras_history["val_loss"], rtol=2e-3, atol=2e-4)
        net.get_copy(0, network)
        kernel = np.asarray(network.get_layer("value").kernel)
        norms[l1, l2] = (np.abs(kernel).sum(), np.square(kernel).sum())
    assert norms[0.0, 0.3][1] < 0.8 * norms[0.0, 0.0][1]  # L2 shrinks the weights' squares
    assert norms[0.05, 0.0][0] < 0.8 * norms[0.0, 0.0][0]  # L1 their absolute values


def outputs(net, x: np.ndarray) -> np.ndarray:
    """The network's outputs (no training) for (copies, rows, width) features, from either engine."""
    if isinstance(net, NumpyMLP):
        return net.forward(x, training=False)[0]
    import tensorflow as tf

    return net(tf.constant(x), training=False).numpy()


@ENGINES
def test_narrower_copy_is_padded_masked_and_unaffected_by_its_neighbour(engine):
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
        stacked = engine(hp, hypermodel.space, copies, 3, False, seed=0, category_dropout=0.0)
        stacked.set_copy(len(copies) - 1, narrow)
        results.append(train_side_by_side(stacked, copies, optimizer="adam", learning_rate=3e-2,
                                          batch_size=16, epochs=6, patience=100, monitor="val_log_loss",
                                          metrics=["accuracy"], clip=CLIP_NORM, seed=0, shuffle=False)[-1])
    np.testing.assert_allclose(results[0]["val_log_loss"], results[1]["val_log_loss"], rtol=1e-4, atol=1e-6)
    assert results[0]["val_accuracy"][-1] > 0.8


@ENGINES
def test_category_dropout_moves_rows_to_each_copys_own_slots(engine):
    """Training only: a block's rows land on its unseen/missing slots, each copy's blocks where its encoding has them."""
    hp = configuration("adam", "constant", layers=0)
    rows = np.zeros((200, 6), np.float32)
    rows[:, 1] = rows[:, 4] = 1.0  # a category that is neither slot
    copies = [Copy(rows, np.zeros(200, np.int32), rows, np.zeros(200, np.int32), blocks=[[0, 3, [0]]]),
              Copy(rows, np.zeros(200, np.int32), rows, np.zeros(200, np.int32), blocks=[[3, 3, [0, 2]]])]
    stacked = engine(hp, TabularHyperModel(6, 2, "classification", 200, seed=0).space, copies, 2, False, seed=0,
                     category_dropout=0.5)
    both = np.stack([rows, rows])
    if engine is NumpyMLP:
        out = stacked._category_dropout(both)
    else:
        import tensorflow as tf

        out = stacked._category_dropout(tf.constant(both)).numpy()
    first, second = out[0], out[1]
    moved = first[:, 0] == 1
    assert 40 < moved.sum() < 160 and np.all(first[moved, 1] == 0) and np.array_equal(first[:, 3:], rows[:, 3:])
    moved = second[:, 4] == 0
    assert 40 < moved.sum() < 160 and np.all(second[moved, 5] + second[moved, 3] == 1)
    assert np.array_equal(second[:, :3], rows[:, :3])


@pytest.mark.parametrize("activation,batch_norm,regression,weighted", [
    ("relu", True, False, True), ("tanh", False, False, False), ("gelu", True, True, False),
    ("selu", False, True, False), ("sigmoid", True, False, False), ("elu", False, False, True),
    ("swish", True, False, False)])
def test_numpy_gradients_are_tensorflows(activation, batch_norm, regression, weighted):
    """The hand-written backward pass of numpy_mlp.py against TensorFlow's autodiff of the same network (stacked.py,
    the same initial weights from the same seed): every weight's gradient of a narrower copy (masked columns), with
    L1/L2, class weights, batch norm's batch statistics."""
    import tensorflow as tf

    from autotune.search.stacked import EPSILON

    x, y, _, _ = wine(regression)
    hp = configuration("adam", "constant", activation=activation, batch_norm=batch_norm, layers=3)
    n_out = 1 if regression else 3
    space = TabularHyperModel(x.shape[1], n_out, "classification", len(x), seed=0).space
    copies = [Copy(x[:40], y[:40], x[:1], y[:1]), Copy(x[40:80, :-2], y[40:80], x[:1, :-2], y[:1])]
    traced, numpy = (engine(hp, space, copies, n_out, regression, seed=3, category_dropout=0.0)
                     for engine in (StackedMLP, NumpyMLP))
    xb = np.stack([x[:40], np.pad(x[40:80, :-2], ((0, 0), (0, 2)))])
    yb = np.stack([y[:40], y[40:80]])
    weights = np.array([1.0, 2.5, 0.5], np.float32) if weighted else None
    grads, out, per_row, losses = numpy.gradients(xb, yb, weights)
    with tf.GradientTape() as tape:
        p = traced(tf.constant(xb), training=True)
        if regression:
            rows = tf.square(p[..., 0] - yb)
        else:
            rows = -tf.math.log(tf.clip_by_value(tf.gather(p, yb.astype(np.int32), batch_dims=2), EPSILON, 1 - EPSILON))
        if weights is not None:
            rows = rows * tf.gather(weights, yb.astype(np.int32))
        expected_losses = tf.reduce_mean(rows, axis=1) + traced.penalty()
        total = tf.reduce_sum(expected_losses)
    expected = tape.gradient(total, traced.trainable)
    assert len(grads) == len(expected) == 4 + 4 + 2 * 3 * batch_norm
    np.testing.assert_allclose(out, p.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses, expected_losses.numpy(), rtol=1e-4)
    for got, want in zip(grads, expected, strict=True):
        np.testing.assert_allclose(got, want.numpy(), rtol=2e-3, atol=2e-6)
    assert np.all(grads[0][1, -2:] == 0)  # the narrower copy's padded columns learn nothing


def test_batch_norm_on_a_small_table_learns_with_the_patiences_moving_average():
    """data/breast_cancer.csv as a run encodes it (364 training rows, 510 columns with the numbers' ramps) at 128 a
    batch is 3 steps an epoch: at Keras's 0.99 the moving statistics that validation sees are still near their start
    when early stopping (patience 8) gives up — the portfolio's batch-normalised candidates stopped at 0.71-1.96 log
    loss there — while the average over half the patience's steps, 1 - 1/(3 x 4), learns (0.03)."""
    from conftest import DATA

    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.modality import modality_of

    config = FitConfig.of(DATA / "breast_cancer.csv", target="target", seed=0, test_size=0.2)
    run = modality_of(config).load(config, Reporter()).run
    run.prepare()
    a = run.arrays
    hp = configuration("adam", "step", layers=3, units=256, activation="gelu", dropout=0.3, l1=0.0, l2=1e-5,
                       learning_rate=3e-3, batch_size=128)
    hypermodel = run.hypermodel(1, 8)
    hypermodel.build(hp)
    momentum = hypermodel.batch_norm_momentum(hp)
    assert momentum == pytest.approx(1 - 1 / 12)

    def best_validation_loss(momentum: float) -> float:
        copies = [Copy(a["x_train"], a["y_train"], a["x_val"], a["y_val"])]
        net = NumpyMLP(hp, hypermodel.space, copies, 2, False, seed=0, category_dropout=0.0, momentum=momentum)
        history = train_side_by_side(net, copies, optimizer="adam", learning_rate=3e-3, batch_size=128, epochs=60,
                                     patience=8, monitor="val_loss", metrics=[], clip=CLIP_NORM, seed=0,
                                     rate=lambda e: scheduled_rate("step", 3e-3, e))[0]
        return min(history["val_loss"])

    assert best_validation_loss(momentum) < 0.2 < 0.5 < best_validation_loss(0.99)


def test_a_text_columns_word_ids_are_read_by_its_sequence_encoder_only():
    """The encoded matrix ends with each text column's word ids (encode.sequence_blocks). A configuration without a
    sequence encoder (text_encoder "tfidf") trains in the stacked loop and its network, Keras's and the stacked copy
    alike, leaves those columns out (ids of a few hundred as inputs of a dense layer would swamp it); one with a
    sequence encoder reads them through an embedding and trains in Keras's fit, which the stacked loop leaves to it."""
    x, y, x_val, y_val = wine()
    rng = np.random.default_rng(0)
    ids = np.where(rng.random((len(x), 6)) < 0.8, rng.integers(2, 40, (len(x), 6)), 0).astype(np.float32)
    x_ids = np.concatenate([x, ids], axis=1)
    hypermodel = TabularHyperModel(x_ids.shape[1], 3, "classification", len(x), seed=0, patience=2)
    hypermodel.sequence_blocks = [[x.shape[1], 6, 40]]
    tfidf = configuration("adam", "constant", text_encoder="tfidf")
    network = hypermodel.build(tfidf)
    assert network.get_layer("dense_0").kernel.shape[0] == x.shape[1]
    assert hypermodel.stacks_for(tfidf)
    copy = hypermodel._copy(tfidf, x_ids, y, x_val, y_val, 1.0, [], [], hypermodel.sequence_blocks)
    assert copy.keep == list(range(x.shape[1]))

    for encoder, layer in [("embedding", "mean_words_0"), ("conv1d", "conv_0"), ("bigru", "bigru_0")]:
        hp = configuration("adam", "constant", text_encoder=encoder, batch_norm=False)
        keras.utils.set_random_seed(0)
        network = hypermodel.build(hp)
        assert not hypermodel.stacks_for(hp) and network.get_layer(layer) is not None
        width = {"embedding": TEXT_EMBEDDING, "conv1d": TEXT_FILTERS, "bigru": 2 * TEXT_GRU}[encoder]  # 64 each
        assert network.get_layer("dense_0").kernel.shape[0] == x.shape[1] + width
        history = hypermodel.train_alone(hp, network, x_ids, y, epochs=3, seed=0)
        assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]


def test_the_final_fits_members_train_side_by_side_as_each_would_alone():
    """Issue 18: the final fit's members that train in the traced loop (large data) train in threads at once — one
    network's TensorFlow loop leaves a core idle — and each comes out as it would alone: the same weights and
    histories with 1 thread or 2. A configuration whose loss diverges from both seeds gives way to the next one, as
    one by one. NumPy's loop (small data) trains its members one by one."""
    from autotune.train import train_final

    x, y, _, _ = wine()
    hypermodel = TabularHyperModel(x.shape[1], 3, "classification", len(x), seed=0, patience=2)
    hypermodel.numpy_loop = False  # the traced loop, as on 1,000,000 rows (numpy_mlp.fits_numpy)
    candidates = [(configuration("sgd", "constant", learning_rate=1e30, batch_norm=False), 3),  # diverges
                  (configuration("adam", "constant"), 3), (configuration("rmsprop", "step", layers=1), 4),
                  (configuration("sgd", "exponential", activation="relu", dropout=0.2), 2)]

    def final(threads: int):
        return train_final(hypermodel, candidates, x, y, 0, lambda networks, members: networks[0], members=3,
                           threads=threads)

    alone, beside = final(1), final(2)
    assert alone.threads == 1 and beside.threads == 2
    assert [m["rank"] for m in alone.members] == [m["rank"] for m in beside.members] == [1, 2, 3]
    assert alone.members == beside.members
    for one, other in zip(alone.networks, beside.networks, strict=True):
        assert one.name == other.name
        for a, b in zip(one.get_weights(), other.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert alone.history == beside.history and np.isfinite(alone.history["loss"]).all()

    hypermodel.numpy_loop = True
    assert final(2).threads == 1


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_both_engines_update_rules_are_keras_optimizers(name):
    """stacked.Optimizer and numpy_mlp's _Update against Keras's own Adam / AdamW (make_optimizer's, at WEIGHT_DECAY),
    step by step on the same gradients: large weights, so AdamW's decoupled decay (rate x decay x weight, before
    Adam's step) moves them well beyond float32 rounding — a rule that left it out, or applied it after the step,
    fails here."""
    import tensorflow as tf

    from autotune.search.hyperparameters import WEIGHT_DECAY
    from autotune.search.numpy_mlp import Array, _Update
    from autotune.search.stacked import Optimizer

    rng = np.random.default_rng(0)
    start = [rng.normal(0, 100, (3, 4)).astype(np.float32), rng.normal(0, 100, (5,)).astype(np.float32)]
    steps = [[rng.normal(0, 1, w.shape).astype(np.float32) for w in start] for _ in range(6)]
    rate = 0.1
    keras_vars = [keras.Variable(w) for w in start]
    reference = (keras.optimizers.AdamW(rate, weight_decay=WEIGHT_DECAY) if name == "adamw"
                 else keras.optimizers.Adam(rate))
    traced_vars = [tf.Variable(w) for w in start]
    traced = Optimizer(name, rate, traced_vars)
    numpy_vars = [Array(w) for w in start]
    numpy = _Update(name, numpy_vars)
    for grads in steps:
        reference.apply_gradients(zip([tf.constant(g) for g in grads], keras_vars, strict=True))
        traced.apply([tf.constant(g) for g in grads])
        numpy.apply(grads, rate)
    for want, a, b in zip(keras_vars, traced_vars, numpy_vars, strict=True):
        np.testing.assert_allclose(a.numpy(), want.numpy(), rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(b.numpy(), want.numpy(), rtol=1e-6, atol=1e-5)
    decayed = [w0 * (1 - rate * WEIGHT_DECAY) ** len(steps) for w0 in start]  # what the decay alone moves
    moved = max(float(np.abs(d - w0).max()) for d, w0 in zip(decayed, start, strict=True))
    assert moved > 1e-3  # the decay's share of the 6 steps, 100x the tolerance
