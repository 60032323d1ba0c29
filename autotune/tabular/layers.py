"""The few preprocessing layers Keras does not have, registered so `model.keras` loads with
`safe_mode=True` (no Lambda layers, no pickled code)."""
from __future__ import annotations

import keras
from keras import ops

from autotune.data.clean import NO_BOUND
from autotune.search import kt_compat


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


@keras.saving.register_keras_serializable(package="autotune")
class PiecewiseLinear(keras.layers.Layer):
    """A number as ramps between fixed knots (its training quantiles): ramp j is 0 below knot j, 1 above knot
    j + 1 and linear between, so the network sees where the value sits in the column's distribution (the
    piecewise-linear encoding of Gorishniy et al. 2022). Takes the imputed value; knots are part of the config."""

    def __init__(self, knots: list[float], **kwargs):
        super().__init__(**kwargs)
        self.knots = [float(v) for v in knots]

    def call(self, x):
        knots = ops.convert_to_tensor(self.knots, dtype="float32")
        low, width = knots[None, :-1], (knots[1:] - knots[:-1])[None, :]
        return ops.clip((ops.cast(x, "float32") - low) / width, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.knots) - 1)

    def get_config(self):
        return {**super().get_config(), "knots": self.knots}


@keras.saving.register_keras_serializable(package="autotune")
class NumericColumns(keras.layers.Layer):
    """Every numeric column at once, from their raw values side by side ([rows, columns]): the standardised
    value of each (the missing value filled with `fill`, then clipped to [`low`, `high`], then
    (x - mean) / max(sqrt(variance), epsilon), as keras.layers.Normalization computes it), then the piecewise-linear
    ramps of each column that has `knots` (from its filled value, as PiecewiseLinear), then a missing-value
    indicator for each column listed in `missing`. One layer instead of four per column: a 30-column model's
    graph, traced for the search's encoding, the evaluation and the export, shrinks about thirty-fold.
    Per-column lists of the statistics are the config; encode.build_preprocessor puts the outputs in order."""

    def __init__(self, fill: list[float], low: list[float], high: list[float], mean: list[float],
                 variance: list[float], knots: list[list[float]], missing: list[int], **kwargs):
        super().__init__(**kwargs)
        self.fill, self.low, self.high = ([float(v) for v in values] for values in (fill, low, high))
        self.mean, self.variance = [float(v) for v in mean], [float(v) for v in variance]
        self.knots = [[float(v) for v in column] for column in knots]
        self.missing = [int(c) for c in missing]
        self._ramp_column = [c for c, column in enumerate(self.knots) for _ in column[1:]]
        self._ramp_low = [low for column in self.knots for low in column[:-1]]
        self._ramp_high = [high for column in self.knots for high in column[1:]]

    def call(self, x):
        import numpy as np

        x = ops.cast(x, "float32")
        missing = _missing(x)
        filled = ops.where(missing, ops.convert_to_tensor([self.fill], dtype="float32"), x)
        clean = ops.clip(filled, ops.convert_to_tensor([self.low], dtype="float32"),
                         ops.convert_to_tensor([self.high], dtype="float32"))
        scale = ops.maximum(ops.sqrt(ops.convert_to_tensor([self.variance], dtype="float32")),
                            keras.backend.epsilon())
        out = [ops.divide(ops.subtract(clean, ops.convert_to_tensor([self.mean], dtype="float32")), scale)]
        if self._ramp_column:
            low = np.asarray(self._ramp_low, np.float32)
            width = np.asarray(self._ramp_high, np.float32) - low  # float32 arithmetic, as PiecewiseLinear's
            value = ops.clip(ops.take(filled, ops.convert_to_tensor(self._ramp_column, dtype="int32"), axis=1),
                             -NO_BOUND, NO_BOUND)
            out.append(ops.clip((value - low[None, :]) / width[None, :], 0.0, 1.0))
        if self.missing:
            out.append(ops.cast(ops.take(missing, ops.convert_to_tensor(self.missing, dtype="int32"), axis=1),
                                "float32"))
        return ops.concatenate(out, axis=-1) if len(out) > 1 else out[0]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.fill) + len(self._ramp_column) + len(self.missing))

    @staticmethod
    def width(features) -> int:
        """The layer's outputs for these clean.Feature statistics."""
        return sum(1 + max(len(f.knots) - 1, 0) + int(f.missing_indicator) for f in features)

    def get_config(self):
        return {**super().get_config(), "fill": self.fill, "low": self.low, "high": self.high, "mean": self.mean,
                "variance": self.variance, "knots": self.knots, "missing": self.missing}


