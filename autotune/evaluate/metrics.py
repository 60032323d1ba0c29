"""Test-set metrics, computed with scikit-learn from the final model's predictions."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from autotune.config import METRICS
from autotune.task import task_of


def check_metric(metric: str, task: str) -> None:
    """Refuse an unknown metric, or one of the other task."""
    from autotune.errors import InputError

    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}; use one of: {', '.join(METRICS)}")
    if METRICS[metric][0] != task:
        usable = task_of(task).metrics
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
        return macro_f1(truth, outputs.argmax(axis=1))
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


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the classes the rows hold plus those predicted: a class that is neither in the rows
    nor predicted has no F1 (perfect predictions on rows of 2 of 3 classes score 1, not 0.667)."""
    present = np.union1d(truth, predicted)
    return float(skm.f1_score(truth, predicted, labels=present, average="macro", zero_division=0))


def classification_metrics(y_true: list[str], probabilities: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix, by label name.

    A label never seen in training is a class of its own that the model cannot predict: its rows are
    errors in every metric (recall 0, a row of the confusion matrix, a term of macro-F1). Macro-F1 and
    the per-class table cover the classes present in the rows plus those predicted; the known classes
    that neither occur nor are predicted are listed in `absent_labels`."""
    unseen = sorted({v for v in y_true if v not in set(labels)})
    names = [*labels, *unseen]
    index = {label: i for i, label in enumerate(names)}
    truth = np.array([index[v] for v in y_true], dtype=int)
    predicted = probabilities.argmax(axis=1)
    order = list(range(len(names)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(truth, predicted, labels=order,
                                                                         zero_division=0)
    present = np.union1d(truth, predicted)
    per_class = {
        names[i]: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
        for i in present
    }
    out = {
        "rows": int(len(truth)),
        "accuracy": float(np.mean(predicted == truth)),
        "f1_macro": macro_f1(truth, predicted),
        "per_class": per_class,
        "confusion_matrix": {
            "labels": names,
            "matrix": skm.confusion_matrix(truth, predicted, labels=order).tolist(),
        },
    }
    # Log loss: an unseen label's probability is 0 (clipped), so its rows weigh as fully wrong.
    padded = np.hstack([probabilities, np.zeros((len(truth), len(unseen)))]) if unseen else probabilities
    out["log_loss"] = score("log_loss", truth, padded)
    # ROC AUC needs a score for every class and every class in the rows: undefined otherwise.
    out["roc_auc"] = None if unseen else roc_auc(truth, probabilities)
    absent = [labels[i] for i in range(len(labels)) if i not in present]
    if absent:
        out["absent_labels"] = absent
    if unseen:
        out["unseen_labels"] = unseen
        out["unseen_rows"] = int((truth >= len(labels)).sum())
    return out


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict:
    """RMSE, MAE and R² of predictions against the truth, in the target's units."""
    y_true, predicted = np.asarray(y_true, np.float64), np.asarray(predicted, np.float64).reshape(-1)
    return {
        "rows": int(len(y_true)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, predicted))),
        "mae": float(skm.mean_absolute_error(y_true, predicted)),
        "r2": float(skm.r2_score(y_true, predicted)) if len(y_true) > 1 else None,
    }


CURVE_POINTS = 200  # most points kept of each ROC / precision-recall curve
SCATTER_POINTS = 1000  # most (actual, predicted) pairs kept for the regression plot
CALIBRATION_BINS = 10


def _sig(values, digits: int = 6) -> list[float]:
    """Floats rounded to a few significant digits: plenty for a plot, and a compact report.json."""
    return [float(f"{float(v):.{digits}g}") for v in values]


def _thin(*columns: np.ndarray, limit: int = CURVE_POINTS) -> list[np.ndarray]:
    """At most `limit` points of each curve, evenly spaced along it, first and last kept."""
    n = len(columns[0])
    if n <= limit:
        return list(columns)
    index = np.unique(np.round(np.linspace(0, n - 1, limit)).astype(int))
    return [np.asarray(c)[index] for c in columns]


