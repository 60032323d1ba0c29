"""The search space: one keras-tuner HyperModel for an MLP over the encoded features.

`build` draws the architecture, regularisation, optimizer and learning-rate schedule; `fit` draws
the batch size and trains from a cached tf.data pipeline, so each trial pays little per-step overhead.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np

from autotune import interrupt
from autotune.evaluate.metrics import METRICS
from autotune.files import replaced
from autotune.modality import weight_vector
from autotune.search.budget import BudgetExhausted, Deadline, Reserve
from autotune.search.callbacks import (
    NATIVE_METRICS,
    BehindTheMedian,
    BestEpochWeights,
    TargetUnits,
    ValidationOutputs,
    ValidationScore,
)
from autotune.search.data import Fold, make_dataset, oversample
from autotune.search.hyperparameters import (
    DEFAULT_HORIZON,
    choose,
    make_optimizer,
    optimizer_choice,
    schedule_callback,
)
from autotune.search.kt_compat import forget_custom_gradients
from autotune.search.memory import resident_mb
from autotune.search.recipes import default_space
from autotune.search.stopping import median_minimum
from autotune.task import task_of

STEPS_PER_EXECUTION = 16
# A tabular epoch takes at most this many optimizer steps: on large data a trial's batch grows instead (issue 18:
# diamonds, 34,500 training rows, took 927 s at the defaults, batches of 16 rows making 2,157 steps an epoch).
MAX_STEPS_PER_EPOCH = 200
CATEGORY_DROPOUT = 0.03  # share of training rows whose category is replaced by the out-of-vocabulary slot


class SearchHyperModel(kt.HyperModel):
    """What every autotune hypermodel shares: the optimizer space, early stopping, optional k-fold
    scoring, and a summary of each trial that keras-tuner records as its metrics. Subclasses build
    the network and say how to batch their data."""

    def __init__(self, n_outputs: int, task: str, n_train: int, seed: int, patience: int = 8, folds: int = 1,
                 on_trial_end: Callable[[dict, dict], None] | None = None, name: str = "network",
                 space: dict | None = None, kind: str = "tabular", metric: str | None = None):
        super().__init__(name=name, tunable=True)
        self.space = {**default_space(kind), **(space or {})}
        self.kind = kind
        self.n_outputs, self.task = n_outputs, task
        self.n_train, self.seed, self.patience, self.folds = n_train, seed, patience, folds
        self.metric = metric or task_of(task).default_metric()
        self.objective = f"val_{self.metric}"
        self.higher_is_better = METRICS[self.metric][1]
        # Early stopping and ties follow the smooth loss, whatever the objective.
        self.loss_monitor = task_of(task).loss_monitor
        self.on_trial_end = on_trial_end

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps in one epoch of this hypermodel's training rows (sets steps_per_execution and
        the cost estimate; the learning-rate schedule counts epochs, see scheduled_rate)."""
        return max(1, math.ceil(self.train_rows_per_fold() / batch_size))

    def cost(self, values: dict) -> float:
        """What training a configuration (hyperparameter values) costs, against other configurations of this
        hypermodel: the order in which trials side by side take the portfolio (tune.BayesianOracle). 0: all alike."""
        return 0.0

    def head(self, x, kernel_regularizer=None):
        """Output layer, loss and metrics for the task (float32 outputs, whatever the policy)."""
        return task_of(self.task).head(x, self.n_outputs, kernel_regularizer)

    def compile(self, model: keras.Model, hp: kt.HyperParameters, loss, metrics) -> keras.Model:
        steps = self.steps_per_epoch(self.global_batch(hp))
        # Several steps per call cut Python overhead on small models; under MirroredStrategy Keras 3.15
        # fails with them ("You must feed a value for placeholder tensor … while/cond"), so one step there.
        per_call = min(STEPS_PER_EXECUTION, steps) if self.replicas == 1 else 1
        # The data loss (the objective unless --metric names another) is weighted as the loss is — by class, when
        # training weighs classes (validation rows too: scored_validation) — the other metrics are as named: a
        # search scored on the unweighted log loss ranked a trial that collapsed to the class prior first.
        weighted = [m for m in metrics if getattr(m, "name", None) == "log_loss"]
        model.compile(optimizer=make_optimizer(hp, self.space, self.epoch_cap), loss=loss, steps_per_execution=per_call,
                      metrics=[m for m in metrics if m not in weighted], weighted_metrics=weighted)
        return model

    class_weight: dict[int, float] | None = None  # the balanced class weights, set when classes are imbalanced
    # Whether training weighs each class by class_weight (--balance weights, images' auto); else it sees the rows as
    # they are and the outputs are shifted toward balanced classes after it (--balance adjust, tables' auto: decision.py)
    weighs_loss: bool = True
    # The most epochs a trial trains (the search's, set by search_setup): the length a cosine schedule anneals over,
    # fixed in the configuration as lr_horizon so that a retrain follows the curve its trial did; None: DEFAULT_HORIZON
    epoch_cap: int | None = None
    oversample: bool = False  # repeat rows of the smaller classes in each training set (--balance oversample)
    keep_checkpoints: bool = False  # keras-tuner's per-trial weights: only Hyperband reads them back
    # The validation curves (objective by epoch) of this process's trials that ran their course — early stopping
    # or the epoch limit, not the median stopping rule — which that rule compares a running trial with.
    finished_curves: list = []
    # trial id -> (validation labels, outputs at the trial's scored epoch): kept in class-weighted runs for the final
    # model's decision rule (decision.py); replaced, never mutated, as finished_curves
    validation_outputs: dict = {}
    # Whether the search stops a trial behind the median of the finished ones (search/stopping.py): images, where a
    # trial costs minutes on a CPU; tabular trials (seconds, in stacked.py's loop) run their course.
    median_stopping: bool = False
    deadline: float | None = None  # wall-clock time.time() at which the search's budget runs out
    budget_end: float | None = None  # wall-clock end of the whole run's --time-budget
    reserve: Reserve | None = None  # kept from the budget for what follows the search; deadline = budget_end - it
    compute: object = None  # devices.Compute: the MirroredStrategy when a trial spans several devices
    # Whether the final model takes the best trials' own networks at their best epoch instead of retraining them on
    # train + validation: images (ImageHyperModel), where a retrain cost a third of the run and scored no better on
    # the test images (bench/README, "The final image network"). Tabular networks: keeps_trial_networks.
    reuses_trial_weights: bool = False
    # How many of this process's best trials keep their network's weights at the best epoch (BestEpochWeights; a
    # cross-validated trial: each fold's network at its own, stacked.BestCopies), in trial_weights, for train.train_final; 0:
    # every final network is retrained. Set by search_setup where the search trains on the whole training split (not a
    # --sample) in one process, or in local workers (--workers N, images), and the hypermodel keeps networks of this
    # search (keeps_trial_networks).
    kept_trials: int = 0
    # The search directory the processes of a cluster share (--workers N, --role worker), or None. A worker writes there
    # each finished trial's validation curve (curves/<trial id>.json), which every worker's median stopping rule reads -
    # a worker's own finished trials alone are too few for it (3 needed) - and, where it keeps networks, its best
    # kept_trials trials' networks (kept/<trial id>.npz: the weights in get_weights' order, no pickles), which the
    # chief's final fit reads (kept_network).
    shared_dir: Path | None = None
    lag: int | None = 0  # the latest trials the median rule leaves out (SearchSettings.lag, set by run_search)
    # trial id -> (its score, its weights at its best epoch: one network's, or a CopyState per fold): the best
    # kept_trials trials run here; replaced, never mutated, as finished_curves
    trial_weights: dict = {}

    def keeps_trial_networks(self, folds: int, cv) -> bool:
        """Whether the final model is the best trials' own networks in a search of `folds` folds, --cv `cv`: images
        scored on one validation split (reuses_trial_weights)."""
        return self.reuses_trial_weights and folds == 1

    def kept_network(self, hp: kt.HyperParameters, trial: str):
        """What train_final takes of a trial this search kept (trial_weights): its network's weights at its best epoch;
        None where not kept (retrained)."""
        kept = self.trial_weights.get(trial)
        if kept is not None:
            return kept[1]
        path = self.shared_dir / "kept" / f"{trial}.npz" if self.shared_dir is not None else None
        if path is None or not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as saved:  # a local worker's (_keep_trial_weights)
            return [saved[f"arr_{i}"] for i in range(len(saved.files))]

    @property
    def replicas(self) -> int:
        return self.compute.replicas if self.compute is not None else 1

    # The final fit's hypermodel: the rows one network of a trial trained on (a --sample search trains on fewer than
    # the final fit, so at fewer rows a step); None: this hypermodel's own (trained_rate)
    searched_rows: int | None = None

    def global_batch(self, hp: kt.HyperParameters, rows: int | None = None) -> int:
        """The trial's batch size per device times the number of devices (replicas) it trains on; for rows, at least
        what holds an epoch of `rows` (default: train_rows_per_fold) to MAX_STEPS_PER_EPOCH steps (large data: more
        rows a step, not more steps)."""
        batch = hp.get("batch_size") * self.replicas
        if self.kind != "tabular":
            return batch
        return max(batch, math.ceil((rows or self.train_rows_per_fold()) / MAX_STEPS_PER_EPOCH))

    def searched_batch(self, hp: kt.HyperParameters) -> int:
        """The rows a step the search trained this configuration at."""
        return self.global_batch(hp, self.searched_rows)

    def trained_rate(self, hp: kt.HyperParameters) -> float:
        """The learning rate this hypermodel trains a configuration at: the searched one — or, where it trains at more
        rows a step than the search did (the final fit of a --sample search), that rate × √(rows a step / the
        search's), the square-root rule for adaptive optimizers (Malladi et al. 2022), never above the space's
        highest rate. The searched rate left the final fit's low-rate networks under-trained: bench/README "The
        learning rate with the batch"."""
        # registered as build() would: a configuration given whole (cross-validation's) may not have been built yet
        rate = float(choose(hp, self.space, "learning_rate"))
        choose(hp, self.space, "batch_size")
        batch, searched = self.global_batch(hp), self.searched_batch(hp)
        if batch <= searched:
            return rate
        return max(rate, min(rate * math.sqrt(batch / searched), max(self.space["learning_rate"])))

    def batch_norm_momentum(self, hp: kt.HyperParameters) -> float:
        """Batch norm's moving average: Keras's 0.99 weighs ~100 steps, which small data reaches only after early
        stopping has given up — 200 faces at 32 a batch take 25 epochs (4 steps each), so every validation score
        came through statistics still near their start (0.64-1.15 log loss against 0.0002-0.009: bench/README.md).
        The average spans at most half the patience in epochs' steps here: 0.99 from ~25 steps an epoch, never
        below 0.9 (PyTorch's default)."""
        horizon = self.steps_per_epoch(self.global_batch(hp)) * max(self.patience, 2) / 2
        return float(min(0.99, max(0.9, 1 - 1 / horizon)))

    def train_rows_per_fold(self) -> int:
        """The rows one network of a trial trains on: a fold's training rows, or the training split's."""
        if self.fold_data:
            return len(self.fold_data[0].x_train)
        return self.n_train * (self.folds - 1) // self.folds if self.folds > 1 else self.n_train

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """What every network shares before its layers: the run's dtype policy, set at each build because
        keras-tuner (and train_final) clear the Keras session between models, which resets the global
        policy; and the batch size, the first hyperparameter of every space. Subclasses build the layers."""
        if self.compute is not None:
            keras.mixed_precision.set_global_policy(self.compute.precision)
        choose(hp, self.space, "batch_size")
        return self.network(hp)

    def network(self, hp: kt.HyperParameters) -> keras.Model:
        raise NotImplementedError

    def scope(self):
        """Where networks are built: under the run's tf.distribute strategy, if it has one."""
        return self.compute.scope() if self.compute is not None else contextlib.nullcontext()

    def train_data(self, hp: kt.HyperParameters, x, y):
        """The training tf.data pipeline, shuffled and batched with the trial's batch size."""
        raise NotImplementedError

    def validation_data(self, validation_data):
        raise NotImplementedError

    def scored_validation(self, batches):
        """The validation batches as fit scores them: with each row's class weight when training weighs classes,
        so that the validation loss (and log loss) is the loss training minimises (stacked.py's _logs: the same)."""
        if not self.loss_weight:
            return batches
        import tensorflow as tf

        weights = tf.constant(weight_vector(self.loss_weight, self.n_outputs), tf.float32)
        return batches.map(lambda x, y: (x, y, tf.gather(weights, tf.cast(y, tf.int32))))

    def fit(self, hp: kt.HyperParameters, model: keras.Model, x, y, validation_data=None, callbacks=None,
            **kwargs) -> dict:
        """Train one trial and return its summary, which keras-tuner records as the trial's metrics.

        With folds > 1 the trial is scored by k-fold cross-validation over train + validation (small
        data: one validation split of a few dozen rows makes the search chase noise), on `self.fold_data`
        (each fold encoded with its own statistics) when the run provided it, else on folds cut from the
        arrays given; keras-tuner's own callbacks are then left out, as they expect a single run.
        """
        self._check_budget()
        start = self._trial_started = time.perf_counter()
        self._fit_seconds, self._startup = 0.0, None
        self._initial_epoch = int(kwargs.get("initial_epoch") or 0)  # Hyperband continues from a checkpoint
        self._median_rule, self._kept, self._best_weights = None, None, None
        with interrupt.kept():  # keras-tuner records any error as a failed trial and goes on
            runs, model = self._fit_runs(hp, model, x, y, validation_data, callbacks, **kwargs)
        summary = self._summarise(runs, time.perf_counter() - start)
        self._keep_validation_outputs(summary)
        self._keep_trial_weights(summary)
        stopped = self._median_rule.stopped if self._median_rule is not None else None
        if stopped is not None:
            summary["stopped_behind_median"] = float(stopped[0])
            summary["median_at_stop"] = stopped[1]
        elif len(runs) == 1 and self.objective in runs[0]:  # ran its course: a curve the rule compares with
            self.finished_curves = [*self.finished_curves, [float(v) for v in runs[0][self.objective]]]
            if self.shared_dir is not None and self.median_stopping:
                (self.shared_dir / "curves").mkdir(parents=True, exist_ok=True)
                with replaced(self.shared_dir / "curves" / f"{self.trial_id}.json") as out:
                    out.write(json.dumps(self.finished_curves[-1]))
        # the bundle's size, estimated before the final fit
        summary["parameters"] = float(model.count_params() if model is not None else self.parameters(hp))
        summary["batch_rows"] = float(self.global_batch(hp))  # rows a step: batch_size, or more (MAX_STEPS_PER_EPOCH)
        # start-up: from the trial's start to its first step (building, tracing); NaN if it never trained
        summary["startup_seconds"] = float("nan") if self._startup is None else self._startup
        self._durations = [*getattr(self, "_durations", []), summary["seconds"]]
        self._best_epochs = [*getattr(self, "_best_epochs", []), summary["best_epoch"] or summary["epochs"]]
        self._record(hp, runs[0], summary, callbacks)
        if self.on_trial_end is not None:
            self.on_trial_end(hp.values, summary, self.trial_id)
        if summary[self.objective] is None or not np.isfinite(summary[self.objective]):
            # keras-tuner records the trial as failed and goes on with the search.
            raise kt.errors.FailedTrialError("the loss diverged (NaN or infinite)")
        return summary

    @property
    def loss_weight(self) -> dict[int, float] | None:
        """The class weights training — and each trial's validation loss — weighs rows by: None where it sees them as
        they are (weighs_loss)."""
        return self.class_weight if self.weighs_loss else None

    @property
    def trained_alpha(self) -> float:
        """Where the networks as trained sit in decision.py's family of priors: 0 balanced (class-weighted training), 1
        the class frequencies (the rows as they are)."""
        return 0.0 if self.weighs_loss else 1.0

    @property
    def keeps_validation_outputs(self) -> bool:
        """Whether trials keep their validation outputs, from which the final model's decision rule is chosen
        (decision.py): classification balanced by class weights, in the loss or after it. A Hyperband trial continued
        from a checkpoint keeps none (its first epochs were another trial's: _fit_runs)."""
        return bool(self.class_weight) and task_of(self.task).has_classes

    def _keep_validation_outputs(self, summary: dict) -> None:
        """The trial's validation outputs at the epoch it is scored at (its folds' rows one after the other), with
        their labels, in validation_outputs[trial id]."""
        kept, self._kept = self._kept, None
        epoch = int(summary.get("best_epoch") or 0) - getattr(self, "_initial_epoch", 0)
        if kept is None or epoch < 1 or not all(len(outputs) >= epoch for outputs in kept[1]):
            return
        truth, outputs = kept
        self.validation_outputs = {**self.validation_outputs, self.trial_id: (
            np.concatenate(truth), np.concatenate([o[epoch - 1] for o in outputs]).astype(np.float32))}

    def _keep_trial_weights(self, summary: dict) -> None:
        """The trial's weights at its best epoch (a cross-validated trial's: each fold's network at its own) into
        trial_weights, where its score is among the kept_trials best of this process's trials (the others' let go)."""
        caught, self._best_weights = self._best_weights, None
        score = summary[self.objective]
        if caught is None or score is None or not np.isfinite(score) or not caught.settled(summary):
            return
        sign = -1.0 if self.higher_is_better else 1.0  # ranked as the leaderboard is (tune.leaderboard): ties by id
        ranked = sorted({**self.trial_weights, self.trial_id: (score, caught.weights)}.items(),
                        key=lambda item: (sign * item[1][0], str(item[0])))
        self.trial_weights = dict(ranked[:self.kept_trials])
        if self.shared_dir is not None:  # this process's best kept_trials networks, for the chief; the others removed
            weights = self.trial_weights.get(self.trial_id, (None, None))[1]
            if isinstance(weights, list):  # one network's arrays (a cross-validated trial's fold networks stay here)
                (self.shared_dir / "kept").mkdir(parents=True, exist_ok=True)
                with replaced(self.shared_dir / "kept" / f"{self.trial_id}.npz", binary=True) as out:
                    np.savez(out, *weights)
            for trial, _ in ranked[self.kept_trials:]:
                (self.shared_dir / "kept" / f"{trial}.npz").unlink(missing_ok=True)

    def compared_curves(self) -> list:
        """The finished trials' validation curves the median stopping rule compares with: this process's, or with a
        shared_dir every process's of the search (sorted by trial id), as the workers wrote them - those of trials
        before the running one's `lag` latest (tune.InOrder, which hands a trial out once they have ended), or with
        lag None (workers on other hosts) every one written so far."""
        if self.shared_dir is None or not (self.shared_dir / "curves").is_dir():
            return self.finished_curves
        paths = sorted((self.shared_dir / "curves").glob("*.json"))
        if self.lag is not None:
            paths = [path for path in paths if int(path.stem) < int(self.trial_id) - self.lag]
        return [json.loads(path.read_text()) for path in paths]

    def _fit_runs(self, hp, model, x, y, validation_data, callbacks, **kwargs) -> tuple[list, keras.Model]:
        """The trial's training runs: one per fold (one model reset between folds of one layout), or one."""
        folds = self.folds_of(x, y, validation_data) if self.folds > 1 else []
        if self.trains_outside_keras(hp, callbacks, self._initial_epoch):
            folds = folds or [Fold(x, y, *validation_data, self.target_std, getattr(self, "category_slots", ()),
                                   getattr(self, "ramp_columns", ()), getattr(self, "sequence_blocks", ()))]
            return self._fit_side_by_side(hp, model, folds, int(kwargs.get("epochs") or 1))
        if self.keeps_validation_outputs and not self._initial_epoch:
            self._kept = ([], [])  # (each run's labels, each run's per-epoch outputs): filled by ValidationOutputs
        if self.folds > 1:
            runs, start = [], None  # start: (layout, initial state) of the model in hand, when it may be reused
            for i, fold in enumerate(folds):
                if i and self.deadline is not None and time.time() > self.deadline:
                    break  # the budget is spent: scored on the folds reached (one started now would trace, then stop)
                layout = self.layout(fold)
                if start is not None and start[0] == layout:
                    restore_state(model, start[1])  # the model as built: its traced train step is kept
                elif i or model.input_shape[-1] != fold.width:
                    with self.scope(), self.fitting(fold):
                        model = self.build(hp)
                if self.reuse_across_folds and self.replicas == 1 and (start is None or start[0] != layout):
                    start = layout, initial_state(model)
                # --tensorboard logs the first fold (Keras's TensorBoard and keras-tuner's HParams callback);
                # keras-tuner's other callbacks expect a single run
                logged = [c for c in callbacks or [] if i == 0 and (type(c).__name__ == "TensorBoard" or
                                                                    type(c).__module__.startswith("tensorboard.plugins"))]
                with self.fitting(fold):
                    runs.append(self._fit_one(hp, model, fold.x_train, fold.y_train, (fold.x_val, fold.y_val), logged,
                                              **kwargs))
        else:
            # Trial weights on disk are never read back, except by Hyperband (it continues trials): leaving out
            # keras-tuner's SaveBestEpoch keeps the disk bounded. The final networks a search keeps (kept_trials)
            # are held in memory, the best few only.
            kept = [c for c in callbacks or [] if self.keep_checkpoints or type(c).__name__ != "SaveBestEpoch"]
            if self.kept_trials:  # last: after the callbacks _fit_one puts first, which add or convert its logs
                self._best_weights = BestEpochWeights(self.objective, self.loss_monitor, self.higher_is_better)
                kept.append(self._best_weights)
            runs = [self._fit_one(hp, model, x, y, validation_data, kept, **kwargs)]
        return runs, model

    # The folds of a trial train side by side in one graph (stacked.py, tabular networks); False: one after the other
    # through Keras's fit, as they also do with --tensorboard (its per-epoch logs) and across several devices.
    side_by_side: bool = False

    @property
    def stacks(self) -> bool:
        """Whether this run's networks train in stacked.py's loop: tabular, on one device, in float32 (Keras's fit
        keeps MirroredStrategy and the reduced precisions)."""
        precision = self.compute.precision if self.compute is not None else "float32"
        return self.side_by_side and self.replicas == 1 and precision == "float32"

    def stacks_for(self, hp: kt.HyperParameters) -> bool:
        """Whether this configuration's networks train in stacked.py's loop (`stacks`, for a network it can train)."""
        return self.stacks

    def trains_outside_keras(self, hp: kt.HyperParameters, callbacks=None, initial_epoch: int | None = 0) -> bool:
        """Whether fit trains this trial's networks in stacked.py's loop rather than Keras's fit: a configuration it
        trains (stacks_for), except Hyperband's trials, which need keras-tuner's checkpoints (SaveBestEpoch) and continue
        from them (initial_epoch), and with --tensorboard, which needs Keras's epoch logs."""
        logging = any(type(c).__name__ == "TensorBoard" for c in callbacks or [])
        return (self.stacks_for(hp) and not logging and not initial_epoch
                and (self.folds > 1 or not self.keep_checkpoints))

    def without_network(self, hp: kt.HyperParameters, callbacks=None, initial_epoch: int | None = 0) -> bool:
        """Whether keras-tuner may leave this trial's Keras network unbuilt (tune.TrialIds._build_and_fit_model): its
        networks train in stacked.py's loop from weights of their own, and keras-tuner's network only stood beside them
        for its parameter count (`parameters` counts them unbuilt). Building it - its variables, metrics and compile -
        cost ~70 ms a trial, more than a fifth of a small search (bench/README, "a trial's network left unbuilt").
        Registers the configuration's hyperparameters first, as build() would (declare)."""
        if not self.stacks:
            return False
        self.declare(hp)
        return self.trains_outside_keras(hp, callbacks, initial_epoch)

    def declare(self, hp: kt.HyperParameters) -> None:
        """Register the hyperparameters build(hp) registers, in its order (the oracles draw values in it), without
        building the network."""
        raise NotImplementedError

    def parameters(self, hp: kt.HyperParameters) -> int:
        """The parameters (Keras's count_params) of the network build(hp) makes, counted without building it."""
        raise NotImplementedError

    def _fit_side_by_side(self, hp, model, folds: list[Fold], epochs: int) -> tuple[list, keras.Model]:
        raise NotImplementedError  # tabular: TabularHyperModel

    # Folds of one trial that share an input layout train one model, reset to its initial weights and optimizer
    # state between folds, instead of a model built, traced and compiled anew for each (issue 18).
    reuse_across_folds: bool = True

    @staticmethod
    def layout(fold: Fold) -> tuple:
        """What a network built for a fold depends on beyond the hyperparameters: its input's width and layout."""
        return fold.width, list(fold.category_slots), list(fold.ramp_columns), list(fold.sequence_blocks)

    trial_id: str | None = None  # keras-tuner's id of the running trial (set by the tuner, see tune.py)
    target_std: float = 1.0  # regression: the training target's standard deviation (scores in its units)
    fold_data: list | None = None  # [Fold]: the cross-validated search's folds, each encoded on its own

    def folds_of(self, x, y, validation_data) -> list[Fold]:
        """The folds a cross-validated trial trains on."""
        if self.fold_data:
            return self.fold_data
        x_all, y_all = np.concatenate([x, validation_data[0]]), np.concatenate([y, validation_data[1]])
        return [Fold(x_all[train], y_all[train], x_all[val], y_all[val], self.target_std,
                     getattr(self, "category_slots", ()), getattr(self, "ramp_columns", ()),
                     getattr(self, "sequence_blocks", ()))
                for train, val in self._folds(x_all, y_all)]

    @contextlib.contextmanager
    def fitting(self, fold: Fold):
        """Build and train for this fold: its input width and its target scale."""
        saved = self.target_std
        self.target_std = fold.target_std
        try:
            yield
        finally:
            self.target_std = saved

    def _record(self, hp: kt.HyperParameters, history: dict, summary: dict, callbacks) -> None:
        """Keep the trial's learning curves (its first fold's), for the report to plot the best one's; with
        --tensorboard, also log the trial's summary (the score it is ranked by) beside Keras's epoch scalars."""
        keys = dict.fromkeys(("loss", "val_loss", self.objective.removeprefix("val_"), self.objective))
        curves = {k: [float(f"{v:.6g}") if math.isfinite(v) else None for v in map(float, history[k])]
                  for k in keys if k in history}
        self.trial_curves = [*getattr(self, "trial_curves", []), (dict(hp.values), curves)]
        for callback in callbacks or []:
            if type(callback).__name__ == "TensorBoard":
                import tensorflow as tf

                writer = tf.summary.create_file_writer(callback.log_dir)
                with writer.as_default():
                    for name, value in summary.items():
                        if value is not None and math.isfinite(value):
                            tf.summary.scalar(f"trial/{name}", value, step=0)
                writer.close()

    def curves_of(self, values: dict) -> dict | None:
        """The learning curves recorded for the trial with these hyperparameter values, if it ran here."""
        return next((c for v, c in reversed(getattr(self, "trial_curves", [])) if v == values), None)

    def trial_cost(self, x, y, batches: int = 20) -> tuple[float, float]:
        """Rough (seconds per trial before its epochs, seconds per epoch) of the space's default
        configuration, timed on a few batches: building and tracing, then steady-state steps. Both are
        per fold already."""
        hp = kt.HyperParameters()
        if self.fold_data:  # the networks of a cross-validated search take the folds' encodings
            x, y = self.fold_data[0].x_train, self.fold_data[0].y_train
        start = time.perf_counter()
        with self.scope():
            model = self.build(hp)
        data = self.train_data(hp, x, y).take(batches)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            model.fit(data, epochs=1, verbose=0)  # builds and traces
            first = time.perf_counter()
            model.fit(data, epochs=1, verbose=0)
            second = time.perf_counter()
        taken = max(sum(1 for _ in data), 1)
        per_step = (second - first) / taken
        # building and tracing the train step; the validation step's trace adds about a quarter (penguins:
        # 2.5 s per fold measured against 2.2 s timed here; the factor of 2 used before refused budgets that fit)
        setup = max(first - start - (second - first), 0.0) * 1.25
        epoch = per_step * self.steps_per_epoch(self.global_batch(hp)) * 1.3  # + a validation pass
        folds = max(self.folds, 1)
        return setup * folds, epoch * folds

    def train_alone(self, hp: kt.HyperParameters, model: keras.Model, x, y, epochs: int, seed: int) -> dict:
        """Train a built network on x, y for a fixed number of epochs, no validation (the final fit); its history."""
        self.adapt(model, x)
        data = self.train_data(hp, x, y)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*shuffle.*", category=UserWarning)
            return model.fit(data, epochs=epochs, verbose=0, class_weight=self.loss_weight,
                             callbacks=self.epoch_callbacks(hp)).history

    def trains_beside(self, hp: kt.HyperParameters, width: int) -> bool:
        """Whether train_alone may train this configuration in a thread beside another configuration's (the final
        fit's members, train.train_final): not Keras's fit, whose random draws follow the global seed."""
        return False

    def _check_budget(self) -> None:
        """Refuse to start a trial that would, at the average trial length so far, end past the deadline: the
        budget's end less the time the final fit and export need, re-estimated from the trials' epoch counts."""
        durations = getattr(self, "_durations", [])
        if self.budget_end is not None and self.reserve is not None and durations:
            self.deadline = self.budget_end - self.reserve.seconds(getattr(self, "_best_epochs", []))
        if self.deadline is None or not durations:
            return  # the first trial always runs (cut at the deadline if need be): a search needs a result
        if time.time() + float(np.mean(durations)) > self.deadline:
            raise BudgetExhausted(f"time budget: {len(durations)} trial(s) done, no time for another")

    def _folds(self, x: np.ndarray, y: np.ndarray):
        return task_of(self.task).kfold(self.folds, self.seed).split(x, y)

    def epoch_callbacks(self, hp: kt.HyperParameters) -> list:
        """What every fit of a configuration needs, in the search and in the final fit alike: the
        learning-rate schedule (by epoch) and, for regression, logs in the target's units."""
        out = [c for c in [schedule_callback(hp)] if c is not None]
        if task_of(self.task).standardised_target:
            out.append(TargetUnits(self.target_std))
        return out

    def patience_for(self, hp: kt.HyperParameters) -> int:
        """Epochs without a better validation loss before early stopping ends a training run: --patience; a cosine
        schedule runs its course instead (its length is its budget): stopped part-way, a network keeps weights from a
        rate still high — the 200 faces' 64-128-256 CNN stopped at epoch 13 of 20 on 0.625 test accuracy, 0.95 run to
        its end (bench/README "Images in 20 epochs"). The median stopping rule still ends a trial far behind."""
        if hp.get("lr_schedule") == "cosine":
            return max(self.patience, int(hp.values.get("lr_horizon") or DEFAULT_HORIZON))
        return self.patience

    @staticmethod
    def adapt(model: keras.Model, x) -> None:
        """The network's statistics of its training rows `x` (NumberEmbeddings' quantiles), set before it trains."""
        for layer in model.layers:
            if getattr(layer, "adapts_to_rows", False):
                layer.adapt(x)

    def _fit_one(self, hp, model, x, y, validation_data, callbacks: list, **kwargs) -> dict:
        self.adapt(model, x)
        train, val = self.train_data(hp, x, y), self.validation_data(validation_data)
        if self.loss_weight:
            kwargs["class_weight"] = self.loss_weight
        callbacks[:0] = [keras.callbacks.TerminateOnNaN(), *self.epoch_callbacks(hp),
                         keras.callbacks.EarlyStopping(monitor=self.loss_monitor, patience=self.patience_for(hp))]
        if self.metric not in NATIVE_METRICS:
            callbacks.insert(1, ValidationScore(self.metric, val))
        if self.deadline is not None:
            callbacks.append(Deadline(self.deadline))
        if getattr(self, "_kept", None) is not None:  # Keras's fit keeps its validation outputs as stacked.py's does
            truth, epochs = self._kept[0], []
            self._kept[1].append(epochs)
            callbacks.append(ValidationOutputs(val, truth, epochs))
        if self.median_stopping and self.folds == 1 and not self.keep_checkpoints and not getattr(self, "_initial_epoch", 0):
            # The median stopping rule (not for Hyperband: it stops trials by its own schedule, from checkpoints)
            self._median_rule = BehindTheMedian(self.objective, self.compared_curves(), self.higher_is_better,
                                                median_minimum(self.lag))
            callbacks.append(self._median_rule)
        if getattr(self, "_startup", 0.0) is None:
            callbacks.append(FirstStep(self))
        kwargs["verbose"] = 0  # progress is ours to render; Keras's bar would flood cron logs
        with warnings.catch_warnings(), forget_custom_gradients():  # "shuffle=True ... ignored": the dataset is shuffled already
            warnings.filterwarnings("ignore", message=".*shuffle.*", category=UserWarning)
            started = time.perf_counter()
            history = model.fit(train, validation_data=self.scored_validation(val), callbacks=callbacks,
                                **kwargs).history
            self._fit_seconds = getattr(self, "_fit_seconds", 0.0) + time.perf_counter() - started
            return history

    def _summarise(self, runs: list[dict], seconds: float) -> dict:
        """The score over the runs (folds), the epoch count to retrain for, and timings.

        Both come from the folds' mean validation curve, over the epochs every fold trained: the epoch where
        the mean is best, and the mean there — as xgboost's and LightGBM's cv pick their round count. Taking
        each fold's own best epoch instead rewards a configuration whose validation curve jumps from epoch
        to epoch (each fold keeps its luckiest epoch; the three rarely agree) and retrains the final model
        for the median of three lucky epochs: on one split of a 2,380-row set that picked a tanh network at
        learning rate 0.01 whose folds' curves swung between 0.36 and 0.70, scored it 0.32, and retrained it
        for 4 epochs (macro-F1 0.47 on the test rows against 0.70 for gradient boosting; hmda, held out of tuning:
        seen in a development-suite run, the defect fixed in general, the default judged on the tuning sets).

        Epochs count from the start of the configuration's training: a Hyperband trial continued from
        its parent's checkpoint (initial_epoch > 0) has trained those epochs too, and the final model,
        trained from scratch, needs all of them."""
        offset = getattr(self, "_initial_epoch", 0)
        curves, losses = [], []
        for history in runs:
            curve = np.asarray(history.get(self.objective, [np.nan]), dtype=np.float64)
            loss = np.asarray(history.get(self.loss_monitor, np.zeros(len(curve))), dtype=np.float64)
            if not np.isfinite(curve).any() or not np.isfinite(loss).all():
                curves = []
                break
            curves.append(curve)
            losses.append(loss)
        score, best_epoch, extra = None, 0.0, {}
        if curves:
            common = min(len(c) for c in curves)
            curve = np.mean([c[:common] for c in curves], axis=0)  # NaN where a fold has no score
            loss = np.mean([v[:common] for v in losses], axis=0)
            if np.isfinite(curve).any():
                # The best epoch by the objective; among equal scores (accuracy ties often), the lowest loss.
                key = np.where(np.isfinite(curve), -curve if self.higher_is_better else curve, np.inf)
                i = int(np.lexsort((loss, key))[0])
                score, best_epoch = float(curve[i]), float(offset + i + 1)
                for name in ("val_accuracy", "val_log_loss", "val_rmse"):
                    if all(name in history for history in runs):
                        extra[name] = [float(history[name][i]) for history in runs]
        return {
            self.objective: score,
            "best_epoch": best_epoch,
            "epochs": float(offset + max(len(h.get("loss", [])) for h in runs)),
            "seconds": seconds,
            # Inside model.fit (the rest of the trial is building, tracing our datasets, bookkeeping),
            # and the process's memory once the trial ends: the benchmark reads both.
            "fit_seconds": getattr(self, "_fit_seconds", 0.0),
            "rss_mb": resident_mb(),
            **{k: float(np.mean(v)) for k, v in extra.items()},
        }


