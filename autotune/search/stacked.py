"""The folds of a cross-validated tabular trial trained side by side: one MLP per fold, as tensors with a leading
axis of K copies, in one graph.

Keras's `fit` pays, per model, a build, a trace and a compile, and per epoch an iterator, a validation pass and its
callbacks; on a few hundred rows that overhead, not arithmetic, is the trial (issue 18: ~35 ms per epoch for ~1 ms of
steps, ~2.4 s to trace three networks of one configuration). Here the K networks of one trial are one network
whose every weight has a leading axis of K (the trick TabM uses for its members): one trace per trial, each epoch a
loop of steps inside the graph, each copy stepping on a batch of its own fold's rows (in its own fold's encoding),
its gradient norm clipped on its own, so each learns exactly as `TabularHyperModel.network` would alone — the
parity test trains both from the same weights and compares. Validation outputs come back once per epoch and are
scored here into the histories Keras would have written (`loss`, `val_loss`, `val_<metric>`, in the target's units),
Keras's early stopping applied to each copy on its own.

A fold's encoding may be narrower than another's (a category one fold never saw): its columns are padded with
zeros to the widest and masked out of the first layer, as are the ramps when the numbers are standardized
(`KeepColumns` in the Keras network), so masked weights get no gradient and no penalty.

On a CPU the same network trains in NumPy instead (numpy_mlp.NumpyMLP, a subclass with NumPy arrays for weights
and its gradients written out): nothing to trace. This traced loop serves a GPU and batches beyond the sizes
bench/numpy_loop.py measured.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import keras
import keras_tuner as kt
import numpy as np

from autotune.modality import weight_vector
from autotune.search.data import aligned_empty, rows_tensor
from autotune.search.hyperparameters import WEIGHT_DECAY

EPSILON = 1e-7  # Keras's clipping of probabilities in its cross-entropy
BN_MOMENTUM, BN_EPSILON = 0.99, 1e-3  # keras.layers.BatchNormalization's defaults (the momentum: unless given)


@dataclass
class Copy:
    """The rows one copy trains and is scored on, encoded for it, and what its network reads of them."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    target_std: float = 1.0  # regression: scores are reported in the target's units
    keep: list[int] | None = None  # the columns its network reads (None: all)
    blocks: list = field(default_factory=list)  # encode.category_slots: its CategoryDropout blocks

    @property
    def width(self) -> int:
        return int(self.x_train.shape[1])


