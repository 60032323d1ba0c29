"""fit: load → profile → clean → encode → search → final fit → evaluate → export, in that order."""
from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from autotune import __version__
from autotune.clean import describe_action, learn_features
from autotune.config import FitConfig
from autotune.dataset import read_table, resolve_target
from autotune.errors import EXIT_INTERRUPTED, AutotuneError, InputError
from autotune.events import Reporter
from autotune.export import SCHEMA_VERSION, check_output, output_lock, prepare_work_dir, publish, write_json, write_report
from autotune.images import folder_fingerprint, is_image_input, parse_size, profile_images, scan_csv, scan_folder
from autotune.modality import ImageRun, TabularRun
from autotune.profile import CLASSIFICATION, profile
from autotune.split import drop_unusable_rows, split

log = logging.getLogger(__name__)


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
        self.started = time.time()  # wall clock, for the time budget

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.times[name] = round(now - since, 3)
        return now

    def total(self) -> float:
        return round(time.perf_counter() - self._start, 3)


class Interrupted(AutotuneError):
    """Ctrl-C (or SIGTERM) during training: finished trials are kept for --resume."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, output: Path, work: Path):
        trials = len(list((work / "search" / "search").glob("trial_*")))
        super().__init__(f"interrupted with {trials} trial(s) started; their results are kept in {work}. "
                         f"Continue with the same command plus --resume (same --output {output})")


@dataclass(frozen=True)
class Loaded:
    """What the checks before training produce, for either kind of data."""

    name: str
    fingerprint: str
    rows: int
    columns: int
    prof: object
    parts: object
    cleaning: list
    run: object  # modality.TabularRun or modality.ImageRun
    details: dict  # extra report fields: CSV encoding, image profile


def _load_table(config: FitConfig, reporter: Reporter) -> Loaded:
    loaded = read_table(config.data)
    for note in loaded.notes:
        reporter.note(note)
    target = resolve_target(loaded.frame, config.target, loaded.path)
    prof = profile(loaded.frame, target, config.task)
    frame, row_actions = drop_unusable_rows(loaded.frame, prof)
    parts = split(frame, prof, config.test_size, config.validation_size, config.seed)
    features, column_actions = learn_features(parts.train, prof, config.select_features)
    labels = sorted(set(parts.y_train) | set(parts.y_validation)) if prof.task == CLASSIFICATION else None
    run = TabularRun(parts, features, prof.task, labels, config.seed, config.space, config.balance)
    return Loaded(loaded.path.name, loaded.fingerprint, len(loaded.frame), loaded.frame.shape[1], prof, parts,
                  row_actions + column_actions, run, {"encoding": loaded.encoding, "delimiter": loaded.delimiter})


def _load_images(config: FitConfig, reporter: Reporter) -> Loaded:
    source = Path(config.data)
    if source.is_dir():
        files = scan_folder(source)
        digest = folder_fingerprint(files["path"])
    else:
        table = read_table(source)
        target = resolve_target(table.frame, config.target, table.path)
        files = scan_csv(source, table.frame, config.image_column, target)
        digest = table.fingerprint
    usable, prof, image_profile = profile_images(files, source, parse_size(config.image_size))
    frame, row_actions = drop_unusable_rows(usable, prof)
    parts = split(frame, prof, config.test_size, config.validation_size, config.seed)
    cleaning = [{"step": "skip_file", "column": s["path"], "reason": s["reason"]} for s in image_profile.skipped]
    labels = sorted(set(parts.y_train) | set(parts.y_validation))
    run = ImageRun(parts, labels, image_profile.image_size, config.augment, config.seed, config.space,
                   config.backbone, str(config.weights) if config.weights else None, config.balance)
    if config.balance == "oversample":
        raise InputError("--balance oversample is for tabular data; use --balance weights for images")
    return Loaded(source.name, digest, len(files), 1, prof, parts, row_actions + cleaning, run,
                  {"images": image_profile.to_dict()})


def fit(config: FitConfig, reporter: Reporter | None = None) -> FitResult:
    """Run the whole job and publish a bundle at config.output (or a new runs/ directory)."""
    output = Path(config.output) if config.output else default_output(Path(config.data))
    check_output(output, config.overwrite or config.resume)
    with output_lock(output):
        return _fit(config, output, reporter or Reporter())


def _fit(config: FitConfig, output: Path, reporter: Reporter) -> FitResult:
    timer = _Timer()

    t = time.perf_counter()
    reporter.stage("load")
    images = is_image_input(Path(config.data), config.image_column)
    loaded = _load_images(config, reporter) if images else _load_table(config, reporter)
    # Checks that need the data's task, made before any training: a refusal costs nothing.
    if config.metric:
        from autotune.evaluate import check_metric

        check_metric(config.metric, loaded.run.task)
    if config.cv:
        from autotune.crossval import check_cv

        check_cv(config.cv, loaded)
    for warning in loaded.prof.warnings:
        reporter.warning(warning)
    reporter.profiled(loaded.prof, loaded.cleaning)
    t = timer.lap("load_profile_clean", t)

    staging = prepare_work_dir(output, config.resume, config.overwrite)
    _check_resume(staging, loaded, config)
    try:
        result = _train_and_export(config, loaded, staging, timer, t, reporter)
        reporter.stage("export")
        publish(staging / "bundle", output, config.overwrite or config.resume)
    except KeyboardInterrupt:
        raise Interrupted(output, staging) from None  # the work directory stays, for --resume
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    reporter.finished(result, output)
    return FitResult(output, result)


RESUME_KEYS = ("target", "task", "test_size", "validation_size", "tuner", "max_trials", "epochs", "patience", "seed",
               "search_folds", "image_column", "image_size", "augment", "recipe", "backbone", "metric", "balance",
               "select_features")


def _check_resume(work: Path, loaded: Loaded, config: FitConfig) -> None:
    """A resumed run must search the same data with the same settings, or its old trials mean nothing."""
    state = {"fingerprint": loaded.fingerprint, **{k: getattr(config, k) for k in RESUME_KEYS}}
    marker = work / "run.json"
    if marker.exists():
        before = json.loads(marker.read_text())
        changed = [k for k in state if before.get(k) != state[k]]
        if changed:
            raise InputError(f"--resume: the interrupted run used different {', '.join(changed)}; "
                             "repeat its command exactly, or pass --overwrite to start again")
    else:
        marker.write_text(json.dumps(state, default=str))


def _train_and_export(config: FitConfig, loaded: Loaded, staging: Path, timer: _Timer, t: float,
                      reporter: Reporter) -> dict:
    # TensorFlow is imported only here, once the input has been checked.
    from autotune.tfenv import import_tensorflow

    import_tensorflow()
    import keras

    from autotune.evaluate import METRICS, check_metric, default_metric, evaluate, headline
    from autotune.train import train_final
    from autotune.tune import SearchSettings, run_search

    run, prof, parts = loaded.run, loaded.prof, loaded.parts
    reporter.stage("encode")
    keras.utils.set_random_seed(config.seed)
    run.prepare(staging)
    t = timer.lap("encode", t)

    folds = config.search_folds or run.default_folds(config.tuner)
    members = config.ensemble or run.default_ensemble()
    settings = SearchSettings(config.tuner, config.max_trials, config.epochs, config.patience, config.seed, folds,
                              time_budget=config.time_budget, started=timer.started)
    reporter.stage("search")
    # The headline: --metric, else macro-F1 (imbalanced classes), accuracy or RMSE. The search optimises
    # --metric when one is given; otherwise the smooth loss, which ranked trials better than accuracy on
    # small validation data (breast-cancer: test accuracy 0.965 vs 0.947 for the accuracy objective).
    metric = config.metric or default_metric(run.task, run.imbalanced)
    check_metric(metric, run.task)
    searched = config.metric or ("log_loss" if run.task == CLASSIFICATION else "rmse")
    objective, higher = f"val_{searched}", METRICS[searched][1]
    reporter.search_started(settings.tuner, None if settings.tuner == "hyperband" else settings.max_trials,
                            settings.epochs, objective)
    searcher = run.hypermodel(folds, config.patience, on_trial_end=_TrialProgress(reporter, objective, higher),
                              metric=searched)
    if searcher.class_weight:
        reporter.note("training weights each class by the inverse of its frequency (--balance)")
    if getattr(searcher, "oversample", False):
        reporter.note("training repeats rows of the smaller classes up to the largest (--balance oversample)")
    x, y, validation = run.search_data()
    setup, epoch = searcher.trial_cost(x, y)
    trials = settings.max_trials if settings.tuner != "hyperband" else None
    reporter.budget_preview(setup, epoch, trials, settings.epochs, config.time_budget)
    search = run_search(searcher, x, y, validation, settings=settings, directory=staging / "search")
    if search.stopped_by_budget:
        reporter.note(f"time budget reached after {len(search.trials)} trial(s); going on to the final fit")
    t = timer.lap("search", t)

    reporter.stage("final fit")
    final_hypermodel = run.hypermodel(1, config.patience)
    x_all, y_all = run.final_data()
    final = train_final(final_hypermodel, search.candidates, x_all, y_all, config.seed, run.assemble, members)
    if final.members[0]["rank"]:
        reporter.warning("the best configuration diverged when retrained; the final model uses the next best")
    t = timer.lap("final_fit", t)

    reporter.stage("evaluate")
    outputs = run.test_outputs(final.model)
    metrics = evaluate(run.task, parts.y_test.to_numpy(), outputs, run.labels)
    metric_name, metric_value = headline(run.task, metrics, metric)
    t = timer.lap("evaluate", t)
    cross_validation = None
    if config.cv:
        from autotune.crossval import cross_validate

        reporter.stage(f"cross-validation ({config.cv})")
        cross_validation = cross_validate(config.cv, loaded, search.hyperparameters, search.best_epochs, searched,
                                          config.patience, config.seed, config.select_features)
        if "mean" in cross_validation:
            reporter.note(f"{cross_validation['kind']} cross-validation of the best configuration: {metric} "
                          f"{cross_validation['mean'][metric]:.4f} ± {cross_validation['std'][metric]:.4f}")
        t = timer.lap("cross_validation", t)
    baseline = None
    if config.baseline:
        from autotune.baseline import verdict

        reporter.stage("baseline")
        baseline = run.baseline(metric)
        if baseline is not None:
            baseline["verdict"] = verdict(metric_value, baseline["value"], metric_name)
            reporter.note(baseline["verdict"])
        t = timer.lap("baseline", t)

    created = datetime.now(UTC).isoformat(timespec="seconds")
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "kind": run.kind,
        "created": created,
        "task": run.task,
        "target": prof.target,
        "labels": run.labels,
        **run.metadata(),
        "dropped_columns": [a["column"] for a in loaded.cleaning if a["step"] == "drop_column"],
        "outputs": {"probabilities": "float32 [rows, classes], in the order of `labels`",
                    "label": "string [rows]"} if run.task == CLASSIFICATION else {"value": "float32 [rows]"},
        "seed": config.seed,
        "data": {"name": loaded.name, "fingerprint": loaded.fingerprint, "rows": loaded.rows},
        "versions": versions(),
    }
    report = {
        "autotune_version": __version__,
        "created": created,
        "kind": run.kind,
        "task": run.task,
        "target": prof.target,
        "seed": config.seed,
        "data": {"name": loaded.name, "fingerprint": loaded.fingerprint, "rows": loaded.rows,
                 "columns": loaded.columns, **loaded.details},
        "profile": prof.to_dict(),
        "cleaning": [{**a, "description": describe_action(a)} for a in loaded.cleaning],
        "split": {"train": len(parts.train), "validation": len(parts.validation), "test": len(parts.test),
                  "test_size": config.test_size, "validation_size": config.validation_size,
                  "stratified": run.task == CLASSIFICATION},
        "search": {"recipe": config.recipe, "metric": metric, "objective_metric": searched, "tuner": settings.tuner,
                   "max_trials": settings.max_trials, "epochs": settings.epochs,
                   "patience": settings.patience, "objective": search.objective,
                   "validation": f"{folds}-fold cross-validation over train + validation" if folds > 1
                   else "the validation split",
                   "balance": config.balance, "class_weight": searcher.class_weight,
                   "time_budget": config.time_budget, "stopped_by_budget": search.stopped_by_budget,
                   "disk_bytes": _disk_usage(staging / "search"),
                   "best_hyperparameters": search.best_hyperparameters, "best_epochs": search.best_epochs,
                   "trials": search.trials},
        "final_model": {"members": [{"trial": search.trials[m["rank"]]["trial"], "rank": m["rank"] + 1,
                                     "epochs": m["epochs"]} for m in final.members],
                        "parameters": int(final.count_params()), "train_rows": run.train_rows,
                        "history": {k: [float(v) for v in vals] for k, vals in final.history.items()}},
        "headline": {"metric": metric_name, "value": metric_value},
        "test_metrics": metrics,
        "baseline": baseline,
        "cross_validation": cross_validation,
        "timings": {},
    }
    bundle = staging / "bundle"
    bundle.mkdir(parents=True)
    run.export(final.model, bundle / "saved_model")
    final.model.save(bundle / "model.keras")
    write_json(bundle / "metadata.json", metadata)
    timer.lap("export", t)
    report["timings"] = {**timer.times, "total": timer.total()}
    write_report(bundle, report)
    return report


def _disk_usage(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class _TrialProgress:
    """Turns the hypermodel's per-trial summary into numbered reporter events."""

    def __init__(self, reporter: Reporter, objective: str, higher_is_better: bool = False):
        self.reporter, self.objective, self.higher = reporter, objective, higher_is_better
        self.count, self.best = 0, None

    def __call__(self, hyperparameters: dict, summary: dict) -> None:
        self.count += 1
        score = summary.get(self.objective)
        score = score if score is not None and math.isfinite(score) else None
        if score is not None and (self.best is None or (score > self.best if self.higher else score < self.best)):
            self.best = score
        hp = {k: v for k, v in hyperparameters.items() if not k.startswith("tuner/")}
        self.reporter.trial_finished(self.count, score, self.best, int(summary.get("epochs", 0)),
                                     summary.get("seconds", 0.0), hp)
