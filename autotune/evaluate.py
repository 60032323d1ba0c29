"""Test-set metrics, computed with scikit-learn from the final model's predictions."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from autotune.profile import CLASSIFICATION


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
        # float32 softmax rows sum to 1 only up to rounding; scikit-learn warns unless they do exactly.
        p = np.clip(probabilities.astype(np.float64), 1e-7, 1)
        out["log_loss"] = float(skm.log_loss(truth, p / p.sum(axis=1, keepdims=True), labels=order))
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


def headline(task: str, metrics: dict) -> tuple[str, float]:
    """The one number a run is judged by."""
    return ("accuracy", metrics["accuracy"]) if task == CLASSIFICATION else ("rmse", metrics["rmse"])
