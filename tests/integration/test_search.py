"""The search space and the keras-tuner search, on real encoded data with tiny budgets."""
from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest

from autotune.errors import InputError
from autotune.search.space import TabularHyperModel, text_encoder
from autotune.search.tune import SearchSettings, run_search


def wine_arrays():
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    return train_test_split(x, y.astype(np.int32), test_size=0.3, random_state=0, stratify=y)


@pytest.mark.parametrize("optimizer,schedule,activation",
                         list(zip(["adam", "sgd", "rmsprop", "adagrad", "adamw"],
                                  ["constant", "step", "exponential", "step", "exponential"],
                                  ["relu", "tanh", "selu", "gelu", "relu"], strict=True)))
def test_every_optimizer_schedule_and_activation_builds_and_learns(optimizer, schedule, activation):
    x_train, x_val, y_train, y_val = wine_arrays()
    hp = kt.HyperParameters()
    hp.Fixed("optimizer", optimizer)
    hp.Fixed("lr_schedule", schedule)
    hp.Fixed("activation", activation)
    hp.Fixed("learning_rate", 1e-2)
    hp.Fixed("layers", 2)
    hp.Fixed("batch_norm", True)
    hp.Fixed("dropout", 0.1)
    hp.Fixed("l2", 1e-4)
    model = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0).build(hp)
    assert type(model.optimizer).__name__.lower() == optimizer
    assert [layer.name for layer in model.layers].count("batch_norm_0") == 1
    before = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["log_loss"]
    model.fit(x_train, y_train, epochs=15, batch_size=16, verbose=0)
    after = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["log_loss"]
    assert after < before


def test_search_space_covers_the_documented_hyperparameters():
    hp = kt.HyperParameters()
    TabularHyperModel(5, 2, "classification", 100, seed=0).build(hp)
    names = {p.name for p in hp.space}
    assert names == {"batch_size", "layers", "units", "activation", "dropout", "l1", "l2", "batch_norm",
                     "optimizer", "learning_rate", "lr_schedule", "numeric_encoding"}
    assert hp.get("layers") == 1  # the default configuration is a network; the range starts at the linear model
    assert {p.name: (p.min_value, p.max_value) for p in hp.space if p.name == "layers"} == {"layers": (0, 4)}
    choices = {p.name: getattr(p, "values", None) for p in hp.space}
    assert set(choices["optimizer"]) == {"adam", "sgd", "rmsprop", "adagrad"}
    assert set(choices["activation"]) == {"relu", "tanh", "selu", "gelu"}
    assert set(choices["lr_schedule"]) == {"constant", "step", "exponential"}


def _text_hypermodel(n_outputs: int = 3, task: str = "classification") -> TabularHyperModel:
    """Six numbers, their ramps (12 columns) and a text column's 8 word ids: every column kind network() reads or
    leaves out."""
    hypermodel = TabularHyperModel(6 + 12 + 8, n_outputs, task, 200, seed=0, space=_searched_text())
    hypermodel.ramp_columns = list(range(6, 18))
    hypermodel.sequence_blocks = [[18, 8, 50]]
    return hypermodel


def _searched_text() -> dict:
    from autotune.search.recipes import default_space

    return {**default_space("tabular"), "text_encoder": ["tfidf", "embedding"],
            "lr_schedule": ["constant", "step", "exponential", "cosine"]}


def test_declare_registers_what_build_registers_in_its_order_and_parameters_counts_what_it_builds():
    """Issue 18: trials the stacked loop trains leave keras-tuner's network unbuilt (SearchHyperModel.without_network);
    declare() stands for build() in registering the configuration's hyperparameters - the oracles draw in their order,
    so a different order would be a different search - and parameters() for count_params()."""
    for task, n_outputs in (("classification", 3), ("classification", 1), ("regression", 1)):
        hypermodel = _text_hypermodel(n_outputs, task)
        for seed in range(6):  # the default configuration, then random ones (and the space registered as build grows it)
            declared, built = kt.HyperParameters(), kt.HyperParameters()
            if seed:
                hypermodel.build(built)
                for p in built.space:
                    built.values[p.name] = p.random_sample(seed)
                declared.values = dict(built.values)
            hypermodel.declare(declared)
            network = hypermodel.build(built)
            assert [p.name for p in declared.space] == [p.name for p in built.space]
            assert declared.values == built.values
            if text_encoder(built, hypermodel.space, hypermodel.sequence_blocks) == "tfidf":
                assert hypermodel.parameters(built) == network.count_params(), (task, built.values)


