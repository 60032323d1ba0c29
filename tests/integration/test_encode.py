"""The in-model preprocessing: each layer's arithmetic, and the preprocessor built from real statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from autotune.data.clean import MISSING_TOKEN, learn_features, raw_inputs
from autotune.data.profile import profile
from autotune.data.split import drop_unusable_rows, split

keras = pytest.importorskip("keras")
from autotune.tabular import layers  # noqa: E402
from autotune.tabular.encode import build_preprocessor, encode  # noqa: E402


def test_impute_clip_fills_nan_then_clips():
    layer = layers.ImputeClip(fill=5.0, low=0.0, high=10.0)
    out = np.asarray(layer(np.array([[np.nan], [-3.0], [4.0], [99.0]], np.float32)))
    np.testing.assert_array_equal(out, [[5.0], [0.0], [4.0], [10.0]])


def test_missing_indicator_marks_nan_only():
    out = np.asarray(layers.MissingIndicator()(np.array([[np.nan], [0.0], [1.5]], np.float32)))
    np.testing.assert_array_equal(out, [[1.0], [0.0], [0.0]])


def test_number_categories_one_hot_with_missing_and_other_slots():
    layer = layers.NumberCategories([2007.0, 2008.0, 2009.0])
    out = np.asarray(layer(np.array([[2008.0], [np.nan], [2031.0]], np.float32)))
    np.testing.assert_array_equal(out, [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])


def test_piecewise_linear_ramps_between_the_knots():
    out = np.asarray(layers.PiecewiseLinear([0.0, 1.0, 3.0])(np.array([[-5.0], [0.5], [2.0], [3.0], [99.0]], np.float32)))
    np.testing.assert_allclose(out, [[0, 0], [0.5, 0], [1, 0.5], [1, 1], [1, 1]])
    # the ramps' sum is the number's place in the training distribution: the quantile transform
    knots = np.quantile(np.random.default_rng(0).lognormal(size=1000), np.linspace(0, 1, 9))
    x = np.random.default_rng(1).lognormal(size=(200, 1)).astype(np.float32)
    ramps = np.asarray(layers.PiecewiseLinear(list(knots))(x))
    np.testing.assert_allclose(ramps.sum(axis=1) / 8, np.interp(x[:, 0], knots, np.linspace(0, 1, 9)), atol=1e-5)


@pytest.mark.parametrize("layer", [layers.ImputeClip(1.0, -2.0, 2.0), layers.MissingIndicator(),
                                   layers.NumberCategories([1.0, 2.0]), layers.PiecewiseLinear([0.0, 1.0, 4.0])])
def test_custom_layers_round_trip_their_config(layer):
    clone = type(layer).from_config(layer.get_config())
    x = np.array([[np.nan], [1.0], [7.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(layer(x)))


@pytest.fixture(scope="module")
def penguins_features():
    frame = pd.read_csv(DATA / "penguins.csv")
    prof = profile(frame, "species")
    frame, _ = drop_unusable_rows(frame, prof)
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    features, _ = learn_features(parts.train, prof)
    return parts, features


def test_number_embeddings_normal_scores_are_scikit_learns_quantile_transform():
    """NumberEmbeddings' quantile-normal values against QuantileTransformer(output_distribution="normal") fitted on
    the same training values (float64, as it reads a frame): a skewed count with most rows at 0 (its minimum: the
    lower bound, -5.2), small integers, a lognormal, and rows beyond the training range on both sides."""
    from sklearn.preprocessing import QuantileTransformer

    rng = np.random.default_rng(0)
    rows = 3000
    x = np.stack([rng.poisson(0.4, rows), rng.integers(0, 5, rows), rng.lognormal(0, 1, rows),
                  rng.normal(size=rows)], 1).astype(np.float32)
    x[-5:, :3] = [[-1, -1, 0.0], [9, 9, 99.0], [3, 4, 1e-3], [0, 0, 1.0], [1, 2, 2.0]]  # beyond, at the ends
    train, new = x[:2000], x[2000:]
    layer = layers.NumberEmbeddings([0, 1, 2], [[3], [3], [3]], [3], units=4)
    layer.build((None, 4))
    layer.adapt(train)
    want = QuantileTransformer(output_distribution="normal", n_quantiles=1000, subsample=10**9).fit(
        train[:, :3].astype(np.float64)).transform(new[:, :3].astype(np.float64))
    got = np.asarray(layer.normal(new[:, :3]))
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert got[:, 0].min() == pytest.approx(-5.1993, abs=1e-3) and np.mean(got[:, 0] < -5) > 0.5  # most rows at 0


def test_number_embeddings_start_from_the_values_and_learn_the_ramps():
    """Version B's start: the ramps' map is zero, so at initialisation a number's embedding is a function of its
    quantile-normal value alone (rows that differ only in its ramps embed alike); the kept columns pass through as
    they are, after the embeddings; a fit moves the ramps' map off zero."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 6)).astype(np.float32)  # 0: a value, 1-3: its ramps, 4: a value, 5: its ramp
    layer = layers.NumberEmbeddings([0, 4], [[1, 2, 3], [5]], [], units=3)
    other = x.copy()
    other[:, [1, 2, 3, 5]] = rng.normal(size=(256, 4))
    layer.build((None, 6))
    layer.adapt(x)
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(layer(other)), atol=1e-6)
    keep = layers.NumberEmbeddings([0], [[1, 2]], [3, 5], units=2)
    out = np.asarray(keep(x))
    assert out.shape == (256, 2 + 2)
    np.testing.assert_array_equal(out[:, 2:], x[:, [3, 5]])
    y = (x[:, 1] * x[:, 2] > 0).astype(np.int32)  # held by the ramps' columns only
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(
        layers.NumberEmbeddings([0], [[1, 2, 3]], [4, 5], units=4, name="numbers")(inputs)))
    model.get_layer("numbers").adapt(x)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, verbose=0)
    assert np.abs(np.asarray(model.get_layer("numbers").bends)).max() > 1e-3


