"""Small-data regression's final model: the search's own fold networks, each behind its fold's preprocessing
(issue 17; bench/README, "The search's fold networks as the final model")."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import DATA


def _raw(frame: pd.DataFrame, inputs: list[dict]) -> dict:
    """Raw columns as the bundle's metadata names them (numbers as float32, strings as they are)."""
    return {e["key"]: (frame[e["name"]].to_numpy(np.float32) if e["dtype"] == "number"
                       else frame[e["name"]].fillna("").astype(str).to_numpy())[:, None] for e in inputs}


def test_a_small_regression_run_exports_its_best_trials_fold_networks_each_behind_its_folds_preprocessing(tmp_path):
    """Issue 17: small-data regression retrained its 3 best configurations on all rows for the folds' mean best
    epoch; each fold's own network at its own best epoch, with that fold's own statistics, scored higher on the test
    rows of the suite's small regression sets. The exported model holds, per kept configuration, its 3 fold networks
    (retrained, where a fold network was still improving when it stopped): the best trial's first fold network (the
    one whose curves the report keeps), fed its fold's validation rows through the bundle's own preprocessing for
    that fold, scores the lowest validation RMSE of its curve, at the epoch its member names (so it is the network
    the search trained, at that epoch, and the bundle carries its fold's statistics, not the training split's); the
    SavedModel's output is the average of all its networks. A small classification run is still retrained, and so
    is a regression run with --cv (which re-fits the retrained kind of model)."""
    import keras
    import tensorflow as tf

    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.modality import modality_of
    from autotune.pipeline import fit
    from autotune.task import task_of
    from autotune.train import TargetScale

    # a sparse column: 1 in one training row, else 0 - constant in the training rows of the fold that holds that row
    # out, which leaves it out (its network reads one column fewer); the training split and the others keep it. And
    # one that is 1 in a validation row only: the training split drops it (constant in its rows), so no fold reads it
    # either - the folds over training + validation rows would, and the exported model, whose inputs are the
    # split's, could not feed them (before: nothing kept)
    frame = pd.read_csv(DATA / "diabetes.csv").assign(rare=0.0, rare_validation=0.0)
    source = tmp_path / "diabetes.csv"
    frame.to_csv(source, index=False)
    config = FitConfig.of(source, target="progression", output=tmp_path / "bundle", tuner="random", max_trials=3,
                          epochs=12, seed=0, baseline=False)
    first = modality_of(config).load(config, Reporter()).parts
    row, validation_row = first.train.index[0], first.validation.index[0]
    frame.loc[row, "rare"] = 1.0
    frame.loc[validation_row, "rare_validation"] = 1.0
    frame.to_csv(source, index=False)
    loaded = modality_of(config).load(config, Reporter())
    assert row in loaded.parts.train.index and "rare" in {f.name for f in loaded.run.features}
    assert validation_row in loaded.parts.validation.index
    assert "rare_validation" not in {f.name for f in loaded.run.features}
    report = fit(config).report
    members = report["final_model"]["members"]
    trials = {t["trial"]: t for t in report["search"]["trials"]}
    ranked = sorted(trials.values(), key=lambda t: t["score"])
    # the best trial's folds stopped early, past their best epochs: kept; the other two were still improving at
    # the 12th and last epoch (a fold network that stopped unsettled is retrained, as a tiny budget's are)
    assert [m["trial"] for m in members] == [ranked[0]["trial"]] * 3 + [t["trial"] for t in ranked[1:]]
    assert all(t["best_epoch"] == t["epochs"] == 12 for t in ranked[1:])
    kept, retrained = members[:3], members[3:]
    assert [m["fold"] for m in kept] == [0, 1, 2] and all(m["from_trial"] for m in kept)
    assert all(m["epochs"] < trials[m["trial"]]["epochs"] for m in kept)
    assert not any("fold" in m or m.get("from_trial") for m in retrained)
    curves = report["search"]["best_trial_curves"]
    assert members[0]["epochs"] == int(np.argmin(curves["val_rmse"])) + 1  # early stopping's (the data loss's) best
    assert "fold networks as the search trained them" in (tmp_path / "bundle" / "report.md").read_text()

    parts = loaded.parts
    frame = pd.concat([parts.train, parts.validation])
    y = pd.concat([parts.y_train, parts.y_validation]).to_numpy(np.float64)
    folds = list(task_of("regression").kfold(3, 0).split(frame, y))
    assert [m["train_rows"] for m in members[:3]] == [len(train) for train, _ in folds]
    metadata = json.loads((tmp_path / "bundle" / "metadata.json").read_text())
    inputs = metadata["inputs"]
    model = keras.models.load_model(tmp_path / "bundle" / "model.keras")
    assert "rare" in {e["name"] for e in inputs} and "rare_validation" not in {e["name"] for e in inputs}
    reads_rare = ["rare" in {t.name for t in model.get_layer(f"preprocess_fold_{i}").inputs} for i in range(3)]
    assert not any("rare_validation" in {t.name for t in model.get_layer(f"preprocess_fold_{i}").inputs}
                   for i in range(3))
    assert reads_rare == [row not in frame.index[validation] for _, validation in folds]  # the fold without it
    assert sorted(reads_rare) == [False, True, True]

    def member_outputs(i: int, rows: pd.DataFrame) -> np.ndarray:
        """Member i's values for raw rows: its fold's preprocessing, its network, its fold's target scale - or, retrained,
        the training split's."""
        fold = members[i].get("fold")
        preprocess = model.get_layer("preprocess" if fold is None else f"preprocess_fold_{fold}")
        columns = _raw(rows, inputs)
        encoded = preprocess({t.name: tf.constant(columns[t.name]) for t in preprocess.inputs})
        scale = TargetScale(**metadata["target_scale"]) if fold is None else TargetScale.fit(y[folds[fold][0]])
        return np.asarray(model.get_layer(f"network_{i}")(encoded)).reshape(-1) * scale.std + scale.mean

    validation = folds[0][1]
    rmse = np.sqrt(np.mean((member_outputs(0, frame.iloc[validation]) - y[validation]) ** 2))
    assert rmse == pytest.approx(curves["val_rmse"][members[0]["epochs"] - 1], rel=1e-4)

    served = tf.saved_model.load(str(tmp_path / "bundle" / "saved_model")).signatures["serving_default"]
    test = _raw(parts.test, inputs)
    outputs = served(**{k: tf.constant(v) for k, v in test.items()})
    value = np.asarray(next(iter(outputs.values()))).reshape(-1)
    averaged = np.mean([member_outputs(i, parts.test) for i in range(len(members))], axis=0)
    np.testing.assert_allclose(value, averaged, rtol=1e-4, atol=1e-3)
    assert report["test_metrics"]["rmse"] == pytest.approx(np.sqrt(np.mean((averaged - parts.y_test.to_numpy()) ** 2)),
                                                          rel=1e-4)

    cv = fit(FitConfig.of(DATA / "diabetes.csv", target="progression", output=tmp_path / "cv", tuner="random",
                          max_trials=2, epochs=4, seed=0, baseline=False, cv=3)).report
    penguins = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "penguins",
                                tuner="random", max_trials=2, epochs=4, seed=0, baseline=False)).report
    for retrained in (cv, penguins):
        assert len(retrained["final_model"]["members"]) == 2
        assert not any("fold" in m or m.get("from_trial") for m in retrained["final_model"]["members"])
