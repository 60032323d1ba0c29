"""Baselines on the same split, so every report says whether the searched network is worth it.

A gradient-boosting baseline (scikit-learn's HistGradientBoosting handles missing values and categories
itself) sees the same raw columns, the same train + validation rows and the same class weighting as the
final model; a trivial baseline (the majority class, or the training mean) tells a chance-level model
from one that learned. A win or a loss is stated only when a paired test on the test rows says so."""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from autotune.data.clean import Feature, raw_inputs
from autotune.evaluate.metrics import METRICS, _normalised, evaluate, headline, score
from autotune.task import task_of


def _frame(frame: pd.DataFrame, features: list[Feature]) -> pd.DataFrame:
    """The columns as gradient boosting takes them: numbers, and categories as pandas categories (free text,
    which it cannot read, left out: a run with text has the TF-IDF baseline instead)."""
    features = [f for f in features if f.kind != "text"]
    columns = raw_inputs(frame, features)
    out = {}
    for f in features:
        values = columns[f.key]
        if f.dtype == "string":
            known = [v for v in f.vocabulary if v != ""]
            # Unseen and missing categories become NaN, which the model treats as missing.
            values = pd.Series(values).where(pd.Series(values).isin(known))
            out[f.key] = pd.Categorical(values, categories=known)
        else:
            out[f.key] = values.astype(np.float64)
    return pd.DataFrame(out)


def row_weights(y: np.ndarray, labels: list[str] | None, class_weight: dict | None) -> np.ndarray | None:
    """Each row's weight under the network's class weights (by class index), for scikit-learn's
    sample_weight: a baseline trained unweighted would not be compared like for like."""
    if not class_weight:
        return None
    index = {label: i for i, label in enumerate(labels)}
    return np.array([class_weight[index[v]] for v in y], np.float64)


def oversampled_rows(y: np.ndarray, labels: list[str], seed: int) -> np.ndarray:
    """Row positions after --balance oversample, drawn as the network's training rows are (search.data.oversample)."""
    from autotune.search.data import oversample

    index = {label: i for i, label in enumerate(labels)}
    rows, _ = oversample(np.arange(len(y)), np.array([index[v] for v in y]), seed)
    return rows


def gradient_boosting(parts, features: list[Feature], task: str, labels: list[str] | None, seed: int,
                      metric: str, class_weight: dict | None = None, oversample: bool = False,
                      weighs_loss: bool = True) -> tuple[dict, np.ndarray]:
    """The report's baseline entry and its test outputs (probabilities in `labels` order, or values).
    With the network's class weights — in the loss, or (weighs_loss False) for its outputs' shift after training — or
    its oversampling, the baseline is balanced the same way."""
    return _fitted(task_of(task).boosting_estimator(seed), lambda frame: _frame(frame, features),
                   "the gradient-boosting baseline", parts, task, labels, seed, metric, class_weight, oversample,
                   weighs_loss=weighs_loss)