def test_ramp_groups_are_each_numbers_value_and_ramps(penguins_features):
    """encode.ramp_groups reads ramp_columns back into numbers: the value column before each run of ramps, the runs
    as _starts lays each number's block out."""
    from autotune.tabular.encode import _starts, ramp_columns, ramp_groups

    _, features = penguins_features
    values, groups = ramp_groups(ramp_columns(features))
    ramped = [(f, at) for f, at in _starts(features) if f.kind == "numeric" and f.knots]
    assert len(ramped) >= 3
    assert values == [at for _, at in ramped]
    assert [len(g) for g in groups] == [len(f.knots) - 1 for f, _ in ramped]
    assert all(g == list(range(v + 1, v + 1 + len(g))) for v, g in zip(values, groups, strict=True))


def test_preprocessor_standardises_train_columns_and_one_hots_categories(penguins_features):
    parts, features = penguins_features
    encoded = encode(build_preprocessor(features), raw_inputs(parts.train, features))
    # island (3 + OOV) + 4 numbers with a missing indicator each + sex (female, male, missing + OOV)
    # + year (3 + missing + other) — the train split decides which columns get an indicator.
    # + each number's ramps between its knots (one fewer than the knots).
    def width(f):
        if f.kind == "categorical":
            return len(f.vocabulary) + (2 if f.dtype == "number" else 1)
        return (2 if f.missing_indicator else 1) + max(len(f.knots) - 1, 0)

    assert all(len(f.knots) == 17 for f in features if f.kind == "numeric")
    assert encoded.shape == (len(parts.train), sum(map(width, features)))
    assert np.isfinite(encoded).all()
    body_mass = [f for f in features if f.name == "body_mass_g"][0]
    column = list(f.name for f in features).index("body_mass_g")
    offset = sum(map(width, features[:column]))
    values = encoded[:, offset]
    ramps = encoded[:, offset + 1: offset + len(body_mass.knots)]  # the number's place among its quantiles
    assert ramps.min() == 0 and ramps.max() == 1 and (np.diff(ramps, axis=1) <= 0).all()
    np.testing.assert_allclose(ramps.mean(axis=0), np.linspace(1, 0, 16), atol=0.1)
    assert values.mean() == pytest.approx(0.0, abs=1e-4) and values.std() == pytest.approx(1.0, abs=1e-3)
    assert body_mass.mean == pytest.approx(parts.train["body_mass_g"].fillna(body_mass.fill).mean(), rel=1e-6)


