"""The exported bundle used as deployments use it: plain TensorFlow, no autotune installed."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

# Raw rows as a user sends them: a missing number, a missing category, unseen categories (island and
# year), a number column holding text, and a column the model never saw.


def test_saved_model_matches_keras_model_in_process(penguins_run):
    """The two artefacts of a bundle agree: model.keras (loaded in safe mode) and the SavedModel."""
    import tensorflow as tf

    from autotune.bundle.load import load_bundle, predict
    from autotune.data.clean import raw_inputs
    from autotune.train import predict_raw

    bundle = load_bundle(penguins_run.output)
    frame = pd.read_csv(ROOT / "data" / "penguins.csv")
    keras_outputs = predict_raw(bundle.model, raw_inputs(frame, bundle.features))
    serve = tf.saved_model.load(str(penguins_run.output / "saved_model")).signatures["serving_default"]
    out = serve(**{k: tf.constant(v) for k, v in raw_inputs(frame, bundle.features).items()})
    np.testing.assert_allclose(out["probabilities"].numpy(), keras_outputs, atol=1e-5)
    expected = predict(bundle, frame)
    assert [v.decode() for v in out["label"].numpy()] == expected["prediction"].tolist()


def test_model_keras_loads_in_safe_mode_and_holds_no_pickle(penguins_run):
    import zipfile

    import keras

    import autotune.tabular.layers  # noqa: F401  registers the custom preprocessing layers

    model = keras.saving.load_model(penguins_run.output / "model.keras", safe_mode=True)
    assert sorted(model.input) == sorted(f["key"] for f in json.loads(
        (penguins_run.output / "metadata.json").read_text())["inputs"]) or isinstance(model.input, dict)
    with zipfile.ZipFile(penguins_run.output / "model.keras") as archive:
        names = archive.namelist()
        assert not [n for n in names if n.endswith((".pkl", ".pickle"))]
        config = archive.read("config.json").decode()
    assert "Lambda" not in config and "NumericColumns" in config
    for path in penguins_run.output.rglob("*"):
        assert path.suffix not in (".pkl", ".pickle")


def test_regression_saved_model_returns_values(diabetes_run):
    import tensorflow as tf

    from autotune.bundle.load import load_bundle, predict
    from autotune.data.clean import raw_inputs
    from autotune.train import predict_raw

    bundle = load_bundle(diabetes_run.output)
    frame = pd.read_csv(ROOT / "data" / "diabetes.csv").head(25)
    expected = predict(bundle, frame)["prediction"].to_numpy()
    np.testing.assert_allclose(predict_raw(bundle.model, raw_inputs(frame, bundle.features)).reshape(-1), expected,
                               rtol=1e-5, atol=1e-3)
    serve = tf.saved_model.load(str(diabetes_run.output / "saved_model")).signatures["serving_default"]
    value = serve(**{k: tf.constant(v) for k, v in raw_inputs(frame, bundle.features).items()})["value"].numpy()
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-3)
    # Predictions are in the target's own units, not standardised ones.
    assert 20 < expected.mean() < 350


@pytest.mark.parametrize("numbers,layers", [("standardized", 1), ("piecewise_linear", 0), ("embedded", 2)])
def test_both_numeric_encodings_export_and_serve_raw_rows(numbers, layers, tmp_path):
    """A network that leaves the numbers' ramps out (KeepColumns), the linear model over them, and one that embeds
    each number (NumberEmbeddings, its quantiles adapted to the final fit's rows): the SavedModel takes raw rows and
    gives the .keras model's outputs; the metadata carries each number's knots."""
    import tensorflow as tf

    from autotune.bundle.load import load_bundle
    from autotune.bundle.verify import foreign_ops
    from autotune.config import FitConfig
    from autotune.data.clean import raw_inputs
    from autotune.pipeline import fit
    from autotune.train import predict_raw

    space = {"numeric_encoding": [numbers], "layers": {"min": layers, "max": layers}}
    run = fit(FitConfig.of(ROOT / "data" / "penguins.csv", target="species", output=tmp_path / "b", tuner="random",
                           max_trials=1, epochs=4, patience=2, seed=0, space=space, ensemble=1, search_folds=1))
    bundle = load_bundle(run.output)
    config = (run.output / "model.keras").read_bytes()
    assert (b"standardized_numbers" in config) == (numbers == "standardized")  # the network's KeepColumns
    assert (b"number_embeddings" in config) == (numbers == "embedded")
    if numbers == "embedded":  # quantiles of the rows the final network trained on, not the zeros it was built with
        (embeddings,) = [layer for layer in bundle.model._flatten_layers() if layer.name == "number_embeddings"]
        quantiles = np.asarray(embeddings.quantiles)
        assert quantiles.shape[0] == 4 and np.all(quantiles[:, -1] - quantiles[:, 0] > 1)
    metadata = json.loads((run.output / "metadata.json").read_text())
    assert all(len(f["knots"]) >= 3 for f in metadata["inputs"] if f["kind"] == "numeric")
    # `autotune predict` runs it: every op is one autotune exports (an embedded network's searchsorted and erfinv too)
    assert not foreign_ops(run.output / "saved_model")
    frame = pd.read_csv(ROOT / "data" / "penguins.csv")
    serve = tf.saved_model.load(str(run.output / "saved_model")).signatures["serving_default"]
    out = serve(**{k: tf.constant(v) for k, v in raw_inputs(frame, bundle.features).items()})
    np.testing.assert_allclose(out["probabilities"].numpy(), predict_raw(bundle.model, raw_inputs(frame, bundle.features)),
                               atol=1e-5)


@pytest.mark.parametrize("bad", ["missing", "unknown_version"])
def test_load_bundle_refuses_broken_bundles(penguins_run, tmp_path, bad):
    import shutil

    from autotune.bundle.load import load_bundle
    from autotune.errors import InputError

    copy = tmp_path / "copy"
    shutil.copytree(penguins_run.output, copy)
    if bad == "missing":
        shutil.rmtree(copy / "saved_model")
        message = "saved_model is missing"
    else:
        meta = json.loads((copy / "metadata.json").read_text())
        meta["schema_version"] = 99
        (copy / "metadata.json").write_text(json.dumps(meta))
        message = "schema version 99 is not supported"
    with pytest.raises(InputError, match=message):
        load_bundle(copy)


def test_predict_raw_is_kerass_predict_in_blocks_through_one_trace(penguins_run, monkeypatch):
    """The in-process path of the test rows and the permutation importance: the same numbers as Keras's predict over
    a tf.data pipeline of the raw columns, in blocks of any size, the model traced once for all of them."""
    import keras
    import tensorflow as tf

    from autotune import train
    from autotune.data.clean import Feature, raw_inputs
    from autotune.tabular import layers  # noqa: F401  (the bundle's registered layers)

    model = keras.models.load_model(penguins_run.output / "model.keras")
    metadata = json.loads((penguins_run.output / "metadata.json").read_text())
    features = [Feature.from_dict(f) for f in metadata["inputs"]]
    columns = raw_inputs(pd.read_csv(ROOT / "data" / "penguins.csv"), features)
    reference = np.asarray(model.predict(tf.data.Dataset.from_tensor_slices(
        {k: tf.constant(v.reshape(-1, 1)) for k, v in columns.items()}).batch(4096), verbose=0))
    monkeypatch.setattr(train, "PREDICT_ROWS", 100)  # 344 rows: four blocks, the last one short
    got = train.predict_raw(model, columns)
    # The same numbers to float32's last bits: a matrix product's kernel may sum in an order that depends on the rows
    # of the call (on an AVX2-only CPU, 14 of 1,032 outputs one or two units in the last place apart, 6e-8, between
    # blocks of 100 and one of 344; equal to the bit on AVX-512 machines).
    np.testing.assert_allclose(got, reference, rtol=1e-6, atol=1e-7)
    assert train._TRACED[model].experimental_get_tracing_count() == 1
    assert train.predict_raw(model, {k: v[:0] for k, v in columns.items()}).shape == (0, reference.shape[1])


def test_predict_raw_keeps_no_model_alive():
    """The traced call is cached per model in a weak-keyed table: a value that held the model strongly would keep
    every model of a process (the Python API fitting run after run) alive for good."""
    import gc
    import weakref

    import keras

    from autotune import train

    inputs = {"x": keras.Input(shape=(1,), dtype="float32", name="x")}
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs["x"]))
    assert train.predict_raw(model, {"x": np.ones(3, np.float32)}).shape == (3, 2)
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
