"""A class-weighted classifier's outputs re-weighted toward the class frequencies (decision.py) in a run: the search
keeps each trial's validation outputs at the epoch it is scored at, the final fit chooses α on them, the exported
model carries it in its output biases, and the report says so."""
from __future__ import annotations

import json

import keras_tuner as kt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from autotune.config import FitConfig
from autotune.decision import shifted
from autotune.modality import class_weights
from autotune.pipeline import fit
from autotune.search.space import TabularHyperModel


def rare_class(rows: int, seed: int = 0):
    """Six features, a class of ~5% whose odds the first two carry (lending_club's shape, a clearer signal)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6)).astype(np.float32)
    y = (rng.random(rows) < 1 / (1 + np.exp(4 - 1.5 * x[:, 0] - x[:, 1]))).astype(np.int32)
    return x, y


def fixed(**values) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


NETWORK = dict(layers=1, units=16, activation="relu", batch_norm=False, dropout=0.0, l1=0.0, l2=0.0,
               optimizer="adam", learning_rate=3e-3, lr_schedule="constant", batch_size=64,
               numeric_encoding="standardized")


def test_applied_to_a_network_its_outputs_are_the_reweighted_ones():
    import keras

    from autotune.decision import apply

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    network = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probabilities")(hidden))
    x = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    before = network.predict(x, verbose=0)
    shift = [0.3, -1.2, 0.9]
    apply([network], shift)
    np.testing.assert_allclose(network.predict(x, verbose=0), shifted(before, np.array(shift)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("folds,loop", [(1, "stacked"), (3, "stacked"), (1, "keras"), (3, "keras")])
def test_a_trial_keeps_its_validation_outputs_at_the_epoch_it_is_scored_at(folds, loop):
    """The outputs kept score, class-weighted, the trial's val_log_loss (its folds' mean): the epoch it is ranked by,
    not its last; a cross-validated trial's are its folds' validation rows one after the other. In stacked.py's loop
    and through Keras's fit (images, Hyperband, --tensorboard, several devices) alike."""
    x, y = rare_class(3000)
    hypermodel = TabularHyperModel(6, 2, "classification", 2400, seed=0, patience=3, folds=folds)
    hypermodel.side_by_side = loop == "stacked"
    hypermodel.class_weight = class_weights(y[:2400], 2)
    assert hypermodel.keeps_validation_outputs
    hypermodel.trial_id = "07"
    hp = fixed(**{**NETWORK, "learning_rate": 3e-2, "units": 64})
    summary = hypermodel.fit(hp, hypermodel.build(hp), x[:2400], y[:2400], validation_data=(x[2400:], y[2400:]),
                             epochs=60)
    assert summary["epochs"] > summary["best_epoch"] >= 1  # stopped early: the best epoch is not the last
    truth, outputs = hypermodel.validation_outputs["07"]
    weights = np.array([hypermodel.class_weight[int(c)] for c in truth])
    if folds == 1:
        assert np.array_equal(truth, y[2400:])
        expected = log_loss(truth, outputs, sample_weight=weights)
    else:
        assert len(truth) == 3000 and sorted(truth) == sorted(y)
        sizes = [len(f.y_val) for f in hypermodel.folds_of(x[:2400], y[:2400], (x[2400:], y[2400:]))]
        edges = np.cumsum([0, *sizes])
        expected = np.mean([log_loss(truth[a:b], outputs[a:b], sample_weight=weights[a:b])
                            for a, b in zip(edges[:-1], edges[1:], strict=True)])
    assert summary["val_log_loss"] == pytest.approx(expected, rel=1e-4)


def test_unweighted_runs_keep_no_outputs():
    hypermodel = TabularHyperModel(6, 2, "classification", 100, seed=0)
    assert not hypermodel.keeps_validation_outputs
    hypermodel = TabularHyperModel(6, 1, "regression", 100, seed=0)
    hypermodel.class_weight = {0: 1.0}
    assert not hypermodel.keeps_validation_outputs


