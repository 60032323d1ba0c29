"""What a fit leaves behind, as data: metadata.json (for programs loading the bundle) and report.json (for
people and machines; report.md, report.html and `autotune report` render it). Pure functions of the run's
results: nothing here trains, reads data or writes files."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from autotune import __version__
from autotune.bundle.format import SCHEMA_VERSION
from autotune.data.clean import describe_action
from autotune.task import task_of

if TYPE_CHECKING:
    from autotune.config import FitConfig
    from autotune.modality import Loaded
    from autotune.search.prepare import SearchSetup


def versions() -> dict:
    """The versions of Python and the libraries a bundle was made with."""
    import platform

    import keras
    import keras_tuner
    import pandas
    import sklearn
    import tensorflow as tf

    return {"autotune": __version__, "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "keras_tuner": keras_tuner.__version__, "scikit_learn": sklearn.__version__,
            "pandas": pandas.__version__, "numpy": np.__version__}


@dataclass
class Evaluation:
    """The final model on the test rows (and --cv's estimate), against the baselines on the same rows."""

    outputs: np.ndarray  # the final model's test-set outputs (probabilities or values)
    metrics: dict
    curves: dict  # for report.html's plots
    headline: tuple[str, float]
    cross_validation: dict | None = None
    trivial_baseline: dict | None = None
    baseline: dict | None = None
    importance: dict | None = None  # permutation importance of each input column (tabular runs)


def build_metadata(config: FitConfig, loaded: Loaded, compute: dict, created: str) -> dict:
    """metadata.json: what a program loading the bundle needs (schema, labels, outputs, versions, provenance)."""
    run, prof = loaded.run, loaded.prof
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": run.kind,
        "created": created,
        "task": run.task,
        "target": prof.target,
        "labels": run.labels,
        **run.metadata(),
        "dropped_columns": [a["column"] for a in loaded.cleaning if a["step"] == "drop_column"],
        "outputs": dict(task_of(run.task).outputs),
        "seed": config.seed,
        "data": {"name": loaded.name, "fingerprint": loaded.fingerprint, "rows": loaded.rows},
        "compute": compute,
        "versions": versions(),
    }


def build_report(config: FitConfig, loaded: Loaded, setup: SearchSetup, search, final, evaluation: Evaluation,
                 compute: dict, created: str, search_bytes: int) -> dict:
    """report.json's content (timings and warnings are added when the bundle is written): a pure function
    of the run's results, which report.md, report.html and `autotune report` render."""
    run, prof, parts, settings = loaded.run, loaded.prof, loaded.parts, setup.settings
    return {
        "autotune_version": __version__,
        "created": created,
        "kind": run.kind,
        "task": run.task,
        "target": prof.target,
        "seed": config.seed,
        "data": {"name": loaded.name, "fingerprint": loaded.fingerprint, "rows": loaded.rows,
                 "columns": loaded.columns, **loaded.details},
        "compute": compute,
        "profile": prof.to_dict(),
        "cleaning": [{**a, "description": describe_action(a)} for a in loaded.cleaning],
        "split": {"train": len(parts.train), "validation": len(parts.validation), "test": len(parts.test),
                  "test_size": config.data.test_size, "validation_size": config.data.validation_size,
                  "stratified": task_of(run.task).stratified},
        "search": {"recipe": config.search.recipe, "metric": setup.metric, "objective_metric": setup.searched,
                   "tuner": settings.tuner, "max_trials": settings.max_trials, "epochs": settings.epochs,
                   "patience": settings.patience, "objective": search.objective,
                   # the validation log loss weighs each row by its class's weight, as training does (--balance)
                   "objective_weighted_by_class": bool(setup.searcher.loss_weight) and setup.searched == "log_loss",
                   "validation": f"{settings.folds}-fold cross-validation over train + validation"
                   if settings.folds > 1 else "the validation split",
                   "balance": config.search.balance, "class_weight": setup.searcher.class_weight,
                   "class_weight_in_loss": bool(setup.searcher.loss_weight),
                   "time_budget": config.run.time_budget, "stopped_by_budget": search.stopped_by_budget,
                   "disk_bytes": search_bytes,
                   "best_hyperparameters": search.best_hyperparameters, "best_epochs": search.best_epochs,
                   "trials": search.trials,
                   # per-epoch loss / validation loss of the best trial (its first fold), for report.html
                   "best_trial_curves": setup.searcher.curves_of(search.hyperparameters.values)},
        "final_model": {"members": [{"trial": search.candidate_trials[m["rank"]], "rank": search.rank_of(m["rank"]) + 1,
                                     **{k: v for k, v in m.items() if k != "rank"}} for m in final.members],
                        # the rows its networks trained on: train + validation, or a kept trial network's training
                        # split (train.train_final: from_trial)
                        "parameters": int(final.count_params()), "train_rows": max(
                            m["train_rows"] if m.get("from_trial") else run.train_rows for m in final.members),
                        # class-weighted classifiers: the outputs' re-weighting toward the class frequencies
                        "decision": final.decision,
                        "threads": final.threads,  # the most of its networks that trained side by side
                        "history": {k: [float(v) for v in vals] for k, vals in final.history.items()}},
        "headline": {"metric": evaluation.headline[0], "value": evaluation.headline[1]},
        "test_metrics": evaluation.metrics,
        "test_curves": evaluation.curves,
        "baseline": evaluation.baseline,
        "trivial_baseline": evaluation.trivial_baseline,
        "cross_validation": evaluation.cross_validation,
        "feature_importance": evaluation.importance,
        "timings": {},
    }


def evaluation_report(report: dict, metrics: dict, curves: dict, source: str) -> dict:
    """The bundle's report with the test results replaced by `autotune evaluate`'s on other labelled data.
    The search, profile and cleaning stay the original run's; the baseline (scored on the run's own test
    set) and the misclassified images are left out."""
    metric = report["headline"]["metric"]
    return {**report, "headline": {"metric": metric, "value": metrics.get(metric)}, "test_metrics": metrics,
            "test_curves": curves, "baseline": None, "trivial_baseline": None, "warnings": [], "misclassified": None,
            "evaluation": {"data": source, "rows": metrics.get("rows")}}
