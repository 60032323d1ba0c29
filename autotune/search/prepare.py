"""What every search process makes before its first trial, the same way in a single process, a chief and
each worker: the devices, the encoded data, the hypermodel, the objective, the time estimate and reserve."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from autotune.config import FitConfig
from autotune.errors import InputError
from autotune.events import Reporter
from autotune.modality import Loaded
from autotune.task import task_of


@dataclass
class SearchSetup:
    """Everything the search needs, made the same way in a single process, a chief and each worker."""

    run: object
    compute: object  # devices.Compute
    settings: object  # tune.SearchSettings
    metric: str  # the headline metric
    searched: str  # the metric the search optimises
    searcher: object  # the hypermodel
    data: tuple  # x, y, validation
    members: int  # networks the final model averages


def search_setup(config: FitConfig, loaded: Loaded, scratch: Path, reporter: Reporter, started: float,
                  preview: bool = True, run_dir: Path | None = None) -> SearchSetup:
    """Import TensorFlow (only now, once the input has been checked), pick the devices, encode the
    data and build the hypermodel. `run_dir`: the run directory the chief and its workers share, where a worker's
    `scratch` is its own (None: `scratch` is the run directory)."""
    compute = _devices(config, loaded.run, reporter)  # first: it decides which devices TensorFlow sees
    import keras

    from autotune.evaluate.metrics import METRICS, check_metric, default_metric
    from autotune.search.distributed import search_lag
    from autotune.search.tune import SearchSettings

    run, search = loaded.run, config.search
    reporter.stage("encode")
    keras.utils.set_random_seed(config.seed)
    for line in run.prepare(scratch, chief=run_dir):
        reporter.note(line)
    folds = search.folds or run.default_folds(search.tuner)
    # One process runs every trial, on every training row (no --sample, no cluster): a hypermodel that reuses its
    # trials' networks keeps the best ones as the final model's members instead of retraining them (keeps_trial_networks:
    # images on one fold; small-data regression, each fold's network).
    alone = not search.sample and not config.cluster.workers and not config.cluster.role
    # Local workers (--workers N: the chief and the workers it starts) share the run directory: a worker writes the
    # networks it keeps there (SearchHyperModel.shared_dir) for the chief's final fit, where the hypermodel's final
    # networks are its trials' own (images).
    in_run_dir = bool(config.cluster.workers) and not config.cluster.role or config.cluster.role == "worker"
    shared = in_run_dir and not search.sample
    members = config.final.ensemble or run.default_ensemble((alone or shared) and folds == 1)
    trials = None if search.tuner == "hyperband" else search.max_trials
    if trials:  # the final model averages the best completed trials: no more than were run
        members = min(members, trials)
    reporter.stage("search")
    # The headline: --metric, else macro-F1 (imbalanced classes), accuracy or RMSE. The search optimises
    # --metric when one is given; otherwise the smooth loss, which ranked trials better than accuracy on
    # small validation data (breast-cancer: test accuracy 0.965 vs 0.947 for the accuracy objective).
    metric = search.metric or default_metric(run.task, run.imbalanced)
    check_metric(metric, run.task)
    searched = search.metric or task_of(run.task).search_metric
    objective, higher = f"val_{searched}", METRICS[searched][1]
    epochs = search.epochs or run.default_epochs()
    progress = TrialProgress(reporter, objective, higher, trials)
    searcher = run.hypermodel(folds, search.patience, on_trial_end=progress, metric=searched, sample=search.sample)
    searcher.compute = compute
    if searcher.keeps_trial_networks(folds, config.final.cv) and (alone or shared and searcher.reuses_trial_weights):
        searcher.kept_trials = members  # the final networks are its trials' own
    if in_run_dir:  # what the processes of the search share: finished trials' curves, kept networks
        searcher.shared_dir = (run_dir or scratch) / "search"
    if folds > 1 or members > 1:
        reporter.note(small_data_note(run.train_rows, folds, members, bool(searcher.kept_trials) and folds > 1))
    reporter.search_started(search.tuner, trials, epochs, objective)
    _balance_note(searcher, searched, reporter)
    data = run.search_data(search.sample)
    reserve, plan = _reserve_and_preview(config, run, searcher, compute, data, members, epochs, started, reporter,
                                         preview)
    if plan is not None and (plan.members, plan.epochs) != (members, epochs):
        reporter.note(plan.note(members, epochs, config.run.time_budget))
        members, epochs = plan.members, plan.epochs
    if searcher.kept_trials:
        searcher.kept_trials = members
    searcher.epoch_cap = epochs
    settings = SearchSettings(search.tuner, search.max_trials, epochs, search.patience, config.seed, folds,
                              time_budget=config.run.time_budget, started=started, tensorboard=config.run.tensorboard,
                              reserve=reserve, lag=search_lag(config.cluster))
    return SearchSetup(run, compute, settings, metric, searched, searcher, data, members)


def _balance_note(searcher, searched: str, reporter: Reporter) -> None:
    """How the search balances imbalanced classes (--balance), in the run's log."""
    if searcher.loss_weight:
        reporter.note("training weights each class by the inverse of its frequency (--balance)"
                      + (", and so does each trial's validation log loss" if searched == "log_loss" else ""))
    elif searcher.keeps_validation_outputs:
        reporter.note("training sees the rows as they are; the outputs are shifted toward balanced classes after it, "
                      "by an amount chosen on validation rows (--balance)")
    if searcher.oversample:
        reporter.note("training repeats rows of the smaller classes up to the largest (--balance oversample)")


