"""The whole job through the Python API, on real data with a tiny budget."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, TINY

from autotune.bundle.format import BUNDLE_FILES
from autotune.config import FitConfig
from autotune.errors import InputError
from autotune.pipeline import fit


def test_bundle_holds_every_file_and_nothing_half_written(penguins_run):
    out = penguins_run.output
    assert sorted(p.name for p in out.iterdir()) == sorted(BUNDLE_FILES)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "staging directory left behind"
    assert (out / "saved_model" / "saved_model.pb").exists()


def test_report_records_profile_cleaning_split_and_search(penguins_run):
    report = json.loads((penguins_run.output / "report.json").read_text())
    assert report == json.loads(json.dumps(penguins_run.report))
    assert report["task"] == "classification" and report["target"] == "species"
    kinds = {c["name"]: c["kind"] for c in report["profile"]["columns"]}
    assert kinds == {"island": "categorical", "bill_length_mm": "numeric", "bill_depth_mm": "numeric",
                     "flipper_length_mm": "numeric", "body_mass_g": "numeric", "sex": "categorical",
                     "year": "categorical"}
    imputed = {a["column"] for a in report["cleaning"] if a["step"] == "impute"}
    assert "sex" in imputed and all(a["description"] for a in report["cleaning"])
    split = report["split"]
    assert split["train"] + split["validation"] + split["test"] == 344
    assert split["test"] == 69  # 20 % of 344, rounded up by scikit-learn
    search = report["search"]
    assert len(search["trials"]) == TINY["max_trials"]
    assert set(search["best_hyperparameters"]) >= {"layers", "units", "activation", "dropout", "l1", "l2",
                                                   "batch_norm", "optimizer", "learning_rate", "lr_schedule",
                                                   "batch_size"}
    assert search["metric"] == "accuracy" and search["objective"] == "val_log_loss"  # balanced classes
    scores = [t["score"] for t in search["trials"] if t["score"] is not None]
    assert scores == sorted(scores) and search["trials"][0]["hyperparameters"] == search["best_hyperparameters"]
    assert all(t["epochs"] >= 1 and t["seconds"] > 0 for t in search["trials"])
    members = report["final_model"]["members"]
    best = search["best_hyperparameters"]
    assert members[0] == {"trial": search["trials"][0]["trial"], "rank": 1, "epochs": search["best_epochs"],
                          # small data: the searched batch, and so the searched rate
                          "batch_rows": best["batch_size"], "searched_batch_rows": best["batch_size"],
                          "learning_rate": best["learning_rate"], "searched_learning_rate": best["learning_rate"]}
    assert len(members) == 2  # small data: the best configurations averaged (two trials here)
    assert set(report["timings"]) >= {"search", "final_fit", "evaluate", "export", "total"}


def test_test_metrics_are_consistent(penguins_run):
    metrics = penguins_run.report["test_metrics"]
    matrix = np.array(metrics["confusion_matrix"]["matrix"])
    assert metrics["confusion_matrix"]["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert matrix.sum() == metrics["rows"] == 69
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    f1 = [m["f1"] for m in metrics["per_class"].values()]
    assert metrics["f1_macro"] == pytest.approx(np.mean(f1))
    assert [m["support"] for m in metrics["per_class"].values()] == matrix.sum(axis=1).tolist()
    assert penguins_run.report["headline"] == {"metric": "accuracy", "value": metrics["accuracy"]}


def test_metadata_describes_the_raw_inputs(penguins_run):
    meta = json.loads((penguins_run.output / "metadata.json").read_text())
    assert meta["schema_version"] == 1 and meta["labels"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert meta["data"]["fingerprint"].startswith("sha256:") and meta["seed"] == 0
    assert set(meta["versions"]) >= {"autotune", "tensorflow", "keras", "keras_tuner"}
    inputs = {f["name"]: f for f in meta["inputs"]}
    assert inputs["sex"]["dtype"] == "string" and "" in inputs["sex"]["vocabulary"]
    assert inputs["year"]["dtype"] == "number" and inputs["year"]["vocabulary"] == [2007.0, 2008.0, 2009.0]
    assert inputs["body_mass_g"]["missing_indicator"] is True


def test_report_markdown_is_written_for_people(penguins_run):
    text = (penguins_run.output / "report.md").read_text()
    for heading in ("## Test metrics", "## Data profile", "## Cleaning", "## Best configuration", "## Trials",
                    "### Confusion matrix"):
        assert heading in text
    assert "| Adelie |" in text and "★" in text


def test_regression_end_to_end(diabetes_run):
    report = diabetes_run.report
    assert report["task"] == "regression" and report["headline"]["metric"] == "rmse"
    metrics = report["test_metrics"]
    assert metrics["rows"] == 89 and np.isfinite([metrics["rmse"], metrics["mae"], metrics["r2"]]).all()
    # Even a tiny search must beat predicting the mean by a clear margin on this data.
    assert metrics["r2"] > 0.2
    meta = json.loads((diabetes_run.output / "metadata.json").read_text())
    assert meta["labels"] is None and meta["target_scale"]["std"] > 0


def test_existing_bundle_is_refused_then_replaced_with_overwrite(penguins_run, tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "keep.txt").write_text("an older run")
    config = FitConfig.of(DATA / "wine.csv", output=out, **{**TINY, "max_trials": 1, "epochs": 2})
    with pytest.raises(InputError, match="already exists"):
        fit(config)
    assert (out / "keep.txt").exists()
    fit(FitConfig.of(DATA / "wine.csv", output=out, overwrite=True, **{**TINY, "max_trials": 1, "epochs": 2}))
    assert not (out / "keep.txt").exists() and (out / "model.keras").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_same_seed_same_result(tmp_path):
    """CPU runs are repeatable: same data and seed, same trials and the same test metrics."""
    config = dict(tuner="random", max_trials=2, epochs=3, patience=3, seed=7)
    a = fit(FitConfig.of(DATA / "wine.csv", output=tmp_path / "a", **config)).report
    b = fit(FitConfig.of(DATA / "wine.csv", output=tmp_path / "b", **config)).report
    assert [t["hyperparameters"] for t in a["search"]["trials"]] == [t["hyperparameters"] for t in b["search"]["trials"]]
    assert [t["score"] for t in a["search"]["trials"]] == [t["score"] for t in b["search"]["trials"]]
    assert a["test_metrics"] == b["test_metrics"]


def test_report_compares_with_a_gradient_boosting_baseline(penguins_run):
    baseline = penguins_run.report["baseline"]
    assert baseline["model"] == "HistGradientBoostingClassifier" and baseline["metric"] == "accuracy"
    # Gradient boosting separates the penguins almost perfectly; a baseline that did not learn would not.
    assert baseline["value"] > 0.9 and baseline["test_metrics"]["rows"] == 69
    ours = penguins_run.report["headline"]["value"]
    # The verdict follows the exact McNemar test on the rows one model gets right and the other wrong.
    comparison = baseline["comparison"]
    b, c = comparison["discordant"]
    assert comparison["method"] == "exact McNemar test" and comparison["rows"] == 69
    assert comparison["difference"] == pytest.approx((b - c) / 69) == pytest.approx(ours - baseline["value"])
    assert (comparison["decision"] == "tied") == (comparison["p_value"] >= 0.05)
    word = {"better": "beat", "worse": "did worse than", "tied": "are tied within noise"}[comparison["decision"]]
    assert word in baseline["verdict"] and f"{baseline['value']:.4f}" in baseline["verdict"]
    assert baseline["verdict"] in (penguins_run.output / "report.md").read_text()
    assert baseline["class_weight"] is None  # balanced penguins: the network has no class weights either


def test_every_run_scores_the_trivial_baseline(penguins_run, diabetes_run):
    """The majority class of the training labels (the mean, for regression), on the same test rows, judged
    by the same paired test; a model clearly better than it gets no warning."""
    report = penguins_run.report
    trivial = report["trivial_baseline"]
    seen = pd.read_csv(DATA / "penguins.csv")["species"].value_counts()
    assert trivial["model"] == f"majority class '{seen.index[0]}'"  # Adelie, in every split
    matrix = np.array(report["test_metrics"]["confusion_matrix"]["matrix"])
    assert trivial["value"] == pytest.approx(matrix[0].sum() / matrix.sum())  # the share of Adelie test rows
    assert trivial["comparison"]["decision"] == "better" and report["warnings"] == []
    assert trivial["verdict"] in (penguins_run.output / "report.md").read_text()
    regression = diabetes_run.report["trivial_baseline"]
    assert regression["model"].startswith("training mean ") and regression["test_metrics"]["rows"] == 89
    assert regression["test_metrics"]["r2"] < 0.05  # the mean explains nothing
    assert regression["comparison"]["method"] == "paired bootstrap (2000 resamples)"
    low, high = regression["comparison"]["interval"]
    assert low <= regression["comparison"]["difference"] <= high
    assert diabetes_run.report["baseline"]["comparison"]["method"] == "paired bootstrap (2000 resamples)"


def test_no_baseline_skips_it(tmp_path):
    report = fit(FitConfig.of(DATA / "wine.csv", output=tmp_path / "out", baseline=False,
                           **{**TINY, "max_trials": 1, "epochs": 2})).report
    assert report["baseline"] is None
    assert report["trivial_baseline"]["model"] == "majority class 'class_1'"  # cheap: scored even so


def test_explicit_metric_is_the_objective_and_the_headline(tmp_path):
    report = fit(FitConfig.of(DATA / "wine.csv", output=tmp_path / "out", metric="f1_macro",
                           **{**TINY, "max_trials": 2, "epochs": 3})).report
    assert report["search"]["objective"] == "val_f1_macro"
    assert report["headline"] == {"metric": "f1_macro", "value": report["test_metrics"]["f1_macro"]}
    scores = [t["score"] for t in report["search"]["trials"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("balance", ["auto", "weights"])
def test_imbalanced_classes_get_weights_and_a_macro_f1_headline(tmp_path, balance):
    """Breast-cancer with most malignant rows removed: 357 benign vs 60 malignant. auto (a table: adjust) trains on
    the rows as they are and shifts the outputs after it; weights puts the class weights in the loss."""
    frame = pd.read_csv(DATA / "breast_cancer.csv")
    frame = pd.concat([frame[frame.target == "benign"], frame[frame.target == "malignant"].head(60)])
    path = tmp_path / "imbalanced.csv"
    frame.to_csv(path, index=False)
    report = fit(FitConfig.of(path, output=tmp_path / "out", balance=balance,
                              **{**TINY, "max_trials": 1, "epochs": 3})).report
    assert report["headline"]["metric"] == "f1_macro"
    weights = {int(k): v for k, v in report["search"]["class_weight"].items()}
    assert weights[1] > 3 * weights[0]  # labels sorted: benign is class 0, malignant (the rare one) class 1
    assert any("strong class imbalance" in w for w in report["profile"]["warnings"])
    # the search's validation log loss is weighted as training is, and the report says so where it names it
    in_loss = balance == "weights"
    assert report["search"]["objective_weighted_by_class"] is in_loss is report["search"]["class_weight_in_loss"]
    assert report["final_model"]["decision"]["trained_alpha"] == (0.0 if in_loss else 1.0)
    text = (tmp_path / "out" / "report.md").read_text()
    assert ("objective val_log_loss (rows weighted by class, as in training)" in text) is in_loss


def test_oversampling_repeats_only_training_rows_of_small_classes():
    from autotune.search.data import oversample

    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.array([0] * 8 + [1] * 2)
    xs, ys = oversample(x, y, seed=0)
    assert np.bincount(ys).tolist() == [8, 8]
    assert set(xs[ys == 1, 0]) == {8.0, 9.0} and sorted(xs[ys == 0, 0]) == list(range(8))


@pytest.mark.parametrize("balance,weighted,in_loss", [("none", False, False), ("weights", True, True),
                                                     ("adjust", True, False), ("oversample", False, False)])
def test_balance_modes(tmp_path, balance, weighted, in_loss):
    """wine's classes are balanced enough for auto; the modes that always apply do: weights in the loss, adjust on
    the outputs after training (its decision starts from the rows as they are)."""
    report = fit(FitConfig.of(DATA / "wine.csv", output=tmp_path / "out", balance=balance,
                           **{**TINY, "max_trials": 1, "epochs": 2})).report
    assert report["search"]["balance"] == balance
    assert (report["search"]["class_weight"] is not None) == weighted
    assert report["search"]["objective_weighted_by_class"] == in_loss == report["search"]["class_weight_in_loss"]
    decision = report["final_model"]["decision"]
    assert (decision is not None) == weighted and (not weighted or decision["trained_alpha"] == float(not in_loss))


def test_cross_validation_of_the_best_configuration(tmp_path):
    report = fit(FitConfig.of(DATA / "wine.csv", output=tmp_path / "out", cv=3,
                           **{**TINY, "max_trials": 1, "epochs": 4})).report
    cv = report["cross_validation"]
    assert cv["kind"] == "3-fold" and cv["stratified"] and len(cv["per_fold"]) == 3
    # the train + validation rows (the test rows stay out), with the final model's members
    train_rows = report["split"]["train"] + report["split"]["validation"]
    assert sum(f["rows"] for f in cv["per_fold"]) == train_rows == cv["pooled"]["rows"] < 178
    assert len(cv["members"]) == len(report["final_model"]["members"]) and cv["optimistic"]
    folds = [f["accuracy"] for f in cv["per_fold"]]
    assert cv["mean"]["accuracy"] == pytest.approx(np.mean(folds)) and cv["std"]["accuracy"] == pytest.approx(np.std(folds))
    assert "## Cross-validation (3-fold)" in (tmp_path / "out" / "report.md").read_text()


def test_the_encoded_rows_are_let_go_once_the_final_model_is_trained(tmp_path, monkeypatch):
    """Nothing after the final fit reads the encoded training and validation rows (evaluation, importance, the
    baselines and --cv read the frames), so they are dropped before evaluation: on 1,000,000 rows x 50 columns the
    evaluation had held ~0.5 GB it no longer needed. The report still counts the rows the final model trained on."""
    import autotune.pipeline as pipeline

    seen = {}
    evaluate = pipeline._evaluate

    def spy(loaded, setup, final, reporter):
        seen["arrays"], seen["data"] = sorted(loaded.run.arrays), setup.data
        return evaluate(loaded, setup, final, reporter)

    monkeypatch.setattr(pipeline, "_evaluate", spy)
    report = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "out",
                              **{**TINY, "max_trials": 1, "epochs": 2})).report
    assert seen == {"arrays": ["y_train", "y_val"], "data": None}
    assert report["final_model"]["train_rows"] == report["split"]["train"] + report["split"]["validation"]


def test_the_report_states_the_batch_each_network_trained_at(tmp_path):
    """An epoch takes at most MAX_STEPS_PER_EPOCH steps, so on larger data a network trains at more rows a step than
    its searched batch_size: the report said "batch_size 16" for trials that trained at 26 rows a step (1,000,000
    rows: a final model at 3,200). Each trial and each final network records the rows a step it trained at, and
    report.md states them. The final fit keeps the trial's batch on the training split's rows (the configuration the
    search validated, over 25 % more rows an epoch); with --sample, a trial's batch is the sample's, not the split's
    (it had taken the whole split's: 26 rows a step on 2,000 sampled rows, 77 steps an epoch where 125 were meant)."""
    from autotune.search.space import MAX_STEPS_PER_EPOCH

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8000, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=np.where(x[:, 0] + x[:, 1] > 0, "yes", "no"))
    frame.to_csv(tmp_path / "rows.csv", index=False)
    settings = dict(target="y", ensemble=1, space={"batch_size": [16], "layers": {"min": 1, "max": 1}},
                    **{**TINY, "max_trials": 1, "epochs": 2})
    report = fit(FitConfig.of(tmp_path / "rows.csv", output=tmp_path / "out", **settings)).report
    trial, member = report["search"]["trials"][0], report["final_model"]["members"][0]
    assert trial["hyperparameters"]["batch_size"] == 16
    assert trial["batch_rows"] == member["batch_rows"] == -(-report["split"]["train"] // MAX_STEPS_PER_EPOCH) > 16
    text = (tmp_path / "out" / "report.md").read_text()
    assert f"for {member['epochs']} epochs at {member['batch_rows']} rows a step" in text
    assert "| rows a step |" in text.split("## Trials")[1]  # the trials' own, beside the searched batch_size
    page = (tmp_path / "out" / "report.html").read_text()
    assert f"at {member['batch_rows']} rows a step" in page and "rows a step</th>" in page.split("Trials, best")[1]

    sampled = fit(FitConfig.of(tmp_path / "rows.csv", output=tmp_path / "sampled", sample=2000, **settings)).report
    trial, member = sampled["search"]["trials"][0], sampled["final_model"]["members"][0]
    assert trial["batch_rows"] == 16 < member["batch_rows"] == -(-sampled["split"]["train"] // MAX_STEPS_PER_EPOCH)


def test_a_sampled_searchs_final_fit_scales_its_learning_rate_with_its_batch(tmp_path):
    """--sample: the trials train at the sample's batch, the final fit at the whole split's (1,000,000 rows: 32× as
    many rows a step). It trains at the searched rate × √(its batch / the trial's), never above the space's highest
    rate (bench/README "The learning rate with the batch": the searched rate left low-rate configurations
    under-trained, 0.779 against 0.872 test accuracy on one seed). The rate is the one the final network trained at
    (its history), recorded per network and stated in report.md."""
    from autotune.search.space import MAX_STEPS_PER_EPOCH

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8000, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=np.where(x[:, 0] + x[:, 1] > 0, "yes", "no"))
    frame.to_csv(tmp_path / "rows.csv", index=False)
    space = {"batch_size": [16], "layers": {"min": 1, "max": 1}, "optimizer": ["adam"], "lr_schedule": ["constant"],
             "learning_rate": [1e-3, 3e-2]}
    settings = dict(target="y", ensemble=1, space=space, **{**TINY, "max_trials": 1, "epochs": 2})
    report = fit(FitConfig.of(tmp_path / "rows.csv", output=tmp_path / "out", sample=2000, **settings)).report
    trial, member = report["search"]["trials"][0], report["final_model"]["members"][0]
    searched = trial["hyperparameters"]["learning_rate"]
    assert searched == 1e-3  # the random tuner's draw for seed 0: the rate the rule scales (3e-2 is the cap)
    assert trial["batch_rows"] == 16 < member["batch_rows"] == -(-report["split"]["train"] // MAX_STEPS_PER_EPOCH)
    expected = searched * (member["batch_rows"] / 16) ** 0.5
    assert member["learning_rate"] == pytest.approx(expected, rel=1e-6)
    trained = report["final_model"]["history"]["learning_rate"]
    assert trained == pytest.approx([expected] * len(trained), rel=1e-6)  # what the optimizer stepped with
    assert f"learning rate {expected:.3g} (the searched {searched:g} × √({member['batch_rows']}/16), at most the " \
           "space's highest)" in \
        (tmp_path / "out" / "report.md").read_text()

    # without --sample a trial and the final fit train at one batch: the searched rate, said nowhere
    plain = fit(FitConfig.of(tmp_path / "rows.csv", output=tmp_path / "plain", **settings)).report
    trial, member = plain["search"]["trials"][0], plain["final_model"]["members"][0]
    assert trial["batch_rows"] == member["batch_rows"]
    assert member["learning_rate"] == trial["hyperparameters"]["learning_rate"]
    trained = plain["final_model"]["history"]["learning_rate"]
    assert trained == pytest.approx([member["learning_rate"]] * len(trained), rel=1e-6)
    assert "learning rate" not in (tmp_path / "plain" / "report.md").read_text().split("## Best configuration")[1]
