"""The few preprocessing layers Keras does not have, registered so `model.keras` loads with
`safe_mode=True` (no Lambda layers, no pickled code)."""
from __future__ import annotations

import keras
from keras import ops


def _missing(x):
    """NaN and ±inf: what autotune's own reading of a file (clean.raw_column) turns into NaN."""
    return ops.logical_not(ops.isfinite(x))


@keras.saving.register_keras_serializable(package="autotune")
class ImputeClip(keras.layers.Layer):
    """Replace a missing value (NaN, or ±inf, which training read as missing too) with a fixed value, then
    clip to fixed fences (both learned on the training split)."""

    def __init__(self, fill: float, low: float, high: float, **kwargs):
        super().__init__(**kwargs)
        self.fill, self.low, self.high = float(fill), float(low), float(high)

    def call(self, x):
        x = ops.cast(x, "float32")
        return ops.clip(ops.where(_missing(x), self.fill, x), self.low, self.high)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "fill": self.fill, "low": self.low, "high": self.high}


@keras.saving.register_keras_serializable(package="autotune")
class MissingIndicator(keras.layers.Layer):
    """1.0 where the raw number is missing (NaN or ±inf), else 0.0."""

    def call(self, x):
        return ops.cast(_missing(ops.cast(x, "float32")), "float32")

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="autotune")
class NumberCategories(keras.layers.Layer):
    """One-hot encoding of a small set of numeric codes, plus a 'missing' and an 'other' slot."""

    def __init__(self, values: list[float], **kwargs):
        super().__init__(**kwargs)
        self.values = [float(v) for v in values]

    def call(self, x):
        x = ops.cast(x, "float32")
        codes = ops.convert_to_tensor([self.values], dtype="float32")
        hits = ops.cast(ops.equal(x, codes), "float32")
        missing = ops.cast(_missing(x), "float32")
        other = 1.0 - ops.sum(hits, axis=-1, keepdims=True) - missing
        return ops.concatenate([hits, missing, other], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.values) + 2)

    def get_config(self):
        return {**super().get_config(), "values": self.values}


@keras.saving.register_keras_serializable(package="autotune")
class Projection(keras.layers.Layer):
    """A fixed linear map x @ components, learned outside the model (--select-features pca: the
    standardised numeric columns onto their whitened principal components). The matrix is part of
    the layer's config, so model.keras and the SavedModel carry it; nothing is trained."""

    def __init__(self, components: list[list[float]], **kwargs):
        super().__init__(**kwargs)
        self.components = [[float(v) for v in row] for row in components]  # [inputs, outputs]

    def call(self, x):
        matrix = ops.convert_to_tensor(self.components, dtype="float32")
        return ops.matmul(ops.cast(x, "float32"), matrix)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.components[0]))

    def get_config(self):
        return {**super().get_config(), "components": self.components}
