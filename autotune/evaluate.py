"""Test-set metrics, computed with scikit-learn from the final model's predictions."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from autotune.config import METRICS
from autotune.profile import CLASSIFICATION


def check_metric(metric: str, task: str) -> None:
    from autotune.errors import InputError

    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; use one of: {', '.join(METRICS)}")
    if METRICS[metric][0] != task:
        usable = [m for m, (t, _) in METRICS.items() if t == task]
        raise InputError(f"--metric {metric} is for {METRICS[metric][0]}, and this is {task}; use one of: "
                         f"{', '.join(usable)}")


def _normalised(probabilities: np.ndarray) -> np.ndarray:
    # float32 softmax rows sum to 1 only up to rounding; scikit-learn warns unless they do exactly.
    p = np.clip(np.asarray(probabilities, np.float64), 1e-7, 1)
    return p / p.sum(axis=1, keepdims=True)


def roc_auc(truth: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Binary ROC AUC, or one-vs-rest macro AUC for several classes; None when a class is absent."""
    k = probabilities.shape[1]
    if len(np.unique(truth)) < k:
        return None
    if k == 2:
        return float(skm.roc_auc_score(truth, probabilities[:, 1]))
    return float(skm.roc_auc_score(truth, _normalised(probabilities), multi_class="ovr", labels=list(range(k))))


def score(metric: str, truth: np.ndarray, outputs: np.ndarray) -> float | None:
    """One metric from class indices and probabilities, or from values and predictions."""
    if metric == "accuracy":
        return float(np.mean(outputs.argmax(axis=1) == truth))
    if metric == "f1_macro":
        k = outputs.shape[1]
        return float(skm.f1_score(truth, outputs.argmax(axis=1), labels=list(range(k)), average="macro",
                                  zero_division=0))
    if metric == "roc_auc":
        return roc_auc(truth, outputs)
    if metric == "log_loss":
        return float(skm.log_loss(truth, _normalised(outputs), labels=list(range(outputs.shape[1]))))
    predicted = np.asarray(outputs, np.float64).reshape(-1)
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(truth, predicted)))
    if metric == "mae":
        return float(skm.mean_absolute_error(truth, predicted))
    return float(skm.r2_score(truth, predicted)) if len(truth) > 1 else None


def classification_metrics(y_true: list[str], probabilities: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix, by label name."""
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index.get(v, -1) for v in y_true])
    known = truth >= 0  # labels never seen in training cannot be predicted; they count as errors
    predicted = probabilities.argmax(axis=1)
    order = list(range(len(labels)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        truth[known], predicted[known], labels=order, zero_division=0
    )
    per_class = {
        labels[i]: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                    "support": int(support[i])}
        for i in order
    }
    out = {
        "rows": int(len(truth)),
        "accuracy": float(np.mean(predicted == truth)),
        "f1_macro": float(np.mean(f1)),
        "per_class": per_class,
        "confusion_matrix": {
            "labels": labels,
            "matrix": skm.confusion_matrix(truth[known], predicted[known], labels=order).tolist(),
        },
    }
    if known.all():
        out["log_loss"] = score("log_loss", truth, probabilities)
        out["roc_auc"] = roc_auc(truth, probabilities)
    unseen = sorted({v for v in y_true if v not in index})
    if unseen:
        out["unseen_labels"] = unseen
    return out


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict:
    y_true, predicted = np.asarray(y_true, np.float64), np.asarray(predicted, np.float64).reshape(-1)
    return {
        "rows": int(len(y_true)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, predicted))),
        "mae": float(skm.mean_absolute_error(y_true, predicted)),
        "r2": float(skm.r2_score(y_true, predicted)) if len(y_true) > 1 else None,
    }


def evaluate(task: str, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
    if task == CLASSIFICATION:
        return classification_metrics(list(y_true), outputs, labels or [])
    return regression_metrics(y_true, outputs)


def default_metric(task: str, imbalanced: bool) -> str:
    if task != CLASSIFICATION:
        return "rmse"
    return "f1_macro" if imbalanced else "accuracy"


def headline(task: str, metrics: dict, metric: str | None = None) -> tuple[str, float]:
    """The one number a run is judged by."""
    metric = metric or default_metric(task, False)
    return metric, metrics.get(metric)
