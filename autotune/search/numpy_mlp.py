"""The stacked MLP of stacked.py trained in NumPy, for small data: no graph to trace.

On a few hundred or thousand rows a trial is a few hundred optimizer steps on matrices of a few dozen rows; there
TensorFlow's trace and first execution of the training loop (~0.5-1 s a trial, issue 18) cost more than every step
after it. Here the same network — the same initial weights, forward pass, loss, L1/L2 penalty, batch norm, dropout,
CategoryDropout, per-copy gradient clipping and Keras's update rules — runs as NumPy with its gradients written out
by hand, from the first step. `NumpyMLP.functions` gives train_side_by_side the same two functions the traced loop
gives, so early stopping, schedules, deadlines and histories are stacked.py's own; the parity test
(tests/integration/test_stacked.py) trains both against Keras's `fit` from the same weights.

Which one trains a trial is `fits_numpy`: NumPy on a CPU, for every size bench/numpy_loop.py measured (on 2
cores NumPy took 0.12x the traced loop's time for 200 rows, still 0.78x for 10,000 rows x 760 columns x 256 units,
batch 256: a batch of up to MAX_CELLS numbers per copy and layer); the traced loop on a GPU and beyond that size.
Random draws (dropout, CategoryDropout) come from NumPy's generator, seeded as TensorFlow's is: the same seed gives
the same run, not the same draws as the traced loop.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from autotune.search.hyperparameters import WEIGHT_DECAY
from autotune.search.stacked import BN_EPSILON, EPSILON, StackedMLP

ACTIVATIONS = ("relu", "tanh", "sigmoid", "selu", "gelu", "elu", "swish")
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805  # keras.activations.selu's constants
MAX_CELLS = 1 << 18  # rows × width of a batch, per copy and layer, up to which NumPy was measured faster (bench)


def fits_numpy(device: str, activation: str, batch_size: int, widths: list[int]) -> bool:
    """Whether a network of these layer widths trains faster here than in the traced loop: on a CPU, up to the
    largest batch measured."""
    return device == "cpu" and activation in ACTIVATIONS and batch_size * max(widths) <= MAX_CELLS


class Array:
    """A NumPy array standing for a tf.Variable in StackedMLP's code: assign, numpy, shape."""

    def __init__(self, value: np.ndarray):
        self.value = np.array(value, np.float32)

    def assign(self, value) -> None:
        self.value = np.array(value, np.float32).reshape(self.value.shape)

    def numpy(self) -> np.ndarray:
        return self.value

    @property
    def shape(self) -> tuple:
        return self.value.shape


