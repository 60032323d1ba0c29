"""What differs between a tabular run and an image run. pipeline.py runs the same stages for both
(split, search, final fit, evaluate, report, export) and asks these two classes only for the parts
that depend on the kind of data. TensorFlow is imported inside the methods, after input checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from autotune.data.clean import Feature, raw_inputs
from autotune.data.split import Split
from autotune.errors import InputError
from autotune.task import CLASSIFICATION, task_of

SMALL_DATA_ROWS = 2000  # up to this many train + validation rows: cross-validated search, an ensemble
SMALL_DATA_FOLDS = 3
SMALL_DATA_ENSEMBLE = 3
PIXEL_BASELINE_SIDE = 16  # image runs' non-neural baseline sees the images shrunk to 16×16


def class_weights(y: np.ndarray, n_classes: int, balance: str = "auto",
                  imbalance_ratio: float = 1 / 3) -> dict[int, float] | None:
    """Balanced class weights from the training labels: always with "weights", with "auto" only when
    the smallest class is under a third of the largest."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    if balance in ("none", "oversample") or counts.min() == 0:
        return None
    if balance == "auto" and counts.min() >= imbalance_ratio * counts.max():
        return None
    return {i: float(len(y) / (n_classes * c)) for i, c in enumerate(counts)}


def sample_rows(y: np.ndarray, sample: int | None, seed: int, classes: bool) -> np.ndarray:
    """Positions of a --sample of the search's training rows: all of them, or `sample` of them stratified
    by class where every class can be split (at least one row of each on both sides), else at random."""
    n = len(y)
    if not sample or sample >= n:
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