def _calibration(confidence: np.ndarray, hit: np.ndarray) -> list[dict]:
    """Reliability bins: mean predicted probability, observed frequency and count of each non-empty bin."""
    edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    return [{"predicted": _sig([confidence[which == b].mean()])[0], "observed": _sig([hit[which == b].mean()])[0],
             "count": int((which == b).sum())} for b in range(CALIBRATION_BINS) if (which == b).any()]


def curves(task: str, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
    """Compact, JSON-able data for the report's plots (see report/html.py), as the task draws them."""
    return task_of(task).curves(y_true, outputs, labels)


def regression_curves(y_true, outputs: np.ndarray) -> dict:
    """A sample of (actual, predicted) pairs and the residuals' histogram."""
    actual, predicted = np.asarray(y_true, np.float64), np.asarray(outputs, np.float64).reshape(-1)
    residual = actual - predicted
    shown = np.arange(len(actual))
    if len(actual) > SCATTER_POINTS:
        shown = np.sort(np.random.default_rng(0).choice(len(actual), SCATTER_POINTS, replace=False))
    counts, edges = np.histogram(residual, bins=int(np.clip(np.sqrt(len(residual)), 5, 40)))
    return {"kind": "regression", "rows": int(len(actual)), "actual": _sig(actual[shown]),
            "predicted": _sig(predicted[shown]),
            "residual_histogram": {"edges": _sig(edges), "counts": counts.astype(int).tolist()}}


def classification_curves(y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
    """ROC and precision-recall curves (one-vs-rest for several classes, the second label against the
    first for two) and a calibration curve."""
    labels = labels or []
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index.get(v, -1) for v in y_true])
    known = truth >= 0
    truth = truth[known]
    p = _normalised(np.asarray(outputs)[known]) if known.any() else np.zeros((0, len(labels)))
    roc, pr = [], []
    points = max(20, min(CURVE_POINTS, 2000 // max(len(labels), 1)))  # many classes: fewer points per curve
    for c in ([1] if len(labels) == 2 else range(len(labels))):
        positive = truth == c
        if positive.all() or not positive.any():
            continue  # a curve needs both positives and negatives
        fpr, tpr, _ = skm.roc_curve(positive, p[:, c])
        fpr, tpr = _thin(fpr, tpr, limit=points)
        precision, recall, _ = skm.precision_recall_curve(positive, p[:, c])
        precision, recall = _thin(precision[::-1], recall[::-1], limit=points)
        roc.append({"label": labels[c], "auc": float(skm.roc_auc_score(positive, p[:, c])),
                    "fpr": _sig(fpr, 4), "tpr": _sig(tpr, 4)})
        pr.append({"label": labels[c], "average_precision": float(skm.average_precision_score(positive, p[:, c])),
                   "prevalence": float(positive.mean()), "recall": _sig(recall, 4), "precision": _sig(precision, 4)})
    if len(labels) == 2:  # the probability of the second label, against how often it is the truth
        calibration = {"of": f"P({labels[1]})", "bins": _calibration(p[:, 1], (truth == 1).astype(float))}
    else:  # top-label: the predicted class's probability, against how often the prediction is right
        calibration = {"of": "confidence of the predicted class",
                       "bins": _calibration(p.max(axis=1), (p.argmax(axis=1) == truth).astype(float)) if len(p) else []}
    return {"kind": "classification", "rows": int(known.sum()), "roc": roc, "precision_recall": pr,
            "calibration": calibration}


def evaluate(task: str, y_true, outputs: np.ndarray, labels: list[str] | None) -> dict:
    """The test metrics of the task called `task`."""
    return task_of(task).evaluate(y_true, outputs, labels)


def default_metric(task: str, imbalanced: bool) -> str:
    """The headline metric when --metric is not given: accuracy, macro-F1 (imbalanced classes) or RMSE."""
    return task_of(task).default_metric(imbalanced)


def headline(task: str, metrics: dict, metric: str | None = None) -> tuple[str, float]:
    """The one number a run is judged by."""
    metric = metric or default_metric(task, False)
    return metric, metrics.get(metric)