class NumpyMLP(StackedMLP):
    """StackedMLP's K copies with NumPy arrays for weights, trained by `functions`' train step."""

    @staticmethod
    def _variable(value: np.ndarray, trainable: bool = True):
        return Array(value)

    @staticmethod
    def _constant(value: np.ndarray):
        return np.asarray(value, np.float32)

    @staticmethod
    def _generator(seed: int):
        return np.random.default_rng(seed)

    def kernel(self, i: int):
        return self.kernels[i].value * self.keep if i == 0 else self.kernels[i].value

    def forward(self, x: np.ndarray, training: bool) -> tuple[np.ndarray, list]:
        """(K, rows, width) -> (K, rows, outputs), and what the backward pass needs of each layer."""
        if training and self.rate > 0 and self.block_present.any():
            x = self._category_dropout(x)
        h, cache = x, []
        for i in range(self.depth):
            z = np.matmul(h, self.kernel(i)) + self.biases[i].value[:, None, :]
            normed = None
            if self.batch_norm:
                z, normed = self._normalize_np(i, z, training)
            a = _activate(self.activation_name, z)
            mask = None
            if training and self.dropout:
                mask = (self.random.random(a.shape, np.float32) >= self.dropout).astype(np.float32) / np.float32(
                    1 - self.dropout)
            cache.append((h, z, a, normed, mask))
            h = a if mask is None else a * mask
        out = np.matmul(h, self.kernel(self.depth)) + self.biases[self.depth].value[:, None, :]
        cache.append((h, None, None, None, None))
        if self.regression:
            return out, cache
        out = np.exp(out - out.max(axis=-1, keepdims=True))
        return out / out.sum(axis=-1, keepdims=True), cache

    def _normalize_np(self, i: int, z: np.ndarray, training: bool):
        gamma, beta = self.gammas[i].value[:, None, :], self.betas[i].value[:, None, :]
        if not training:
            scale = 1 / np.sqrt(self.variances[i].value + np.float32(BN_EPSILON))
            return (z - self.means[i].value) * scale * gamma + beta, None
        mean = z.mean(axis=1, keepdims=True)
        variance = np.square(z - mean).mean(axis=1, keepdims=True)
        keep, take = np.float32(self.momentum), np.float32(1 - self.momentum)
        self.means[i].value = self.means[i].value * keep + mean * take
        self.variances[i].value = self.variances[i].value * keep + variance * take
        inverse = 1 / np.sqrt(variance + np.float32(BN_EPSILON))
        hat = (z - mean) * inverse
        return hat * gamma + beta, (hat, inverse)

    def backward(self, cache: list, d_out: np.ndarray) -> list[np.ndarray]:
        """Gradients of the summed losses for self.trainable's order (kernels, biases, gammas, betas), from the
        gradient at the last layer's output (before softmax's, which the loss folds in), penalty included."""
        kernels, biases, gammas, betas = [None] * (self.depth + 1), [None] * (self.depth + 1), [], []
        h = cache[-1][0]
        kernels[-1] = np.matmul(h.transpose(0, 2, 1), d_out)
        biases[-1] = d_out.sum(axis=1)
        d = np.matmul(d_out, self.kernel(self.depth).transpose(0, 2, 1))
        for i in reversed(range(self.depth)):
            h, z, a, normed, mask = cache[i]
            if mask is not None:
                d = d * mask
            d = d * _derivative(self.activation_name, z, a)
            if normed is not None:
                hat, inverse = normed
                gammas.insert(0, (d * hat).sum(axis=1))
                betas.insert(0, d.sum(axis=1))
                d_hat = d * self.gammas[i].value[:, None, :]
                d = inverse * (d_hat - d_hat.mean(axis=1, keepdims=True)
                               - hat * (d_hat * hat).mean(axis=1, keepdims=True))
            w = self.kernel(i)
            kernels[i] = np.matmul(h.transpose(0, 2, 1), d)
            biases[i] = d.sum(axis=1)
            if i:
                d = np.matmul(d, w.transpose(0, 2, 1))
        for i in self.penalized_kernels:  # the L1/L2 gradient, on the kernels penalty_np counts
            w = self.kernel(i)
            if self.l1:
                kernels[i] += np.float32(self.l1) * np.sign(w)
            if self.l2:
                kernels[i] += np.float32(2 * self.l2) * w
        kernels[0] = kernels[0] * self.keep
        return [*kernels, *biases, *gammas, *betas]

    def penalty_np(self) -> np.ndarray:
        total = np.zeros(self.k, np.float32)
        for i in self.penalized_kernels:
            w = self.kernel(i)
            if self.l1:
                total += np.float32(self.l1) * np.abs(w).sum(axis=(1, 2))
            if self.l2:
                total += np.float32(self.l2) * np.square(w).sum(axis=(1, 2))
        return total

    def _category_dropout(self, x: np.ndarray) -> np.ndarray:
        """StackedMLP._category_dropout in NumPy: in each block, a `rate` of the rows moved to one of its slots."""
        k, n, _ = self.slot_columns.shape
        rows = x.shape[1]
        hit = (self.random.random((k, rows, n), np.float32) < self.rate) * self.block_present[:, None, :]
        counts = self.slot_counts[:, None, :]
        pick = np.minimum(np.floor(self.random.random((k, rows, n), np.float32) * counts).astype(np.int32), counts - 1)
        column = np.take_along_axis(np.broadcast_to(self.slot_columns[:, None], (k, rows) + self.slot_columns.shape[1:]),
                                    pick[..., None], axis=-1)[..., 0]
        keep = 1.0 - np.matmul(hit.astype(np.float32), self.block_columns)
        moved = np.zeros_like(x)
        chosen = hit > 0  # blocks of one copy are disjoint: no two hits of a row share a column
        copy, row, _ = np.nonzero(chosen)
        moved[copy, row, column[chosen]] = 1.0
        return x * keep + moved

    def gradients(self, xb: np.ndarray, yb: np.ndarray, weights: np.ndarray | None = None):
        """One training step's gradients (self.trainable's order) of each copy's loss — the mean (class-weighted)
        cross-entropy or squared error of its rows plus its L1/L2 penalty — and the outputs, per-row losses and
        losses they come from. The moving statistics of batch norm move, as in a training step."""
        out, cache = self.forward(xb, training=True)
        rows = xb.shape[1]
        w = weights[yb.astype(np.int64)] if weights is not None else np.ones(yb.shape, np.float32)
        if self.regression:
            residual = out[..., 0] - yb.astype(np.float32)
            per_row = np.square(residual)
            d_out = (np.float32(2 / rows) * w * residual)[..., None]
        else:
            labels = yb.astype(np.int64)[..., None]
            chosen = np.take_along_axis(out, labels, axis=-1)[..., 0]
            clipped = np.clip(chosen, EPSILON, 1 - EPSILON)
            per_row = -np.log(clipped)
            inside = ((chosen > EPSILON) & (chosen < 1 - EPSILON)).astype(np.float32)
            g = (-w * inside / (rows * clipped) * chosen)[..., None]  # d loss / d chosen probability, × it
            d_out = -out * g  # softmax's backward of a gradient at one class: p_j (g_j - sum_i g_i p_i)
            np.put_along_axis(d_out, labels, np.take_along_axis(d_out, labels, axis=-1) + g, axis=-1)
        losses = (per_row * w).mean(axis=1) + self.penalty_np()
        return self.backward(cache, d_out.astype(np.float32)), out, per_row, losses

    def functions(self, copies: list, optimizer: str, learning_rate: float, batch_size: int, clip: float,
                  class_weight: dict | None):
        """stacked._functions' three, in NumPy: train(positions) -> per copy [loss × rows, data loss, right, rows]
        summed over the steps, predict(x) -> (outputs, penalty), and the learning rate (assign/numpy)."""
        from autotune.search.stacked import _padded

        x_train = _padded([c.x_train for c in copies], self.width)
        y_train = _padded([c.y_train for c in copies])
        weights = self.class_weights(class_weight)
        rate = Array(np.float32(learning_rate))
        update = _Update(optimizer, self.trainable)

        def step(index: np.ndarray) -> np.ndarray:
            xb = np.take_along_axis(x_train, index[..., None], axis=1)
            yb = np.take_along_axis(y_train, index, axis=1)
            grads, out, per_row, losses = self.gradients(xb, yb, weights)
            update.apply(_clip_each(grads, clip), rate.value)
            rows = index.shape[1]
            right = np.zeros(self.k) if self.regression else (out.argmax(axis=-1) == yb).sum(axis=1)
            return np.stack([losses * rows, per_row.sum(axis=1), right, np.full(self.k, rows)], axis=1)

        def train(index: np.ndarray) -> np.ndarray:
            totals = np.zeros((self.k, 4))
            for at in range(0, index.shape[1], batch_size):
                totals += step(index[:, at:at + batch_size])
            return totals

        def predict(x: np.ndarray):
            return self.forward(np.asarray(x, np.float32), training=False)[0], self.penalty_np()

        return train, predict, rate


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "selu":
        return np.float32(SELU_SCALE) * np.where(z > 0, z, np.float32(SELU_ALPHA) * np.expm1(np.minimum(z, 0)))
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if name == "swish":
        return z / (1 + np.exp(-z))
    return (0.5 * z * (1 + erf(z / math.sqrt(2)))).astype(np.float32)  # gelu, exact (Keras's default)


