"""Row-level cleaning that must happen before the split, and the honest hold-out split itself."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from autotune.errors import ColumnError, InputError
from autotune.profile import CLASSIFICATION, Profile, coerce_numeric, label_strings


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    y_train: pd.Series
    y_validation: pd.Series
    y_test: pd.Series


def target_values(frame: pd.DataFrame, prof: Profile) -> pd.Series:
    """Labels as strings (classification) or floats (regression); missing stays missing."""
    y = frame[prof.target]
    if prof.task == CLASSIFICATION:
        return label_strings(y)
    return coerce_numeric(y)[0]


def drop_unusable_rows(frame: pd.DataFrame, prof: Profile) -> tuple[pd.DataFrame, list[dict]]:
    """Drop rows without a target and exact duplicates — before the split, so no copy of a test row
    can sit in the training data."""
    actions = []
    y = target_values(frame, prof)
    keep = y.notna()
    if (~keep).any():
        actions.append({"step": "drop_rows", "reason": "missing target", "rows": int((~keep).sum())})
        frame = frame[keep]
    dupes = frame.duplicated()
    if dupes.any():
        actions.append({"step": "drop_rows", "reason": "exact duplicate", "rows": int(dupes.sum())})
        frame = frame[~dupes]
    return frame.reset_index(drop=True), actions


def _check_splittable(y: pd.Series, prof: Profile, fraction: float, what: str) -> None:
    n = len(y)
    n_out = math.ceil(fraction * n)
    if n < 10:
        raise InputError(f"only {n} usable rows; autotune needs at least 10 to train, validate and test")
    if prof.task != CLASSIFICATION:
        return
    counts = y.value_counts()
    rare = counts[counts < 3]
    if len(rare):
        label, count = rare.index[0], int(rare.iloc[0])
        raise ColumnError(
            prof.target,
            f'class "{label}" has only {count} row(s); each class needs at least 3 for a stratified '
            "train/validation/test split — add rows or remove that class",
        )
    if n_out < len(counts) or n - n_out < len(counts):
        raise InputError(
            f"{n} rows are too few for a {what} of {fraction:.0%} with {len(counts)} classes; "
            f"add rows or raise --test-size"
        )


def split(frame: pd.DataFrame, prof: Profile, test_size: float, validation_size: float, seed: int) -> Split:
    """Hold out a stratified test set the search never sees, then a validation set from the rest."""
    if not 0 < test_size < 1:
        raise InputError(f"--test-size must be between 0 and 1, got {test_size}")
    y = target_values(frame, prof)
    _check_splittable(y, prof, test_size, "test set")
    stratify = y if prof.task == CLASSIFICATION else None
    train, test, y_train, y_test = train_test_split(
        frame, y, test_size=test_size, random_state=seed, stratify=stratify
    )
    _check_splittable(y_train, prof, validation_size, "validation set")
    stratify = y_train if prof.task == CLASSIFICATION else None
    train, val, y_train, y_val = train_test_split(
        train, y_train, test_size=validation_size, random_state=seed, stratify=stratify
    )
    return Split(train, val, test, y_train, y_val, y_test)