@keras.saving.register_keras_serializable(package="autotune")
class KeepColumns(keras.layers.Layer):
    """The given columns of a matrix, in order (a network that leaves some encoded features out)."""

    def __init__(self, columns: list[int], **kwargs):
        super().__init__(**kwargs)
        self.columns = [int(c) for c in columns]

    def call(self, x):
        return ops.take(x, ops.convert_to_tensor(self.columns, dtype="int32"), axis=1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.columns))

    def get_config(self):
        return {**super().get_config(), "columns": self.columns}


@keras.saving.register_keras_serializable(package="autotune")
class AsFloat(keras.layers.Layer):
    """Integers (a text column's word ids) as float32, to sit in the encoded matrix beside the other features: exact
    below 2**24, far above any vocabulary here."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        kt_compat.keep_input_dtype(self)

    def call(self, x):
        return ops.cast(x, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="float32")


@keras.saving.register_keras_serializable(package="autotune")
class MeanOfWords(keras.layers.Layer):
    """The mean of a text's word vectors over its words (the embedding's mask: padding left out), zero for a text
    without a word — where Keras's GlobalAveragePooling1D divides 0 by 0 (NaN for a missing cell)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x, mask=None):
        if mask is None:
            return ops.mean(x, axis=1)
        weights = ops.expand_dims(ops.cast(mask, x.dtype), -1)
        return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_mask(self, x, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


# What Python's str.isspace() calls whitespace, as an RE2 class: the CLI reads categories with str.strip()
# (clean._as_text), so the model strips exactly these characters too.
WHITESPACE = r"[\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"


@keras.saving.register_keras_serializable(package="autotune")
class StripText(keras.layers.Layer):
    """Leading and trailing whitespace removed from a string category, as `autotune predict` removes it, so
    " Biscoe " sent to the SavedModel finds the "Biscoe" slot learned in training. (TensorFlow backend.)"""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        kt_compat.keep_input_dtype(self)  # strings: nothing to cast to the float dtype policy

    def call(self, x):
        import tensorflow as tf

        return tf.strings.regex_replace(x, f"^{WHITESPACE}+|{WHITESPACE}+$", "")

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="string")


@keras.saving.register_keras_serializable(package="autotune")
def split_punctuation(x):
    """A text column's standardize in its TextVectorization: ASCII letters lowercased, each punctuation character a
    space, so that the whitespace split makes it a word boundary (clean.text_words does the same without TensorFlow,
    to count the vocabulary)."""
    import tensorflow as tf

    from autotune.data.clean import TEXT_PUNCTUATION

    return tf.strings.regex_replace(tf.strings.lower(x), TEXT_PUNCTUATION, " ")


