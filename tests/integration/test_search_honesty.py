"""Issue 14: the search measures what it says it measures — epochs counted from a configuration's start,
learning-rate schedules by epoch, per-fold preprocessing in the cross-validated search, scores in the
target's units, one trial id everywhere, and no configuration tried (or ensembled) twice."""
from __future__ import annotations

import json
import tempfile

import keras_tuner as kt
import numpy as np
import pytest
from conftest import DATA

from autotune.config import FitConfig
from autotune.events import Reporter
from autotune.pipeline import Interrupted, fit
from autotune.search.space import TabularHyperModel


def wine_arrays():
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    return train_test_split(x, y.astype(np.int32), test_size=0.3, random_state=0, stratify=y)


def fixed(**values) -> kt.HyperParameters:
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def test_a_trial_continued_from_a_checkpoint_counts_its_epochs_from_the_start():
    """Hyperband continues a trial from its parent's checkpoint with initial_epoch > 0: the summary (and so
    the leaderboard and the final model's epoch count) counts the inherited epochs too."""
    x_train, x_val, y_train, y_val = wine_arrays()
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0, patience=50)
    hp = fixed(batch_size=32, layers=1, units=16, learning_rate=1e-2, lr_schedule="constant")
    model = hypermodel.build(hp)
    summary = hypermodel.fit(hp, model, x_train, y_train, (x_val, y_val), epochs=6, initial_epoch=3)
    assert summary["epochs"] == 6  # 3 inherited + 3 trained here
    assert 4 <= summary["best_epoch"] <= 6


def test_the_learning_rate_schedule_counts_epochs_whatever_the_rows_fed():
    """The final fit trains on more rows than the hypermodel was sized for (train + validation, a
    --sample): "halve every 10 epochs" must still halve once after 11 epochs, not more often."""
    from autotune.search.hyperparameters import scheduled_rate
    from autotune.train import final_fit

    x_train, x_val, y_train, y_val = wine_arrays()
    x = np.concatenate([x_train, x_val, x_train])[:300]
    y = np.concatenate([y_train, y_val, y_train])[:300]
    hypermodel = TabularHyperModel(x.shape[1], 3, "classification", n_train=100, seed=0)
    hp = fixed(batch_size=32, layers=1, units=8, optimizer="adam", learning_rate=0.01, lr_schedule="step")
    network, history = final_fit(hypermodel, hp, x, y, epochs=11, seed=0)
    assert len(history["loss"]) == 11
    assert history["learning_rate"][9] == pytest.approx(0.01)
    assert history["learning_rate"][10] == pytest.approx(0.005)
    assert scheduled_rate("exponential", 1.0, 20) == pytest.approx(0.95**20)
    assert scheduled_rate("constant", 0.3, 50) == 0.3


def test_a_cosine_schedule_anneals_over_the_runs_epoch_cap_and_a_retrain_keeps_its_trials_curve():
    """Issue 18: "cosine" anneals the rate from the searched one to 0 over the trial's epoch cap (the hypermodel's
    epoch_cap: the run's --epochs), fixed in the configuration as lr_horizon — a network retrained by a hypermodel
    of another cap (the final fit, --cv) follows the curve its trial did, not one of its own length."""
    import math

    from autotune.search.hyperparameters import scheduled_rate
    from autotune.train import final_fit

    x_train, x_val, y_train, y_val = wine_arrays()
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", n_train=len(x_train), seed=0)
    hypermodel.epoch_cap = 10
    hp = fixed(batch_size=32, layers=1, units=8, optimizer="adam", learning_rate=0.01, lr_schedule="cosine")
    network, history = final_fit(hypermodel, hp, x_train, y_train, epochs=10, seed=0)
    assert hp.values["lr_horizon"] == 10
    cosine = [0.01 * 0.5 * (1 + math.cos(math.pi * e / 10)) for e in range(10)]
    assert history["learning_rate"] == pytest.approx(cosine, rel=1e-5)
    assert history["learning_rate"][5] == pytest.approx(0.005) and history["learning_rate"][9] < 0.0003

    retrainer = TabularHyperModel(x_train.shape[1], 3, "classification", n_train=len(x_train), seed=0)
    retrainer.epoch_cap = 60
    _, again = final_fit(retrainer, hp, np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val]),
                         epochs=4, seed=0)
    assert again["learning_rate"] == pytest.approx(cosine[:4], rel=1e-5)
    assert scheduled_rate("cosine", 1.0, 25, horizon=20) == 0.0  # past the cap (never trained): 0, not rising again