class StackedMLP:
    """K copies of the MLP `TabularHyperModel.network` builds from `hp`, each weight with a leading axis of K."""

    def __init__(self, hp: kt.HyperParameters, space: dict, copies: list[Copy], n_outputs: int, regression: bool,
                 seed: int, category_dropout: float, momentum: float = BN_MOMENTUM):
        from autotune.search.hyperparameters import choose

        self.k, self.width = len(copies), max(c.width for c in copies)
        self.depth, units = choose(hp, space, "layers"), choose(hp, space, "units")
        self.activation_name = choose(hp, space, "activation")
        self.activation = keras.activations.get(self.activation_name)
        self.dropout, self.l1, self.l2 = choose(hp, space, "dropout"), choose(hp, space, "l1"), choose(hp, space, "l2")
        self.batch_norm = choose(hp, space, "batch_norm")
        self.momentum = momentum  # batch norm's moving average (SearchHyperModel.batch_norm_momentum)
        self.regression, self.rate = regression, category_dropout
        self.blocks = [c.blocks for c in copies]
        self._blocks_as_tensors()
        keep = np.zeros((self.k, self.width, 1), np.float32)
        for i, c in enumerate(copies):
            keep[i, c.keep if c.keep is not None else np.arange(c.width)] = 1.0
        self.keep = self._constant(keep)
        rng = np.random.default_rng(seed)
        sizes = [self.width] + [units] * self.depth + [n_outputs]
        self.kernels, self.biases, self.gammas, self.betas, self.means, self.variances = [], [], [], [], [], []
        for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
            fans = keep.sum(axis=1)[:, 0] if i == 0 else np.full(self.k, fan_in)  # as Keras's glorot sees its input
            limits = np.sqrt(6.0 / (fans + fan_out))[:, None, None]
            kernel = rng.uniform(-1, 1, (self.k, fan_in, fan_out)).astype(np.float32) * limits.astype(np.float32)
            self.kernels.append(self._variable(kernel))
            self.biases.append(self._variable(np.zeros((self.k, fan_out), np.float32)))
            if self.batch_norm and i < self.depth:
                self.gammas.append(self._variable(np.ones((self.k, fan_out), np.float32)))
                self.betas.append(self._variable(np.zeros((self.k, fan_out), np.float32)))
                self.means.append(self._variable(np.zeros((self.k, 1, fan_out), np.float32), trainable=False))
                self.variances.append(self._variable(np.ones((self.k, 1, fan_out), np.float32), trainable=False))
        self.trainable = [*self.kernels, *self.biases, *self.gammas, *self.betas]
        self.random = self._generator(seed)

    @staticmethod
    def _variable(value: np.ndarray, trainable: bool = True):
        import tensorflow as tf

        return tf.Variable(value, trainable=trainable)

    @staticmethod
    def _constant(value: np.ndarray):
        import tensorflow as tf

        return tf.constant(value)

    @staticmethod
    def _generator(seed: int):
        import tensorflow as tf

        return tf.random.Generator.from_seed(seed)

    def kernel(self, i: int):
        return self.kernels[i] * self.keep if i == 0 else self.kernels[i]

    def class_weights(self, class_weight: dict | None) -> np.ndarray | None:
        """Each class's weight in the loss (class index -> weight; 1 where not given), or None: unweighted."""
        if not class_weight or self.regression:
            return None
        return weight_vector(class_weight, self.kernels[-1].shape[-1]).astype(np.float32)

    def functions(self, copies: list[Copy], optimizer: str, learning_rate: float, batch_size: int, clip: float,
                  class_weight: dict | None):
        """The traced training loop, the traced prediction and the learning-rate variable (_functions)."""
        return _functions(self, copies, optimizer, learning_rate, batch_size, clip, class_weight)

    def __call__(self, x, training: bool):
        """(K, rows, width) features -> (K, rows, outputs): probabilities, or standardized values."""
        import tensorflow as tf

        if training and self.rate > 0 and self.block_present.any():
            x = self._category_dropout(x)
        h = x
        for i in range(self.depth):
            h = tf.einsum("kbi,kio->kbo", h, self.kernel(i)) + self.biases[i][:, None, :]
            if self.batch_norm:
                h = self._normalize(i, h, training)
            h = self.activation(h)
            if training and self.dropout:
                h = h * tf.cast(self.random.uniform(tf.shape(h)) >= self.dropout, h.dtype) / (1 - self.dropout)
        out = tf.einsum("kbi,kio->kbo", h, self.kernel(self.depth)) + self.biases[self.depth][:, None, :]
        return out if self.regression else tf.nn.softmax(out, axis=-1)

    def _normalize(self, i: int, h, training: bool):
        import tensorflow as tf

        mean, variance = self.means[i], self.variances[i]
        if training:
            mean, variance = tf.nn.moments(h, axes=[1], keepdims=True)
            self.means[i].assign(self.means[i] * self.momentum + mean * (1 - self.momentum))
            self.variances[i].assign(self.variances[i] * self.momentum + variance * (1 - self.momentum))
        return (h - mean) * tf.math.rsqrt(variance + BN_EPSILON) * self.gammas[i][:, None, :] + self.betas[i][:, None, :]

    def _blocks_as_tensors(self) -> None:
        """Each copy's one-hot blocks (encode.category_slots) as arrays over (copy, block): the columns each covers,
        its slots' columns and their count, and whether the copy has that block at all."""
        n = max((len(b) for b in self.blocks), default=0)
        slots = max((len(s) for blocks in self.blocks for _, _, s in blocks), default=1)
        self.block_columns = np.zeros((self.k, n, self.width), np.float32)
        self.slot_columns = np.zeros((self.k, n, slots), np.int32)
        self.slot_counts = np.ones((self.k, n), np.int32)
        self.block_present = np.zeros((self.k, n), np.float32)
        for i, blocks in enumerate(self.blocks):
            for j, (start, width, offsets) in enumerate(blocks):
                self.block_columns[i, j, start:start + width] = 1.0
                self.slot_columns[i, j, :len(offsets)] = [start + o for o in offsets]
                self.slot_counts[i, j], self.block_present[i, j] = len(offsets), 1.0

    def _category_dropout(self, x):
        """layers.CategoryDropout on each copy's own blocks, all blocks of all copies in one set of operations: in
        each block, a `rate` of the rows is moved to one of its slots, drawn uniformly."""
        import tensorflow as tf

        k, n, slots = self.slot_columns.shape
        rows = tf.shape(x)[1]
        hit = tf.cast(self.random.uniform([k, rows, n]) < self.rate, tf.float32) * self.block_present[:, None, :]
        counts = tf.constant(self.slot_counts[:, None, :])
        pick = tf.minimum(tf.cast(tf.floor(self.random.uniform([k, rows, n]) * tf.cast(counts, tf.float32)),
                                  tf.int32), counts - 1)
        column = tf.reduce_sum(tf.one_hot(pick, slots, dtype=tf.int32) * self.slot_columns[:, None], axis=-1)
        moved = tf.one_hot(column, self.width) * hit[..., None]  # (copies, rows, blocks, columns)
        keep = 1.0 - tf.reduce_sum(hit[..., None] * self.block_columns[:, None], axis=2)
        return x * keep + tf.reduce_sum(moved, axis=2)

    @property
    def penalized_kernels(self) -> list[int]:
        """The kernels the L1/L2 act on, as the Keras network's kernel_regularizer: the hidden layers', or with none
        the output layer's, the only one (the linear model: ridge / L2-penalised logistic regression)."""
        return list(range(self.depth)) if self.depth else [0]

    def penalty(self):
        """Each copy's L1/L2 penalty on its penalized kernels."""
        import tensorflow as tf

        total = tf.zeros(self.k)
        for i in self.penalized_kernels:
            w = self.kernel(i)
            if self.l1:
                total += self.l1 * tf.reduce_sum(tf.abs(w), axis=[1, 2])
            if self.l2:
                total += self.l2 * tf.reduce_sum(tf.square(w), axis=[1, 2])
        return total

    def set_copy(self, k: int, network: keras.Model, keep: list[int] | None = None) -> None:
        """Copy k takes the weights of a Keras network `TabularHyperModel.network` built (the parity test)."""
        for i in range(self.depth + 1):
            kernel, bias = network.get_layer(f"dense_{i}" if i < self.depth else _head(network)).get_weights()
            full = np.zeros(self.kernels[i].shape[1:], np.float32)
            full[(keep if keep is not None else slice(len(kernel))) if i == 0 else slice(None)] = kernel
            self.kernels[i].assign(_put(self.kernels[i], k, full))
            self.biases[i].assign(_put(self.biases[i], k, bias))
            if self.batch_norm and i < self.depth:
                gamma, beta, mean, variance = network.get_layer(f"batch_norm_{i}").get_weights()
                for var, value in ((self.gammas[i], gamma), (self.betas[i], beta)):
                    var.assign(_put(var, k, value))
                for var, value in ((self.means[i], mean), (self.variances[i], variance)):
                    var.assign(_put(var, k, value[None]))


    def get_copy(self, k: int, network: keras.Model, keep: list[int] | None = None) -> None:
        """The Keras network takes copy k's weights (the final fit trains here, then exports the Keras network)."""
        self.state(k).into(network, keep)

    def state(self, k: int) -> CopyState:
        """Copy k's weights and batch-norm statistics as they are now, copied out (training goes on from them)."""
        def of(variables: list) -> list[np.ndarray]:
            return [np.array(v.numpy()[k]) for v in variables]

        return CopyState(of(self.kernels), of(self.biases), of(self.gammas), of(self.betas), of(self.means),
                         of(self.variances))