def _devices(config: FitConfig, run, reporter: Reporter):
    """Import TensorFlow with the devices --device asks for, and say which train in which precision."""
    if config.compute.device == "cpu":
        from autotune.search.devices import hide_gpus_before_import

        hide_gpus_before_import()
    from autotune.tfenv import import_tensorflow

    import_tensorflow()
    from autotune.search.devices import resolve

    compute = resolve(config.compute.device, config.compute.mixed_precision, run.bfloat16_on_cpu)
    if compute.precision != "float32" or compute.replicas > 1:
        why = (" (--mixed-precision auto: this CPU computes in bfloat16; off: float32)"
               if config.compute.mixed_precision == "auto" and compute.precision == "mixed_bfloat16" else "")
        reporter.note(f"training on {compute.replicas} {compute.device.upper()} device(s)"
                      f"{' (MirroredStrategy)' if compute.replicas > 1 else ''}, precision {compute.precision}{why}")
    return compute


def _reserve_and_preview(config: FitConfig, run, searcher, compute, data, members: int, epochs: int, started: float,
                         reporter: Reporter, preview: bool):
    """Time a few batches of the default configuration: the estimate line (`preview`: a single process or
    the chief) and, with --time-budget, the Reserve kept for the final fit and export and the Plan that fits the
    budget (a budget too short for even a short trial and one network's final fit is refused before any
    training). (reserve or None, plan or None)."""
    from autotune.search.budget import Reserve

    if not (preview or config.run.time_budget):
        return None, None
    trials = config.search.max_trials if config.search.tuner != "hyperband" else None
    if not config.run.time_budget and searcher.stacks:
        # Nothing to refuse or reserve: the estimate waits for the first trial instead of timing one of its own
        # (a trace costs as much as a small trial's training).
        searcher.on_trial_end.preview = (trials, epochs)
        return None, None
    x, y, validation = data
    reserve = plan = None
    with compute.policy():
        setup, epoch = searcher.trial_cost(x, y)
    if config.run.time_budget:
        # rows of one search fold: the (sampled) training rows, or k-1 of k folds of train + validation
        k = searcher.folds
        rows = len(y) if k == 1 else (len(y) + len(validation[1])) * (k - 1) / k
        per_member = 1 + (run.train_rows if config.final.cv == "loo" else config.final.cv or 0)

        def reserve_for(networks: int, most_epochs: int) -> Reserve:
            reused = networks if searcher.kept_trials else 0  # built with their trials' weights, not retrained
            return Reserve(setup / k, epoch / k, run.train_rows / max(rows, 1), networks * per_member - reused,
                           most_epochs, after=AFTER_SEARCH + (1.5 + reused) * setup / k
                           + (2.0 if config.final.baseline else 0.0))

        plan = fit_budget(config.run.time_budget, time.time() - started, setup, epoch, members, epochs,
                          lambda m, e: reserve_for(m, e).seconds())
        if preview and not config.run.resume:  # a resumed run has paid for its kept trials already
            _check_budget_fits(config.run.time_budget, plan.need)
        if config.run.resume or plan.need > config.run.time_budget:  # as asked (a worker: the search cuts trials)
            plan = Plan(members, epochs, plan.need)
        epochs = plan.epochs
        reserve = reserve_for(plan.members, epochs)
    if preview:
        reporter.budget_preview(setup, epoch, trials, epochs, config.run.time_budget,
                                reserve.seconds() if reserve else None)
    return reserve, plan


# What every run spends after its final fit whatever the network: the test rows' evaluation and permutation
# importance, the trivial baseline, the bundle and the report with its plots written, ~3 s on 2 cores (portal,
# --no-baseline: 0.5 + 1.0 + 0.4 + 1.1 s). Kept out of a --time-budget with the export's trace (1.5 start-ups): with the
# stacked loop a trial's start-up is ~0.05 s, and without this the budget was overrun by that much.
AFTER_SEARCH = 3.0
# The fewest epochs a trial is planned for when --time-budget cannot hold trials of --epochs (fit_budget).
ANYTIME_EPOCHS = 5


@dataclass(frozen=True)
class Plan:
    """What a --time-budget holds: the networks the final model averages, the most epochs a trial trains (and so the
    final fit retrains) for, and the seconds that plan needs with loading."""

    members: int
    epochs: int
    need: float

    def note(self, members: int, epochs: int, budget: float) -> str:
        from autotune.cli.ui import _duration

        def networks(n: int) -> str:
            return f"{n} network{'s' if n > 1 else ''}"

        said = [f"the final model is {networks(self.members)}, not an average of {members}"] \
            if self.members != members else []
        said += [f"trials train for at most {self.epochs} epochs, not {epochs}"] if self.epochs != epochs else []
        return (f"--time-budget {_duration(budget)} cannot hold trials of {epochs} epochs and the final fit of "
                f"{networks(members)}: {' and '.join(said)} (~{self.need:.0f} s with loading, on this machine)")