def test_early_stopping_leaves_a_cosine_schedule_to_run_its_course():
    """Stopped part-way, a cosine-scheduled network keeps weights trained at a rate still high (bench/README "Images in
    20 epochs"): a trial under it trains to its horizon whatever --patience says, where the same configuration at a
    constant rate stops once its validation loss stops improving (labels drawn at random: it only overfits)."""
    x_train, x_val, _, _ = wine_arrays()
    rng = np.random.default_rng(0)
    y_train, y_val = rng.integers(0, 3, len(x_train)), rng.integers(0, 3, len(x_val))
    epochs = {}
    for schedule in ("constant", "cosine"):
        hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0, patience=1)
        hypermodel.epoch_cap = 12
        hp = fixed(batch_size=16, layers=2, units=64, optimizer="adam", learning_rate=1e-2, lr_schedule=schedule)
        summary = hypermodel.fit(hp, hypermodel.build(hp), x_train, y_train, (x_val, y_val), epochs=12)
        epochs[schedule] = summary["epochs"]
    assert epochs["constant"] < 12 and epochs["cosine"] == 12


def _load_tabular(name: str, target: str, **options):
    from autotune.tabular.run import load_table

    run = load_table(FitConfig.of(DATA / name, target=target, **options), Reporter()).run
    run.prepare()
    return run


def test_the_cross_validated_search_learns_preprocessing_on_each_folds_training_rows():
    """Small data: each fold of the search is cleaned, encoded and scaled with statistics of its own
    training rows (as --cv does), so a held-out fold never shapes its own preprocessing."""
    run = _load_tabular("diabetes.csv", "progression")
    hypermodel = run.hypermodel(3, patience=2)
    folds = hypermodel.fold_data
    rows = len(run.arrays["x_train"]) + len(run.arrays["x_val"])
    assert len(folds) == 3 and sum(len(f.x_val) for f in folds) == rows
    for fold in folds:
        # Standardised on the fold's own training rows: mean 0 there (clipping aside), not on the held-out rows.
        ramps = set(fold.ramp_columns)  # each number's quantile ramps (0 to 1) beside its standardised value
        numeric = [i for i in range(fold.width) if len(np.unique(fold.x_train[:, i])) > 10 and i not in ramps]
        assert numeric and ramps
        assert fold.x_train[:, sorted(ramps)].min() == 0 and fold.x_train[:, sorted(ramps)].max() == 1
        assert np.allclose(fold.x_train[:, numeric].mean(axis=0), 0, atol=0.02)
        assert np.allclose(fold.y_train.mean(), 0, atol=1e-5) and np.isclose(fold.y_train.std(), 1, atol=1e-4)
        assert abs(float(fold.y_val.mean())) > 1e-4  # the held-out targets were not part of the scale
    # The fold's target scale is its own, so scores convert back to the target's units per fold.
    stds = {round(f.target_std, 6) for f in folds}
    assert len(stds) == 3 and all(40 < s < 100 for s in stds)


def test_regression_scores_are_in_the_targets_units(diabetes_run):
    """diabetes: the log and leaderboard used to say val_rmse 0.69 beside a test RMSE of 61 (standardised
    units vs the target's). Every trial score and the best trial's curves are now in the target's units."""
    report = diabetes_run.report
    test_rmse = report["test_metrics"]["rmse"]
    scores = [t["score"] for t in report["search"]["trials"] if t["score"] is not None]
    assert scores and all(test_rmse / 3 < s < test_rmse * 3 for s in scores), (scores, test_rmse)
    curves = report["search"]["best_trial_curves"]
    assert all(v > 10 for v in curves["val_rmse"] if v is not None)
    assert min(curves["loss"]) > 100  # mean squared error in the target's units²