@dataclass
class CopyState:
    """One copy's weights taken out of a StackedMLP (StackedMLP.state): what its Keras network takes (`into`)."""

    kernels: list[np.ndarray]
    biases: list[np.ndarray]
    gammas: list[np.ndarray]
    betas: list[np.ndarray]
    means: list[np.ndarray]
    variances: list[np.ndarray]
    epoch: int | None = None  # 1-based: the epoch after which it was taken (BestCopies)

    def into(self, network: keras.Model, keep: list[int] | None = None) -> None:
        """The Keras network `TabularHyperModel.network` built for this copy's fold takes these weights; `keep`: the
        columns its first layer reads (Copy.keep)."""
        depth = len(self.kernels) - 1
        for i in range(depth + 1):
            kernel = self.kernels[i]
            if i == 0:
                kernel = kernel[keep] if keep is not None else kernel[:network.input_shape[-1]]
            layer = network.get_layer(f"dense_{i}" if i < depth else _head(network))
            layer.set_weights([kernel, self.biases[i]])
            if self.gammas and i < depth:
                network.get_layer(f"batch_norm_{i}").set_weights(
                    [np.asarray(v).reshape(-1) for v in
                     (self.gammas[i], self.betas[i], self.means[i], self.variances[i])])


class BestCopies:
    """Each copy's weights at its own best epoch as its early stopping judges it (the lowest `monitor`, the earlier
    epoch among equals) - keras.callbacks.EarlyStopping(restore_best_weights=True) for each copy: a kept
    cross-validated trial's fold networks (SearchHyperModel.kept_trials). `weights[i]`: copy i's CopyState, None until
    one epoch scored."""

    def __init__(self, k: int):
        self.weights: list[CopyState | None] = [None] * k
        self.trained: list[int] = [0] * k  # the epochs each copy trained (set after training)

    def settled(self, summary: dict) -> bool:
        """Whether every copy scored an epoch and trained past its best (as BestEpochWeights.settled: else the final fit
        retrains): a copy still improving at its last epoch (the epoch cap, a short --epochs or the deadline) is not as
        trained as a retrain on all rows would be."""
        return all(w is not None and w.epoch < n for w, n in zip(self.weights, self.trained, strict=True))

    def keep(self, i: int, epoch: int, net: StackedMLP) -> None:
        """Copy i has just improved at (0-based) `epoch`."""
        self.weights[i] = replace(net.state(i), epoch=epoch + 1)