@pytest.mark.parametrize("tuner,folds", [("random", 3), ("random", 1), ("hyperband", 1)])
def test_trials_the_stacked_loop_trains_leave_keras_tuners_network_unbuilt(tuner, folds, tmp_path, monkeypatch):
    """Issue 18: keras-tuner built a Keras network for every trial (its variables, metrics and compile: ~70 ms) that the
    stacked loop never trained - it stood beside the trial for its parameter count - 19 % of a small search's time
    outside training (bench/results/full.md). A trial the loop trains builds none now and reports the count its
    network has; Hyperband's, which Keras's fit trains from checkpoints, still build theirs."""
    x_train, x_val, y_train, y_val = wine_arrays()
    built = []  # the trial each network was built for (None: keras-tuner's one build of the space, before the trials)
    build = TabularHyperModel.build
    monkeypatch.setattr(TabularHyperModel, "build", lambda self, hp: built.append(self.trial_id) or build(self, hp))
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train) + len(x_val), seed=0,
                                   patience=2, folds=folds)
    settings = SearchSettings(tuner=tuner, max_trials=3, epochs=3, patience=2, seed=0, folds=folds)
    result = run_search(hypermodel, x_train, y_train, (x_val, y_val), settings=settings, directory=tmp_path)
    completed = [t for t in result.trials if t["score"] is not None]
    assert len(completed) >= 3
    in_trials = [trial for trial in built if trial is not None]
    assert len(in_trials) >= len(completed) if tuner == "hyperband" else in_trials == []
    monkeypatch.undo()
    for trial in completed:
        hp = kt.HyperParameters()
        for name, value in trial["hyperparameters"].items():
            hp.Fixed(name, value)
        assert trial["parameters"] == hypermodel.build(hp).count_params()


@pytest.mark.parametrize("tuner,folds", [("random", 1), ("bayesian", 3), ("grid", 1), ("hyperband", 1)])
def test_each_tuner_runs_a_real_search(tuner, folds, tmp_path):
    x_train, x_val, y_train, y_val = wine_arrays()
    settings = SearchSettings(tuner=tuner, max_trials=2, epochs=4, patience=2, seed=0, folds=folds)
    seen = []
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train) + len(x_val), seed=0,
                                   patience=2, folds=folds, on_trial_end=lambda hp, summary, trial: seen.append(summary))
    result = run_search(hypermodel, x_train, y_train, (x_val, y_val), settings=settings, directory=tmp_path)
    assert result.objective == "val_accuracy"
    completed = [t for t in result.trials if t["score"] is not None]
    assert completed and len(seen) >= len(completed)
    if tuner != "hyperband":
        assert len(result.trials) == 2
    assert [t["score"] for t in completed] == sorted((t["score"] for t in completed), reverse=True)  # accuracy
    assert result.best_hyperparameters == completed[0]["hyperparameters"]
    assert 1 <= result.best_epochs <= 4
    assert all(0 <= s["val_accuracy"] <= 1 and np.isfinite(s["val_log_loss"]) and s["seconds"] > 0 for s in seen)
    # Disk stays bounded: trial weights are written only where they are read back (Hyperband), and deleted
    # once no trial can be promoted from them (at the end of a search, none can).
    assert not list(tmp_path.rglob("*.weights.h5"))


def test_zero_hidden_layers_is_the_linear_model_and_learns():
    x_train, x_val, y_train, y_val = wine_arrays()
    hp = kt.HyperParameters()
    hp.Fixed("layers", 0)
    hp.Fixed("learning_rate", 1e-2)
    model = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0).build(hp)
    assert [layer.name for layer in model.layers if layer.weights] == ["probabilities"]  # softmax(x W + b)
    assert model.count_params() == x_train.shape[1] * 3 + 3
    model.fit(x_train, y_train, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"] > 0.9


def test_bayesian_search_tries_the_portfolio_first(tmp_path, monkeypatch):
    from autotune.search import recipes

    portfolio = [{"layers": 0, "learning_rate": 1e-2},
                 {"layers": 7},  # outside the space (0-4 layers): skipped
                 {"layers": 0, "learning_rate": 1e-2, "filters": 32},  # tried already (filters: not in the space)
                 {"layers": 2, "units": 64, "dropout": 0, "numeric_encoding": "standardized"}]  # 0: the space's 0.0
    monkeypatch.setattr(recipes, "portfolio", lambda kind: portfolio if kind == "tabular" else [])
    x_train, x_val, y_train, y_val = wine_arrays()
    settings = SearchSettings(tuner="bayesian", max_trials=3, epochs=2, patience=2, seed=0)
    tried = []
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0, patience=2,
                                   on_trial_end=lambda hp, summary, trial: tried.append(dict(hp)))
    run_search(hypermodel, x_train, y_train, (x_val, y_val), settings=settings, directory=tmp_path)
    defaults = {"layers": 1, "units": 32, "activation": "relu", "dropout": 0.0, "l1": 0.0, "l2": 0.0,
                "batch_norm": False, "optimizer": "adam", "learning_rate": 1e-4, "lr_schedule": "constant",
                "batch_size": 16, "numeric_encoding": "piecewise_linear"}
    assert tried[0] == {**defaults, "layers": 0, "learning_rate": 1e-2}
    assert tried[1] == {**defaults, "layers": 2, "units": 64, "numeric_encoding": "standardized"}
    assert tried[2] not in tried[:2] and len(tried) == 3  # then the oracle's own choice


