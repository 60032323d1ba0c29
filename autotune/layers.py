"""The few preprocessing layers Keras does not have, registered so `model.keras` loads with
`safe_mode=True` (no Lambda layers, no pickled code)."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="autotune")
class ImputeClip(keras.layers.Layer):
    """Replace NaN with a fixed value, then clip to fixed fences (both learned on the training split)."""

    def __init__(self, fill: float, low: float, high: float, **kwargs):
        super().__init__(**kwargs)
        self.fill, self.low, self.high = float(fill), float(low), float(high)

    def call(self, x):
        x = ops.cast(x, "float32")
        return ops.clip(ops.where(ops.isnan(x), self.fill, x), self.low, self.high)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "fill": self.fill, "low": self.low, "high": self.high}


@keras.saving.register_keras_serializable(package="autotune")
class MissingIndicator(keras.layers.Layer):
    """1.0 where the raw number is missing (NaN), else 0.0."""

    def call(self, x):
        return ops.cast(ops.isnan(ops.cast(x, "float32")), "float32")

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
        missing = ops.cast(ops.isnan(x), "float32")
        other = 1.0 - ops.sum(hits, axis=-1, keepdims=True) - missing
        return ops.concatenate([hits, missing, other], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.values) + 2)

    def get_config(self):
        return {**super().get_config(), "values": self.values}