def _head(network: keras.Model) -> str:
    return network.layers[-1].name


def _put(variable, k: int, value: np.ndarray) -> np.ndarray:
    whole = np.array(variable.numpy())
    whole[k] = value
    return whole


class Optimizer:
    """Keras's update rules (keras/src/optimizers: Adam, AdamW at WEIGHT_DECAY, SGD with Nesterov momentum 0.9 as
    make_optimizer asks, RMSprop, Adagrad; their default constants) over the stacked variables in plain TensorFlow
    ops: Keras's per-variable machinery costs ~30 ms of tracing per variable, most of a small trial's trace. The
    parity test trains against Keras's own optimizers."""

    def __init__(self, name: str, rate: float, variables: list):
        import tensorflow as tf

        self.name, self.variables = name, variables
        self.learning_rate = tf.Variable(rate, trainable=False, dtype=tf.float32)
        self.iterations = tf.Variable(0, trainable=False, dtype=tf.int64)
        count = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1, "adagrad": 1}[name]
        start = 0.1 if name == "adagrad" else 0.0  # Adagrad's initial_accumulator_value
        self.slots = [[tf.Variable(tf.fill(v.shape, start), trainable=False) for v in variables] for _ in range(count)]

    def apply(self, grads: list) -> None:
        import tensorflow as tf

        lr = self.learning_rate
        if self.name in ("adam", "adamw"):
            t = tf.cast(self.iterations + 1, tf.float32)
            alpha = lr * tf.sqrt(1 - tf.pow(0.999, t)) / (1 - tf.pow(0.9, t))
        for i, (g, var) in enumerate(zip(grads, self.variables, strict=True)):
            if self.name == "adamw":  # decoupled: before Adam's step, every trainable variable (Keras's AdamW)
                var.assign(var - var * WEIGHT_DECAY * lr)
            if self.name in ("adam", "adamw"):
                m, v = self.slots[0][i], self.slots[1][i]
                m.assign_add((g - m) * (1 - 0.9))
                v.assign_add((tf.square(g) - v) * (1 - 0.999))
                var.assign_sub(m * alpha / (tf.sqrt(v) + 1e-7))
            elif self.name == "sgd":
                m = self.slots[0][i]
                m.assign(m * 0.9 - g * lr)
                var.assign_add(m * 0.9 - g * lr)
            elif self.name == "rmsprop":
                v = self.slots[0][i]
                v.assign(0.9 * v + (1 - 0.9) * tf.square(g))
                var.assign_sub(lr * g / tf.sqrt(v + 1e-7))
            else:
                a = self.slots[0][i]
                a.assign_add(tf.square(g))
                var.assign_sub(lr * g / tf.sqrt(a + 1e-7))
        self.iterations.assign_add(1)