def _per_column_preprocessor(features):
    """The preprocessor as bundles before NumericColumns built it: four layers per number, in the features'
    order (the PCA block first). Those bundles' model.keras still load these layers."""
    from autotune.data.clean import NO_BOUND
    from autotune.tabular.encode import _encode_category, raw_input_layers

    inputs = raw_input_layers(features)
    parts, projected = [], []
    for f in features:
        x = inputs[f.key]
        if f.kind != "numeric":
            parts.append(_encode_category(f, x))
            continue
        scaled = keras.layers.Normalization(mean=f.mean, variance=f.variance)(
            layers.ImputeClip(f.fill, f.clip_low, f.clip_high)(x))
        (projected if f.components else parts).append(scaled)
        if f.knots:
            parts.append(layers.PiecewiseLinear(list(f.knots))(layers.ImputeClip(f.fill, -NO_BOUND, NO_BOUND)(x)))
        if f.missing_indicator:
            parts.append(layers.MissingIndicator()(x))
    if projected:
        stacked = keras.layers.Concatenate()(projected) if len(projected) > 1 else projected[0]
        parts.insert(0, layers.Projection([list(f.components) for f in features if f.components])(stacked))
    return keras.Model(inputs, keras.layers.Concatenate()(parts))


@pytest.mark.parametrize("data,target,select", [("penguins.csv", "species", "none"),
                                                ("breast_cancer.csv", "target", "none"),
                                                ("breast_cancer.csv", "target", "pca")])
def test_all_numbers_in_one_layer_encode_exactly_as_four_layers_per_column(data, target, select):
    """layers.NumericColumns (one layer for every number) gives the matrix of the per-column layers bit for bit,
    missing, infinite and out-of-fence values included, in the same column order."""
    frame = pd.read_csv(DATA / data)
    prof = profile(frame, target)
    frame, _ = drop_unusable_rows(frame, prof)
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    features, _ = learn_features(parts.train, prof, select)
    assert any(f.missing_indicator for f in features) == (data == "penguins.csv")
    columns = {k: v.copy() for k, v in raw_inputs(parts.validation, features).items()}
    for values in columns.values():
        if values.dtype.kind == "f":
            values[:4] = [np.nan, np.inf, -np.inf, -1e30]
    preprocessor = build_preprocessor(features)
    encoded = encode(preprocessor, columns)
    np.testing.assert_array_equal(encoded, encode(_per_column_preprocessor(features), columns))
    assert np.isfinite(encoded).all()
    numbers = [layer for layer in preprocessor.layers if isinstance(layer, layers.NumericColumns)]
    assert len(numbers) == 1
    clone = layers.NumericColumns.from_config(numbers[0].get_config())
    stacked = np.concatenate([columns[f.key].reshape(-1, 1) for f in features if f.kind == "numeric"], axis=1)
    np.testing.assert_array_equal(np.asarray(clone(stacked)), np.asarray(numbers[0](stacked)))


def test_unseen_and_missing_values_encode_to_finite_rows(penguins_features):
    _, features = penguins_features
    row = pd.DataFrame({"island": ["Atlantis"], "bill_length_mm": [np.nan], "bill_depth_mm": [1e9],
                        "flipper_length_mm": [200.0], "body_mass_g": [4000.0], "sex": [None], "year": [2031]})
    columns = raw_inputs(row, features)
    assert columns["sex"].tolist() == [MISSING_TOKEN]
    encoded = encode(build_preprocessor(features), columns)
    assert np.isfinite(encoded).all()
    island = [f for f in features if f.name == "island"][0]
    assert encoded[0, : len(island.vocabulary) + 1].tolist() == [1.0] + [0.0] * len(island.vocabulary)  # OOV slot


# --- unseen and missing categories meet trained weights (issue 14, item 5) -------------------------