class Recorder(Reporter):
    def __init__(self, stop_after: int | None = None):
        self.trials, self.notes, self.stop_after = [], [], stop_after

    def note(self, message):
        self.notes.append(message)

    def trial_finished(self, trial, number, score, best, epochs, seconds, hyperparameters):
        self.trials.append((trial, number))
        if self.stop_after and len(self.trials) == self.stop_after:
            raise KeyboardInterrupt


def test_one_trial_id_everywhere_and_a_resumed_run_goes_on_numbering(tmp_path):
    """The log names each trial by the leaderboard's id; after --resume it says how many trials it keeps,
    numbers on from them, and the report's time includes the interrupted part."""
    out = tmp_path / "out"
    config = FitConfig.of(DATA / "wine.csv", output=out, tuner="random", max_trials=4, epochs=3, patience=2, seed=3,
                       search_folds=1, ensemble=1, baseline=False)
    first = Recorder(stop_after=3)  # trials 1 and 2 finish; the run stops while trial 3 reports
    with pytest.raises(Interrupted):
        fit(config, first)
    assert first.trials == [("0", 1), ("1", 2), ("2", 3)]

    second = Recorder()
    result = fit(config.replace(resume=True), second)
    assert "resumed: 2 finished trial(s) kept, 2 to run" in second.notes
    assert second.trials == [("2", 3), ("3", 4)]
    report = result.report
    assert sorted(t["trial"] for t in report["search"]["trials"]) == ["0", "1", "2", "3"]
    assert {m["trial"] for m in report["final_model"]["members"]} <= {"0", "1", "2", "3"}
    timings = report["timings"]
    assert timings["earlier_runs"] > 0 and timings["total"] >= timings["earlier_runs"] + timings["search"]


def test_the_bayesian_oracle_never_proposes_a_configuration_twice(tmp_path):
    """Choices and integer ranges snap many points of the Gaussian process's space to one configuration:
    on a 12-configuration space, 12 trials (9 chosen by the Gaussian process) must be 12 different ones."""
    from autotune.search.tune import BayesianOracle

    hp = kt.HyperParameters()
    hp.Choice("units", [16, 32, 64, 128])
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    oracle = BayesianOracle(objective=kt.Objective("score", "min"), max_trials=12, num_initial_points=3, seed=0,
                            hyperparameters=hp)
    oracle._set_project_dir(str(tmp_path), "search")
    seen = []
    for _ in range(12):
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        values = trial.hyperparameters.values
        seen.append(json.dumps(values, sort_keys=True))
        # A smooth, real objective of the configuration: the GP soon prefers one corner.
        score = abs(np.log2(values["units"]) - 5) + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[values["activation"]]
        oracle.update_trial(trial.trial_id, {"score": score})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert len(seen) == len(set(seen)), seen
    assert len(seen) == 12


def test_an_ensemble_never_holds_one_configuration_twice(tmp_path):
    """Hyperband runs a promoted configuration again as a new trial: the final model's candidates (its
    ensemble members and their fallbacks) are distinct configurations, each with its best epoch count."""
    from autotune.search.tune import SearchSettings, run_search

    x_train, x_val, y_train, y_val = wine_arrays()
    settings = SearchSettings(tuner="hyperband", epochs=3, patience=3, seed=0)
    hypermodel = TabularHyperModel(x_train.shape[1], 3, "classification", len(x_train), seed=0, patience=3)
    result = run_search(hypermodel, x_train, y_train, (x_val, y_val), settings=settings, directory=tmp_path)
    configurations = [json.dumps(r["hyperparameters"], sort_keys=True) for r in result.trials]
    assert len(set(configurations)) < len(configurations)  # a promotion: one configuration, two trials
    chosen = [json.dumps({k: v for k, v in hp.values.items() if not k.startswith("tuner/")}, sort_keys=True)
              for hp, _ in result.candidates]
    assert len(chosen) == len(set(chosen)) == len(set(configurations))
    assert all(1 <= epochs <= 3 for _, epochs in result.candidates)
    for i in range(len(result.candidates)):  # each candidate names the trial it comes from
        row = result.trials[result.rank_of(i)]
        assert row["trial"] == result.candidate_trials[i] and json.dumps(row["hyperparameters"], sort_keys=True) == \
            chosen[i]