def clip_each(grads: list, clip: float) -> list:
    """Each copy's gradients scaled as Keras's global_clipnorm scales one network's: by clip / max(norm, clip)."""
    import tensorflow as tf

    squares = tf.add_n([tf.reduce_sum(tf.square(g), axis=list(range(1, len(g.shape)))) for g in grads])
    factor = clip / tf.maximum(tf.sqrt(squares), clip)
    return [g * tf.reshape(factor, [-1] + [1] * (len(g.shape) - 1)) for g in grads]


STEPS_PER_CALL = 512  # optimizer steps per call of the traced loop: a deadline is checked between calls
VALIDATION_ROWS = 8192  # validation rows per call of the traced prediction


class EarlyStopping:
    """keras.callbacks.EarlyStopping(monitor, patience) for each copy on its own: a copy stops once `monitor` has not
    improved for `patience` epochs (after the first); `improved(i, epoch)`, if given, is told of each improvement."""

    def __init__(self, k: int, monitor: str, patience: int, improved: Callable[[int, int], None] | None = None):
        self.monitor, self.patience, self.improved = monitor, patience, improved
        self.best, self.wait, self.running = [math.inf] * k, [0] * k, [True] * k

    def update(self, i: int, epoch: int, logs: dict) -> None:
        if self.monitor not in logs:  # no validation rows: no early stopping
            return
        if logs[self.monitor] < self.best[i]:
            self.best[i], self.wait[i] = logs[self.monitor], 0
            if self.improved is not None:
                self.improved(i, epoch)
        else:
            self.wait[i] += 1
            self.running[i] = not (self.wait[i] >= self.patience and epoch > 0)