def test_trials_side_by_side_take_the_portfolio_costliest_first(tmp_path):
    """Issue 18: a search handed out in order with a lag (local workers) gave trial 02 the image portfolio's costliest
    CNN, third in its file; it started second on one worker and ended last of the three, while the other worker,
    done with the cheaper ones, waited 77 s for it (trial 06 is chosen from trials 00-02). Trials side by side now
    take the portfolio's entries costliest first (the hypermodel's cost); one process keeps the file's order."""
    import keras_tuner as kt

    from autotune.search.tune import BayesianOracle

    hp = kt.HyperParameters()
    hp.Choice("filters", [16, 32, 64])
    hp.Choice("kernel_size", [3, 5])
    portfolio = [{"filters": 32, "kernel_size": 3}, {"filters": 16, "kernel_size": 5}, {"filters": 64, "kernel_size": 3}]

    def first_three(lag: int | None) -> list:
        oracle = BayesianOracle(objective=kt.Objective("score", "min"), max_trials=6, num_initial_points=3, seed=1,
                                hyperparameters=hp, portfolio=portfolio)
        oracle.lag, oracle.cost = lag, lambda values: values["filters"] ** 2 * values["kernel_size"] ** 2
        oracle._set_project_dir(tmp_path / str(lag), "search")
        return [oracle.create_trial(f"w{i}").hyperparameters.values for i in range(3)]

    assert first_three(0) == portfolio
    assert first_three(3) == first_three(None) == [portfolio[2], portfolio[0], portfolio[1]]


def test_regression_objective_is_rmse(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=120)).astype(np.float32)
    settings = SearchSettings(tuner="random", max_trials=2, epochs=10, patience=3, seed=0)
    hypermodel = TabularHyperModel(4, 1, "regression", 90, seed=0, patience=3)
    result = run_search(hypermodel, x[:90], y[:90], (x[90:], y[90:]), settings=settings, directory=tmp_path)
    assert result.objective == "val_rmse"
    assert result.trials[0]["score"] < float(np.std(y[90:]))  # better than predicting the mean


def test_unknown_tuner_and_hyperband_with_folds_are_refused(tmp_path):
    x_train, x_val, y_train, y_val = wine_arrays()
    for settings, message in ((SearchSettings(tuner="genetic"), "unknown tuner"),
                              (SearchSettings(tuner="hyperband", folds=3), "cannot score them by cross-validation")):
        hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0)
        with pytest.raises(InputError, match=message):
            run_search(hypermodel, x_train, y_train, (x_val, y_val), settings=settings, directory=tmp_path)


