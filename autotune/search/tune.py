"""Run the keras-tuner search and read its trials back as a leaderboard.

keras-tuner does the searching; this module only picks the tuner by name, wires in early stopping
and a clock, and turns its trials into plain dicts for the report.
"""
from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np

from autotune.config import TUNERS
from autotune.errors import InputError, NoResultError
from autotune.search import kt_compat, recipes
from autotune.search.budget import BudgetExhausted

log = logging.getLogger(__name__)

HYPERBAND_FACTOR = 3
FINAL_CANDIDATES = 6  # the ensemble's members and fallbacks for a diverging retrain


@dataclass(frozen=True)
class SearchSettings:
    tuner: str = "bayesian"
    max_trials: int = 12
    epochs: int = 60
    patience: int = 8
    seed: int = 0
    folds: int = 1  # > 1: score each trial by k-fold cross-validation over train + validation
    time_budget: float | None = None  # seconds from `started` to the published bundle
    started: float | None = None  # time.time() when the run began
    tensorboard: Path | None = None  # write TensorBoard logs of every trial (scalars, HParams) here
    reserve: object = None  # budget.Reserve: the part of the budget kept for the final fit and export
    # trials a new trial leaves out of what it is chosen from and compared with (InOrder): 0 in one process, more with
    # local workers, None with workers on other hosts (keras-tuner's own: whatever has finished by then)
    lag: int | None = 0


def search_callbacks(settings: SearchSettings) -> list:
    """Callbacks for tuner.search: with --tensorboard, Keras's TensorBoard, which keras-tuner gives a
    directory per trial (DIR/<trial>/execution0) and pairs with its HParams callback."""
    if not settings.tensorboard:
        return []
    return [keras.callbacks.TensorBoard(str(settings.tensorboard), write_graph=False)]


@dataclass(frozen=True)
class SearchResult:
    best_hyperparameters: dict
    hyperparameters: kt.HyperParameters  # the same values, as keras-tuner rebuilds a model from
    best_epochs: int
    objective: str
    trials: list[dict]  # leaderboard rows, best first
    seconds: float
    stopped_by_budget: bool
    candidates: list  # (HyperParameters, epochs) of the best few trials, best first: fallbacks for the final fit
    # ... and the trial each comes from: Hyperband runs a promoted configuration again as a new trial, so the
    # leaderboard's n-th row is not the n-th candidate's
    candidate_trials: list[str]

    def rank_of(self, candidate: int) -> int:
        """The leaderboard position (0 = best) of the trial candidate `candidate` comes from."""
        trial = self.candidate_trials[candidate]
        return next(i for i, row in enumerate(self.trials) if row["trial"] == trial)


IDLE_POLL = 0.5  # seconds a worker waits before it asks again for a trial the oracle held back


class InOrder:
    """An oracle whose search does not depend on which trials happen to have finished when a worker asks, so that a
    seed repeats a run with local workers as it does in one process: trial k is chosen from trials 0 .. k-1-lag
    (`basis`), and the median rule of trial k compares with those alone (SearchHyperModel.compared_curves). Where its
    choice or that comparison needs their results, trial k is handed out once each of them has ended; a worker that
    asks before is told IDLE and asks again (Tuner.pre_create_trial). The `lag` latest trials are left out so that a
    worker seldom waits for the trial another one is running. lag 0 in one process: trial k sees every earlier trial,
    all ended — the search as before. lag None (workers on other hosts): keras-tuner's own, whatever has finished."""

    lag: int | None = 0
    median_rule = False  # the hypermodel stops trials behind the median of the basis's finished ones

    @staticmethod
    def cost(values: dict) -> float:
        """What a configuration costs to train, against others (the hypermodel's `cost`, set by _in_order)."""
        return 0.0

    def basis(self, trial_id: str) -> list | None:
        """The trials trial `trial_id` is chosen from, in id order; None where lag is None."""
        if self.lag is None:
            return None
        return [t for i, t in sorted(self.trials.items()) if int(i) < int(trial_id) - self.lag]

    def held_back(self, basis: list | None, needed_from: int) -> bool:
        """Whether a trial with this basis must wait: from `needed_from` trials on, its choice or comparison reads
        their results, and one of them has not ended."""
        return basis is not None and len(basis) >= needed_from and not all(kt_compat.ended(self, t) for t in basis)

    def rule_reads_from(self) -> float:
        """The basis size from which the hypermodel's median rule reads the basis's curves (stopping.median_minimum);
        never without the rule."""
        from autotune.search.stopping import median_minimum

        return median_minimum(self.lag) if self.median_rule else math.inf

    def populate_space(self, trial_id):
        if self.held_back(self.basis(trial_id), self.rule_reads_from()):
            return {"status": kt.engine.trial.TrialStatus.IDLE}
        return super().populate_space(trial_id)