def train_side_by_side(net: StackedMLP, copies: list[Copy], *, optimizer: str, learning_rate: float,
                       batch_size: int, epochs: int, patience: int, monitor: str, metrics: list[str], clip: float,
                       seed: int, class_weight: dict | None = None, rate: Callable[[int], float] | None = None,
                       deadline: float | None = None, shuffle: bool = True, timings: list | None = None,
                       validation_outputs: list[list] | None = None, best: BestCopies | None = None) -> list[dict]:
    """Train the copies together for up to `epochs` epochs; each stops on its own as Keras's EarlyStopping would
    (no improvement of `monitor` for `patience` epochs), and all stop at the deadline (checked every STEPS_PER_CALL
    steps) or when a loss diverges. Returns one Keras-style history per copy. `rate(epoch)` is the learning rate of
    each epoch (a schedule); shuffle=False: the rows in their order each epoch (the parity test's batches are
    Keras's); `timings`, if given, receives each epoch's seconds (the first traces the graph); `validation_outputs`,
    if given (one list per copy), each epoch's validation outputs of each copy, beside its history's entries; `best`, if
    given, keeps each copy's weights at its best epoch."""
    train, predict, lr = net.functions(copies, optimizer, learning_rate, batch_size, clip, class_weight)
    weights = net.class_weights(class_weight)
    x_val = _padded([c.x_val for c in copies], net.width)
    rows = max(len(c.x_train) for c in copies)
    rng = np.random.default_rng(seed)
    histories: list[dict] = [{} for _ in copies]
    stopping = EarlyStopping(net.k, monitor, patience, None if best is None else lambda i, e: best.keep(i, e, net))
    for e in range(epochs):
        began = time.perf_counter()
        lr.assign(rate(e) if rate is not None else learning_rate)
        index = np.stack([_order(rng, len(c.x_train), rows, shuffle) for c in copies]).astype(np.int32)
        totals, late = np.zeros((net.k, 4)), False
        for at in range(0, rows, STEPS_PER_CALL * batch_size):
            totals += np.asarray(train(index[:, at:at + STEPS_PER_CALL * batch_size]))
            late = deadline is not None and time.time() > deadline
            if late:
                break
        parts = [predict(x_val[:, at:at + VALIDATION_ROWS]) for at in range(0, max(x_val.shape[1], 1), VALIDATION_ROWS)]
        outputs = np.concatenate([np.asarray(out) for out, _ in parts], axis=1)
        penalties = np.asarray(parts[0][1])
        if timings is not None:
            timings.append(time.perf_counter() - began)
        diverged = False
        for i, c in enumerate(copies):
            if not stopping.running[i]:
                continue
            logs = _logs(totals[i], outputs[i, :len(c.y_val)], float(penalties[i]), c, metrics, net.regression,
                         weights)
            logs["learning_rate"] = float(lr.numpy())
            if validation_outputs is not None:
                validation_outputs[i].append(outputs[i, :len(c.y_val)].copy())
            for name, value in logs.items():
                histories[i].setdefault(name, []).append(value)
            diverged = diverged or not np.isfinite(logs["loss"])
            stopping.update(i, e, logs)
        if diverged or late or not any(stopping.running):
            break
    return histories


def _functions(net: StackedMLP, copies: list[Copy], optimizer: str, learning_rate: float, batch_size: int,
               clip: float, class_weight: dict | None):
    """The traced training loop (shuffled row positions per copy in, the sums an epoch's logs need out), the traced
    prediction (with each copy's L1/L2 penalty), and the learning-rate variable."""
    import tensorflow as tf

    weights = net.class_weights(class_weight)
    weights = None if weights is None else tf.constant(weights)
    # the rows themselves where TensorFlow can read them in place (the final fit's one copy: encode_parts aligned them)
    x_train = rows_tensor(_padded([c.x_train for c in copies], net.width))
    y_train = rows_tensor(_padded([c.y_train for c in copies]))
    opt = Optimizer(optimizer, learning_rate, net.trainable)

    def step(index):
        xb, yb = tf.gather(x_train, index, batch_dims=1), tf.gather(y_train, index, batch_dims=1)
        with tf.GradientTape() as tape:
            out = net(xb, training=True)
            if net.regression:
                per_row = tf.square(out[..., 0] - tf.cast(yb, tf.float32))
            else:
                per_row = -tf.math.log(tf.clip_by_value(
                    tf.gather(out, tf.cast(yb, tf.int32), batch_dims=2), EPSILON, 1 - EPSILON))
            weighted = per_row * tf.gather(weights, tf.cast(yb, tf.int32)) if weights is not None else per_row
            losses = tf.reduce_mean(weighted, axis=1) + net.penalty()
            total = tf.reduce_sum(losses)  # each copy's gradient is its own loss's: the copies share no weight
        opt.apply(clip_each(tape.gradient(total, net.trainable), clip))
        n = tf.cast(tf.shape(per_row)[1], tf.float32)
        right = tf.zeros(net.k) if net.regression else tf.reduce_sum(tf.cast(
            tf.equal(tf.argmax(out, axis=-1, output_type=tf.int32), tf.cast(yb, tf.int32)), tf.float32), axis=1)
        return tf.stack([losses * n, tf.reduce_sum(per_row, axis=1), right, tf.fill([net.k], n)], axis=1)

    # autograph=False: the loop is a tf.while_loop already, everything else is plain Python around TensorFlow ops,
    # and converting each function called costs ~0.1 s of the first trace
    @tf.function(input_signature=[tf.TensorSpec([net.k, None], tf.int32)], autograph=False)
    def train(index):
        steps = (tf.shape(index)[1] + batch_size - 1) // batch_size
        return tf.while_loop(lambda s, totals: s < steps,
                             lambda s, totals: (s + 1, totals + step(index[:, s * batch_size:(s + 1) * batch_size])),
                             (tf.constant(0), tf.zeros([net.k, 4])))[1]

    @tf.function(input_signature=[tf.TensorSpec([net.k, None, net.width], tf.float32)], autograph=False)
    def predict(x):
        return net(x, training=False), net.penalty()

    return train, predict, opt.learning_rate


