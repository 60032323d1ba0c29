"""--cv K / --cv loo: k-fold cross-validation of the best configuration, on every usable row.

Each fold is a run in miniature: cleaning statistics and vocabularies learned on the fold's training
rows only, the best configuration retrained there for its best epoch count, scored on the fold's
held-out rows with the same scikit-learn metrics as the test set.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from autotune.clean import learn_features
from autotune.errors import InputError
from autotune.evaluate import METRICS, evaluate
from autotune.modality import TabularRun
from autotune.profile import CLASSIFICATION
from autotune.split import Split

LOO_MAX_ROWS = 200


def parse_cv(text: str | None) -> int | str | None:
    if text is None:
        return None
    if str(text).lower() == "loo":
        return "loo"
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 2:
        raise ValueError(f"{text!r}: use a number of folds (2 or more) or loo")
    return k


def check_cv(cv, loaded) -> None:
    rows = len(loaded.parts.train) + len(loaded.parts.validation) + len(loaded.parts.test)
    if not isinstance(loaded.run, TabularRun):
        raise InputError("--cv is available for tabular data only so far; image runs use the hold-out test set")
    _splitter(cv, loaded.run.task, rows, 0)


def _splitter(cv, task: str, n: int, seed: int):
    from sklearn.model_selection import KFold, LeaveOneOut, StratifiedKFold

    if cv == "loo":
        if n > LOO_MAX_ROWS:
            raise InputError(f"--cv loo trains one model per row: refused above {LOO_MAX_ROWS} rows (this data has "
                             f"{n}); use --cv 10")
        return LeaveOneOut()
    if task == CLASSIFICATION:
        return StratifiedKFold(cv, shuffle=True, random_state=seed)
    return KFold(cv, shuffle=True, random_state=seed)


def cross_validate(cv, loaded, hp, epochs: int, metric: str, patience: int, seed: int, select: str = "none") -> dict:
    """Per-fold and pooled metrics of one configuration; mean ± std of the headline metrics."""
    from autotune.train import train_final

    run, prof, parts = loaded.run, loaded.prof, loaded.parts
    if not isinstance(run, TabularRun):
        raise InputError("--cv is available for tabular data only so far; image runs use the hold-out test set")
    frame = pd.concat([parts.train, parts.validation, parts.test])
    y = pd.concat([parts.y_train, parts.y_validation, parts.y_test])
    splitter = _splitter(cv, run.task, len(frame), seed)
    try:
        folds = list(splitter.split(frame, y if run.task == CLASSIFICATION else None))
    except ValueError as exc:
        raise InputError(f"--cv {cv}: {exc}") from None
    per_fold, truth, outputs = [], [], []
    for train_index, test_index in folds:
        train, test = frame.iloc[train_index], frame.iloc[test_index]
        y_train, y_test = y.iloc[train_index], y.iloc[test_index]
        features, _ = learn_features(train, prof, select)
        fold = TabularRun(Split(train, train.iloc[:0], test, y_train, y_train.iloc[:0], y_test), features, run.task,
                          run.labels, seed, run.space, run.balance)
        fold.prepare()
        x_all, y_all = fold.final_data()
        final = train_final(fold.hypermodel(1, patience, metric=metric), [(hp, epochs)], x_all, y_all, seed,
                            fold.assemble, 1)
        out = fold.test_outputs(final.model)
        truth.append(y_test.to_numpy())
        outputs.append(out)
        if cv != "loo":
            per_fold.append(_headline_metrics(run.task, evaluate(run.task, y_test.to_numpy(), out, run.labels)))
    pooled = evaluate(run.task, np.concatenate(truth), np.concatenate(outputs), run.labels)
    names = [m for m, (task, _) in METRICS.items() if task == run.task]
    summary = {"folds": len(folds), "kind": "leave-one-out" if cv == "loo" else f"{len(folds)}-fold",
               "stratified": run.task == CLASSIFICATION and cv != "loo", "per_fold": per_fold,
               "pooled": _headline_metrics(run.task, pooled)}
    if per_fold:
        for name in names:
            values = [f[name] for f in per_fold if f.get(name) is not None]
            if values:
                summary.setdefault("mean", {})[name] = float(np.mean(values))
                summary.setdefault("std", {})[name] = float(np.std(values))
    return summary


def _headline_metrics(task: str, metrics: dict) -> dict:
    names = [m for m, (t, _) in METRICS.items() if t == task]
    return {name: metrics.get(name) for name in names} | {"rows": metrics["rows"]}