def test_the_report_names_the_trials_an_ensemble_retrained_when_hyperband_ran_a_configuration_twice(tmp_path):
    """The report's members are the trials whose configurations were retrained (one per configuration), with their
    leaderboard ranks — not the leaderboard's first rows, which hold a promoted configuration twice."""
    config = FitConfig.of(DATA / "wine.csv", output=tmp_path / "o", tuner="hyperband", epochs=3, patience=3, seed=0,
                          search_folds=1, ensemble=3, baseline=False)
    report = fit(config, Reporter()).report
    rows = report["search"]["trials"]
    configurations = [json.dumps(r["hyperparameters"], sort_keys=True) for r in rows]
    assert len(set(configurations[:3])) < 3  # the leaderboard's first rows: one configuration twice
    members = report["final_model"]["members"]
    named = [next(i for i, r in enumerate(rows) if r["trial"] == m["trial"]) for m in members]
    assert [m["rank"] for m in members] == [i + 1 for i in named]
    assert len({configurations[i] for i in named}) == len(members) == 3
    assert named[0] == 0 and all(configurations[i] not in configurations[:i] for i in named)  # each the first of its kind


def test_a_cross_validated_trial_is_scored_on_the_folds_mean_curve_not_on_each_folds_luckiest_epoch():
    """A validation curve that jumps from epoch to epoch gives each fold a lucky epoch of its own. Scoring the
    trial by the mean of those minima (and retraining for their median) rewards the noise: the folds' mean
    curve says where the configuration is good on all of them, and how good."""
    hypermodel = TabularHyperModel(4, 3, "classification", 300, seed=0, metric="log_loss")
    assert not hypermodel.higher_is_better
    objective, monitor = hypermodel.objective, hypermodel.loss_monitor
    folds = [[0.60, 0.35, 0.62, 0.50, 0.45, 0.47],  # lucky at epoch 2
             [0.60, 0.40, 0.55, 0.50, 0.44, 0.46],  # lucky at epoch 2 too
             [0.60, 0.65, 0.52, 0.49, 0.43]]        # stopped after 5 epochs
    runs = [{objective: c, monitor: c, "loss": c, "val_accuracy": [0.5 + i / 100 for i in range(len(c))]}
            for c in folds]
    summary = hypermodel._summarise(runs, seconds=1.0)
    assert summary["best_epoch"] == 5  # the mean over the 5 epochs every fold trained: lowest at epoch 5
    assert summary[objective] == pytest.approx((0.45 + 0.44 + 0.43) / 3)
    assert summary["val_accuracy"] == pytest.approx(0.54)  # each fold's, at that epoch
    assert summary["epochs"] == 6
    # one fold's diverged loss fails the trial, as before
    runs[1][monitor] = [0.6, float("nan")]
    assert hypermodel._summarise(runs, seconds=1.0)[objective] is None