def _padded(arrays: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """Per-copy arrays stacked along a new first axis, zero-padded to the longest (and, for features, the widest)."""
    if len(arrays) == 1 and (width is None or arrays[0].shape[1] == width):  # one copy: a view, not a copy
        return np.asarray(arrays[0], np.float32 if width is not None else None)[None]
    rows = max(len(a) for a in arrays)
    shape = (len(arrays), rows) + ((width,) if width is not None else arrays[0].shape[1:])
    out = aligned_empty(shape, np.float32 if width is not None else arrays[0].dtype)  # rows_tensor shares it
    out[...] = 0
    for i, a in enumerate(arrays):
        if width is not None:
            out[i, :len(a), :a.shape[1]] = a
        else:
            out[i, :len(a)] = a
    return out


def _order(rng: np.random.Generator, n: int, rows: int, shuffle: bool = True) -> np.ndarray:
    """A shuffled epoch of n rows, topped up with rows drawn at random to `rows` (folds differ by a row or so)."""
    order = rng.permutation(n) if shuffle else np.arange(n)
    return order if n == rows else np.concatenate([order, rng.integers(0, n, rows - n)])


def _logs(totals: np.ndarray, outputs: np.ndarray, penalty: float, copy: Copy, metrics: list[str],
          regression: bool, class_weights: np.ndarray | None = None) -> dict:
    """One epoch's logs of one copy, as Keras (with autotune's callbacks) would write them: val_loss counts the
    L1/L2 penalty, val_log_loss and val_rmse do not. With class weights (one per class) the validation losses weigh
    each row by its class's weight, as training does (SearchHyperModel.compile): val_loss as Keras's loss does,
    mean(w × loss), val_log_loss as its weighted metric, sum(w × loss) / sum(w); the other metrics are as named."""
    from autotune.evaluate.metrics import score

    total, data, right, n = (float(v) for v in totals)
    truth = copy.y_val
    if regression:
        scale = copy.target_std**2
        logs = {"loss": total / n * scale, "rmse": math.sqrt(data / n) * copy.target_std}
    else:
        logs = {"loss": total / n, "accuracy": right / n, "log_loss": data / n}
    if not len(truth):  # trained without validation rows (the final fit)
        return logs
    if regression:
        residual = outputs.reshape(-1).astype(np.float64) - truth
        logs |= {"val_loss": (float(np.mean(residual**2)) + penalty) * scale,
                 "val_rmse": math.sqrt(float(np.mean(residual**2))) * copy.target_std}
    else:
        chosen = np.clip(outputs[np.arange(len(truth)), truth.astype(int)], EPSILON, 1 - EPSILON)
        rows = -np.log(chosen.astype(np.float64))
        w = np.ones_like(rows) if class_weights is None else class_weights[truth.astype(int)].astype(np.float64)
        logs |= {"val_loss": float(np.mean(w * rows)) + penalty, "val_log_loss": float(np.sum(w * rows) / np.sum(w)),
                 "val_accuracy": float(np.mean(outputs.argmax(axis=1) == truth))}
    for metric in metrics:
        if f"val_{metric}" not in logs:
            value = score(metric, truth, outputs)
            if value is not None and metric in ("rmse", "mae") and regression:
                value *= copy.target_std
            logs[f"val_{metric}"] = np.nan if value is None else value
    return logs