def test_a_class_weighted_run_exports_the_reweighting_chosen_on_its_search(tmp_path):
    """1,500 rows, ~5% of them the rare class: a cross-validated search and an ensemble (small data), --cv 3 too.
    The decision is chosen on the out-of-fold outputs of the train + validation rows and is in the exported
    model: undoing it on the SavedModel's outputs gives back a model that calls more rows the rare class."""
    import tensorflow as tf

    x, y = rare_class(1500, seed=1)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(label=np.where(y == 1, "rare", "common"))
    frame.to_csv(tmp_path / "rare.csv", index=False)
    report = fit(FitConfig.of(tmp_path / "rare.csv", target="label", output=tmp_path / "out", tuner="random",
                              max_trials=3, epochs=20, patience=4, seed=0, cv=3)).report
    decision = report["final_model"]["decision"]
    split = report["split"]
    assert report["search"]["validation"].startswith("3-fold")
    assert decision["rows"] == split["train"] + split["validation"] and decision["metric"] == "f1_macro"
    assert decision["members"] == len(report["final_model"]["members"]) > 1
    assert decision["alpha"] > 0 and decision["chosen"] > decision["as_trained"]
    assert "re-weighted toward the class frequencies" in (tmp_path / "out" / "report.md").read_text()
    assert report["cross_validation"]["pooled"]["f1_macro"] > 0
    # the gradient-boosting baseline gets the same rule, chosen on the validation rows
    assert report["baseline"]["decision"]["rows"] == split["validation"]
    test = pd.read_csv(tmp_path / "rare.csv").drop(columns="label")
    serve = tf.saved_model.load(str(tmp_path / "out" / "saved_model")).signatures["serve"]
    out = serve(**{c: tf.constant(test[c].to_numpy(np.float32)) for c in test})
    probabilities = out["probabilities"].numpy()
    labels = json.loads((tmp_path / "out" / "metadata.json").read_text())["labels"]
    rare = labels.index("rare")
    as_trained = shifted(probabilities, -np.array(decision["bias_shift"]))
    assert (probabilities.argmax(axis=1) == rare).sum() < (as_trained.argmax(axis=1) == rare).sum()


def test_an_image_trial_keeps_its_validation_outputs_at_the_epoch_it_is_scored_at():
    """Images train through Keras's fit: a class-weighted trial (one class of stripes rare) keeps its validation
    outputs at its scored epoch, in the validation images' order."""
    import keras
    import tensorflow as tf

    from autotune.vision.pipeline import ImageHyperModel

    rng = np.random.default_rng(0)
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    images, labels = [], []
    for label, (coordinate, count) in enumerate(((i, 60), (j, 60), (i + j, 10))):
        for _ in range(count):
            wave = np.where((coordinate + rng.integers(0, 5)) % 5 < 2.5, 170.0, 85.0)
            images.append(np.clip(wave[..., None] + rng.normal(0, 30, (16, 16, 3)), 0, 255))
            labels.append(label)
    x, y = np.asarray(images, np.float32), np.asarray(labels, np.int32)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    train, val = slice(0, 90), slice(90, None)
    hypermodel = ImageHyperModel((16, 16), x.reshape(-1, 3).mean(0).tolist(), x.reshape(-1, 3).var(0).tolist(),
                                 "none", 3, 90, seed=0, patience=3)
    hypermodel.class_weight = class_weights(y[train], 3)
    assert hypermodel.class_weight is not None and hypermodel.keeps_validation_outputs
    hypermodel.trial_id = "03"
    hp = fixed(conv_blocks=1, filters=8, kernel_size=3, batch_size=16, global_pooling="flatten", dense_units=0,
               dropout=0.0, batch_norm=False, pooling="max", optimizer="adam", learning_rate=3e-3,
               lr_schedule="constant")
    keras.utils.set_random_seed(0)
    summary = hypermodel.fit(hp, hypermodel.build(hp), tf.data.Dataset.from_tensor_slices((x[train], y[train])),
                             y[train], validation_data=tf.data.Dataset.from_tensor_slices((x[val], y[val])),
                             epochs=8)
    truth, outputs = hypermodel.validation_outputs["03"]
    assert np.array_equal(truth, y[val]) and outputs.shape == (len(y[val]), 3)
    weights = np.array([hypermodel.class_weight[int(c)] for c in truth])
    assert summary["val_log_loss"] == pytest.approx(log_loss(truth, outputs, sample_weight=weights, labels=[0, 1, 2]),
                                                    rel=1e-3)


def test_a_class_weighted_image_run_chooses_the_rule_for_its_network_and_its_pixel_baseline(tmp_path):
    """Digit scans, 0s ten times as many as 8s (class weights on): the CNN's trials, trained by Keras's fit, keep their
    validation outputs and the final model's decision is chosen on them; the pixel baseline's on the validation
    images."""
    from conftest import make_digit_images

    root = tmp_path / "photos"
    make_digit_images(root, classes=(0,), per_class=150, broken=False)
    make_digit_images(root, classes=(8,), per_class=15, broken=False)
    report = fit(FitConfig.of(root, output=tmp_path / "out", tuner="random", max_trials=2, epochs=3, seed=0)).report
    assert report["search"]["class_weight"] is not None and report["search"]["objective_weighted_by_class"]
    decision, split = report["final_model"]["decision"], report["split"]
    assert decision is not None and decision["rows"] == split["validation"] and decision["metric"] == "f1_macro"
    assert 0.0 <= decision["alpha"] <= 1.0 and decision["members"] == len(report["final_model"]["members"])
    baseline = report["baseline"]["decision"]
    assert baseline is not None and baseline["rows"] == split["validation"]