@keras.saving.register_keras_serializable(package="autotune")
class CategoryDropout(keras.layers.Layer):
    """Training only: in each one-hot block of the encoded features (one per categorical column), a random
    `rate` of the rows is moved to the block's out-of-vocabulary slot (or its 'missing' slot, where training
    never fills that one), so those slots' weights are learned and an unseen or missing category meets a
    trained weight, not its random initial value. At inference the layer passes its input through.

    blocks: [start, width, [slot, ...]] per categorical column, slots as offsets within the block
    (encode.category_slots)."""

    def __init__(self, blocks: list, rate: float = 0.03, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [[int(start), int(width), [int(s) for s in slots]] for start, width, slots in blocks]
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or not self.blocks or self.rate <= 0:
            return x
        pieces, at = [], 0
        rows = ops.shape(x)[0]
        for start, width, slots in self.blocks:
            pieces.append(x[:, at:start])
            block = x[:, start:start + width]
            hit = keras.random.uniform((rows, 1), seed=self.seed_generator) < self.rate
            pick = ops.floor(keras.random.uniform((rows,), seed=self.seed_generator) * len(slots))
            slot = ops.take(ops.convert_to_tensor(slots, dtype="int32"),
                            ops.minimum(ops.cast(pick, "int32"), len(slots) - 1))
            replaced = ops.one_hot(slot, width, dtype=block.dtype)
            pieces.append(ops.where(hit, replaced, block))
            at = start + width
        pieces.append(x[:, at:])
        return ops.concatenate(pieces, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "blocks": self.blocks, "rate": self.rate, "seed": self.seed}


# scikit-learn's QuantileTransformer bounds for normal scores: norm.ppf(1 - 1e-7), its BOUNDS_THRESHOLD
NORMAL_BOUND = 5.199337582605575


@keras.saving.register_keras_serializable(package="autotune")
class NumberEmbeddings(keras.layers.Layer):
    """Each ramped number of the encoded features embedded in `units` columns of its own, as TabM's piecewise-linear
    embeddings "version B" (Gorishniy et al. 2022, 2025): its value quantile-normalised (over `QUANTILES` quantiles of
    its training values, the rank as scikit-learn's QuantileTransformer(output_distribution="normal") takes it: a tied
    value at the middle of its run, the training minimum and maximum at the bounds, ±5.2) through a linear map of its
    own, plus its ramps through a second one that starts at zero — so the network starts from the numbers' smooth
    values and learns their ramps' bends as it trains. Then the columns in `keep`, as they are.

    values: the encoded column of each number's standardized value; ramps: each one's ramp columns
    (encode.ramp_groups); keep: the other columns the network reads. The quantiles are weights (not trained), set by
    `adapt` from the rows the network trains on (SearchHyperModel.adapt), saved and exported with the network."""

    QUANTILES = 1000
    adapts_to_rows = True  # SearchHyperModel.adapt

    def __init__(self, values: list, ramps: list, keep: list, units: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.values, self.keep, self.units = [int(c) for c in values], [int(c) for c in keep], int(units)
        self.ramps = [[int(c) for c in group] for group in ramps]

    def build(self, input_shape):
        import numpy as np

        n, widest = len(self.values), max(len(group) for group in self.ramps)
        self.quantiles = self.add_weight(shape=(n, self.QUANTILES), initializer="zeros", trainable=False,
                                         name="quantiles")
        # Keras's Dense on one number, one per number: glorot over (1, units), a zero bias
        limit = float(np.sqrt(6.0 / (1 + self.units)))
        self.scale = self.add_weight(shape=(n, self.units), name="scale",
                                     initializer=keras.initializers.RandomUniform(-limit, limit))
        self.shift = self.add_weight(shape=(n, self.units), initializer="zeros", name="shift")
        self.bends = self.add_weight(shape=(n, widest, self.units), initializer="zeros", name="bends")
        # each number's ramps padded to the widest with the zero column appended at input_shape[-1]
        self._ramp_index = np.array([group + [input_shape[-1]] * (widest - len(group)) for group in self.ramps],
                                    np.int32)

    def adapt(self, x) -> None:
        """The quantiles of each number's value over the rows `x` (the encoded training rows), a column at a time: one
        column's copy at the peak, not every number's (a million rows x 50 numbers: 200 MB)."""
        import numpy as np

        levels = np.linspace(0, 1, self.QUANTILES)
        self.quantiles.assign(np.stack([np.quantile(np.asarray(x[:, c], np.float32), levels) for c in self.values])
                              .astype(np.float32))

    def normal(self, value):
        """The values' (rows, numbers) normal scores: the average of the interpolated ranks from above and from below
        (a tied value's middle rank), the training minimum and maximum at the bounds, as scikit-learn's transform."""
        import tensorflow as tf

        q = tf.convert_to_tensor(self.quantiles)
        v = tf.transpose(value)  # (numbers, rows): searchsorted runs along each number's quantiles
        top = self.QUANTILES - 1
        rank = []
        for side in ("right", "left"):
            i = tf.clip_by_value(tf.searchsorted(q, v, side=side), 1, top)
            low, high = tf.gather(q, i - 1, batch_dims=1), tf.gather(q, i, batch_dims=1)
            step = tf.where(high > low, tf.clip_by_value((v - low) / tf.maximum(high - low, 1e-30), 0.0, 1.0), 1.0)
            rank.append((tf.cast(i - 1, tf.float32) + step) / top)
        u = tf.clip_by_value((rank[0] + rank[1]) / 2, 1e-7, 1 - 1e-7)
        z = tf.clip_by_value(tf.sqrt(2.0) * tf.math.erfinv(2.0 * u - 1.0), -NORMAL_BOUND, NORMAL_BOUND)
        return tf.transpose(tf.where(v <= q[:, :1], -NORMAL_BOUND, tf.where(v >= q[:, -1:], NORMAL_BOUND, z)))

    def call(self, x):
        x = ops.cast(x, "float32")
        value = self.normal(ops.take(x, ops.convert_to_tensor(self.values, dtype="int32"), axis=1))
        padded = ops.concatenate([x, ops.zeros_like(x[:, :1])], axis=-1)
        ramps = ops.take(padded, ops.convert_to_tensor(self._ramp_index), axis=1)  # (rows, numbers, widest)
        embedded = value[:, :, None] * self.scale[None] + self.shift[None] + ops.einsum("bnr,nru->bnu", ramps,
                                                                                         self.bends)
        flat = ops.reshape(embedded, (-1, len(self.values) * self.units))
        if not self.keep:
            return flat
        return ops.concatenate([flat, ops.take(x, ops.convert_to_tensor(self.keep, dtype="int32"), axis=1)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.values) * self.units + len(self.keep))

    def get_config(self):
        return {**super().get_config(), "values": self.values, "ramps": self.ramps, "keep": self.keep,
                "units": self.units}


@keras.saving.register_keras_serializable(package="autotune")
class GrayConv2D(keras.layers.Conv2D):
    """The first convolution of a CNN on grayscale images (vision.pipeline.ImageHyperModel, one channel): its kernel is
    the one it has on the images' RGB copy - three input channels, drawn by the same initializer - summed over them
    before it convolves the single channel. On three equal channels a convolution is exactly that sum convolving one,
    so this is the three-channel network - its function, its initial weights, its training (each channel's weights take
    the sum's gradient, three times a one-channel kernel's step under Adam) - at a third of the input's work. A plain
    one-channel kernel trained otherwise: on mnist_5k 0 / -3 / -2 / -3 test images against the RGB network over 4
    seeds (bench/README, "Grayscale images on one channel"), whose defaults the search's were tuned with.

    Under mixed bfloat16 the RGB network multiplies bfloat16 pixels by its three bfloat16 kernels and sums the products
    in float32, rounding once; so the sum of the kernels and the convolution run here in float32 (exact sums of
    bfloat16 values) and round once at the end - summed in bfloat16 first, a third of the outputs differed by one or
    more bfloat16 steps, and the digits set lost test images (bench/README, "The first convolution in float32")."""

    RGB = 3

    def build(self, input_shape):
        super().build((*input_shape[:-1], self.RGB))
        self.input_spec = keras.layers.InputSpec(min_ndim=4, axes={-1: input_shape[-1]})

    def convolution_op(self, inputs, kernel):
        summed = ops.sum(ops.cast(kernel, "float32"), axis=2, keepdims=True)
        return ops.cast(super().convolution_op(ops.cast(inputs, "float32"), summed), self.compute_dtype)
