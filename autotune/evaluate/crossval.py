"""--cv K / --cv loo: k-fold cross-validation of the exported kind of model over the training and
validation rows (the test rows stay held out, so the test figure stays the honest one; leave-one-out is
refused for images, one network per image).

Each fold is a run in miniature: cleaning statistics and vocabularies learned on the fold's training
rows only, the final model's members (the configurations the search chose, each for its epoch count)
retrained there and averaged, scored on the fold's held-out rows with the same scikit-learn metrics as
the test set. The search chose those configurations on these same rows, so the figure is optimistic:
report.json says so (`estimates`, `optimistic`), and so does every place that shows it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from autotune.data.clean import learn_features
from autotune.data.split import Split
from autotune.errors import InputError
from autotune.evaluate.metrics import evaluate
from autotune.search.recipes import reads_word_ids
from autotune.task import task_of

LOO_MAX_ROWS = 200


def parse_cv(text: str | None) -> int | str | None:
    """--cv's value: None, an integer k >= 2, or "loo"."""
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


def check_row_folds(cv, task: str, rows: int) -> None:
    """--cv on rows, refused before any training when it cannot be done (leave-one-out on too many rows)."""
    _splitter(cv, task, rows, 0)


def image_folds(cv, parts: Split, seed: int) -> list:
    """Stratified folds over the non-test images (train + validation, in that order); the test images
    stay held out, as in the rest of an image run."""
    if cv == "loo":
        raise InputError("--cv loo trains one network per image, too costly for an image run; use --cv K "
                         "(e.g. --cv 5): K stratified folds of the training and validation images")
    from sklearn.model_selection import StratifiedKFold

    y = pd.concat([parts.y_train, parts.y_validation]).to_numpy()
    counts = pd.Series(y).value_counts()
    if counts.min() < cv:
        raise InputError(f"--cv {cv}: class {counts.idxmin()!r} has only {counts.min()} training and validation "
                         f"image(s), fewer than the {cv} folds; use --cv {max(2, int(counts.min()))} or add images")
    return list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def _splitter(cv, task: str, n: int, seed: int):
    from sklearn.model_selection import LeaveOneOut

    if cv == "loo":
        if n > LOO_MAX_ROWS:
            raise InputError(f"--cv loo trains one model per row: refused above {LOO_MAX_ROWS} rows (this data has "
                             f"{n}); use --cv 10")
        return LeaveOneOut()
    return task_of(task).kfold(cv, seed)


def cross_validate(cv, loaded, members: list, metric: str, patience: int, seed: int, select: str = "none",
                   alpha: float = 0.0) -> dict:
    """Per-fold and pooled metrics of the exported kind of model: `members` is the final model's
    [(hyperparameters, epochs, trial id)], retrained and averaged in each fold, its class-weighted outputs re-weighted
    by the exported model's α (decision.py) with the fold's own class weights; mean ± std of the headline
    metrics. How the folds are made and trained is the run's (rows or images)."""
    candidates = [(hp, epochs) for hp, epochs, _ in members]
    summary = loaded.run.cross_validate(cv, loaded.prof, candidates, metric, patience, seed, select, alpha)
    return {**summary, **_label(members, summary["pooled"]["rows"])}


def cross_validate_rows(cv, run, prof, candidates: list, metric: str, patience: int, seed: int,
                        select: str = "none", alpha: float = 0.0) -> dict:
    """K folds (or leave-one-out) of the training and validation rows; each fold learns its own cleaning
    and encoding from its training rows, then retrains the final model's members there."""
    from autotune.tabular.run import TabularRun
    from autotune.train import train_final

    parts = run.parts
    frame = pd.concat([parts.train, parts.validation])
    y = pd.concat([parts.y_train, parts.y_validation])
    splitter = _splitter(cv, run.task, len(frame), seed)
    try:
        folds = list(splitter.split(frame, task_of(run.task).stratify_by(y)))
    except ValueError as exc:
        raise InputError(f"--cv {cv}: {exc}") from None
    per_fold, truth, outputs = [], [], []
    for train_index, test_index in folds:
        train, test = frame.iloc[train_index], frame.iloc[test_index]
        y_train, y_test = y.iloc[train_index], y.iloc[test_index]
        features, _ = learn_features(train, prof, select, reads_word_ids(run.space))
        fold = TabularRun(Split(train, train.iloc[:0], test, y_train, y_train.iloc[:0], y_test), features, run.task,
                          run.labels, seed, run.space, run.balance)
        fold.prepare()
        x_all, y_all = fold.final_data()
        hypermodel = fold.hypermodel(1, patience, metric=metric)
        final = train_final(hypermodel, candidates, x_all, y_all, seed, fold.assemble, len(candidates))
        reweight(final, hypermodel, alpha)
        out = fold.test_outputs(final.model)
        truth.append(y_test.to_numpy())
        outputs.append(out)
        if cv != "loo":
            per_fold.append(_headline_metrics(run.task, evaluate(run.task, y_test.to_numpy(), out, run.labels)))
    summary = _summary(cv, run, len(folds), per_fold, truth, outputs)
    summary["data"] = "training and validation rows (the test rows stay held out)"
    return summary