def _derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """d activation / d z at z (a: the activation's value there, before dropout)."""
    if name == "relu":
        return (z > 0).astype(np.float32)
    if name == "tanh":
        return 1 - np.square(a)
    if name == "sigmoid":
        return a * (1 - a)
    if name == "selu":
        return np.float32(SELU_SCALE) * np.where(z > 0, 1, np.float32(SELU_ALPHA) * np.exp(np.minimum(z, 0)))
    if name == "elu":
        return np.where(z > 0, 1, np.exp(np.minimum(z, 0))).astype(np.float32)
    if name == "swish":
        s = 1 / (1 + np.exp(-z))
        return s * (1 + z * (1 - s))
    cdf = 0.5 * (1 + erf(z / math.sqrt(2)))
    return (cdf + z * np.exp(-0.5 * np.square(z)) / math.sqrt(2 * math.pi)).astype(np.float32)


def _clip_each(grads: list[np.ndarray], clip: float) -> list[np.ndarray]:
    """stacked.clip_each: each copy's gradients scaled by clip / max(its global norm, clip)."""
    squares = sum(np.square(g).reshape(len(g), -1).sum(axis=1) for g in grads)
    factor = (clip / np.maximum(np.sqrt(squares), clip)).astype(np.float32)
    return [g * factor.reshape((-1,) + (1,) * (g.ndim - 1)) for g in grads]


