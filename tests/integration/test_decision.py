"""An imbalanced classifier's outputs re-weighted between balanced classes and the class frequencies (decision.py) in
a run — a class-weighted network's, or one trained on the rows as they are (--balance adjust, tables' auto): the
search keeps each trial's validation outputs at the epoch it is scored at, the final fit chooses α on them, the
exported model carries it in its output biases, and the report says so."""
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


@pytest.mark.parametrize("folds,loop,in_loss", [(1, "stacked", True), (3, "stacked", True), (1, "keras", True),
                                                (3, "keras", True), (1, "stacked", False), (3, "keras", False)])
def test_a_trial_keeps_its_validation_outputs_at_the_epoch_it_is_scored_at(folds, loop, in_loss):
    """The outputs kept score the trial's val_log_loss (its folds' mean) — class-weighted where training weighs
    classes, unweighted where it sees the rows as they are (--balance adjust) —: the epoch it is ranked by, not its
    last; a cross-validated trial's are its folds' validation rows one after the other. In stacked.py's loop and
    through Keras's fit (images, Hyperband, --tensorboard, several devices) alike."""
    x, y = rare_class(3000)
    hypermodel = TabularHyperModel(6, 2, "classification", 2400, seed=0, patience=3, folds=folds)
    hypermodel.side_by_side = loop == "stacked"
    hypermodel.class_weight = class_weights(y[:2400], 2)
    hypermodel.weighs_loss = in_loss
    assert hypermodel.keeps_validation_outputs and hypermodel.trained_alpha == (0.0 if in_loss else 1.0)
    hypermodel.trial_id = "07"
    hp = fixed(**{**NETWORK, "learning_rate": 3e-2, "units": 64})
    summary = hypermodel.fit(hp, hypermodel.build(hp), x[:2400], y[:2400], validation_data=(x[2400:], y[2400:]),
                             epochs=60)
    assert summary["epochs"] > summary["best_epoch"] >= 1  # stopped early: the best epoch is not the last
    truth, outputs = hypermodel.validation_outputs["07"]
    weights = np.array([hypermodel.class_weight[int(c)] if in_loss else 1.0 for c in truth])
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


@pytest.mark.parametrize("balance", ["weights", "auto"])
def test_an_imbalanced_run_exports_the_reweighting_chosen_on_its_search(tmp_path, balance):
    """1,500 rows, ~5% of them the rare class: a cross-validated search and an ensemble (small data), --cv 3 too.
    The decision is chosen on the out-of-fold outputs of the train + validation rows and is in the exported
    model: undoing it on the SavedModel's outputs gives back the networks as trained — class-weighted ones
    (--balance weights) call more rows the rare class, ones trained on the rows as they are (auto: adjust) fewer."""
    import tensorflow as tf

    x, y = rare_class(1500, seed=1)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)]).assign(label=np.where(y == 1, "rare", "common"))
    frame.to_csv(tmp_path / "rare.csv", index=False)
    report = fit(FitConfig.of(tmp_path / "rare.csv", target="label", output=tmp_path / "out", tuner="random",
                              max_trials=3, epochs=20, patience=4, seed=0, cv=3, balance=balance)).report
    decision = report["final_model"]["decision"]
    split, weighted = report["split"], balance == "weights"
    assert report["search"]["validation"].startswith("3-fold")
    assert report["search"]["class_weight_in_loss"] == report["search"]["objective_weighted_by_class"] == weighted
    assert decision["rows"] == split["train"] + split["validation"] and decision["metric"] == "f1_macro"
    assert decision["members"] == len(report["final_model"]["members"]) > 1
    assert decision["trained_alpha"] == (0.0 if weighted else 1.0) and decision["alpha"] != decision["trained_alpha"]
    assert decision["chosen"] >= decision["balanced"]
    assert f"re-weighted to α {decision['alpha']:g} between balanced classes" in (
        tmp_path / "out" / "report.md").read_text()
    assert report["cross_validation"]["pooled"]["f1_macro"] > 0
    # the gradient-boosting baseline gets the same rule, chosen on the validation rows, balanced the same way
    assert report["baseline"]["decision"]["rows"] == split["validation"]
    assert report["baseline"]["decision"]["trained_alpha"] == decision["trained_alpha"]
    assert report["baseline"]["class_weight_in_loss"] == weighted
    test = pd.read_csv(tmp_path / "rare.csv").drop(columns="label")
    serve = tf.saved_model.load(str(tmp_path / "out" / "saved_model")).signatures["serve"]
    out = serve(**{c: tf.constant(test[c].to_numpy(np.float32)) for c in test})
    probabilities = out["probabilities"].numpy()
    labels = json.loads((tmp_path / "out" / "metadata.json").read_text())["labels"]
    rare = labels.index("rare")
    as_trained = (shifted(probabilities, -np.array(decision["bias_shift"])).argmax(axis=1) == rare).sum()
    exported = (probabilities.argmax(axis=1) == rare).sum()
    assert exported < as_trained if weighted else exported > as_trained


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


@pytest.mark.parametrize("in_loss", [True, False])
def test_without_kept_validation_outputs_networks_trained_on_the_rows_as_they_are_go_halfway_to_balanced_classes(
        in_loss):
    """The final model's trials ran on another worker or in an earlier run, so no validation outputs choose α: a
    class-weighted network is exported as trained (it is at balanced classes already), one trained on the rows as they
    are gets the shift ½ log w that takes it halfway there (decision.reference), and the log says why."""
    from types import SimpleNamespace

    import keras

    from autotune.decision import bias_shift
    from autotune.events import Reporter
    from autotune.pipeline import _decide

    class Notes(Reporter):
        def __init__(self):
            self.notes = []

        def note(self, message: str) -> None:
            self.notes.append(message)

    x, y = rare_class(600)
    hypermodel = TabularHyperModel(6, 2, "classification", 600, seed=0)
    hypermodel.class_weight, hypermodel.weighs_loss = class_weights(y, 2), in_loss
    hp = fixed(**NETWORK)
    keras.utils.set_random_seed(0)
    network = hypermodel.build(hp)
    before = network.predict(x, verbose=0)
    setup = SimpleNamespace(searcher=hypermodel, metric="f1_macro", settings=SimpleNamespace(seed=0))
    final = SimpleNamespace(members=[{"rank": 0}], networks=[network])
    reporter = Notes()
    chosen = _decide(setup, SimpleNamespace(candidate_trials=["04"]), final, reporter)
    after = network.predict(x, verbose=0)
    notes = " ".join(reporter.notes)
    assert "were not kept" in notes
    if in_loss:
        assert chosen is None
        np.testing.assert_allclose(after, before, rtol=1e-6)
    else:
        shift = bias_shift(hypermodel.class_weight, 2, 0.5, trained=1.0)
        assert chosen["alpha"] == 0.5 and chosen["balanced"] is None and chosen["bias_shift"] == pytest.approx(shift)
        np.testing.assert_allclose(after, shifted(before, shift), rtol=1e-4, atol=1e-6)
        assert (after.argmax(axis=1) == 1).sum() > (before.argmax(axis=1) == 1).sum()
        assert "shifted halfway to balanced classes" in notes