def reweight(final, hypermodel, alpha: float) -> None:
    """A fold's final networks given the exported model's re-weighting (decision.py), by the fold's class weights, from
    where the fold's networks were trained (hypermodel.trained_alpha)."""
    from autotune.decision import apply, bias_shift

    weights = hypermodel.class_weight
    shift = bias_shift(weights, len(weights), alpha, hypermodel.trained_alpha) if weights else None
    if shift is not None and shift.any():
        apply(final.networks, list(shift))


def _label(members: list, rows: int) -> dict:
    """What the figure estimates, in words, for every place that shows it."""
    what = (f"an average of {len(members)} networks" if len(members) > 1 else "one network")
    estimates = (f"cross-validation of the exported kind of model ({what}: the configurations the search chose, "
                 f"each retrained for its epoch count) over the {rows} training and validation rows; the search chose "
                 "those configurations on these same rows, so this is optimistic — the held-out test figure is the "
                 "honest estimate")
    return {"members": [{"trial": trial, "epochs": epochs} for _, epochs, trial in members],
            "estimates": estimates, "optimistic": True}


def cross_validate_images(cv, run, parts: Split, candidates: list, metric: str, patience: int,
                           seed: int, alpha: float = 0.0) -> dict:
    """K stratified folds of the non-test images. Each fold learns its own channel statistics (the
    network's Normalization layer) from its training images, weights or oversamples classes from them
    as the run does, and retrains the final model's members there for their epoch counts. Images come
    from the run's decoded cache, so no file is decoded again."""
    from dataclasses import replace

    from autotune.train import train_final
    from autotune.vision.pipeline import channel_statistics, subset

    images = run.data["train"].concatenate(run.data["val"])
    y = np.concatenate([run.data["y_train"], run.data["y_val"]])
    truth_labels = pd.concat([parts.y_train, parts.y_validation]).to_numpy()
    per_fold, truth, outputs = [], [], []
    for train_index, test_index in image_folds(cv, parts, seed):
        train = subset(images, train_index, len(y))
        mean, variance = channel_statistics(train)
        fold = replace(run, data={"train": train, "y_train": y[train_index]}, mean=mean, variance=variance)
        hypermodel = fold.hypermodel(1, patience, metric=metric)
        final = train_final(hypermodel, candidates, train, y[train_index], seed, fold.assemble, len(candidates))
        reweight(final, hypermodel, alpha)
        held_out = subset(images, test_index, len(y)).map(lambda image, label: image).batch(64)
        out = np.asarray(final.model.predict(held_out, verbose=0))
        truth.append(truth_labels[test_index])
        outputs.append(out)
        per_fold.append(_headline_metrics(run.task, evaluate(run.task, truth_labels[test_index], out, run.labels)))
    summary = _summary(cv, run, len(per_fold), per_fold, truth, outputs)
    summary["data"] = "training and validation images (the test images stay held out)"
    return summary


def _summary(cv, run, n_folds: int, per_fold: list, truth: list, outputs: list) -> dict:
    pooled = evaluate(run.task, np.concatenate(truth), np.concatenate(outputs), run.labels)
    names = task_of(run.task).metrics
    summary = {"folds": n_folds, "kind": "leave-one-out" if cv == "loo" else f"{n_folds}-fold",
               "stratified": task_of(run.task).stratified and cv != "loo", "per_fold": per_fold,
               "pooled": _headline_metrics(run.task, pooled)}
    if per_fold:
        for name in names:
            values = [f[name] for f in per_fold if f.get(name) is not None]
            if values:
                summary.setdefault("mean", {})[name] = float(np.mean(values))
                summary.setdefault("std", {})[name] = float(np.std(values))
    return summary


def _headline_metrics(task: str, metrics: dict) -> dict:
    names = task_of(task).metrics
    return {name: metrics.get(name) for name in names} | {"rows": metrics["rows"]}