class StartOfEachFit(keras.callbacks.Callback):
    """The model's weights and its optimizer's step count as each fit begins."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_train_begin(self, logs=None):
        self.starts.append(([w.copy() for w in self.model.get_weights()], int(self.model.optimizer.iterations.numpy())))


@pytest.mark.parametrize("reuse", [True, False])
def test_cross_validated_trial_trains_each_fold_from_a_fresh_model(reuse, monkeypatch):
    """Folds of one layout train one model reset to its initial state (its traced train step kept); without reuse,
    a model built anew per fold. Either way each fold starts untrained: the initial weights, step 0."""
    x_train, x_val, y_train, y_val = wine_arrays()
    hp = kt.HyperParameters()
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train) + len(x_val), seed=0,
                                   patience=2, folds=3)
    hypermodel.reuse_across_folds = reuse
    hypermodel.side_by_side = False  # the path images, --tensorboard and several devices take
    model = hypermodel.build(hp)
    initial = [w.copy() for w in model.get_weights()]
    built, starts = [], StartOfEachFit()
    original, fit_one = hypermodel.build, hypermodel._fit_one
    hypermodel.build = lambda hp: built.append(1) or original(hp)
    monkeypatch.setattr(hypermodel, "_fit_one", lambda hp, model, *a, **k: fit_one(hp, model, a[0], a[1], a[2],
                                                                                  [*a[3], starts], **k))
    summary = hypermodel.fit(hp, model, x_train, y_train, validation_data=(x_val, y_val), epochs=3)
    assert len(built) == (0 if reuse else 2)  # the given model only, or two fresh ones
    assert len(starts.starts) == 3 and all(step == 0 for _, step in starts.starts)
    if reuse:
        for weights, _ in starts.starts:
            assert all(np.array_equal(a, b) for a, b in zip(weights, initial, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), initial, strict=True))  # it trained
    assert set(summary) >= {"val_log_loss", "best_epoch", "epochs", "seconds", "val_accuracy"}
    assert 1 <= summary["best_epoch"] <= 3 and 0 <= summary["val_accuracy"] <= 1


def test_a_diverging_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path):
    """A trial whose loss turns NaN fails alone; the others complete and one of them wins."""
    x_train, x_val, y_train, y_val = wine_arrays()
    x_train = x_train.copy()
    calls = []

    class SometimesNaN(TabularHyperModel):
        def fit(self, hp, model, x, y, **kwargs):
            calls.append(1)
            if len(calls) == 1:  # poison the first trial's data: its loss is NaN from the first step
                x = np.full_like(x, np.nan)
            return super().fit(hp, model, x, y, **kwargs)

    seen = []
    hypermodel = SometimesNaN(x_train.shape[1], 3, "classification", len(x_train), seed=0, patience=2,
                              on_trial_end=lambda hp, summary, trial: seen.append(summary))
    settings = SearchSettings(tuner="random", max_trials=3, epochs=3, patience=2, seed=0)
    result = run_search(hypermodel, x_train, y_train, (x_val, y_val), settings=settings, directory=tmp_path)
    statuses = sorted(t["status"] for t in result.trials)
    assert statuses == ["completed", "completed", "failed"]
    assert result.trials[-1]["score"] is None and seen[0]["val_accuracy"] is None
    assert result.trials[0]["score"] is not None and len(result.candidates) == 2


@pytest.mark.parametrize("metric", ["f1_macro", "roc_auc", "log_loss"])
def test_objective_follows_the_metric_scored_like_the_test_set(metric, tmp_path):
    """Metrics Keras lacks are scored by scikit-learn each epoch; the leaderboard orders by the metric."""
    from autotune.evaluate.metrics import METRICS

    x_train, x_val, y_train, y_val = wine_arrays()
    seen = []
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0, patience=3,
                                   metric=metric, on_trial_end=lambda hp, s, trial: seen.append(s))
    settings = SearchSettings(tuner="random", max_trials=3, epochs=4, patience=3, seed=0)
    result = run_search(hypermodel, x_train, y_train, (x_val, y_val), settings=settings, directory=tmp_path)
    assert result.objective == f"val_{metric}"
    scores = [t["score"] for t in result.trials]
    assert scores == sorted(scores, reverse=METRICS[metric][1])
    assert all(np.isfinite(s[f"val_{metric}"]) for s in seen)
    if metric != "log_loss":
        assert all(0.0 <= s[f"val_{metric}"] <= 1.0 for s in seen)


def test_metric_for_the_wrong_task_is_refused():
    from autotune.evaluate.metrics import check_metric

    with pytest.raises(InputError, match="--metric rmse is for regression, and this is classification"):
        check_metric("rmse", "classification")


def test_a_tabular_epoch_takes_at_most_max_steps_per_epoch_steps():
    """Issue 18: on large data a trial's batch grows instead of its steps (diamonds' 34,500 training rows took
    927 s at the defaults in batches of 16); small data keeps the searched batch size."""
    from autotune.search.space import MAX_STEPS_PER_EPOCH

    hp = kt.HyperParameters()
    hp.Fixed("batch_size", 16)
    large = TabularHyperModel(5, 1, "regression", 34_500, seed=0)
    assert large.global_batch(hp) == -(-34_500 // MAX_STEPS_PER_EPOCH) == 173
    assert large.steps_per_epoch(large.global_batch(hp)) <= MAX_STEPS_PER_EPOCH
    small = TabularHyperModel(5, 1, "regression", 3_000, seed=0)
    assert small.global_batch(hp) == 16 and small.steps_per_epoch(16) == 188
    folds = TabularHyperModel(5, 1, "regression", 60_000, seed=0, folds=3)  # a fold trains on 2 of 3 parts
    assert folds.global_batch(hp) == 200
