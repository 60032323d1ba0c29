"""The preprocessing model: raw named columns in, one float32 feature matrix out.

Built from the statistics in clean.Feature, so nothing is adapted here and the same layers run in
the search (once, to encode the data) and in the exported model (on every request).
"""
from __future__ import annotations

import keras
import numpy as np

from autotune.data.clean import Feature, raw_inputs
from autotune.search.data import aligned_empty
from autotune.search.memory import release_freed
from autotune.tabular import layers


def raw_input_layers(features: list[Feature]) -> dict[str, keras.KerasTensor]:
    """One Keras input per feature: float32 for numbers, string for categories."""
    return {
        f.key: keras.Input(shape=(1,), dtype="float32" if f.dtype == "number" else "string", name=f.key)
        for f in features
    }


def _encode_text(feature: Feature, x):
    """Free text as TF-IDF over the training vocabulary (the unknown words' slot first), scaled to unit length, then
    projected onto the training rows' leading directions, standardised (clean._text_projection): fixed weights."""
    tfidf = keras.layers.TextVectorization(standardize=layers.split_punctuation, output_mode="tf_idf",
                                           vocabulary=list(feature.vocabulary), idf_weights=list(feature.idf),
                                           name=f"tfidf_{feature.key}")
    # (rows, 1) strings give (rows, words) numbers; the symbolic shape says (rows, 1, words)
    flat = keras.layers.Reshape((len(feature.vocabulary) + 1,), name=f"words_{feature.key}")(tfidf(x))
    unit = keras.layers.UnitNormalization(name=f"unit_{feature.key}")(flat)
    project = keras.layers.Dense(feature.dimensions, trainable=False, name=f"lsa_{feature.key}")
    out = project(unit)
    project.set_weights([feature.projection, feature.projection_bias])
    return out


def _word_ids(feature: Feature, x):
    """A text column's first `sequence_length` words as their ids in its vocabulary (0: no word, padding after the
    last; 1: a word outside the vocabulary; 2 on: the vocabulary's words, most frequent first), as float32 columns:
    what the search's sequence encoders read (space.py's text_encoder)."""
    ids = keras.layers.TextVectorization(standardize=layers.split_punctuation, output_mode="int",
                                         vocabulary=list(feature.vocabulary),
                                         output_sequence_length=feature.sequence_length, name=f"ids_{feature.key}")
    flat = keras.layers.Reshape((feature.sequence_length,), name=f"sequence_{feature.key}")(ids(x))
    return layers.AsFloat(name=f"word_ids_{feature.key}")(flat)


def _encode_category(feature: Feature, x):
    safe = feature.key
    if feature.kind == "text":
        return _encode_text(feature, x)
    if feature.dtype == "number":
        return layers.NumberCategories(list(feature.vocabulary), name=f"onehot_{safe}")(x)
    lookup = keras.layers.StringLookup(
        vocabulary=list(feature.vocabulary), num_oov_indices=1, output_mode="one_hot", name=f"onehot_{safe}"
    )
    return lookup(layers.StripText(name=f"strip_{safe}")(x))  # as the CLI reads categories (clean._as_text)


def _numeric_block(numeric: list[Feature], inputs: dict):
    """All numeric columns through one NumericColumns layer, and where each feature's outputs sit in it:
    (block, {key: (standardised column, [ramp columns], missing column or None)})."""
    stacked = [inputs[f.key] for f in numeric]
    x = keras.layers.Concatenate(name="numbers")(stacked) if len(stacked) > 1 else stacked[0]
    flagged = [j for j, f in enumerate(numeric) if f.missing_indicator]
    block = layers.NumericColumns(
        fill=[f.fill for f in numeric], low=[f.clip_low for f in numeric], high=[f.clip_high for f in numeric],
        mean=[f.mean for f in numeric], variance=[f.variance for f in numeric],
        knots=[list(f.knots) for f in numeric], missing=flagged, name="numeric")(x)
    places, ramp = {}, len(numeric)
    for j, f in enumerate(numeric):
        ramps = list(range(ramp, ramp + max(len(f.knots) - 1, 0)))
        ramp += len(ramps)
        places[f.key] = (j, ramps, None)
    for i, j in enumerate(flagged):
        scaled, ramps, _ = places[numeric[j].key]
        places[numeric[j].key] = (scaled, ramps, ramp + i)
    return block, places


