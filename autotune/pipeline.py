"""fit: load → profile → clean → encode → search → final fit → evaluate → export, in that order."""
from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from autotune import __version__
from autotune.clean import describe_action, learn_features, raw_inputs
from autotune.config import FitConfig
from autotune.dataset import read_table, resolve_target
from autotune.events import Reporter
from autotune.export import SCHEMA_VERSION, check_output, publish, staging_dir, write_model, write_report
from autotune.profile import CLASSIFICATION, profile
from autotune.split import drop_unusable_rows, split

log = logging.getLogger(__name__)

# Up to this many train + validation rows, one validation split is too small to rank trials reliably:
# the search scores trials by cross-validation and the final model averages several seeds.
SMALL_DATA_ROWS = 2000
SMALL_DATA_FOLDS = 3
SMALL_DATA_REPLICAS = 3


@dataclass(frozen=True)
class FitResult:
    output: Path
    report: dict


def default_output(data: Path) -> Path:
    return Path("runs") / f"{data.stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def versions() -> dict:
    import platform

    import keras
    import keras_tuner
    import pandas
    import sklearn
    import tensorflow as tf

    return {"autotune": __version__, "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "keras_tuner": keras_tuner.__version__, "scikit_learn": sklearn.__version__,
            "pandas": pandas.__version__, "numpy": np.__version__}


class _Timer:
    def __init__(self):
        self.times: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.times[name] = round(now - since, 3)
        return now

    def total(self) -> float:
        return round(time.perf_counter() - self._start, 3)


