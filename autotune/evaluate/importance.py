"""Permutation importance of each input column on the test rows (Breiman 2001; scikit-learn's
`permutation_importance`, computed here over the exported model's raw inputs so that a column's whole preprocessing
— its ramps, its missing indicator, its one-hot block — moves with it).

A column's importance is how much the run's headline metric worsens when that column's values are shuffled across
the test rows (breaking its link to the target, keeping its distribution), averaged over `repeats` shuffles, with
their standard deviation. Every shuffled copy of the test rows goes through the model in a few large batches: one
predict call per 65,536 rows, not one per column and repeat.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from autotune.config import METRICS
from autotune.evaluate.metrics import score

REPEATS = 5
MAX_ROWS = 2000  # test rows beyond this: a seeded sample of them (the importance of a column, not of a row)
BATCH_ROWS = 65536


def permutation_importance(predict: Callable[[dict], np.ndarray], columns: dict[str, np.ndarray],
                           outputs: np.ndarray, names: dict[str, str], truth: np.ndarray, metric: str,
                           repeats: int = REPEATS, seed: int = 0, max_rows: int = MAX_ROWS) -> dict:
    """{"metric", "rows", "repeats", "baseline": the metric unshuffled, "columns": [{"column", "importance",
    "sd"}, …] most important first}. `predict` maps raw columns (key → array) to the model's outputs, and
    `outputs` are its outputs for `columns` unshuffled (the evaluation has them already); `names` maps each key to
    its column's name; `truth` is class indices or values, as metrics.score takes them."""
    rng = np.random.default_rng(seed)
    rows = len(truth)
    if rows > max_rows:
        keep = np.sort(rng.choice(rows, max_rows, replace=False))
        columns, outputs, truth, rows = {k: v[keep] for k, v in columns.items()}, outputs[keep], truth[keep], max_rows
    higher = METRICS[metric][1]
    baseline = score(metric, truth, outputs)
    keys = list(columns)
    shuffles = [(key, rng.permutation(rows)) for key in keys for _ in range(repeats)]
    outputs = []
    per_batch = max(1, BATCH_ROWS // max(rows, 1))
    for start in range(0, len(shuffles), per_batch):
        chunk = shuffles[start:start + per_batch]
        batch = {k: np.concatenate([v[order] if k == key else v for key, order in chunk]) for k, v in columns.items()}
        out = predict(batch)
        outputs.extend(np.split(out, len(chunk)))
    drops: dict[str, list[float]] = {key: [] for key in keys}
    for (key, _), out in zip(shuffles, outputs, strict=True):
        value = score(metric, truth, out)
        if value is not None and baseline is not None:
            drops[key].append(baseline - value if higher else value - baseline)
    table = [{"column": names[key], "importance": float(np.mean(d)) if d else None,
              "sd": float(np.std(d, ddof=1)) if len(d) > 1 else None} for key, d in drops.items()]
    table.sort(key=lambda row: -np.inf if row["importance"] is None else -row["importance"])
    return {"metric": metric, "rows": rows, "repeats": repeats, "baseline": baseline, "columns": table}
