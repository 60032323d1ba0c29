"""A gradient-boosting baseline on the same split, so every report says whether the searched
network is worth it. scikit-learn's HistGradientBoosting handles missing values and categories
itself; it sees the same raw columns and the same train + validation rows as the final model."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from autotune.clean import Feature, raw_inputs
from autotune.evaluate import METRICS, evaluate, headline
from autotune.profile import CLASSIFICATION


def _frame(frame: pd.DataFrame, features: list[Feature]) -> pd.DataFrame:
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


def gradient_boosting(parts, features: list[Feature], task: str, labels: list[str] | None, seed: int,
                      metric: str) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    start = time.perf_counter()
    train = pd.concat([parts.train, parts.validation])
    y = pd.concat([parts.y_train, parts.y_validation])
    cls = HistGradientBoostingClassifier if task == CLASSIFICATION else HistGradientBoostingRegressor
    model = cls(categorical_features="from_dtype", random_state=seed)
    model.fit(_frame(train, features), y.to_numpy())
    x_test = _frame(parts.test, features)
    if task == CLASSIFICATION:
        probabilities = model.predict_proba(x_test)
        order = [list(model.classes_).index(label) for label in labels]
        outputs = probabilities[:, order]
    else:
        outputs = model.predict(x_test)
    metrics = evaluate(task, parts.y_test.to_numpy(), outputs, labels)
    name, value = headline(task, metrics, metric)
    return {"model": cls.__name__, "metric": name, "value": value, "test_metrics": metrics,
            "seconds": round(time.perf_counter() - start, 3)}


def verdict(ours: float | None, theirs: float | None, metric: str) -> str:
    """One plain sentence: did the searched network beat the baseline, and by how much."""
    if ours is None or theirs is None:
        return f"no comparison with the gradient-boosting baseline: {metric} is undefined on this test set"
    better = ours > theirs if METRICS[metric][1] else ours < theirs
    gap = abs(ours - theirs)
    if gap < 1e-9:
        return f"the searched network tied the gradient-boosting baseline ({metric} {ours:.4f})"
    word = "beat" if better else "did not beat"
    return (f"the searched network {word} the gradient-boosting baseline: {metric} {ours:.4f} vs {theirs:.4f} "
            f"({'+' if better else '-'}{gap:.4f})")