@dataclass
class TabularRun:
    """Raw columns -> in-model preprocessing -> MLP; the search trains on features encoded once."""

    parts: Split
    features: list[Feature]
    task: str
    labels: list[str] | None
    seed: int
    space: dict | None = None  # a recipe's search space; None: the default
    balance: str = "auto"
    profile: object = None  # profile.Profile: lets the cross-validated search learn each fold's features
    select: str = "none"  # --select-features, applied per fold as on the training split
    kind: str = "tabular"
    scale: object = None
    preprocessor: object = None
    arrays: dict = field(default_factory=dict)

    def prepare(self, staging: Path | None = None) -> None:
        from autotune.tabular.encode import build_preprocessor

        self.preprocessor = build_preprocessor(self.features)
        x_train, y_train, x_val, y_val, self.scale = self._encode(
            self.preprocessor, self.features, self.parts.train, self.parts.y_train, self.parts.validation,
            self.parts.y_validation, fit_scale_on=np.concatenate([self.parts.y_train, self.parts.y_validation]))
        self.arrays = {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}

    def _encode(self, preprocessor, features, train, y_train, validation, y_validation, fit_scale_on=None):
        """Encode two sets of rows with one preprocessor; the regression target standardised with the
        scale of `fit_scale_on` (default: the first set's targets)."""
        from autotune.tabular.encode import encode

        x_train, x_val = (encode(preprocessor, raw_inputs(d, features)) for d in (train, validation))
        (y_train, y_val), scale = task_of(self.task).encode_target(self.labels, (y_train, y_validation), fit_scale_on)
        return x_train, y_train, x_val, y_val, scale

    def search_folds(self, folds: int, sample: int | None = None) -> list:
        """The cross-validated search's folds over the search's training rows (a --sample of them) plus
        the validation rows, each cleaned, encoded and scaled with statistics learned on its own
        training rows alone — as --cv and the final model do — so no held-out fold has shaped the
        preprocessing it is scored through. Split as SearchHyperModel._folds splits the encoded rows."""
        from autotune.data.clean import learn_features
        from autotune.search.data import Fold
        from autotune.tabular.encode import build_preprocessor, category_slots

        keep = self._sample_index(sample)
        frame = pd.concat([self.parts.train.iloc[keep], self.parts.validation])
        y = pd.concat([self.parts.y_train.iloc[keep], self.parts.y_validation])
        splits = task_of(self.task).kfold(folds, self.seed).split(frame, y)
        out = []
        for train, val in splits:
            features, _ = learn_features(frame.iloc[train], self.profile, self.select)
            x_train, y_train, x_val, y_val, scale = self._encode(
                build_preprocessor(features), features, frame.iloc[train], y.iloc[train], frame.iloc[val], y.iloc[val])
            out.append(Fold(x_train, y_train, x_val, y_val, scale.std if scale is not None else 1.0,
                            category_slots(features)))
        return out

    def _sample_index(self, sample: int | None) -> np.ndarray:
        """Positions of the search's training rows: all, or a stratified sample of `sample` of them."""
        return sample_rows(self.arrays["y_train"], sample, self.seed, task_of(self.task).stratified)

    @property
    def train_rows(self) -> int:
        return len(self.arrays["x_train"]) + len(self.arrays["x_val"])

    def default_folds(self, tuner: str) -> int:
        return SMALL_DATA_FOLDS if self.train_rows <= SMALL_DATA_ROWS and tuner != "hyperband" else 1

    def default_ensemble(self) -> int:
        return SMALL_DATA_ENSEMBLE if self.train_rows <= SMALL_DATA_ROWS else 1

    @property
    def imbalanced(self) -> bool:
        return task_of(self.task).balancing(self.arrays["y_train"], self.labels)[0] is not None

    def hypermodel(self, folds: int, patience: int, on_trial_end=None, metric: str | None = None,
                   sample: int | None = None):
        from autotune.search.space import TabularHyperModel
        from autotune.tabular.encode import category_slots

        a = self.arrays
        rows = len(a["x_train"]) + (len(a["x_val"]) if folds > 1 else 0)
        n_outputs = task_of(self.task).n_outputs(self.labels)
        model = TabularHyperModel(a["x_train"].shape[1], n_outputs, self.task, rows, self.seed, patience, folds,
                                  on_trial_end, space=self.space, metric=metric)
        model.category_slots = category_slots(self.features)
        if self.scale is not None:
            model.target_std = self.scale.std
        if folds > 1 and self.profile is not None:
            model.fold_data = self.search_folds(folds, sample)
            model.n_features = model.fold_data[0].width
            model.category_slots = model.fold_data[0].category_slots
        model.class_weight, model.oversample = task_of(self.task).balancing(a["y_train"], self.labels, self.balance)
        return model

    def search_data(self, sample: int | None = None):
        """The search's training rows (a stratified sample of `sample` rows, if given) and validation rows."""
        a = self.arrays
        keep = self._sample_index(sample)
        return a["x_train"][keep], a["y_train"][keep], (a["x_val"], a["y_val"])

    def final_data(self):
        a = self.arrays
        return np.concatenate([a["x_train"], a["x_val"]]), np.concatenate([a["y_train"], a["y_val"]])

    def assemble(self, networks):
        from autotune.train import inference_model

        return inference_model(self.preprocessor, networks, self.task, self.scale)

    def test_outputs(self, model) -> np.ndarray:
        from autotune.train import predict_raw

        return predict_raw(model, raw_inputs(self.parts.test, self.features))

    def export(self, model, path: Path) -> None:
        from autotune.bundle.export import export_saved_model

        export_saved_model(model, self.features, self.task, self.labels, path)

    def baseline(self, metric: str, class_weight: dict | None = None,
                 oversample: bool = False) -> tuple[dict, np.ndarray] | None:
        """Gradient boosting on the same raw columns and rows, weighted as the network is."""
        from autotune.evaluate.baseline import gradient_boosting

        return gradient_boosting(self.parts, self.features, self.task, self.labels, self.seed, metric,
                                 class_weight, oversample)

    def metadata(self) -> dict:
        return {
            "inputs": [f.to_dict() for f in self.features],
            "target_scale": None if self.scale is None else {"mean": self.scale.mean, "std": self.scale.std},
            "missing_values": "numbers: NaN; strings: empty string",
        }


