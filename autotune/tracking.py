"""`--mlflow [URI]`: the run logged to MLflow once its bundle is published — a parent run with the settings, test
metrics, baselines and timings, each trial as a nested run (its hyperparameters, its score, its first fold's
per-epoch curves), and the bundle as an artifact. MLflow is an optional extra (`pip install 'autotune[mlflow]'`),
imported only here."""
from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

from autotune.errors import InputError

MISSING = "--mlflow needs MLflow: pip install 'autotune[mlflow]' (or mlflow), or leave --mlflow out"


def check_mlflow() -> None:
    """Before any work: a run asked to log to MLflow refuses to start without it."""
    if importlib.util.find_spec("mlflow") is None:
        raise InputError(MISSING)


def _numbers(values: dict, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a dict (nested dicts flattened with dots), as MLflow metrics take them."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_numbers(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[f"{prefix}{key}"] = float(value)
    return out


def log_run(uri: str, bundle: Path, report: dict, trial_curves: list) -> str:
    """Log a published run; return the parent run's id. `trial_curves`: (hyperparameter values, curves) per trial
    trained in this process (SearchHyperModel.trial_curves)."""
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps the file store only behind this opt-out; it is still what needs no server.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(f"autotune-{report['data']['name']}")
    search, metrics = report["search"], report["test_metrics"]
    with mlflow.start_run(run_name=bundle.name) as parent:
        mlflow.set_tags({"autotune_version": report.get("autotune_version", ""), "task": report["task"],
                         "target": report["target"], "data_fingerprint": str(report["data"].get("fingerprint", "")),
                         "bundle": str(bundle)})
        mlflow.log_params({"tuner": search.get("tuner"), "max_trials": search.get("max_trials"),
                           "epochs": search.get("epochs"), "seed": report.get("seed"),
                           "objective": search.get("objective"), "validation": search.get("validation"),
                           **{f"best.{k}": v for k, v in (search.get("best_hyperparameters") or {}).items()}})
        scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict) or k == "per_class"}
        mlflow.log_metrics({f"test.{k}": v for k, v in _numbers(scalars).items()})
        for name in ("baseline", "trivial_baseline"):
            if (found := report.get(name)) and found.get("value") is not None:
                mlflow.log_metric(f"{name}.{found['metric']}", float(found["value"]))
        mlflow.log_metrics({f"seconds.{k}": v for k, v in _numbers(report.get("timings") or {}).items()})
        for trial in search["trials"]:
            with mlflow.start_run(run_name=f"trial {trial['trial']}", nested=True):
                mlflow.set_tag("status", trial["status"])
                mlflow.log_params(trial.get("hyperparameters") or {})
                mlflow.log_metrics(_numbers({k: trial.get(k) for k in ("score", "best_epoch", "epochs", "seconds")}))
                curves = next((c for values, c in reversed(trial_curves) if values == trial.get("hyperparameters")),
                              None)
                for name, values in (curves or {}).items():
                    for step, value in enumerate(values):
                        if value is not None:
                            mlflow.log_metric(name, value, step=step)
        mlflow.log_artifacts(str(bundle), artifact_path="bundle")
        return parent.info.run_id