def rare_class(rows: int = 4000, seed: int = 0):
    """Six features, a class of ~5% whose odds the first two carry weakly (lending_club's shape): train, validation."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6)).astype(np.float32)
    y = (rng.random(rows) < 1 / (1 + np.exp(3.5 - x[:, 0] - 0.5 * x[:, 1]))).astype(np.int32)
    cut = rows * 3 // 4
    return x[:cut], y[:cut], x[cut:], y[cut:]


NETWORK = dict(layers=1, units=16, activation="relu", batch_norm=False, dropout=0.0, l1=0.0, l2=0.0,
               optimizer="adam", learning_rate=3e-3, lr_schedule="constant", batch_size=64,
               numeric_encoding="standardized")


@pytest.mark.parametrize("engine", ["traced", "numpy"])
def test_with_class_weights_a_constant_output_cannot_win_the_search(engine):
    """lending_club, seed 2 (5% of rows in the rare class, so class weights on): a trial that diverged to the class
    prior scored 0.21 unweighted validation log loss, ahead of every sane class-weighted trial (0.33-0.61); the search
    chose it and the final model predicted one class for every test row (macro-F1 0.05). The validation log loss is
    weighted as training is — each row by its class's weight, scikit-learn's log_loss with sample_weight — and the
    prior then scores far behind a network that learned."""
    from sklearn.metrics import log_loss

    from autotune.modality import class_weights
    from autotune.search.hyperparameters import CLIP_NORM
    from autotune.search.numpy_mlp import NumpyMLP
    from autotune.search.stacked import Copy, StackedMLP, train_side_by_side

    x, y, x_val, y_val = rare_class()
    weights = class_weights(y, 2)
    assert 0.03 < y.mean() < 0.08 and weights[1] > 5 * weights[0]
    hp = fixed(**NETWORK)
    copies = [Copy(x, y, x_val, y_val)]
    space = TabularHyperModel(6, 2, "classification", len(x), seed=0).space
    net = {"traced": StackedMLP, "numpy": NumpyMLP}[engine](hp, space, copies, 2, False, seed=0, category_dropout=0.0)
    history = train_side_by_side(net, copies, optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=15,
                                 patience=100, monitor="val_log_loss", metrics=["accuracy"], clip=CLIP_NORM, seed=0,
                                 class_weight=weights)[0]
    if engine == "numpy":
        trained = net.forward(x_val[None], training=False)[0][0]
    else:
        trained = net(x_val[None], training=False).numpy()[0]
    row_weights = np.array([weights[int(c)] for c in y_val])
    assert history["val_log_loss"][-1] == pytest.approx(log_loss(y_val, trained, sample_weight=row_weights), rel=1e-4)
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(trained.argmax(axis=1) == y_val))  # as named
    prior = np.tile([1 - y.mean(), y.mean()], (len(y_val), 1))
    assert log_loss(y_val, prior) < log_loss(y_val, trained)  # unweighted, the prior would win: the defect
    assert min(history["val_log_loss"]) < 0.7 < log_loss(y_val, prior, sample_weight=row_weights)


def test_with_class_weights_keras_fit_scores_the_validation_log_loss_as_training_weighs_it():
    """The path images, --tensorboard and several devices take (Keras's fit): each epoch's val_log_loss is the
    class-weighted log loss of the network at that epoch, val_accuracy the plain accuracy."""
    import keras
    from sklearn.metrics import log_loss

    from autotune.modality import class_weights

    x, y, x_val, y_val = rare_class(2000)
    hypermodel = TabularHyperModel(6, 2, "classification", len(x), seed=0, patience=50)
    hypermodel.side_by_side = False
    hypermodel.class_weight = class_weights(y, 2)
    seen = []

    class Scores(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((dict(logs), self.model.predict(x_val, verbose=0)))

    hp = fixed(**NETWORK)
    keras.utils.set_random_seed(0)
    summary = hypermodel.fit(hp, hypermodel.build(hp), x, y, validation_data=(x_val, y_val), callbacks=[Scores()],
                             epochs=4)
    row_weights = np.array([hypermodel.class_weight[int(c)] for c in y_val])
    assert len(seen) == 4
    for logs, outputs in seen:
        assert logs["val_log_loss"] == pytest.approx(log_loss(y_val, outputs, sample_weight=row_weights), rel=1e-3)
        assert logs["val_accuracy"] == pytest.approx(np.mean(outputs.argmax(axis=1) == y_val), abs=1e-6)
    assert summary["val_log_loss"] == pytest.approx(min(logs["val_log_loss"] for logs, _ in seen))


def _two_worker_search(lag: int | None, timing: int, median_rule: bool = False, workers: int = 2) -> tuple[dict, list]:
    """A Bayesian search of 12 trials on a real objective, run by `workers` simulated workers whose trials take random
    times (`timing` seeds them): (trial id -> the values it was given, trial ids whose basis had not all ended when
    they were handed out, from the trials the median rule starts from on: stopping.median_minimum)."""
    from autotune.search.stopping import median_minimum
    from autotune.search.tune import BayesianOracle

    hp = kt.HyperParameters()
    hp.Choice("units", [8, 16, 32, 64, 128, 256])
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    hp.Float("dropout", 0.0, 0.5)
    # seed 1: keras-tuner takes a seed of 0 as none and draws one (from Python's generator, which a run seeds first)
    oracle = BayesianOracle(objective=kt.Objective("score", "min"), max_trials=12, num_initial_points=3, seed=1,
                            hyperparameters=hp)
    oracle.lag, oracle.median_rule = lag, median_rule
    with tempfile.TemporaryDirectory() as directory:
        oracle._set_project_dir(directory, "search")
        clock, rng = 0.0, np.random.default_rng(timing)
        running, idle, given, early = {}, set(), {}, []

        def ask(worker: str) -> bool:
            """Whether the worker got a trial (False: told to wait, or the search is over)."""
            trial = oracle.create_trial(worker)
            if trial.status != "RUNNING":
                return False
            given[trial.trial_id] = dict(trial.hyperparameters.values)
            basis = [t for i, t in oracle.trials.items() if lag is not None and int(i) < int(trial.trial_id) - lag]
            if len(basis) >= median_minimum(lag) and any(t.status == "RUNNING" for t in basis):
                early.append(trial.trial_id)
            running[worker] = (trial, clock + rng.uniform(1, 10))
            return True

        for worker in [f"w{i}" for i in range(workers)]:
            ask(worker)
        while running:
            worker = min(running, key=lambda w: running[w][1])
            trial, clock = running.pop(worker)
            values = trial.hyperparameters.values
            score = (abs(np.log2(values["units"]) - 5) + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[values["activation"]]
                     + (values["dropout"] - 0.2) ** 2)
            oracle.update_trial(trial.trial_id, {"score": score})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            for asking in sorted(idle | {worker}):
                (idle.discard if ask(asking) else idle.add)(asking)
            idle -= {w for w in idle if w not in oracle.tuner_ids}  # told the search is over
    return given, early


@pytest.mark.filterwarnings("ignore:The optimal value found")
def test_a_search_spread_over_workers_gives_each_trial_the_same_values_whatever_finishes_first():
    """Issue 18: with local workers, the Bayesian oracle chose trial k from whichever trials had finished when a
    worker asked, so a seed did not repeat a `--workers` run. In order (tune.InOrder), trial k is chosen from trials
    0 .. k-1-lag only, handed out once they have ended: two runs whose trials take different times give every trial
    the same values. One process (lag 0, one worker) is the search as before (lag None: keras-tuner's own)."""
    free = [_two_worker_search(None, timing)[0] for timing in (0, 1)]
    assert free[0] != free[1]  # the timings differ enough to change keras-tuner's own choices
    in_order = [_two_worker_search(3, timing, median_rule=True) for timing in (0, 1)]
    assert in_order[0][0] == in_order[1][0] and len(in_order[0][0]) == 12
    assert in_order[0][1] == in_order[1][1] == []  # no trial handed out before its basis had ended
    assert _two_worker_search(0, 0, workers=1)[0] == _two_worker_search(None, 0, workers=1)[0]


@pytest.mark.parametrize("lag", [3, None])
def test_a_trial_of_a_search_over_processes_starts_from_the_same_weights_whichever_trials_ran_before_it(tmp_path, lag):
    """Issue 18: a trial's network drew its initial weights from its process's random stream, which the trials that
    process had built before advanced: with local workers the same trial run by the other worker started from other
    weights and scored differently (mnist_5k seed 0, two runs at 0b223b3: trials 07-11). Where a search spans
    processes each trial's draws start from the run's seed and its id alone (tune.seed_trial); one process (lag 0)
    keeps its single stream."""
    import keras

    from autotune.search.tune import SearchSettings, make_tuner

    def first_weights(lag, history: int, trial_id: str = "05") -> np.ndarray:
        hypermodel = TabularHyperModel(13, 3, "classification", 100, seed=0)
        hypermodel.lag = lag
        tuner = make_tuner(SearchSettings(lag=lag), hypermodel, tmp_path / f"{lag}-{history}-{trial_id}")
        keras.utils.set_random_seed(0)
        for _ in range(history):  # the networks of the trials this process ran before
            hypermodel.build(kt.HyperParameters())
        tuner.on_trial_begin(kt.engine.trial.Trial(tuner.oracle.get_space(), trial_id=trial_id))
        return hypermodel.build(kt.HyperParameters()).get_weights()[-2]

    assert np.array_equal(first_weights(lag, 0), first_weights(lag, 2))
    assert not np.array_equal(first_weights(lag, 0), first_weights(lag, 0, trial_id="06"))
    assert not np.array_equal(first_weights(0, 0), first_weights(0, 2))  # one process: its one stream, as before