def _width(f: Feature) -> int:
    """Columns a feature adds beside the PCA block in the matrix build_preprocessor makes."""
    if f.kind == "numeric":
        return (0 if f.components else 1) + max(len(f.knots) - 1, 0) + int(f.missing_indicator)
    if f.kind == "text":
        return f.dimensions
    return len(f.vocabulary) + (2 if f.dtype == "number" else 1)


def _pca_width(features: list[Feature]) -> int:
    """Columns of the PCA block at the front of the matrix (--select-features pca), 0 without one."""
    return len(next((f.components for f in features if f.components), ()))


def _starts(features: list[Feature]):
    """Each feature with the column its own block starts at, in build_preprocessor's order (the PCA block first)."""
    at = _pca_width(features)
    for f in features:
        yield f, at
        at += _width(f)


def _sequenced(features: list[Feature]) -> list[Feature]:
    return [f for f in features if f.kind == "text" and f.sequence_length]


def sequence_blocks(features: list[Feature]) -> list[list[int]]:
    """Where each text column's word ids sit in the matrix build_preprocessor makes — after every other column, in the
    features' order: [start, length, ids] per text column, ids the number of distinct ids (the vocabulary, the
    padding and the unknown word). The search's sequence encoders read these columns; every other network leaves
    them out."""
    at = _pca_width(features) + sum(_width(f) for f in features)
    blocks = []
    for f in _sequenced(features):
        blocks.append([at, f.sequence_length, len(f.vocabulary) + 2])
        at += f.sequence_length
    return blocks


def category_slots(features: list[Feature]) -> list[list]:
    """Where each categorical column's one-hot block sits in the matrix build_preprocessor makes, in its
    order (the PCA block first, when there is one): [start, width, slots] per column, with slots the
    offsets within the block that training never fills: the out-of-vocabulary slot (StringLookup's
    index 0, NumberCategories' 'other', the last) and NumberCategories' 'missing' slot when the training
    split had no missing value. A pure function of the features: layers.CategoryDropout trains those
    slots."""
    blocks = []
    for f, at in _starts(features):
        if f.kind != "categorical":
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


def ramp_groups(ramps) -> tuple[list[int], list[list[int]]]:
    """The ramped numbers in `ramps` (ramp_columns' list): each one's standardized value column and its ramp columns.
    A number's ramps are consecutive and follow its value (ramp_columns); two numbers' runs are apart by at least the
    second one's value column, so each run of consecutive columns is one number's."""
    values, groups = [], []
    for column in sorted(ramps):
        if groups and column == groups[-1][-1] + 1:
            groups[-1].append(column)
        else:
            values.append(column - 1)
            groups.append([column])
    return values, groups