def fit(config: FitConfig, reporter: Reporter | None = None) -> FitResult:
    """Run the whole job and publish a bundle at config.output (or a new runs/ directory)."""
    reporter = reporter or Reporter()
    timer = _Timer()
    output = Path(config.output) if config.output else default_output(Path(config.data))
    check_output(output, config.overwrite)

    t = time.perf_counter()
    reporter.stage("load")
    loaded = read_table(config.data)
    for note in loaded.notes:
        reporter.note(note)
    target = resolve_target(loaded.frame, config.target, loaded.path)
    prof = profile(loaded.frame, target, config.task)
    for warning in prof.warnings:
        reporter.warning(warning)
    frame, row_actions = drop_unusable_rows(loaded.frame, prof)
    parts = split(frame, prof, config.test_size, config.validation_size, config.seed)
    features, column_actions = learn_features(parts.train, prof)
    cleaning = row_actions + column_actions
    reporter.profiled(prof, cleaning)
    t = timer.lap("load_profile_clean", t)

    staging = staging_dir(output)
    try:
        result = _train_and_export(config, loaded, prof, parts, features, cleaning, staging, timer, t, reporter)
        reporter.stage("export")
        publish(staging / "bundle", output, config.overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    reporter.finished(result, output)
    return FitResult(output, result)


def _train_and_export(config, loaded, prof, parts, features, cleaning, staging, timer, t, reporter) -> dict:
    # TensorFlow is imported only here, once the input has been checked.
    from autotune.tfenv import import_tensorflow

    import_tensorflow()
    import keras

    from autotune.encode import build_preprocessor, encode
    from autotune.evaluate import evaluate, headline
    from autotune.space import TabularHyperModel, objective_metric
    from autotune.train import TargetScale, predict_raw, train_final
    from autotune.tune import SearchSettings, run_search

    reporter.stage("encode")
    keras.utils.set_random_seed(config.seed)
    preprocessor = build_preprocessor(features)
    x_train, x_val = (encode(preprocessor, raw_inputs(d, features)) for d in (parts.train, parts.validation))
    task = prof.task
    if task == CLASSIFICATION:
        # The classes the model can learn: those in train + validation (a test-only label counts as an error).
        labels = sorted(set(parts.y_train) | set(parts.y_validation))
        index = {label: i for i, label in enumerate(labels)}
        y_train, y_val = (np.array([index[v] for v in y], np.int32) for y in (parts.y_train, parts.y_validation))
        scale, n_outputs = None, len(labels)
    else:
        labels = None
        scale = TargetScale.fit(np.concatenate([parts.y_train, parts.y_validation]))
        y_train, y_val = scale.apply(parts.y_train.to_numpy()), scale.apply(parts.y_validation.to_numpy())
        n_outputs = 1
    t = timer.lap("encode", t)

    small = len(x_train) + len(x_val) <= SMALL_DATA_ROWS
    folds = config.search_folds or (SMALL_DATA_FOLDS if small and config.tuner != "hyperband" else 1)
    replicas = config.final_models or (SMALL_DATA_REPLICAS if small else 1)
    settings = SearchSettings(config.tuner, config.max_trials, config.epochs, config.patience, config.seed, folds)
    reporter.stage("search")
    objective = objective_metric(task)
    reporter.search_started(settings.tuner, None if settings.tuner == "hyperband" else settings.max_trials,
                            settings.epochs, objective)
    rows = len(x_train) + (len(x_val) if folds > 1 else 0)
    searcher = TabularHyperModel(x_train.shape[1], n_outputs, task, rows, config.seed, config.patience, folds,
                                 on_trial_end=_TrialProgress(reporter, objective))
    search = run_search(searcher, x_train, y_train, (x_val, y_val), settings=settings, directory=staging / "search")
    t = timer.lap("search", t)

    reporter.stage("final fit")
    x_all = np.concatenate([x_train, x_val])
    y_all = np.concatenate([y_train, y_val])
    hypermodel = TabularHyperModel(x_all.shape[1], n_outputs, task, len(x_all), config.seed)
    final = train_final(hypermodel, search.candidates, preprocessor, x_all, y_all, config.seed, task, scale, replicas)
    if final.rank:
        reporter.warning(f"the best configuration diverged when retrained; the final model uses trial "
                         f"{search.trials[final.rank]['trial']}, ranked {final.rank + 1}")
    t = timer.lap("final_fit", t)

    reporter.stage("evaluate")
    outputs = predict_raw(final.model, raw_inputs(parts.test, features))
    metrics = evaluate(task, parts.y_test.to_numpy(), outputs, labels)
    metric_name, metric_value = headline(task, metrics)
    t = timer.lap("evaluate", t)

    metadata = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "target": prof.target,
        "labels": labels,
        "target_scale": None if scale is None else {"mean": scale.mean, "std": scale.std},
        "inputs": [f.to_dict() for f in features],
        "dropped_columns": [a["column"] for a in cleaning if a["step"] == "drop_column"],
        "outputs": {"probabilities": "float32 [rows, classes], in the order of `labels`",
                    "label": "string [rows]"} if task == CLASSIFICATION else {"value": "float32 [rows]"},
        "missing_values": "numbers: NaN; strings: empty string",
        "seed": config.seed,
        "data": {"name": loaded.path.name, "fingerprint": loaded.fingerprint, "rows": int(len(loaded.frame))},
        "versions": versions(),
    }
    report = {
        "autotune_version": __version__,
        "created": metadata["created"],
        "task": task,
        "target": prof.target,
        "seed": config.seed,
        "data": {"name": loaded.path.name, "fingerprint": loaded.fingerprint, "rows": int(len(loaded.frame)),
                 "columns": int(loaded.frame.shape[1]), "encoding": loaded.encoding, "delimiter": loaded.delimiter},
        "profile": prof.to_dict(),
        "cleaning": [{**a, "description": describe_action(a)} for a in cleaning],
        "split": {"train": len(parts.train), "validation": len(parts.validation), "test": len(parts.test),
                  "test_size": config.test_size, "validation_size": config.validation_size,
                  "stratified": task == CLASSIFICATION},
        "search": {"tuner": settings.tuner, "max_trials": settings.max_trials, "epochs": settings.epochs,
                   "patience": settings.patience, "objective": search.objective,
                   "validation": f"{folds}-fold cross-validation over train + validation" if folds > 1
                   else "the validation split",
                   "best_hyperparameters": search.best_hyperparameters, "best_epochs": search.best_epochs,
                   "trials": search.trials},
        "final_model": {"epochs": final.epochs, "replicas": len(final.networks), "trial_rank": final.rank + 1,
                        "parameters": int(final.count_params()),
                        "train_rows": int(len(x_all)),
                        "history": {k: [float(v) for v in vals] for k, vals in final.history.items()}},
        "headline": {"metric": metric_name, "value": metric_value},
        "test_metrics": metrics,
        "timings": {},
    }
    bundle = staging / "bundle"
    write_model(bundle, final.model, features, metadata)
    timer.lap("export", t)
    report["timings"] = {**timer.times, "total": timer.total()}
    write_report(bundle, report)
    return report


class _TrialProgress:
    """Turns the hypermodel's per-trial summary into numbered reporter events."""

    def __init__(self, reporter: Reporter, objective: str):
        self.reporter, self.objective = reporter, objective
        self.count, self.best = 0, None

    def __call__(self, hyperparameters: dict, summary: dict) -> None:
        self.count += 1
        score = summary.get(self.objective)
        score = score if score is not None and math.isfinite(score) else None
        if score is not None and (self.best is None or score < self.best):
            self.best = score
        hp = {k: v for k, v in hyperparameters.items() if not k.startswith("tuner/")}
        self.reporter.trial_finished(self.count, score, self.best, int(summary.get("epochs", 0)),
                                     summary.get("seconds", 0.0), hp)
