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