class RandomOracle(InOrder, kt.oracles.RandomSearchOracle):
    """keras-tuner's random search, in order (InOrder): its choices never wait, its median rule may."""


class BayesianOracle(InOrder, kt.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian oracle, with a cheaper search for the next point to try.

    keras-tuner maximises the acquisition with 50 L-BFGS-B runs from random starts, each asking the
    Gaussian process about one point at a time (numerical gradients): ~58k calls, 3-5 s before every
    trial on two cores, a quarter of a default search on penguins (bench/run.py). Here the acquisition
    is evaluated on 2,000 random points in one call, then refined by L-BFGS-B from the best 5: the same
    Gaussian process, acquisition (lower confidence bound) and bounds, in ~0.2 s."""

    CANDIDATES = 2000
    STARTS = 5

    def __init__(self, *args, portfolio: list[dict] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.portfolio = list(portfolio or [])  # configurations tried first (recipes.portfolio), best first

    def populate_space(self, trial_id):
        import scipy.optimize

        start_model = (self.num_initial_points or max(3 * len(self.hyperparameters.space), 3)) + len(self.portfolio)
        basis = self.basis(trial_id)
        if self.held_back(basis, min(start_model, self.rule_reads_from())):
            return {"status": kt.engine.trial.TrialStatus.IDLE}
        values = self.next_from_portfolio()
        if values is not None:
            return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}
        completed = [t for t in (self.trials.values() if basis is None else basis) if t.status == "COMPLETED"]
        if len(completed) < start_model:
            return kt_compat.random_configuration(self)
        x, y = self._points(trial_id, basis)
        bounds = kt_compat.search_bounds(self)

        def acquisition(points):
            mu, sigma = self.gpr.predict(np.reshape(points, (-1, len(bounds))), return_std=True)
            return mu - self.beta * sigma

        candidates = kt_compat.random_state(self).uniform(bounds[:, 0], bounds[:, 1], size=(self.CANDIDATES, len(bounds)))
        scores = acquisition(candidates)
        order = np.argsort(scores)
        refined = []
        for start in candidates[order[:self.STARTS]]:
            result = scipy.optimize.minimize(lambda p: _value_and_gradient(acquisition, p, bounds), x0=start,
                                             bounds=bounds, jac=True, method="L-BFGS-B")
            refined.append((float(np.ravel(result.fun)[0]), result.x))
        # The best point that is a configuration not tried yet: choices and integer ranges snap many points
        # to one configuration, and a trial spent on a configuration already measured teaches nothing.
        ranked = [x for _, x in sorted(refined, key=lambda r: r[0])] + list(candidates[order])
        for point in ranked:
            values = kt_compat.point_to_values(self, point)
            if not kt_compat.already_tried(self, values):
                return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}
        return kt_compat.random_configuration(self)  # every candidate was tried: a random untried one, or stop

    def _points(self, trial_id: str, basis: list | None):
        """The Gaussian process fitted on the basis's scores (negated for a "max" objective) and (points, scores).
        The trials after the basis (running, or ended too late to count) are in as the process, fitted on the basis,
        pessimistically expects them — mean + one standard deviation — and the process fitted again: the next point
        stays away from them. keras-tuner's own (basis None) guesses its running trials from the last fit."""
        if basis is None:
            x, y = kt_compat.observed_points(self)
            self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
            return x, y
        sign = -1 if self.objective.direction == "max" else 1
        done = [t for t in basis if t.status == "COMPLETED"]
        x = np.array([kt_compat.trial_point(self, t) for t in done])
        y = np.array([sign * t.score for t in done], dtype=np.float64)
        self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
        pending = [t for i, t in sorted(self.trials.items()) if int(trial_id) - self.lag <= int(i) < int(trial_id)]
        if pending:
            guess = np.array([kt_compat.trial_point(self, t) for t in pending])
            mean, std = self.gpr.predict(guess, return_std=True)
            x, y = np.concatenate([x, guess]), np.concatenate([y, np.ravel(mean) + np.ravel(std)])
            self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
        return x, y

    def next_from_portfolio(self) -> dict | None:
        """The first portfolio configuration this search's space allows and no trial has tried yet — or, where trials
        run side by side (a lag), the costliest of them (`cost`, the hypermodel's): the longest trial first, so that it
        does not start last and hold up the trials that wait for it (mnist_5k seed 0: the 64-128-256 CNN, third in the
        file, started second on one worker, 86-264 s, while the other, done with the cheaper ones, waited 77 s for it
        to end: trial 06 is chosen from trials 00-02)."""
        untried = [values for values in (allowed_values(self.hyperparameters, entry) for entry in self.portfolio)
                   if values is not None and not kt_compat.already_tried(self, values)]
        if not untried:
            return None
        return max(untried, key=self.cost) if self.lag != 0 else untried[0]  # max: the first of equal costs


def _value_and_gradient(function, point: np.ndarray, bounds: np.ndarray) -> tuple[float, np.ndarray]:
    """function(point) and its forward-difference gradient, as scipy's L-BFGS-B estimates it by default (a step of
    sqrt(machine epsilon) × max(1, |x|), taken backwards at an upper bound), but with every shifted point in one call
    of `function` (one Gaussian-process prediction instead of one per dimension)."""
    step = np.sqrt(np.finfo(np.float64).eps) * np.maximum(1.0, np.abs(point))
    step = np.where(point + step > bounds[:, 1], -step, step)
    values = np.asarray(function(np.vstack([point, point + np.diag(step)])), dtype=np.float64)
    return float(values[0]), (values[1:] - values[0]) / step


def allowed_values(hyperparameters: kt.HyperParameters, entry: dict) -> dict | None:
    """A portfolio entry as a whole configuration of this space (unnamed hyperparameters at their defaults, named
    ones the space lacks ignored), or None when it gives a value the space does not allow."""
    space = {hp.name: hp for hp in hyperparameters.space}
    values = {}
    for name, hp in space.items():
        value = entry.get(name, hp.default)
        if isinstance(hp, kt.engine.hyperparameters.Fixed):
            ok = value == hp.value
        elif isinstance(hp, kt.engine.hyperparameters.Boolean):
            ok = isinstance(value, bool)
        elif isinstance(hp, kt.engine.hyperparameters.Choice):  # the space's own value (0 and 0.0 alike, not True)
            same = [v for v in hp.values if v == value and isinstance(v, bool) == isinstance(value, bool)]
            ok, value = bool(same), same[0] if same else value
        elif isinstance(hp, kt.engine.hyperparameters.Int):
            ok = (isinstance(value, int) and not isinstance(value, bool) and hp.min_value <= value <= hp.max_value
                  and (value - hp.min_value) % (hp.step or 1) == 0)
        else:
            ok = False
        if not ok:
            return None
        values[name] = value
    return values


class TrialIds:
    """Tells the hypermodel which trial it is about to train, by keras-tuner's id — the leaderboard's —
    so the log, the report, the HTML page, TensorBoard and --json name each trial the same way. A worker told
    IDLE (InOrder held its next trial back) asks again after IDLE_POLL seconds, not at once."""

    _asked = False  # the last request for a trial got none to run

    def pre_create_trial(self):
        super().pre_create_trial()
        if self._asked:
            time.sleep(IDLE_POLL)
        self._asked = True

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._asked = False
        self.hypermodel.trial_id = trial.trial_id
        seed_trial(self.hypermodel, trial.trial_id)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        """keras-tuner's build then fit (its hook for overriding, tuner.py), without the build where the hypermodel
        trains the trial's networks in a loop of its own (SearchHyperModel.without_network)."""
        hp = trial.hyperparameters
        if not self.hypermodel.without_network(hp, kwargs.get("callbacks"), kwargs.get("initial_epoch")):
            return super()._build_and_fit_model(trial, *args, **kwargs)
        keras.backend.clear_session()  # as keras-tuner's build starts (_try_build); it collects garbage too
        results = self.hypermodel.fit(hp, None, *args, **kwargs)
        kt_compat.validate_trial_results(results, self.oracle.objective)
        return results


def seed_trial(hypermodel, trial_id: str) -> None:
    """Where a search spans processes (lag other than 0), each trial's random draws (its network's initial weights)
    start from a seed of the run's seed and the trial's id alone: they followed the trials its process had built
    before, so the same trial run by another worker started from other weights (mnist_5k seed 0, two runs at
    0b223b3: trials 07-11 ran on the other worker and scored differently). One process keeps the run's single
    stream (its history is the same every run)."""
    if getattr(hypermodel, "lag", 0) != 0:
        keras.utils.set_random_seed(int(np.random.SeedSequence([hypermodel.seed, int(trial_id)]).generate_state(1)[0]))


class Tuner(TrialIds, kt.Tuner):
    pass


class GridSearch(TrialIds, kt.GridSearch):
    pass


def make_tuner(settings: SearchSettings, hypermodel: kt.HyperModel, directory: Path) -> kt.Tuner:
    """The keras-tuner tuner the settings name, over the hypermodel, storing its state in directory."""
    kt_compat.atomic_state_files()  # a process killed mid-save leaves the previous state file, not an empty one
    direction = "max" if hypermodel.higher_is_better else "min"
    common = dict(objective=kt.Objective(hypermodel.objective, direction), seed=settings.seed, directory=str(directory),
                  project_name="search", overwrite=False, max_consecutive_failed_trials=3,
                  distribution_strategy=getattr(hypermodel.compute, "strategy", None))
    if settings.tuner == "bayesian":
        # keras-tuner's default starts with 3 random trials per hyperparameter (33 here): with a budget of
        # a dozen trials the Gaussian process would never get to choose one.
        initial = max(3, min(10, settings.max_trials // 3))
        oracle = BayesianOracle(objective=common.pop("objective"), max_trials=settings.max_trials,
                                num_initial_points=initial, seed=common.pop("seed"),
                                portfolio=recipes.portfolio(getattr(hypermodel, "kind", "tabular")),
                                max_consecutive_failed_trials=common.pop("max_consecutive_failed_trials"))
        return Tuner(oracle=_in_order(oracle, settings, hypermodel), hypermodel=hypermodel, **common)
    if settings.tuner == "random":
        oracle = RandomOracle(objective=common.pop("objective"), max_trials=settings.max_trials, seed=common.pop("seed"),
                              max_consecutive_failed_trials=common.pop("max_consecutive_failed_trials"))
        return Tuner(oracle=_in_order(oracle, settings, hypermodel), hypermodel=hypermodel, **common)
    if settings.tuner == "grid":
        return GridSearch(hypermodel, max_trials=settings.max_trials, **common)
    if settings.tuner == "hyperband":
        return PruningHyperband(hypermodel, max_epochs=settings.epochs, factor=HYPERBAND_FACTOR, **common)
    raise InputError(f"unknown tuner {settings.tuner!r}; use one of: {', '.join(TUNERS)}")


def _in_order(oracle: InOrder, settings: SearchSettings, hypermodel: kt.HyperModel) -> InOrder:
    oracle.lag = settings.lag
    oracle.median_rule = bool(getattr(hypermodel, "median_stopping", False))
    oracle.cost = getattr(hypermodel, "cost", oracle.cost)
    return oracle


@kt.synchronized  # under the oracle's lock: a chief's gRPC threads may be promoting a trial meanwhile
def unpromotable_trials(oracle) -> set[str]:
    """Finished trials whose weights keras-tuner's Hyperband will never read back.

    Hyperband starts a trial of round r + 1 from the checkpoint of a trial of round r (its
    "tuner/trial_id"). A finished trial can still be promoted only while its bracket is open, it is not
    in the bracket's last round, the next round has room, and it was not promoted already; a trial
    that is waiting to run (or be retried) from a checkpoint still needs that checkpoint. Failed trials
    are never promoted."""
    promotable = set()
    for bracket in kt_compat.hyperband_brackets(oracle):
        rounds = bracket["rounds"]
        for r in range(len(rounds) - 1):
            if len(rounds[r + 1]) >= kt_compat.hyperband_round_size(oracle, bracket["bracket_num"], r + 1):
                continue  # the next round is full
            promoted = {info["past_id"] for info in rounds[r + 1]}
            promotable |= {info["id"] for info in rounds[r] if info["id"] not in promoted}
    unfinished = [t for t in oracle.trials.values() if t.status in ("RUNNING", "IDLE")]
    needed = {t.hyperparameters.values.get("tuner/trial_id") for t in unfinished}
    needed |= {i for i in promotable if i in oracle.trials and oracle.trials[i].status == "COMPLETED"}
    return {t.trial_id for t in oracle.trials.values()
            if t.status not in ("RUNNING", "IDLE") and t.trial_id not in needed}


def prune_checkpoints(oracle, project_dir: Path) -> int:
    """Delete the checkpoints Hyperband can no longer use; returns how many files went."""
    removed = 0
    for trial_id in unpromotable_trials(oracle):
        for path in (Path(project_dir) / f"trial_{trial_id}").glob("checkpoint*"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class PruningHyperband(TrialIds, kt.Hyperband):
    """keras-tuner's Hyperband, which keeps one checkpoint per trial for the trials it may promote; this
    deletes each checkpoint as soon as its trial can no longer be promoted (after every trial), so the
    disk holds about one bracket round's checkpoints, not one per trial. Resume needs no more: the
    oracle's saved state says which trials are still promotable."""

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if isinstance(self.oracle, kt.oracles.HyperbandOracle):  # a worker's oracle is the chief's, over gRPC
            prune_checkpoints(self.oracle, self.project_dir)


def _finite(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None and np.isfinite(value) else None


def _trial_row(trial: kt.engine.trial.Trial, objective: str) -> dict:
    """One leaderboard row from the summary the hypermodel returned for the trial (see space.py)."""

    def metric(name: str) -> float | None:
        return float(trial.metrics.get_last_value(name)) if trial.metrics.exists(name) else None

    score = metric(objective)
    row = {
        "trial": trial.trial_id,
        "status": trial.status.lower(),
        "score": score if score is not None and np.isfinite(score) else None,
        "best_epoch": int(round(metric("best_epoch") or 0)) or None,
        "epochs": int(metric("epochs") or 0),
        "seconds": None if metric("seconds") is None else round(metric("seconds"), 3),
        "fit_seconds": None if metric("fit_seconds") is None else round(metric("fit_seconds"), 3),
        "rss_mb": None if metric("rss_mb") is None else round(metric("rss_mb"), 1),
        "startup_seconds": _finite(metric("startup_seconds"), 3),
        "parameters": None if metric("parameters") is None else int(metric("parameters")),
        # the rows a step it trained at: its batch_size, or more where an epoch would exceed MAX_STEPS_PER_EPOCH steps
        "batch_rows": None if metric("batch_rows") is None else int(metric("batch_rows")),
        # the epoch at which the median stopping rule ended it (space.py: BehindTheMedian); None: it ran its course
        "stopped_behind_median": int(metric("stopped_behind_median")) if metric("stopped_behind_median") else None,
        "hyperparameters": {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")},
    }
    for name in ("val_accuracy", "val_log_loss", "val_rmse"):
        if metric(name) is not None and name != objective:
            row[name] = metric(name)
    return row


def leaderboard(tuner: kt.Tuner) -> list[dict]:
    """Every finished trial, best first: id, status, score, epochs, seconds and hyperparameters."""
    objective = tuner.oracle.objective
    # A trial still "running" was refused by the time budget (or interrupted): it has no result.
    rows = [_trial_row(t, objective.name) for t in tuner.oracle.trials.values() if t.status != "RUNNING"]
    sign = -1 if objective.direction == "max" else 1
    rows.sort(key=lambda r: (r["score"] is None, sign * r["score"] if r["score"] is not None else 0, r["trial"]))
    return rows


def run_search(hypermodel: kt.HyperModel, x, y, validation_data, *, settings: SearchSettings,
               directory: Path, cluster=None, on_start=None) -> SearchResult | None:
    """Search with keras-tuner; x/y/validation_data are whatever the hypermodel's fit() takes.

    With a `cluster` (distributed.Cluster) this process is keras-tuner's chief (it serves the oracle
    while workers run the trials, then reads the leaderboard) or one worker (it runs trials the chief
    hands out and returns None: the chief has the results). `on_start(kept)` is called once the tuner
    exists, with the number of finished trials a resumed run keeps (0 for a new search)."""
    _check_settings(settings)
    start = time.perf_counter()
    keras.utils.set_random_seed(settings.seed)
    hypermodel.keep_checkpoints = settings.tuner == "hyperband"
    hypermodel.lag = settings.lag  # the trials its median rule leaves out (InOrder)
    _arm_budget(hypermodel, settings)
    stopped_by_budget = False
    try:
        with _quiet_and_frozen():
            if cluster is None:
                tuner = make_tuner(settings, hypermodel, directory)
                _started(tuner, on_start)
                tuner.search(x, y, validation_data=validation_data, epochs=settings.epochs, verbose=0,
                             callbacks=search_callbacks(settings))
            elif cluster.role == "worker":
                _work(cluster, settings, hypermodel, directory, x, y, validation_data)
            else:
                tuner = _serve(cluster, settings, hypermodel, directory, on_start)
                stopped_by_budget = hypermodel.deadline is not None and time.time() >= hypermodel.deadline - 1
    except BudgetExhausted as exc:
        stopped_by_budget = True
        log.info("search stopped: %s", exc)
    except RuntimeError as exc:  # keras-tuner stops after several failed trials in a row
        if "consecutive failures" not in str(exc):
            raise
        log.warning("search stopped early: %s", exc)
    if cluster is not None and cluster.role == "worker":
        return None  # the chief holds the results
    return _result(tuner, hypermodel.objective, settings, cluster, time.perf_counter() - start, stopped_by_budget)


@contextlib.contextmanager
def _quiet_and_frozen():
    """The search's surroundings: keras-tuner's prints and scikit-learn's warnings go to the log, and the
    objects alive before the first trial are frozen out of the garbage collector's scans."""
    # keras-tuner prints to stdout ("Reloading Tuner…", failed trials' tracebacks), which belongs to --json:
    # keep it for the log instead.
    printed = io.StringIO()
    # keras-tuner collects garbage twice before each trial (clear_session, then gc.collect); scanning the
    # ~500k objects TensorFlow, the data and the encoders leave behind took ~0.7 s a trial, a fifth of a
    # small search (bench/run.py). They outlive the search anyway: freezing them leaves each collection
    # only the trials' own objects. Unfrozen (and collectable again) when the search ends.
    gc.collect()
    gc.freeze()
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            # The Bayesian oracle's Gaussian process warns about length scales at its bounds: noise to users.
            warnings.filterwarnings("ignore", module="sklearn.gaussian_process")
            yield
    finally:
        gc.unfreeze()
        if printed.getvalue().strip():
            log.info("keras-tuner printed:\n%s", printed.getvalue())


def _check_settings(settings: SearchSettings) -> None:
    if settings.tuner not in TUNERS:
        raise InputError(f"unknown tuner {settings.tuner!r}; use one of: {', '.join(TUNERS)}")
    if settings.tuner == "hyperband" and settings.folds > 1:
        raise InputError("Hyperband continues trials from checkpoints and cannot score them by cross-validation; "
                         "use --search-folds 1 with --tuner hyperband")


def _arm_budget(hypermodel: kt.HyperModel, settings: SearchSettings) -> None:
    """--time-budget: the hypermodel stops starting trials (and cuts the last one) at the deadline, the
    budget's end less the time kept for the final fit and export."""
    if settings.time_budget:
        hypermodel.budget_end = (settings.started or time.time()) + settings.time_budget
        hypermodel.reserve = settings.reserve
        hypermodel.deadline = hypermodel.budget_end - (settings.reserve.seconds() if settings.reserve else 0.0)


def _result(tuner, objective: str, settings: SearchSettings, cluster, seconds: float,
            stopped_by_budget: bool) -> SearchResult:
    """The leaderboard (with each trial's worker) and the distinct best configurations for the final fit."""
    rows = leaderboard(tuner)
    if cluster is not None:
        for row in rows:
            row["worker"] = cluster.ran_by.get(row["trial"])
    completed = [r for r in rows if r["score"] is not None]
    if not completed:
        raise NoResultError("every trial failed (diverged or raised); run with --verbose to see why, "
                            "or lower the learning rates in the search space")
    ranked = distinct_configurations(completed)[:FINAL_CANDIDATES]
    candidates = [(tuner.oracle.trials[r["trial"]].hyperparameters, r["best_epoch"] or settings.epochs) for r in ranked]
    return SearchResult(
        best_hyperparameters=completed[0]["hyperparameters"],
        hyperparameters=candidates[0][0],
        best_epochs=candidates[0][1],
        objective=objective,
        trials=rows,
        seconds=seconds,
        candidates=candidates,
        candidate_trials=[r["trial"] for r in ranked],
        stopped_by_budget=stopped_by_budget,
    )


def distinct_configurations(rows: list[dict]) -> list[dict]:
    """Leaderboard rows, best first, one per configuration: Hyperband runs a configuration again when it
    promotes it, and an ensemble holding one configuration twice is one network with double weight."""
    seen, out = set(), []
    for row in rows:
        key = json.dumps(row["hyperparameters"], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _started(tuner: kt.Tuner, on_start) -> None:
    if on_start is not None:
        on_start(sum(t.status not in ("RUNNING", "IDLE") for t in tuner.oracle.trials.values()))


def _work(cluster, settings: SearchSettings, hypermodel: kt.HyperModel, directory: Path, x, y, validation_data) -> None:
    """One worker: run the trials the chief's oracle hands out until it says the search is over."""
    import grpc

    from autotune.search.distributed import ChiefLost, keras_tuner_role

    with keras_tuner_role(cluster.tuner_id, cluster.host, cluster.port):
        try:
            tuner = make_tuner(settings, hypermodel, directory)
            tuner.search(x, y, validation_data=validation_data, epochs=settings.epochs, verbose=0,
                         callbacks=search_callbacks(settings))
        except grpc.RpcError as exc:
            raise ChiefLost(f"worker {cluster.tuner_id} cannot reach the chief's oracle at {cluster.address} "
                            f"({exc.code().name}): the chief has stopped, was never started or is unreachable; "
                            "this worker exits") from None


def _serve(cluster, settings: SearchSettings, hypermodel: kt.HyperModel, directory: Path, on_start=None) -> kt.Tuner:
    """The chief: keras-tuner's oracle, served until every worker is done; returns the tuner holding it."""
    from autotune.search.distributed import keras_tuner_role, serve

    with keras_tuner_role("chief", cluster.host, cluster.port):
        tuner = make_tuner(settings, hypermodel, directory)
        tuner.save()
    _started(tuner, on_start)
    cluster.state_path = directory / "workers.json"  # which worker ran which trial, kept across --resume

    def finished(worker: str, trial) -> None:
        if isinstance(tuner, PruningHyperband):  # the workers wrote the checkpoints; the chief knows the brackets
            prune_checkpoints(tuner.oracle, tuner.project_dir)
        if hypermodel.on_trial_end is not None:
            summary = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
            hypermodel.on_trial_end(trial.hyperparameters.values, {**summary, "worker": worker}, trial.trial_id)

    serve(tuner.oracle, cluster, on_trial_end=finished, on_trial_start=cluster.on_trial_start,
          deadline=hypermodel.deadline)
    return tuner