class _Update:
    """stacked.Optimizer's update rules (Keras's Adam, AdamW, SGD-Nesterov 0.9, RMSprop, Adagrad) on Array weights."""

    def __init__(self, name: str, variables: list[Array]):
        self.name, self.variables, self.iterations = name, variables, 0
        count = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1, "adagrad": 1}[name]
        start = np.float32(0.1 if name == "adagrad" else 0.0)
        self.slots = [[np.full(v.shape, start, np.float32) for v in variables] for _ in range(count)]

    def apply(self, grads: list[np.ndarray], lr) -> None:
        lr = np.float32(lr)
        if self.name in ("adam", "adamw"):
            t = self.iterations + 1
            alpha = np.float32(lr * math.sqrt(1 - 0.999**t) / (1 - 0.9**t))
        decay = np.float32(WEIGHT_DECAY)
        for i, (g, var) in enumerate(zip(grads, self.variables, strict=True)):
            if self.name == "adamw":  # decoupled decay before Adam's step (stacked.Optimizer)
                var.value = var.value - var.value * decay * lr  # Keras's order: variable x decay x rate
            if self.name in ("adam", "adamw"):
                m, v = self.slots[0][i], self.slots[1][i]
                m += (g - m) * np.float32(1 - 0.9)
                v += (np.square(g) - v) * np.float32(1 - 0.999)
                var.value = var.value - m * alpha / (np.sqrt(v) + np.float32(1e-7))
            elif self.name == "sgd":
                m = self.slots[0][i]
                m *= np.float32(0.9)
                m -= g * lr
                var.value = var.value + m * np.float32(0.9) - g * lr
            elif self.name == "rmsprop":
                v = self.slots[0][i]
                v *= np.float32(0.9)
                v += np.float32(0.1) * np.square(g)
                var.value = var.value - lr * g / np.sqrt(v + np.float32(1e-7))
            else:
                a = self.slots[0][i]
                a += np.square(g)
                var.value = var.value - lr * g / np.sqrt(a + np.float32(1e-7))
        self.iterations += 1