@pytest.mark.parametrize("select", ["none", "pca"])
def test_category_slots_are_the_slots_training_never_fills(select):
    """The layout follows build_preprocessor's matrix (PCA block first), and the listed slots are
    exactly the ones no training row fills."""
    from autotune.tabular.encode import category_slots

    frame = pd.read_csv(DATA / "penguins.csv")
    prof = profile(frame, "species")
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    features, _ = learn_features(parts.train, prof, select)
    encoded = encode(build_preprocessor(features), raw_inputs(parts.train, features))
    blocks = category_slots(features)
    assert len(blocks) == 3  # island, sex, year
    for start, width, slots in blocks:
        block = encoded[:, start:start + width]
        np.testing.assert_array_equal(block.sum(1), 1.0)  # a one-hot block
        assert sorted(np.flatnonzero(block.sum(0) == 0)) == sorted(slots)


def test_category_dropout_moves_a_share_of_rows_in_training_only():
    rng = np.random.default_rng(0)
    rows = 20000
    numbers = rng.normal(size=(rows, 2)).astype(np.float32)
    first = np.eye(4, dtype=np.float32)[rng.integers(1, 4, rows)]  # slot 0: out of vocabulary
    second = np.eye(5, dtype=np.float32)[rng.integers(0, 3, rows)]  # slots 3, 4: missing, other
    x = np.concatenate([numbers, first, second], axis=1)
    layer = layers.CategoryDropout([[2, 4, [0]], [6, 5, [3, 4]]], rate=0.03, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    out = np.asarray(layer(x, training=True))
    np.testing.assert_array_equal(out[:, :2], numbers)
    for start, width in ((2, 4), (6, 5)):
        np.testing.assert_array_equal(out[:, start:start + width].sum(1), 1.0)
    share = 0.03 * rows
    moved_first = int((out[:, 2] == 1).sum())
    moved_second = int((out[:, 9:11] == 1).sum())
    assert abs(moved_first - share) < 4 * np.sqrt(share) and abs(moved_second - share) < 4 * np.sqrt(share)
    assert (out[:, 9] == 1).sum() > 0.3 * share and (out[:, 10] == 1).sum() > 0.3 * share  # both slots
    changed = (out != x).any(axis=1)
    assert changed.sum() <= moved_first + moved_second  # nothing else moved
    again = np.asarray(layer(x, training=True))  # a new draw per batch
    assert not np.array_equal(again, out)
    clone = layers.CategoryDropout.from_config(layer.get_config())
    assert clone.blocks == layer.blocks and clone.rate == layer.rate


def test_out_of_vocabulary_weights_are_trained_by_a_real_fit():
    """Without category dropout no training row reaches an out-of-vocabulary slot, so Adam leaves its first-
    layer weights exactly at their random initial values; with it they are learned."""
    import keras_tuner as kt

    from autotune.tabular.encode import category_slots
    from autotune.tabular.run import TabularRun

    frame = pd.read_csv(DATA / "penguins.csv")
    prof = profile(frame, "species")
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    features, _ = learn_features(parts.train, prof)
    labels = sorted(set(parts.y_train) | set(parts.y_validation))
    run = TabularRun(parts, features, prof.task, labels, seed=0)
    run.prepare()
    hypermodel = run.hypermodel(folds=1, patience=3)
    hp = kt.HyperParameters()
    for name, value in {"layers": 1, "units": 32, "activation": "relu", "dropout": 0.0, "l1": 0.0, "l2": 0.0,
                        "batch_norm": False, "optimizer": "adam", "learning_rate": 1e-2, "lr_schedule": "constant",
                        "batch_size": 32}.items():
        hp.Fixed(name, value)
    keras.utils.set_random_seed(0)
    network = hypermodel.build(hp)
    slots = [start + s for start, _, offsets in category_slots(features) for s in offsets]
    before = np.array(network.get_layer("dense_0").kernel.numpy()[slots])
    a = run.arrays
    network.fit(hypermodel.train_data(hp, a["x_train"], a["y_train"]), epochs=10, verbose=0)
    after = network.get_layer("dense_0").kernel.numpy()[slots]
    assert (np.abs(after - before).max(axis=1) > 1e-2).all()
    # and an unseen island gives a finite answer
    rows = parts.test.head(20).copy()
    rows["island"] = "Atlantis"
    encoded = encode(run.preprocessor, raw_inputs(rows, features))
    probabilities = np.asarray(network(encoded, training=False))
    assert np.isfinite(probabilities).all()


def test_the_final_fit_takes_training_and_validation_rows_without_a_copy(monkeypatch):
    """The two splits are encoded one after the other into one array; the final fit trains on that array itself
    (1,000,000 rows x 50 columns: ~0.5 GB less at the peak), with the rows each split encodes to alone — also when the
    encoder works in blocks smaller than a split."""
    from autotune.tabular import encode as encoding
    from autotune.tabular.run import TabularRun

    frame = pd.read_csv(DATA / "penguins.csv")
    prof = profile(frame, "species")
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    features, _ = learn_features(parts.train, prof)
    run = TabularRun(parts, features, prof.task, sorted(set(parts.y_train) | set(parts.y_validation)), seed=0)
    monkeypatch.setattr(encoding, "ENCODE_ROWS", 50)  # several blocks a split
    run.prepare()
    x, y = run.final_data()
    a = run.arrays
    assert np.shares_memory(x, a["x_train"]) and np.shares_memory(x, a["x_val"])
    alone = [encode(run.preprocessor, raw_inputs(d, features)) for d in (parts.train, parts.validation)]
    np.testing.assert_array_equal(x, np.concatenate(alone))
    np.testing.assert_array_equal(y, np.concatenate([a["y_train"], a["y_val"]]))
    a["x_val"] = a["x_val"].copy()  # rows that are not views of one array are joined by a copy, in order
    np.testing.assert_array_equal(run.final_data()[0], np.concatenate(alone))


def test_the_final_fits_traced_loop_trains_on_the_encoded_rows_themselves():
    """The encoded rows are written where TensorFlow can read them in place (64-byte aligned), so the traced training
    loop holds the final fit's rows without a copy of its own (1,000,000 rows x 50 columns: ~0.55 GB less at the
    peak); rows TensorFlow cannot share (unaligned, strided or read-only) are copied, never misread."""
    import tensorflow as tf

    from autotune.search.data import ALIGN, rows_tensor
    from autotune.tabular.run import TabularRun

    frame = pd.read_csv(DATA / "penguins.csv")
    prof = profile(frame, "species")
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    features, _ = learn_features(parts.train, prof)
    run = TabularRun(parts, features, prof.task, sorted(set(parts.y_train) | set(parts.y_validation)), seed=0)
    run.prepare()
    x, _ = run.final_data()
    assert x.ctypes.data % ALIGN == 0 and np.shares_memory(x, run.arrays["x_val"])
    tensor = rows_tensor(x[None])
    before = float(tensor[0, 3, 1])
    x[3, 1] += 1.0  # the tensor reads the array's own memory
    assert float(tensor[0, 3, 1]) == before + 1.0
    np.testing.assert_array_equal(tf.gather(tensor, [[3, 0]], batch_dims=1).numpy()[0], x[[3, 0]])
    # what TensorFlow cannot share is copied: the same values, and later changes to the array do not reach it
    unaligned = np.empty(x.size + 1, np.float32)[1:].reshape(x.shape)
    readonly = x.copy()
    readonly.flags.writeable = False
    for other in (unaligned, x[:, ::2], readonly):
        if other is unaligned:
            unaligned[:] = x
        copy = rows_tensor(other)
        np.testing.assert_array_equal(copy.numpy(), other)
        if other.flags.writeable:
            other[0, 0] += 1.0
            assert float(copy[0, 0]) == other[0, 0] - 1.0


def test_with_a_gpu_the_rows_are_copied_for_the_device(monkeypatch):
    """Where a GPU is in use the traced loop runs there: the rows go into a tensor of their own (tf.constant, which
    TensorFlow puts on the GPU) rather than staying shared in host memory to cross to the device on every call. Only the
    device list is stood in for here; which device TensorFlow then picks needs a GPU to check."""
    import tensorflow as tf

    from autotune.search.data import aligned_empty, rows_tensor

    rows = aligned_empty((4, 3))
    rows[:] = 1.0
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    tensor = rows_tensor(rows)
    rows[0, 0] = 5.0
    assert float(tensor[0, 0]) == 1.0