def fit_budget(budget: float, spent: float, setup: float, epoch: float, members: int, epochs: int,
               reserve) -> Plan:
    """The plan a --time-budget holds, from the seconds spent so far, a trial's start-up and epoch, and `reserve`
    (networks, most epochs -> seconds kept for the final fit and export): the run as asked when it fits; else the
    final model one network (the ensemble is the refinement a short budget gives up first); else also trials of
    fewer epochs, the most that fit, not below ANYTIME_EPOCHS. The last plan tried when none fits (its `need` is
    then above the budget: the run is refused)."""
    def need(m: int, e: int) -> float:
        return spent + setup + epoch * e + reserve(m, e)

    if need(members, epochs) <= budget:
        return Plan(members, epochs, need(members, epochs))
    if need(1, epochs) <= budget:
        return Plan(1, epochs, need(1, epochs))
    least = min(ANYTIME_EPOCHS, epochs)
    fits = [e for e in range(least, epochs) if need(1, e) <= budget]
    e = max(fits) if fits else least
    return Plan(1, e, need(1, e))


def small_data_note(rows: int, folds: int, members: int, fold_networks: bool = False) -> str:
    """The log's one line on the small-data mode: how trials are scored and what the final model is (`fold_networks`:
    the best configurations' own fold networks, not retrained)."""
    from autotune.modality import SMALL_DATA_ROWS

    said = [f"each trial is scored by {folds}-fold cross-validation over train + validation"] if folds > 1 else []
    best = f"the {members} best configurations" if members > 1 else "the best configuration"
    if fold_networks:
        said += [f"the final model averages the {folds} fold networks of {best} as the search trained them, each "
                 "behind its fold's preprocessing"]
    elif members > 1:
        said += [f"the final model averages {best}"]
    off = " / ".join(o for o, on in (("--search-folds 1", folds > 1), ("--ensemble 1", members > 1)) if on)
    head = f"small data ({rows} training rows)" if rows <= SMALL_DATA_ROWS else f"{rows} training rows"
    return f"{head}: {'; '.join(said)} ({off} turn{'s' if '/' not in off else ''} this off)"


def _check_budget_fits(budget: float, need: float) -> None:
    """Refuse, before any training, a --time-budget that cannot hold one trial and what follows the search (need:
    seconds with loading, of the smallest plan fit_budget makes)."""
    from autotune.cli.ui import _duration

    if budget >= need:
        return
    least = f"{math.ceil(need / 5) * 5}s" if need < 120 else f"{math.ceil(need / 60)}m"
    raise InputError(f"--time-budget {_duration(budget)} is too short for one trial plus the final fit "
                     f"(~{need:.0f} s with loading, on this machine); use at least {least}")


class TrialProgress:
    """Turns the hypermodel's per-trial summary into reporter events, each trial named by its keras-tuner
    id (the leaderboard's) and counted from the trials a resumed run kept."""

    def __init__(self, reporter: Reporter, objective: str, higher_is_better: bool = False,
                 max_trials: int | None = None):
        self.reporter, self.objective, self.higher = reporter, objective, higher_is_better
        self.max_trials = max_trials
        self.count, self.best = 0, None
        self.after = None  # called after each trial
        self.preview = None  # (max trials, epochs): the estimate line still to say, from the first trial's figures

    def started(self, kept: int) -> None:
        """The tuner exists; a resumed search keeps `kept` finished trials and goes on numbering after them."""
        self.count = kept
        if kept:
            left = f", {max(self.max_trials - kept, 0)} to run" if self.max_trials else ""
            self.reporter.note(f"resumed: {kept} finished trial(s) kept{left}")

    def __call__(self, hyperparameters: dict, summary: dict, trial_id: str | None = None) -> None:
        self.count += 1
        score = summary.get(self.objective)
        score = score if score is not None and math.isfinite(score) else None
        if score is not None and (self.best is None or (score > self.best if self.higher else score < self.best)):
            self.best = score
        hp = {k: v for k, v in hyperparameters.items() if not k.startswith("tuner/")}
        self.reporter.trial_finished(trial_id, self.count, score, self.best, int(summary.get("epochs", 0)),
                                     summary.get("seconds", 0.0), hp)
        if summary.get("stopped_behind_median"):
            self.reporter.note(f"trial {trial_id or self.count}: stopped after {int(summary['stopped_behind_median'])} "
                               f"epochs, its best {self.objective} behind the median of the finished trials' best by that "
                               f"epoch ({summary['median_at_stop']:.4g})")
        startup, epochs = summary.get("startup_seconds"), summary.get("epochs") or 0
        if self.preview is not None and startup is not None and math.isfinite(startup) and epochs:
            trials, most = self.preview
            self.preview = None
            per_epoch = max(summary.get("seconds", 0.0) - startup, 0.0) / epochs
            self.reporter.budget_preview(startup, per_epoch, trials, most, None, measured=True)
        if self.after is not None:
            self.after()