class FirstStep(keras.callbacks.Callback):
    """Records the trial's start-up: the seconds from its start to the end of its first training step."""

    def __init__(self, hypermodel: SearchHyperModel):
        super().__init__()
        self.hypermodel = hypermodel

    def on_train_batch_end(self, batch, logs=None):
        if self.hypermodel._startup is None:
            self.hypermodel._startup = time.perf_counter() - self.hypermodel._trial_started


def initial_state(model: keras.Model) -> tuple[list, list]:
    """A compiled model's weights (moving statistics and random-generator states included) and its optimizer's
    variables before any training step, to train it again from the same start (restore_state)."""
    model.optimizer.build(model.trainable_variables)
    return model.get_weights(), [np.array(v.numpy()) for v in model.optimizer.variables]


def restore_state(model: keras.Model, state: tuple[list, list]) -> None:
    weights, slots = state
    model.set_weights(weights)
    for variable, value in zip(model.optimizer.variables, slots, strict=True):
        variable.assign(value)


class TabularHyperModel(SearchHyperModel):
    """MLP over encoded features: the numbers' encoding (standardized, or with their piecewise-linear ramps too),
    depth (0: the linear model), width, activation, dropout, L1/L2, batch norm, optimizer, learning rate and
    schedule, batch size."""

    # encode.category_slots of the features the rows were encoded from; set by tabular.run.TabularRun.hypermodel
    category_slots: list | tuple = ()
    ramp_columns: list | tuple = ()  # encode.ramp_columns: the numbers' piecewise-linear ramps, set with category_slots
    sequence_blocks: list | tuple = ()  # encode.sequence_blocks: the text columns' word ids, set with category_slots

    def __init__(self, n_features: int, n_outputs: int, task: str, n_train: int, seed: int, patience: int = 8,
                 folds: int = 1, on_trial_end: Callable[[dict, dict], None] | None = None, space: dict | None = None,
                 metric: str | None = None):
        super().__init__(n_outputs, task, n_train, seed, patience, folds, on_trial_end, name="mlp", space=space,
                         metric=metric)
        self.n_features = n_features

    @contextlib.contextmanager
    def fitting(self, fold: Fold):
        """A fold's encoding has its own width and one-hot layout (its vocabularies and PCA are its own)."""
        saved = self.n_features, self.category_slots, self.ramp_columns, self.sequence_blocks
        self.n_features, self.category_slots, self.ramp_columns, self.sequence_blocks = (
            fold.width, fold.category_slots, fold.ramp_columns, fold.sequence_blocks)
        try:
            with super().fitting(fold):
                yield
        finally:
            self.n_features, self.category_slots, self.ramp_columns, self.sequence_blocks = saved

    side_by_side = True

    def keeps_trial_networks(self, folds: int, cv) -> bool:
        """Small-data regression: the final model is the best configurations' fold networks, each at its own best
        epoch (its early stopping's) behind its own fold's preprocessing, not the configurations retrained on all rows:
        on the suite's small regression sets the search's own networks scored higher on the test rows (bench/README,
        "The search's fold networks as the final model"); on small classification sets they did not. Not with --cv,
        which re-fits the retrained kind of model, nor for networks the stacked loop does not train (stacks). Only with
        fold_data (TabularRun.search_folds): each fold's columns are among the training split's, so the exported model's
        inputs feed each kept network its own fold's preprocessing."""
        return (folds > 1 and not cv and self.stacks and bool(self.fold_data)
                and task_of(self.task).standardised_target)

    def kept_network(self, hp: kt.HyperParameters, trial: str):
        """A kept cross-validated trial's train.FoldNetworks (its CopyStates, one per fold): each network built for its
        fold's encoding and holding the weights its fold trained; None where not kept."""
        from autotune.train import FoldNetworks

        kept = self.trial_weights.get(trial)
        if kept is None:
            return None
        networks = []
        for fold, state in zip(self.fold_data, kept[1], strict=True):
            with self.fitting(fold):
                network = self.build(hp)
            state.into(network, self._keep_columns(hp, fold.width, fold.ramp_columns, fold.sequence_blocks))
            networks.append(network)
        return FoldNetworks(networks, [len(f.x_train) for f in self.fold_data], [state.epoch for state in kept[1]])

    def stacks_for(self, hp: kt.HyperParameters) -> bool:
        """stacked.py trains MLPs: not a network with a sequence encoder of its text (an embedding, a convolution, a
        GRU), nor one with its numbers embedded (NumberEmbeddings: numeric_encoding "embedded" where numbers have
        ramps; without any it is the MLP on the encoded columns), which Keras's fit trains."""
        return (self.stacks and text_encoder(hp, self.space, self.sequence_blocks) == "tfidf"
                and not (choose(hp, self.space, "numeric_encoding") == "embedded" and self.ramp_columns))

    numpy_loop = True  # small networks train in NumPy (numpy_mlp.py); False: always the traced loop

    def _fit_side_by_side(self, hp, model, folds: list[Fold], epochs: int) -> tuple[list, keras.Model | None]:
        """The trial's networks, one per fold, as one StackedMLP trained in one graph (stacked.py); keras-tuner's
        model, None where it left it unbuilt (without_network), is returned untouched. Where the search keeps its best
        trials' fold networks (kept_trials), each one's weights at its own best epoch."""
        from autotune.search.stacked import BestCopies

        started, timings = time.perf_counter(), []
        best = BestCopies(len(folds)) if self.kept_trials else None  # kept only in a cross-validated search
        runs = self._side_by_side(hp, folds, epochs, self.patience_for(hp), self.deadline, timings, best)
        if best is not None:
            best.trained = [len(run.get("loss", [])) for run in runs]
        self._best_weights = best
        self._fit_seconds = getattr(self, "_fit_seconds", 0.0) + time.perf_counter() - started
        if timings:  # the first epoch less a later one: building and tracing
            later = float(np.median(timings[1:])) if len(timings) > 1 else 0.0
            self._startup = started - getattr(self, "_trial_started", started) + max(timings[0] - later, 0.0)
        return runs, model

    def _side_by_side(self, hp, folds: list[Fold], epochs: int, patience: int, deadline: float | None = None,
                      timings: list | None = None, best=None) -> list[dict]:
        copies = [self._copy(hp, f.x_train, f.y_train, f.x_val, f.y_val, f.target_std, f.ramp_columns,
                             f.category_slots, f.sequence_blocks) for f in folds]
        kept = [[] for _ in folds] if self.keeps_validation_outputs else None
        self._kept = None if kept is None else ([f.y_val for f in folds], kept)
        return self._train_stacked(hp, copies, self.seed, epochs=epochs, patience=patience, monitor=self.loss_monitor,
                                   metrics=[self.metric], deadline=deadline, timings=timings,
                                   validation_outputs=kept, best=best)

    def train_alone(self, hp: kt.HyperParameters, model: keras.Model, x, y, epochs: int, seed: int) -> dict:
        """The final fit's network trained as a StackedMLP of one copy from the network's own initial weights, which
        then takes the trained ones (stacked.py: the same learning, without Keras's per-epoch overhead); across
        several devices or in reduced precision, Keras's fit."""
        if not self.stacks_for(hp):
            return super().train_alone(hp, model, x, y, epochs, seed)
        copy = self._copy(hp, x, y, x[:0], y[:0], self.target_std, self.ramp_columns, self.category_slots,
                          self.sequence_blocks)
        return self._train_stacked(hp, [copy], seed, model, epochs=epochs, patience=epochs, monitor="val_loss",
                                   metrics=[])[0]

    def _engine(self, hp, width: int) -> type:
        """The loop that trains this configuration's stacked networks on rows `width` columns wide: NumPy's
        (numpy_mlp.fits_numpy) or stacked.py's traced one."""
        from autotune.search.numpy_mlp import NumpyMLP, fits_numpy
        from autotune.search.stacked import StackedMLP

        widths = [width] + [choose(hp, self.space, "units")] * choose(hp, self.space, "layers")
        return NumpyMLP if self.numpy_loop and fits_numpy(self._device, choose(hp, self.space, "activation"),
                                                          self.global_batch(hp), widths) else StackedMLP

    def trains_beside(self, hp, width: int) -> bool:
        """The traced loop on a CPU: one network's TensorFlow while loop of small ops leaves a core idle — the 1,000,000
        rows' three members trained in 0.76-0.85x the time two at a time (bench/README "The final fit's members side
        by side") — and its random draws are its own generator's. Not NumPy's loop, whose matrix products already take
        the BLAS's threads (no faster side by side on 400,000 rows, slower on 20,000), nor a GPU (not measured)."""
        from autotune.search.stacked import StackedMLP

        return self.stacks_for(hp) and self._device == "cpu" and self._engine(hp, width) is StackedMLP

    @property
    def _device(self) -> str:
        return self.compute.device if self.compute is not None else "cpu"

    def _copy(self, hp, x_train, y_train, x_val, y_val, target_std: float, ramp_columns, category_slots,
              sequence_blocks=()):
        """One stacked copy's rows (training rows oversampled, as train_data does) and what its network reads: every
        column but the text's word ids, and without the ramps when the numbers are standardized (KeepColumns in
        network())."""
        from autotune.search.stacked import Copy

        if self.oversample:
            x_train, y_train = oversample(x_train, y_train, self.seed)
        return Copy(x_train, y_train, x_val, y_val, target_std,
                    self._keep_columns(hp, x_train.shape[1], ramp_columns, sequence_blocks), list(category_slots))

    def _keep_columns(self, hp, width: int, ramp_columns, sequence_blocks) -> list[int]:
        """The columns of an encoding `width` wide the network reads (KeepColumns in network())."""
        ramps = set(ramp_columns) if choose(hp, self.space, "numeric_encoding") == "standardized" else set()
        left_out = ramps | sequence_columns(sequence_blocks)
        return [i for i in range(width) if i not in left_out]

    def _train_stacked(self, hp, copies: list, seed: int, model: keras.Model | None = None, **fit) -> list[dict]:
        """The copies as one stacked network, trained in NumPy (numpy_mlp.py, on a CPU) or in stacked.py's traced loop;
        given a Keras network (one copy), it starts from that network's weights and takes the trained ones back."""
        from autotune.search.hyperparameters import CLIP_NORM, epoch_rate
        from autotune.search.stacked import train_side_by_side

        engine = self._engine(hp, max(c.width for c in copies))
        net = engine(hp, self.space, copies, self.n_outputs, task_of(self.task).standardised_target, seed,
                     CATEGORY_DROPOUT, self.batch_norm_momentum(hp))
        if model is not None:
            net.set_copy(0, model, copies[0].keep)
        runs = train_side_by_side(net, copies, optimizer=hp.get("optimizer"),
                                  learning_rate=float(hp.get("learning_rate")), batch_size=self.global_batch(hp),
                                  clip=CLIP_NORM, seed=seed, class_weight=self.loss_weight, rate=epoch_rate(hp), **fit)
        if model is not None:
            net.get_copy(0, model, copies[0].keep)
        return runs

    def trial_cost(self, x, y, batches: int = 20) -> tuple[float, float]:
        """(Seconds per trial before its epochs, seconds per epoch) in stacked.py's loop: the default configuration's
        trial timed over its first three epochs (the first builds and traces); without folds, on `batches` batches
        of the rows, the epoch scaled to all of them."""
        if not self.stacks:
            return super().trial_cost(x, y, batches)
        hp = kt.HyperParameters()
        start = time.perf_counter()
        self.declare(hp)  # registers the default configuration's hyperparameters
        rows = min(len(x), batches * self.global_batch(hp))
        folds = self.fold_data or [Fold(x[:rows], y[:rows], x[:1], y[:1], self.target_std, self.category_slots,
                                        self.ramp_columns, self.sequence_blocks)]
        timings = []
        self._side_by_side(hp, folds, 3, patience=3, timings=timings)
        epoch = float(np.median(timings[1:]))
        setup = max(time.perf_counter() - start - epoch * len(timings), 0.0)
        return setup, epoch * (1 if self.fold_data else len(x) / rows)

    def train_data(self, hp, x, y):
        if self.oversample:  # here, so only training rows (of each fold) are repeated, never validation rows
            x, y = oversample(x, y, self.seed)
        return make_dataset(x, y, self.global_batch(hp), shuffle=True, seed=self.seed, replicas=self.replicas)

    def validation_data(self, validation_data):
        return make_dataset(*validation_data, batch_size=1024, shuffle=False, seed=self.seed, replicas=self.replicas)

    def declare(self, hp: kt.HyperParameters) -> None:
        choose(hp, self.space, "batch_size")
        for name in NETWORK_CHOICES:
            choose(hp, self.space, name)
        text_encoder(hp, self.space, self.sequence_blocks)
        optimizer_choice(hp, self.space, self.epoch_cap)

    def parameters(self, hp: kt.HyperParameters) -> int:
        """An MLP on the columns it reads, as network() builds it with the TF-IDF's directions for its text (the networks
        stacked.py trains): a kernel and a bias a hidden layer and the head, batch norm's four vectors a hidden layer."""
        depth, units = choose(hp, self.space, "layers"), choose(hp, self.space, "units")
        widths = [len(self._keep_columns(hp, self.n_features, self.ramp_columns, self.sequence_blocks)),
                  *[units] * depth, self.n_outputs]
        norms = 4 * units * depth if choose(hp, self.space, "batch_norm") else 0
        return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False)) + norms

    def network(self, hp: kt.HyperParameters) -> keras.Model:
        space = self.space
        depth, units, activation, dropout, l1, l2, batch_norm, numbers = (choose(hp, space, n) for n in NETWORK_CHOICES)
        regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None

        inputs = keras.Input(shape=(self.n_features,), name="features")
        x = inputs
        if self.category_slots:  # training only: teaches the out-of-vocabulary and missing slots
            from autotune.tabular.layers import CategoryDropout

            x = CategoryDropout(self.category_slots, CATEGORY_DROPOUT, seed=self.seed, dtype="float32",
                                name="category_dropout")(x)
        encoder = text_encoder(hp, space, self.sequence_blocks)
        sequences = [] if encoder == "tfidf" else [text_sequence(x, encoder, block, i, self.seed)
                                                   for i, block in enumerate(self.sequence_blocks)]
        left_out = sequence_columns(self.sequence_blocks)
        if numbers == "standardized":  # the numbers' standardized values without their ramps
            left_out |= set(self.ramp_columns)
        if numbers == "embedded" and self.ramp_columns:  # each ramped number embedded on its own (NumberEmbeddings)
            from autotune.tabular.encode import ramp_groups
            from autotune.tabular.layers import NumberEmbeddings

            values, groups = ramp_groups(self.ramp_columns)
            left_out |= set(values) | set(self.ramp_columns)
            x = NumberEmbeddings(values, groups, [i for i in range(self.n_features) if i not in left_out],
                                 NUMBER_EMBEDDING, dtype="float32", name="number_embeddings")(x)
        elif left_out:
            from autotune.tabular.layers import KeepColumns

            name = "standardized_numbers" if numbers == "standardized" and self.ramp_columns else "features_read"
            x = KeepColumns([i for i in range(self.n_features) if i not in left_out], name=name)(x)
        if sequences:
            x = keras.layers.Concatenate(name="with_text_sequences")([x, *sequences])
        momentum = self.batch_norm_momentum(hp)
        for i in range(depth):
            x = keras.layers.Dense(units, kernel_regularizer=regularizer, name=f"dense_{i}")(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(momentum=momentum, name=f"batch_norm_{i}")(x)
            x = keras.layers.Activation(activation, name=f"{activation}_{i}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, seed=self.seed + i, name=f"dropout_{i}")(x)
        # The L1/L2 act on the hidden layers' kernels, and at 0 hidden layers on the output layer's, the only one: the
        # linear model is then ridge / L2-penalised logistic regression (StackedMLP.penalized_kernels: the engines too)
        outputs, loss, metrics = self.head(x, None if depth else regularizer)
        return self.compile(keras.Model(inputs, outputs, name="network"), hp, loss, metrics)


# The columns each number takes in a network with numeric_encoding "embedded" (layers.NumberEmbeddings): TabM's 16
NUMBER_EMBEDDING = 16

# The hyperparameters a tabular network's layers read, in the order network() registers them (declare: the same).
NETWORK_CHOICES = ("layers", "units", "activation", "dropout", "l1", "l2", "batch_norm", "numeric_encoding")

# The searched text encoders (text_encoder; TEXT_ENCODERS in recipes.py): "tfidf", the TF-IDF's leading directions
# alone (every network reads those); or, beside them, each text column's word ids (encode.sequence_blocks) through
# an embedding (TEXT_EMBEDDING wide, learned) and then a mean over the words ("embedding"), a 1-D convolution over
# TEXT_KERNEL-word windows with the maximum over the positions ("conv1d"), or a bidirectional GRU ("bigru").
TEXT_EMBEDDING = 64
TEXT_FILTERS = 64
TEXT_KERNEL = 5
TEXT_GRU = 32


def text_encoder(hp: kt.HyperParameters, space: dict, sequence_blocks) -> str:
    """The configuration's text encoder: registered only where the rows have text word ids, else "tfidf"."""
    return choose(hp, space, "text_encoder") if sequence_blocks else "tfidf"


def sequence_columns(sequence_blocks) -> set[int]:
    """The matrix's columns that hold word ids."""
    return {c for start, length, _ in sequence_blocks for c in range(start, start + length)}


def text_sequence(x, encoder: str, block, i: int, seed: int):
    """One text column's word ids (block: [start, length, ids]) from the feature matrix `x` through `encoder`."""
    from autotune.tabular.layers import KeepColumns

    start, length, ids = block
    words = KeepColumns(list(range(start, start + length)), name=f"word_ids_{i}")(x)
    masked = encoder != "conv1d"  # the padding after the last word: left out of the mean and the GRU
    h = keras.layers.Embedding(ids, TEXT_EMBEDDING, mask_zero=masked,
                               embeddings_initializer=keras.initializers.RandomUniform(-0.05, 0.05, seed=seed + i),
                               name=f"embedding_{i}")(words)
    if encoder == "embedding":
        from autotune.tabular.layers import MeanOfWords

        return MeanOfWords(name=f"mean_words_{i}")(h)
    if encoder == "conv1d":
        h = keras.layers.Conv1D(TEXT_FILTERS, TEXT_KERNEL, padding="same", activation="relu",
                                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i), name=f"conv_{i}")(h)
        return keras.layers.GlobalMaxPooling1D(name=f"max_words_{i}")(h)
    if encoder == "bigru":
        return keras.layers.Bidirectional(keras.layers.GRU(TEXT_GRU, seed=seed + i), name=f"bigru_{i}")(h)
    raise ValueError(f"unknown text encoder {encoder!r}")