@dataclass
class ImageRun:
    """Image files -> tf.data (decode, resize, cache) -> CNN with normalisation and augmentation inside."""

    parts: Split
    labels: list[str]
    image_size: tuple[int, int]
    augment: str
    seed: int
    space: dict | None = None
    backbone: str | None = None
    weights: str | None = None
    balance: str = "auto"
    kind: str = "image"
    task: str = CLASSIFICATION
    data: dict = field(default_factory=dict)
    mean: list = field(default_factory=list)
    variance: list = field(default_factory=list)

    def prepare(self, staging: Path) -> None:
        from autotune.vision.pipeline import channel_statistics, image_dataset

        index = {label: i for i, label in enumerate(self.labels)}
        for name, frame, y in (("train", self.parts.train, self.parts.y_train),
                               ("val", self.parts.validation, self.parts.y_validation)):
            labels = np.array([index[v] for v in y], np.int32)
            self.data[name] = image_dataset(frame["path"].tolist(), labels, self.image_size, staging / "cache" / name)
            self.data[f"y_{name}"] = labels
        self.mean, self.variance = channel_statistics(self.data["train"])

    @property
    def train_rows(self) -> int:
        return len(self.data["y_train"]) + len(self.data["y_val"])

    def default_folds(self, tuner: str) -> int:
        return 1  # k-fold on images multiplies the costliest part of the run

    def default_ensemble(self) -> int:
        return 1

    @property
    def imbalanced(self) -> bool:
        return class_weights(self.data["y_train"], len(self.labels)) is not None

    def hypermodel(self, folds: int, patience: int, on_trial_end=None, metric: str | None = None,
                   sample: int | None = None):
        from autotune.vision.pipeline import ImageHyperModel

        model = ImageHyperModel(self.image_size, self.mean, self.variance, self.augment, len(self.labels),
                                len(self.data["y_train"]), self.seed, patience, on_trial_end, space=self.space,
                                backbone=self.backbone, weights=self.weights, metric=metric)
        model.class_weight = class_weights(self.data["y_train"], len(self.labels), self.balance)
        model.oversample = self.balance == "oversample"
        return model

    def search_data(self, sample: int | None = None):
        """The training images (a stratified sample of `sample` of them, if given) with their labels in
        order (the hypermodel oversamples from them), and the validation images."""
        train, y = self.data["train"], self.data["y_train"]
        if sample and sample < len(y):
            from autotune.vision.pipeline import subset

            keep = np.sort(sample_rows(y, sample, self.seed, classes=True))
            train, y = subset(train, keep, len(y)), y[keep]
        return train, y, self.data["val"]

    def final_data(self):
        return (self.data["train"].concatenate(self.data["val"]),
                np.concatenate([self.data["y_train"], self.data["y_val"]]))

    def assemble(self, networks):
        from autotune.vision.pipeline import inference_model

        return inference_model(networks, self.image_size)

    def test_outputs(self, model) -> np.ndarray:
        from autotune.vision.pipeline import predict_files

        return predict_files(model, self.parts.test["path"].tolist(), self.image_size)

    def export(self, model, path: Path) -> None:
        from autotune.vision.pipeline import export_saved_model

        export_saved_model(model, self.labels, self.image_size, path)

    def baseline(self, metric: str, class_weight: dict | None = None,
                 oversample: bool = False) -> tuple[dict, np.ndarray] | None:
        """A cheap non-neural baseline: standardised logistic regression on the images shrunk to
        PIXEL_BASELINE_SIDE² pixels (the same decoded train + validation images, weighted as the CNN is),
        so the report says whether the CNN earned its cost."""
        import time

        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from autotune.evaluate.baseline import oversampled_rows, row_weights
        from autotune.evaluate.metrics import evaluate, headline
        from autotune.vision.pipeline import image_dataset, small_pixels

        start = time.perf_counter()
        side = PIXEL_BASELINE_SIDE
        x = np.concatenate([small_pixels(self.data["train"], side), small_pixels(self.data["val"], side)])
        y = np.concatenate([self.parts.y_train.to_numpy(), self.parts.y_validation.to_numpy()])
        if oversample:
            rows = oversampled_rows(y, self.labels, self.seed)
            x, y = x[rows], y[rows]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.1))
        model.fit(x, y, logisticregression__sample_weight=row_weights(y, self.labels, class_weight))
        test = image_dataset(self.parts.test["path"].tolist(), None, self.image_size, None)
        probabilities = model.predict_proba(small_pixels(test, side))
        outputs = np.zeros((len(probabilities), len(self.labels)))
        for column, label in enumerate(model.classes_):
            outputs[:, self.labels.index(label)] = probabilities[:, column]
        metrics = evaluate(self.task, self.parts.y_test.to_numpy(), outputs, self.labels)
        name, value = headline(self.task, metrics, metric)
        entry = {"model": f"LogisticRegression on {side}×{side} pixels",
                 "name": "the pixel logistic-regression baseline", "metric": name, "value": value,
                 "test_metrics": metrics, "class_weight": class_weight, "oversample": bool(oversample),
                 "seconds": round(time.perf_counter() - start, 3)}
        return entry, outputs

    def metadata(self) -> dict:
        return {
            "inputs": [{"name": "image", "key": "image", "kind": "image", "dtype": "bytes",
                        "image_size": list(self.image_size), "mean": self.mean, "variance": self.variance}],
            "augmentation": self.augment,
            "backbone": self.backbone,
            "image_size": list(self.image_size),
            "serving": "signature input `image`: 1-D string tensor of encoded JPEG/PNG/BMP/GIF files; "
                       "model.keras input: float32 [batch, height, width, 3] in 0..255",
        }