def text_linear(parts, features: list[Feature], task: str, labels: list[str] | None, seed: int,
                metric: str, class_weight: dict | None = None, oversample: bool = False,
                weighs_loss: bool = True) -> tuple[dict, np.ndarray]:
    """The baseline of a run with free text: TF-IDF of each text column (scikit-learn's, words in two or more
    rows), the numbers median-filled and standardised, the categories one-hot, into logistic regression (ridge
    for regression) — the classic bar for text, on the same rows and weighting as the network."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts_of = []
    for f in features:
        if f.kind == "text":
            parts_of.append((f.key, TfidfVectorizer(min_df=2), f.key))
        elif f.kind == "numeric":
            parts_of.append((f.key, make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [f.key]))
        else:
            parts_of.append((f.key, OneHotEncoder(handle_unknown="ignore"), [f.key]))
    linear = Ridge() if task == "regression" else LogisticRegression(max_iter=2000)
    model = make_pipeline(ColumnTransformer(parts_of), linear)

    def columns(frame):
        raw = raw_inputs(frame, features)
        return pd.DataFrame({f.key: raw[f.key].astype(np.float64) if f.dtype == "number" else raw[f.key].astype(str)
                             for f in features})

    entry, outputs = _fitted(model, columns, "the TF-IDF + linear baseline", parts, task, labels, seed, metric,
                             class_weight, oversample, f"{type(linear).__name__.lower()}__", weighs_loss)
    entry["model"] = f"TF-IDF + {type(linear).__name__}"
    return entry, outputs


def _fitted(model, frame_of, name: str, parts, task: str, labels, seed: int, metric: str, class_weight: dict | None,
            oversample: bool, sample_weight_key: str = "", weighs_loss: bool = True) -> tuple[dict, np.ndarray]:
    """Fit a scikit-learn estimator on train + validation (as frame_of makes its input), weighted or
    oversampled as the network was, and score it on the test rows. Balanced by class weights, its outputs are
    re-weighted between balanced classes and the class frequencies as the network's are (decision.py), α chosen on
    the validation rows by a copy fitted on the training rows alone."""
    kind = task_of(task)
    start = time.perf_counter()
    class_weight = class_weight if kind.has_classes else None
    decision = decision_on_validation(
        model, frame_of(parts.train), frame_of(parts.validation), parts,
        lambda fitted, x: kind.estimator_outputs(fitted, x, labels), labels, metric, class_weight, sample_weight_key,
        seed, weighs_loss) if class_weight and not oversample else None
    x = frame_of(pd.concat([parts.train, parts.validation]))
    y = pd.concat([parts.y_train, parts.y_validation]).to_numpy()
    oversample = bool(oversample and kind.has_classes)
    if oversample:
        rows = oversampled_rows(y, labels, seed)
        x, y = x.iloc[rows].reset_index(drop=True), y[rows]
    model.fit(x, y, **{f"{sample_weight_key}sample_weight": row_weights(y, labels, class_weight if weighs_loss
                                                                          else None)})
    outputs = kind.estimator_outputs(model, frame_of(parts.test), labels)
    if decision is not None:
        from autotune.decision import shifted

        outputs = shifted(outputs, np.array(decision.bias_shift))
    metrics = evaluate(task, parts.y_test.to_numpy(), outputs, labels)
    headline_name, value = headline(task, metrics, metric)
    entry = {"model": type(model).__name__, "name": name, "metric": headline_name, "value": value,
             "test_metrics": metrics, "class_weight": class_weight, "oversample": oversample,
             "class_weight_in_loss": bool(class_weight and weighs_loss),
             "decision": None if decision is None else decision.to_dict(),
             "seconds": round(time.perf_counter() - start, 3)}
    return entry, outputs


def decision_on_validation(model, x_train, x_validation, parts, outputs_of, labels: list[str], metric: str,
                           class_weight: dict, sample_weight_key: str, seed: int, weighs_loss: bool = True):
    """The re-weighting between balanced classes and the class frequencies (decision.choose) for a copy of `model`
    fitted on the training rows alone (x_train; class-weighted, or as they are where not weighs_loss) and scored on the
    validation rows (x_validation; outputs_of(fitted, x): its probabilities in `labels` order). Without validation
    rows, or where the metric has no value there: None for a class-weighted model (kept as trained), halfway to
    balanced classes for one trained on the rows as they are (decision.untested). The tabular and the pixel baselines' rule."""
    from sklearn.base import clone

    from autotune.decision import choose, untested

    trained = 0.0 if weighs_loss else 1.0
    chosen = None
    if len(parts.y_validation):
        copy = clone(model)
        y = parts.y_train.to_numpy()
        copy.fit(x_train, y, **{f"{sample_weight_key}sample_weight": row_weights(y, labels, class_weight if weighs_loss
                                                                                  else None)})
        truth = np.array([labels.index(v) for v in parts.y_validation.to_numpy()])
        chosen = choose(metric, truth, [outputs_of(copy, x_validation)], class_weight, seed, trained)
    return chosen if chosen is not None else untested(metric, class_weight, len(labels), 1, trained)


