"""Issue 5's last three items: --select-features pca inside the model, --cv K and --balance oversample
for image runs, and Hyperband's checkpoints deleted once no trial can be promoted from them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, make_digit_images

from autotune.config import FitConfig
from autotune.errors import InputError

# --- --select-features pca ---------------------------------------------------------------------------


def test_pca_is_learned_on_the_training_split_and_computed_by_the_model():
    """The model's own layers (ImputeClip, Normalization, Projection) compute scikit-learn's whitened PCA
    of the cleaned, standardised numeric columns, keeping 95 % of their variance."""
    from sklearn.decomposition import PCA

    from autotune.data.clean import Feature, describe_action, learn_features, raw_inputs, standardised
    from autotune.data.profile import profile
    from autotune.tabular.encode import build_preprocessor, encode

    frame = pd.read_csv(DATA / "breast_cancer.csv")
    train, other = frame.iloc[:400], frame.iloc[400:]
    features, actions = learn_features(train, profile(train, "target"), "pca")
    (action,) = [a for a in actions if a["step"] == "pca"]
    assert action["columns"] == 30 and 2 <= action["components"] < 30 and action["explained"] >= 0.95
    assert describe_action(action).startswith(f"pca: 30 numeric features → {action['components']} components, 95% variance")
    assert all(len(f.components) == action["components"] for f in features)
    assert Feature.from_dict(json.loads(json.dumps(features[0].to_dict()))) == features[0]

    reference = PCA(0.95, svd_solver="full", whiten=True).fit(standardised(train, features))
    preprocessor = build_preprocessor(features)
    for rows in (train, other):  # learned on `train` alone, applied as is to other rows
        encoded = encode(preprocessor, raw_inputs(rows, features))
        assert encoded.shape[1] == action["components"]
        np.testing.assert_allclose(encoded, reference.transform(standardised(rows, features)), atol=1e-4)


def test_pca_leaves_categories_and_missing_indicators_alone():
    from autotune.data.clean import learn_features
    from autotune.data.profile import profile
    from autotune.tabular.encode import build_preprocessor

    frame = pd.read_csv(DATA / "penguins.csv")
    features, actions = learn_features(frame, profile(frame, "species"), "pca")
    numeric = [f for f in features if f.kind == "numeric"]
    assert all(f.components for f in numeric) and not any(f.components for f in features if f.kind != "numeric")
    (action,) = [a for a in actions if a["step"] == "pca"]
    width = build_preprocessor(features).output.shape[-1]
    indicators = sum(f.missing_indicator for f in numeric)
    one_hot = build_preprocessor([f for f in features if f.kind != "numeric"]).output.shape[-1]
    assert width == action["components"] + indicators + one_hot


# --- images: --balance oversample and --cv K -----------------------------------------------------------


def test_image_oversampling_balances_training_images_only():
    import keras_tuner as kt
    import tensorflow as tf

    from autotune.vision.pipeline import ImageHyperModel, oversample_images

    labels = np.array([0] * 9 + [1] * 3 + [2] * 2, np.int32)
    images = tf.data.Dataset.from_tensor_slices((np.arange(len(labels), dtype=np.float32), labels))
    repeated = [(float(x), int(y)) for x, y in oversample_images(images, labels, seed=0).as_numpy_iterator()]
    assert np.bincount([y for _, y in repeated]).tolist() == [9, 9, 9]
    assert sorted(x for x, y in repeated if y == 0) == list(range(9))  # the largest class is not repeated
    assert {x for x, y in repeated if y == 2} == {12.0, 13.0}  # every image of a small class is used

    hp = kt.HyperParameters()
    hp.Fixed("batch_size", 4)
    model = ImageHyperModel((8, 8), [0.0] * 3, [1.0] * 3, "none", 3, len(labels), seed=0)
    pictures = tf.data.Dataset.from_tensor_slices((np.zeros((len(labels), 8, 8, 3), np.float32), labels))
    model.oversample = True
    seen = np.concatenate([y for _, y in model.train_data(hp, pictures, labels).as_numpy_iterator()])
    assert np.bincount(seen).tolist() == [9, 9, 9]
    validation = np.concatenate([y for _, y in model.validation_data(pictures).as_numpy_iterator()])
    assert np.bincount(validation).tolist() == [9, 3, 2]  # validation images are never repeated


@pytest.fixture(scope="module")
def imbalanced_digits(tmp_path_factory):
    """Real digit scans: 30 of one class, 12 of another."""
    root = make_digit_images(tmp_path_factory.mktemp("imbalanced") / "photos", classes=(0, 1), per_class=30,
                             broken=False)
    for path in sorted((root / "digit_1").iterdir())[12:]:
        path.unlink()
    return root


def test_image_run_with_oversampling_and_cross_validation(imbalanced_digits, tmp_path, monkeypatch):
    import autotune.vision.pipeline as vision
    from autotune.pipeline import fit

    balanced, original = [], vision.oversample_images

    def spy(ds, labels, seed):
        balanced.append(np.bincount(labels).tolist())
        return original(ds, labels, seed)

    monkeypatch.setattr(vision, "oversample_images", spy)
    report = fit(FitConfig.of(imbalanced_digits, output=tmp_path / "out", tuner="random", max_trials=1, epochs=2,
                           patience=2, augment="none", image_size="16x16", balance="oversample", cv=3,
                           sample=20)).report
    assert report["kind"] == "image"
    assert report["search"]["balance"] == "oversample" and report["search"]["class_weight"] is None
    # the budget preview, the trial, the final fit and each of the 3 folds train on oversampled images
    assert len(balanced) >= 5 and all(counts[0] > counts[1] for counts in balanced)
    assert sum(balanced[0]) == sum(balanced[1]) == 20  # --sample: the search trains on a stratified sample
    assert sum(balanced[-4]) == report["split"]["train"] + report["split"]["validation"]  # the final fit: all
    cv = report["cross_validation"]
    assert cv["kind"] == "3-fold" and cv["stratified"] and len(cv["per_fold"]) == 3
    non_test = report["split"]["train"] + report["split"]["validation"]
    assert sum(f["rows"] for f in cv["per_fold"]) == non_test == cv["pooled"]["rows"]
    assert max(f["rows"] for f in cv["per_fold"]) - min(f["rows"] for f in cv["per_fold"]) <= 1
    accuracy = [f["accuracy"] for f in cv["per_fold"]]
    assert cv["mean"]["accuracy"] == pytest.approx(np.mean(accuracy))
    assert cv["std"]["accuracy"] == pytest.approx(np.std(accuracy))
    assert "## Cross-validation (3-fold)" in (tmp_path / "out" / "report.md").read_text() and cv["optimistic"]


def test_image_cross_validation_folds_learn_their_own_channel_statistics(imbalanced_digits, monkeypatch, tmp_path):
    """Each fold's network normalises with statistics of that fold's training images."""
    import autotune.vision.pipeline as vision
    from autotune.evaluate.crossval import cross_validate
    from autotune.pipeline import _load

    class Quiet:
        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    config = FitConfig.of(imbalanced_digits, augment="none", image_size="8x8", cv=2, seed=0)
    loaded = _load(config, Quiet())
    loaded.run.prepare(tmp_path)
    statistics, original = [], vision.channel_statistics
    monkeypatch.setattr(vision, "channel_statistics", lambda ds: statistics.append(original(ds)) or statistics[-1])
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Fixed("conv_blocks", 1)
    hp.Fixed("filters", 16)
    result = cross_validate(2, loaded, [(hp, 1, "00")], "log_loss", 2, 0)
    assert len(statistics) == 2 and statistics[0] != statistics[1] and statistics[0][0] != loaded.run.mean
    assert len(result["per_fold"]) == 2


@pytest.mark.parametrize("cv,message", [("loo", "--cv loo trains one network per image, too costly"),
                                        (20, r"has only \d+ training and validation image")])
def test_image_cv_refusals_come_before_training(imbalanced_digits, tmp_path, cv, message):
    from autotune.pipeline import fit

    with pytest.raises(InputError, match=message):
        fit(FitConfig.of(imbalanced_digits, output=tmp_path / "out", max_trials=1, epochs=1, cv=cv))
    assert not (tmp_path / "out").exists()


# --- Hyperband: checkpoints of trials that can no longer be promoted are deleted ------------------------


def test_unpromotable_trials_follow_the_brackets():
    """A trial stays promotable while its bracket's next round has room and it was not promoted yet; the
    parent of a trial still running is kept."""
    import keras_tuner as kt

    from autotune.search.tune import unpromotable_trials

    oracle = kt.oracles.HyperbandOracle(kt.Objective("loss", "min"), max_epochs=9, factor=3)
    statuses = {"a": "COMPLETED", "b": "COMPLETED", "c": "COMPLETED", "d": "RUNNING", "e": "FAILED"}
    oracle.trials = {}
    for trial_id, status in statuses.items():
        trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id=trial_id, status=status)
        oracle.trials[trial_id] = trial
    oracle.trials["d"].hyperparameters.values["tuner/trial_id"] = "b"
    # bracket 1 (sizes 5, 2): a, b, c, e in round 0; d promoted from b into round 1, which has one more place
    oracle._brackets = [{"bracket_num": 1, "rounds": [[{"past_id": None, "id": i} for i in "abce"],
                                                      [{"past_id": "b", "id": "d"}]]}]
    assert unpromotable_trials(oracle) == {"e"}  # a and c may still be promoted, b is in use, e failed
    oracle._brackets[0]["rounds"][1].append({"past_id": "a", "id": "f"})  # round 1 is full
    assert unpromotable_trials(oracle) == {"a", "c", "e"}
    oracle.trials["d"].status = "COMPLETED"
    oracle._brackets = []  # the bracket is complete
    assert unpromotable_trials(oracle) == {"a", "b", "c", "d", "e"}

    # read under the oracle's lock (the chief's gRPC thread may be promoting a trial): it waits while another holds it
    import threading

    from keras_tuner.src.engine.oracle import LOCKS

    read = []
    with LOCKS[oracle]:
        reader = threading.Thread(target=lambda: read.append(unpromotable_trials(oracle)), daemon=True)
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and not read
    reader.join(10)
    assert read == [{"a", "b", "c", "d", "e"}]


def test_hyperband_run_prunes_checkpoints_completes_and_exports(tmp_path, monkeypatch):
    """A whole run with --tuner hyperband (epochs 3, factor 3: a bracket of 3 one-epoch trials, the best
    continued for 3 epochs, then a bracket of 2 three-epoch trials). Checkpoints are deleted as the search
    goes, the promoted trial still finds its parent's weights (no trial fails), none is left at the end,
    and the run exports."""
    import autotune.search.tune as tune
    from autotune.pipeline import fit

    seen, on_disk = {}, []
    run_search, prune = tune.run_search, tune.prune_checkpoints

    def counting_prune(oracle, project_dir):
        on_disk.append(len(list(Path(project_dir).glob("trial_*/checkpoint.weights.h5"))))
        return prune(oracle, project_dir)

    def counting_search(*args, directory, **kwargs):
        result = run_search(*args, directory=directory, **kwargs)
        trials = [json.loads(t.read_text()) for t in Path(directory).glob("search/trial_*/trial.json")]
        seen["promoted"] = sum(bool(t["hyperparameters"]["values"].get("tuner/trial_id")) for t in trials)
        seen["continued"] = {t["trial_id"]: t["hyperparameters"]["values"] for t in trials
                             if t["hyperparameters"]["values"].get("tuner/initial_epoch")}
        seen["checkpoints"] = len(list(Path(directory).rglob("checkpoint.weights.h5")))
        return result

    monkeypatch.setattr(tune, "run_search", counting_search)
    monkeypatch.setattr(tune, "prune_checkpoints", counting_prune)
    out = tmp_path / "out"
    report = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=out, tuner="hyperband", epochs=3,
                           patience=2, ensemble=1, baseline=False)).report
    trials = report["search"]["trials"]
    assert len(trials) == 6 and all(t["status"] == "completed" for t in trials) and seen["promoted"] == 1
    # The promoted trial trained epochs 2-3 on its parent's weights: its epochs count from the start
    # (issue 14: retraining from scratch for the continuation's count alone trained too few).
    (continued, values), = seen["continued"].items()
    row = next(t for t in trials if t["trial"] == continued)
    assert row["epochs"] == values["tuner/epochs"] == 3 and row["best_epoch"] > values["tuner/initial_epoch"]
    assert on_disk == [1, 2, 3, 4, 1, 1]  # the 4th trial ends a full round: 3 of the 4 go at once
    assert seen["checkpoints"] == 0 < len(trials)
    assert report["search"]["tuner"] == "hyperband"
    assert (out / "saved_model").is_dir() and (out / "model.keras").is_file()
    shutil.rmtree(out)
