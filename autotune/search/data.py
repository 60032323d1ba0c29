"""A trial's training data: the folds of a cross-validated search, --balance oversample, and the cached
tf.data pipelines trials train from (TensorFlow is imported only when a pipeline is built)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    """One fold of the cross-validated search, encoded with statistics (medians, clip fences,
    vocabularies, scales, PCA, the regression target's scale) learned on the fold's own training rows,
    so its held-out rows shaped nothing they are scored with."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    target_std: float = 1.0  # regression: the fold's target scale (scores are reported in target units)
    category_slots: list | tuple = ()  # encode.category_slots of the fold's own features
    ramp_columns: list | tuple = ()  # encode.ramp_columns of the fold's own features
    sequence_blocks: list | tuple = ()  # encode.sequence_blocks of the fold's own features

    @property
    def width(self) -> int:
        return int(self.x_train.shape[1])


ALIGN = 64  # bytes: where a CPU tensor of TensorFlow's must start for it to read a NumPy array's memory in place


def aligned_empty(shape: tuple, dtype=np.float32) -> np.ndarray:
    """np.empty, starting on an ALIGN-byte boundary (NumPy's own allocations start on 16): rows_tensor can then hand
    the array to TensorFlow without copying it."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + size].view(dtype).reshape(shape)


def rows_tensor(array: np.ndarray):
    """A tensor of the array's values: its own memory, shared through DLPack, where TensorFlow can read it in place
    (C-contiguous, ALIGN-aligned, writeable - NumPy exports no read-only array - and no GPU in use), else a copy.
    TensorFlow aborts the process on an unaligned tensor, so the alignment is checked here, before it is handed over.
    With a GPU the copy is the point: tf.constant puts the rows in the GPU's memory, where the traced loop gathers its
    batches; rows shared in host memory would cross to the device on every call."""
    import tensorflow as tf

    if (array.size and array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % ALIGN == 0
            and not tf.config.list_logical_devices("GPU")):
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array)


def oversample(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of every class drawn with replacement up to the largest class's count."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(y)
    index = np.concatenate([
        np.concatenate([rows, rng.choice(rows, counts.max() - len(rows), replace=True)])
        for rows in (np.flatnonzero(y == c) for c in range(len(counts))) if len(rows)
    ])
    return x[index], y[index]


def even_batch(batch_size: int, rows: int, replicas: int = 1) -> int:
    """Under MirroredStrategy Keras 3.15 builds the model from the first batch averaged over replicas,
    which fails when that batch does not split evenly ("Inputs to operation AddN … must have the same
    size"): keep the first batch full and a multiple of the replicas. Later, smaller batches are fine."""
    if replicas <= 1 or rows <= 0:
        return batch_size
    return max(replicas, min(batch_size, rows // replicas * replicas))


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int, replicas: int = 1):
    """Rows as a cached, (optionally) shuffled, batched and prefetched tf.data pipeline."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(even_batch(batch_size, len(x), replicas)).prefetch(tf.data.AUTOTUNE)
