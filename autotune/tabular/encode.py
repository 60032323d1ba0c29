"""The preprocessing model: raw named columns in, one float32 feature matrix out.

Built from the statistics in clean.Feature, so nothing is adapted here and the same layers run in
the search (once, to encode the data) and in the exported model (on every request).
"""
from __future__ import annotations

import keras
import numpy as np

from autotune.data.clean import NO_BOUND, Feature
from autotune.tabular import layers


def raw_input_layers(features: list[Feature]) -> dict[str, keras.KerasTensor]:
    """One Keras input per feature: float32 for numbers, string for categories."""
    return {
        f.key: keras.Input(shape=(1,), dtype="float32" if f.dtype == "number" else "string", name=f.key)
        for f in features
    }


def _encode(feature: Feature, x):
    safe = feature.key
    if feature.kind == "numeric":
        value = layers.ImputeClip(feature.fill, feature.clip_low, feature.clip_high, name=f"clean_{safe}")(x)
        out = [keras.layers.Normalization(mean=feature.mean, variance=feature.variance, name=f"scale_{safe}")(value)]
        if feature.knots:  # from the imputed value before the fences: the outer ramps saturate anyway
            imputed = layers.ImputeClip(feature.fill, -NO_BOUND, NO_BOUND, name=f"impute_{safe}")(x)
            out.append(layers.PiecewiseLinear(list(feature.knots), name=f"ramps_{safe}")(imputed))
        if feature.missing_indicator:
            out.append(layers.MissingIndicator(name=f"missing_{safe}")(x))
        return out
    if feature.dtype == "number":
        return [layers.NumberCategories(list(feature.vocabulary), name=f"onehot_{safe}")(x)]
    lookup = keras.layers.StringLookup(
        vocabulary=list(feature.vocabulary), num_oov_indices=1, output_mode="one_hot", name=f"onehot_{safe}"
    )
    return [lookup(layers.StripText(name=f"strip_{safe}")(x))]  # as the CLI reads categories (clean._as_text)


def _width(f: Feature) -> int:
    """Columns a feature adds beside the PCA block in the matrix build_preprocessor makes."""
    if f.kind == "numeric":
        return (0 if f.components else 1) + max(len(f.knots) - 1, 0) + int(f.missing_indicator)
    return len(f.vocabulary) + (2 if f.dtype == "number" else 1)


def _starts(features: list[Feature]):
    """Each feature with the column its own block starts at, in build_preprocessor's order (the PCA block first)."""
    at = len(next((f.components for f in features if f.components), ()))
    for f in features:
        yield f, at
        at += _width(f)


def category_slots(features: list[Feature]) -> list[list]:
    """Where each categorical column's one-hot block sits in the matrix build_preprocessor makes, in its
    order (the PCA block first, when there is one): [start, width, slots] per column, with slots the
    offsets within the block that training never fills: the out-of-vocabulary slot (StringLookup's
    index 0, NumberCategories' 'other', the last) and NumberCategories' 'missing' slot when the training
    split had no missing value. A pure function of the features: layers.CategoryDropout trains those
    slots."""
    blocks = []
    for f, at in _starts(features):
        if f.kind == "numeric":
            continue
        width = _width(f)
        if f.dtype == "number":  # codes, missing, other
            slots = [width - 1] if f.missing_indicator else [width - 2, width - 1]
        else:  # out-of-vocabulary first, then the vocabulary ("" among it if seen)
            slots = [0]
        blocks.append([at, width, slots])
    return blocks


def ramp_columns(features: list[Feature]) -> list[int]:
    """Where the numbers' piecewise-linear ramps sit in the matrix build_preprocessor makes: the columns a network
    that takes the standardized numbers alone leaves out (the search's numeric_encoding)."""
    out = []
    for f, at in _starts(features):
        if f.kind == "numeric" and f.knots:
            first = at + (0 if f.components else 1)  # after the standardised value
            out.extend(range(first, first + len(f.knots) - 1))
    return out


def build_preprocessor(features: list[Feature]) -> keras.Model:
    """The Keras model that turns raw columns into the network's input: imputation, scaling, one-hot, projection."""
    inputs = raw_input_layers(features)
    parts, projected = [], []
    for f in features:
        encoded = _encode(f, inputs[f.key])
        if f.components:  # --select-features pca: the standardised value goes into the projection
            projected.append(encoded[0])
            encoded = encoded[1:]
        parts.extend(encoded)
    if projected:
        stacked = keras.layers.Concatenate(name="pca_inputs")(projected) if len(projected) > 1 else projected[0]
        matrix = [list(f.components) for f in features if f.components]
        parts.insert(0, layers.Projection(matrix, name="pca")(stacked))
    encoded = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
    return keras.Model(inputs, encoded, name="preprocess")


def raw_dataset(columns: dict[str, np.ndarray], batch_size: int = 4096):
    """Raw columns as a batched tf.data pipeline (Keras's array adapter refuses string arrays)."""
    import tensorflow as tf

    tensors = {k: tf.constant(v.reshape(-1, 1)) for k, v in columns.items()}
    return tf.data.Dataset.from_tensor_slices(tensors).batch(batch_size).prefetch(tf.data.AUTOTUNE)


ENCODE_ROWS = 65536  # rows per eager call of the preprocessor


def encode(preprocessor: keras.Model, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Run the preprocessing once over a whole split (the search then trains on the result): called eagerly, a block
    of rows at a time — `predict` would trace a function for each of the run's preprocessors (one per fold), ~0.3 s
    each, to use it once."""
    import tensorflow as tf

    rows = len(next(iter(columns.values())))
    if not rows:
        return np.zeros((0, preprocessor.output.shape[-1]), np.float32)
    return np.concatenate([
        np.asarray(preprocessor({k: tf.constant(v[at:at + ENCODE_ROWS].reshape(-1, 1)) for k, v in columns.items()},
                                training=False), dtype=np.float32)
        for at in range(0, rows, ENCODE_ROWS)])