def trivial(task: str, y_train: pd.Series, y_test: pd.Series, labels: list[str] | None,
            metric: str) -> tuple[dict, np.ndarray]:
    """Always the majority class of the training labels (train + validation), with their frequencies as
    probabilities; or always their mean. The floor any model must clear."""
    outputs, model = task_of(task).trivial(y_train, len(y_test), labels)
    metrics = evaluate(task, y_test.to_numpy(), outputs, labels)
    name, value = headline(task, metrics, metric)
    return {"model": model, "metric": name, "value": value, "test_metrics": metrics}, outputs


# --- paired tests on the test rows -----------------------------------------------------------------

ALPHA = 0.05  # two-sided
RESAMPLES = 2000
_CHUNK = 2_000_000  # most resampled rows held at once


def truth_indices(y_true, labels: list[str]) -> np.ndarray:
    """Class indices of the labels; a label never seen in training gets an index past the known ones
    (no model predicts it), as in evaluate.classification_metrics."""
    index = {label: i for i, label in enumerate(labels)}
    unseen = {v: len(labels) + i for i, v in enumerate(sorted({v for v in y_true if v not in index}))}
    return np.array([index.get(v, unseen.get(v)) for v in y_true], dtype=int)


def _resampled(metric: str, truth: np.ndarray, outputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The metric on each resample of the rows (one resample per row of `rows`); NaN where undefined."""
    t = truth[rows]
    if metric in ("rmse", "mae", "r2"):
        error = t - np.asarray(outputs, np.float64).reshape(-1)[rows]
        if metric == "rmse":
            return np.sqrt(np.mean(error**2, axis=1))
        if metric == "mae":
            return np.mean(np.abs(error), axis=1)
        total = ((t - t.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, 1 - (error**2).sum(axis=1) / total, np.nan)
    predicted = outputs.argmax(axis=1)[rows]
    if metric == "accuracy":
        return np.mean(predicted == t, axis=1)
    if metric == "log_loss":
        k = max(outputs.shape[1], int(truth.max()) + 1)
        p = _normalised(np.hstack([outputs, np.zeros((len(outputs), k - outputs.shape[1]))]))
        return np.mean(-np.log(p[np.arange(len(truth)), truth])[rows], axis=1)
    if metric == "f1_macro":  # as evaluate.macro_f1: over the classes present in the resample or predicted
        total, present = np.zeros(len(rows)), np.zeros(len(rows))
        for c in np.union1d(truth, outputs.argmax(axis=1)):
            tp = ((t == c) & (predicted == c)).sum(axis=1)
            wrong = ((t == c) != (predicted == c)).sum(axis=1)
            seen = (2 * tp + wrong) > 0
            total += np.where(seen, 2 * tp / np.maximum(2 * tp + wrong, 1), 0)
            present += seen
        return total / present
    values = [score(metric, truth[r], outputs[r]) for r in rows]
    return np.array([np.nan if v is None else v for v in values])


def compare(task: str, metric: str, truth: np.ndarray, ours: np.ndarray, theirs: np.ndarray, seed: int,
            resamples: int = RESAMPLES) -> dict:
    """Is `ours` better than `theirs` on these test rows, beyond noise? Both are scored on the same rows.

    Accuracy: the exact McNemar test on the rows one model gets right and the other wrong (with a 95 %
    interval of the accuracy difference). Any other metric: a paired bootstrap of the metric difference
    (the same resampled rows for both, seeded), a difference being real when its 95 % interval excludes 0.
    `decision` is "better", "worse", "tied" or "undefined" (the metric cannot be computed here)."""
    classes = task_of(task).has_classes
    truth = np.asarray(truth, int if classes else np.float64)
    n = len(truth)
    if classes and n and truth.max() >= ours.shape[1]:  # labels never seen: no probability
        extra = np.zeros((n, int(truth.max()) + 1 - ours.shape[1]))
        ours, theirs = np.hstack([ours, extra]), np.hstack([theirs, extra])
    higher = METRICS[metric][1]
    out = {"metric": metric, "rows": n, "ours": score(metric, truth, ours), "theirs": score(metric, truth, theirs)}
    if out["ours"] is None or out["theirs"] is None:
        return {**out, "method": None, "difference": None, "interval": None, "decision": "undefined"}
    difference = out["ours"] - out["theirs"]
    if metric == "accuracy":
        from scipy.stats import binomtest

        right_ours, right_theirs = ours.argmax(axis=1) == truth, theirs.argmax(axis=1) == truth
        b, c = int((right_ours & ~right_theirs).sum()), int((~right_ours & right_theirs).sum())
        p = float(binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
        half = 1.96 * math.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n  # paired proportions, Wald
        decision = "tied" if p >= ALPHA else "better" if b > c else "worse"
        return {**out, "method": "exact McNemar test", "difference": difference,
                "interval": [difference - half, difference + half], "p_value": p, "discordant": [b, c],
                "decision": decision}
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK // max(n, 1))
    differences = []
    for done in range(0, resamples, per_chunk):
        rows = rng.integers(0, n, (min(per_chunk, resamples - done), n))
        differences.append(_resampled(metric, truth, ours, rows) - _resampled(metric, truth, theirs, rows))
    d = np.concatenate(differences)
    d = d[np.isfinite(d)]
    if len(d) < resamples / 2:  # the metric is undefined on most resamples (e.g. ROC AUC, a rare class)
        return {**out, "method": None, "difference": difference, "interval": None, "decision": "undefined"}
    low, high = (float(v) for v in np.percentile(d, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)]))
    if low > 0 or high < 0:
        decision = "better" if (low > 0) == higher else "worse"
    else:
        decision = "tied"
    return {**out, "method": f"paired bootstrap ({len(d)} resamples)", "difference": difference,
            "interval": [low, high], "decision": decision}


def _num(value: float, task: str, sign: str = "", digits: int = 4) -> str:
    return f"{value:{sign}.{digits}{task_of(task).figure_format}}"


def _figures(result: dict, task: str) -> str:
    low, high = (_num(v, task, "+", 3) for v in result["interval"])
    text = (f"{result['metric']} {_num(result['ours'], task)} vs {_num(result['theirs'], task)}, difference "
            f"{_num(result['difference'], task, '+', 3)} (95% interval {low}…{high}")
    if "p_value" in result:
        text += f"; McNemar p = {result['p_value']:.2g}"
    return text + ")"


def verdict(result: dict, task: str, name: str = "the gradient-boosting baseline") -> str:
    """One plain sentence: did the searched network beat the baseline beyond noise, lose to it, or tie."""
    metric, rows = result["metric"], result["rows"]
    if result["decision"] == "undefined":
        return f"no comparison with {name}: {metric} is undefined on this test set"
    if result["decision"] == "better":
        return f"the searched network beat {name} on {rows} test rows: {_figures(result, task)}"
    if result["decision"] == "worse":
        return f"the searched network did worse than {name} on {rows} test rows: {_figures(result, task)}"
    return f"the searched network and {name} are tied within noise on {rows} test rows: {_figures(result, task)}"


def chance_warning(entry: dict, task: str) -> str | None:
    """The warning line when the model is not clearly better than the trivial baseline; None when it is."""
    result = entry["comparison"]
    if result["decision"] == "better":
        return None
    if result["decision"] == "undefined":
        figures = f"{result['metric']} is undefined on these {result['rows']} test rows"
    else:
        figures = (f"{result['metric']} {_num(result['ours'], task)} vs {_num(result['theirs'], task)} on "
                   f"{result['rows']} test rows")
    return f"the model is not clearly better than always predicting the {entry['model']} ({figures})"
