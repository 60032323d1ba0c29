"""What differs between kinds of data (modalities). pipeline.py runs the same stages for every kind (load,
search, final fit, evaluate, report, export) and asks the modality, and the run it loads, only for the parts
that depend on the kind of data: tabular/run.py (rows of named columns) and vision/run.py (images).
Adding a kind is a new Modality and run class, and an entry in `modalities()`. TensorFlow is imported
inside the runs' methods, after input checks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from autotune.errors import InputError
from autotune.task import task_of

SMALL_DATA_ROWS = 2000  # up to this many train + validation rows: cross-validated search
SMALL_DATA_FOLDS = 3
# A table's final model averages its 3 best distinct configurations, at every size: on small data the ranking of the
# top few is mostly noise; on the suite's larger tuning sets averaging them gained R² 0.017 on gss_wages and 0.011 on
# ames, macro-F1 0.011 on portal, 3 seeds each (bench/README, "the ensemble and the ramps"), for 5-30 % more wall time.
TABULAR_ENSEMBLE = 3
# An image run's final model averages its 3 best trials' own networks where the search kept them (one process or local
# --workers, no --sample: no retraining, so the members cost no training time); where they would be retrained, one.
IMAGE_ENSEMBLE = 3
# The most epochs a trial trains by default (--epochs): tabular trials 60 under early stopping; image trials 16, over
# which the image space's cosine schedule anneals the rate (bench/README "Images in 20 epochs"; 16 since "Image trials
# in 16 epochs": textures and digits within a test image a set and seed, 0.82-0.90x the wall, mnist_5k under 5 min).
TABULAR_EPOCHS, IMAGE_EPOCHS = 60, 16
PIXEL_BASELINE_SIDE = 16  # image runs' non-neural baseline sees the images shrunk to 16×16


def class_weights(y: np.ndarray, n_classes: int, balance: str = "auto",
                  imbalance_ratio: float = 1 / 3) -> dict[int, float] | None:
    """Balanced class weights from the training labels: always with "weights" and "adjust" (in the loss, or for the
    outputs' shift after training: decision.py), with "auto" only when the smallest class is under a third of the
    largest."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    if balance in ("none", "oversample") or counts.min() == 0:
        return None
    if balance == "auto" and counts.min() >= imbalance_ratio * counts.max():
        return None
    return {i: float(len(y) / (n_classes * c)) for i, c in enumerate(counts)}


def weight_vector(class_weight: dict[int, float], n_classes: int) -> np.ndarray:
    """class_weights' dict as one weight per class index (1 where a class has none), float64."""
    return np.array([float(class_weight.get(c, 1.0)) for c in range(n_classes)], np.float64)


def searched_rows(rows: int, sample: int | None) -> int:
    """How many of `rows` training rows the search trains on: a --sample of them, or all (sample_rows picks which)."""
    return sample if sample and sample < rows else rows


def sample_rows(y: np.ndarray, sample: int | None, seed: int, classes: bool) -> np.ndarray:
    """Positions of a --sample of the search's training rows: all of them, or `sample` of them stratified
    by class where every class can be split (at least one row of each on both sides), else at random."""
    n = len(y)
    if searched_rows(n, sample) == n:
        return np.arange(n)
    from sklearn.model_selection import train_test_split

    counts = np.bincount(y) if classes else None
    stratify = y if classes and counts.min() >= 2 and min(sample, n - sample) >= len(counts) else None
    keep, _ = train_test_split(np.arange(n), train_size=sample, stratify=stratify, random_state=seed)
    return keep


def check_sample(sample: int, run) -> None:
    """--sample below the number of classes cannot hold a row of each: refused before any training."""
    if task_of(run.task).has_classes and sample < len(run.labels):
        raise InputError(f"--sample {sample} is fewer than the {len(run.labels)} classes: a stratified sample "
                         f"needs a row of each; pass --sample {len(run.labels)} or more")


@dataclass(frozen=True)
class Loaded:
    """What the checks before training produce, for either kind of data."""

    name: str
    fingerprint: str
    rows: int
    columns: int
    prof: object
    parts: object
    cleaning: list
    run: object  # the modality's run: tabular.run.TabularRun or vision.run.ImageRun
    details: dict  # extra report fields: CSV encoding, image profile


class Modality(Protocol):
    """A kind of data: whether an input is of this kind, and how to load it into a Loaded whose run does
    the kind's parts of every later stage (encoding, the hypermodel, export, baseline, --cv, report extras);
    and what a bundle of this kind may hold in metadata.json."""

    name: str

    def accepts(self, config) -> bool: ...

    def load(self, config, reporter) -> Loaded: ...

    def metadata_problem(self, metadata: dict) -> tuple[str, str] | None:
        """What is wrong with the kind's part of a bundle's metadata.json (what each input holds, the kind's own
        fields): the field and what it must be, or None. The fields every bundle has are checked before."""


def modalities() -> list[Modality]:
    """Every kind of data, asked in order; tabular comes last and accepts any file."""
    from autotune.tabular.run import Tabular
    from autotune.vision.run import Images

    return [Images(), Tabular()]


def modality_of(config) -> Modality:
    """The first modality that accepts the run's input (tabular accepts any file)."""
    return next(m for m in modalities() if m.accepts(config))


def modality_named(name) -> Modality | None:
    """The modality a bundle's metadata.json "kind" names, or None (JSON may hold any value there)."""
    return next((m for m in modalities() if m.name == name), None)