def build_preprocessor(features: list[Feature], name: str = "preprocess") -> keras.Model:
    """The Keras model that turns raw columns into the network's input: imputation, scaling, one-hot, projection;
    `name`: its own in the exported model (several sit side by side where the networks are kept fold networks).

    The numbers go through one layer together (layers.NumericColumns), the categories through a lookup each; a
    last gather puts every feature's columns in the order `_starts` gives (the PCA block first, then each
    feature's block in the features' order) — the order category_slots and ramp_columns describe."""
    inputs = raw_input_layers(features)
    numeric = [f for f in features if f.kind == "numeric"]
    parts, at, columns = [], 0, {}
    places = {}
    if numeric:
        block, places = _numeric_block(numeric, inputs)
        parts.append(block)
        at = layers.NumericColumns.width(numeric)
    order = []
    pca = [places[f.key][0] for f in numeric if f.components]
    if pca:  # --select-features pca: the standardised values go into the projection
        matrix = [list(f.components) for f in numeric if f.components]
        picked = layers.KeepColumns(pca, name="pca_inputs")(block)
        parts.append(layers.Projection(matrix, name="pca")(picked))
        order.extend(range(at, at + len(matrix[0])))
        at += len(matrix[0])
    for f in features:
        if f.kind == "numeric":
            continue
        encoded = _encode_category(f, inputs[f.key])
        parts.append(encoded)
        columns[f.key] = list(range(at, at + _width(f)))
        at += _width(f)
    for f in features:
        if f.kind == "numeric":
            scaled, ramps, missing = places[f.key]
            order.extend(([] if f.components else [scaled]) + ramps + ([] if missing is None else [missing]))
        else:
            order.extend(columns[f.key])
    matrix = keras.layers.Concatenate(name="encoded")(parts) if len(parts) > 1 else parts[0]
    if order != list(range(at)):
        matrix = layers.KeepColumns(order, name="features")(matrix)
    sequences = [_word_ids(f, inputs[f.key]) for f in _sequenced(features)]
    if sequences:  # the text columns' word ids last (sequence_blocks)
        matrix = keras.layers.Concatenate(name="with_word_ids")([matrix, *sequences])
    return keras.Model(inputs, matrix, name=name)


# rows per eager call of the preprocessor: smaller blocks leave less of TensorFlow's working memory behind in the C
# heap (1,000,000 rows x 50 columns, 145 encoded: 65,536 rows a block 1.8 s and ~0.35 GB left resident; 16,384: 2.1 s,
# ~0.08 GB; 4,096: 3.1 s, ~0.03 GB)
ENCODE_ROWS = 16384


def raw_blocks(columns: dict[str, np.ndarray], size: int):
    """Raw columns `size` rows at a time, as the (rows, 1) tensors the preprocessor and the exported model take (none
    for no rows)."""
    import tensorflow as tf

    rows = len(next(iter(columns.values())))
    for at in range(0, rows, size):
        yield {k: tf.constant(v[at:at + size].reshape(-1, 1)) for k, v in columns.items()}


def encode(preprocessor: keras.Model, columns: dict[str, np.ndarray]) -> np.ndarray:
    """Run the preprocessing once over a whole split (the search then trains on the result): called eagerly, a block
    of rows at a time — `predict` would trace a function for each of the run's preprocessors (one per fold), ~0.3 s
    each, to use it once."""
    return encode_parts(preprocessor, [columns])[0]


def encode_parts(preprocessor: keras.Model, parts: list, features: list[Feature] | None = None) -> list[np.ndarray]:
    """`encode` of several sets of rows written one after the other into one array, returned as views of it (the
    training and validation rows: the final fit trains on both without copying them together). Each block of rows
    goes straight into its place: no list of blocks to join (1,000,000 rows: half a gigabyte less at the peak). A part
    is raw columns (key -> array) or a frame, whose raw columns (clean.raw_inputs of `features`) are made a block at
    a time: a frame's whole raw columns beside the encoded rows were ~0.17 GB more at the peak on 1,000,000 rows."""
    sizes = [len(part) if hasattr(part, "iloc") else len(next(iter(part.values()))) for part in parts]
    out = aligned_empty((sum(sizes), preprocessor.output.shape[-1]))  # the final fit's traced loop reads it in place
    at = 0
    for part in parts:
        for block in _blocks(part, features):
            encoded = np.asarray(preprocessor(block, training=False), dtype=np.float32)
            out[at:at + len(encoded)] = encoded
            at += len(encoded)
    release_freed(out.nbytes)  # the eager calls' working memory, kept by the C heap
    return [out[end - rows:end] for rows, end in zip(sizes, np.cumsum(sizes), strict=True)]


def _blocks(part, features: list[Feature] | None):
    """A part's rows as the preprocessor's input, ENCODE_ROWS at a time (encode_parts)."""
    if not hasattr(part, "iloc"):
        yield from raw_blocks(part, ENCODE_ROWS)
        return
    for at in range(0, len(part), ENCODE_ROWS):
        yield from raw_blocks(raw_inputs(part.iloc[at:at + ENCODE_ROWS], features), ENCODE_ROWS)
