"""Rows of named columns: how a table is loaded, and the run that encodes it, builds its MLP, exports a
SavedModel that takes raw rows and fits the gradient-boosting baseline (the tabular Modality), and what a tabular
bundle's metadata.json may hold."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from autotune.data.clean import Feature, learn_features, raw_inputs
from autotune.data.load import read_table, resolve_target
from autotune.data.profile import profile
from autotune.data.split import Split, check_rows, drop_unusable_rows, split
from autotune.modality import (
    SMALL_DATA_FOLDS,
    SMALL_DATA_ROWS,
    TABULAR_ENSEMBLE,
    TABULAR_EPOCHS,
    Loaded,
    sample_rows,
    searched_rows,
)
from autotune.search.memory import release_freed
from autotune.search.recipes import reads_word_ids
from autotune.task import task_of


class Tabular:
    """A CSV or Parquet file of rows: what every input that is not images is."""

    name = "tabular"

    def accepts(self, config) -> bool:
        return True

    def load(self, config, reporter) -> Loaded:
        return load_table(config, reporter)

    def metadata_problem(self, metadata: dict) -> tuple[str, str] | None:
        """Each input of a tabular bundle: a key clean.input_key makes, and the fields of a clean.Feature."""
        for i, entry in enumerate(metadata["inputs"]):
            where = f"inputs[{i}]"
            if not KEY.fullmatch(entry["key"]):
                return f"{where}.key", f"{json.dumps(entry['key'])} is not an input name autotune makes"
            problem = column_problem(entry, where)
            if problem:
                return problem
        return None


def load_table(config, reporter) -> Loaded:
    """Read, profile, split and clean a table; the cleaning is learned on the training rows only."""
    loaded = read_table(config.data.path)
    for note in loaded.notes:
        reporter.note(note)
    target = resolve_target(loaded.frame, config.data.target, loaded.path)
    check_rows(loaded.frame, loaded.path)
    prof = profile(loaded.frame, target, config.data.task, config.data.text_columns, config.data.categorical_columns)
    frame, row_actions = drop_unusable_rows(loaded.frame, prof)
    release_freed(len(frame) * frame.shape[1] * 8)  # the parser's working memory, before the split copies the rows
    parts = split(frame, prof, config.data.test_size, config.data.validation_size, config.seed)
    features, column_actions = learn_features(parts.train, prof, config.data.select_features,
                                              reads_word_ids(config.search.space))
    labels = task_of(prof.task).labels(parts.y_train, parts.y_validation)
    run = TabularRun(parts, features, prof.task, labels, config.seed, config.search.space, config.search.balance, prof,
                     config.data.select_features)
    return Loaded(loaded.path.name, loaded.fingerprint, len(loaded.frame), loaded.frame.shape[1], prof, parts,
                  row_actions + column_actions, run, {"encoding": loaded.encoding, "delimiter": loaded.delimiter})


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
    # the cross-validated search's folds, each (its features, its preprocessor, its target scale), in search_folds'
    # order: what a kept fold network is fed (assemble)
    fold_encodings: list = field(default_factory=list)

    report_images: ClassVar[int] = 0  # thumbnails of test mistakes the bundle holds (none for rows)
    # --mixed-precision auto stays float32 on a CPU: stacked.py's and numpy_mlp.py's loops train in float32 only
    bfloat16_on_cpu: ClassVar[bool] = False
    # --workers auto keeps one process: a trial takes seconds, less than a worker's start-up
    workers_pay: ClassVar[bool] = False

    def check_cv(self, cv) -> None:
        """--cv refused before any training when it cannot be done on these rows."""
        from autotune.evaluate.crossval import check_row_folds

        check_row_folds(cv, self.task, len(self.parts.train) + len(self.parts.validation))

    def cross_validate(self, cv, prof, candidates: list, metric: str, patience: int, seed: int,
                       select: str = "none", alpha: float = 0.0) -> dict:
        from autotune.evaluate.crossval import cross_validate_rows

        return cross_validate_rows(cv, self, prof, candidates, metric, patience, seed, select, alpha)

    def bundle_extras(self, bundle: Path, outputs: np.ndarray) -> dict:
        """Report fields that come with files in the bundle: none for rows."""
        return {}

    def prepare(self, staging: Path | None = None, chief: Path | None = None) -> list[str]:
        """Build the preprocessor from the features and encode the training and validation rows once; returns
        lines for the log (none for rows). A worker encodes its own (`chief` unread: rows encode in well under a
        second, and a table's search runs in one process unless told otherwise)."""
        from autotune.tabular.encode import build_preprocessor

        self.preprocessor = build_preprocessor(self.features)
        x_train, y_train, x_val, y_val, self.scale = self._encode(
            self.preprocessor, self.features, self.parts.train, self.parts.y_train, self.parts.validation,
            self.parts.y_validation, fit_scale_on=np.concatenate([self.parts.y_train, self.parts.y_validation]))
        self.arrays = {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}
        return []

    def _encode(self, preprocessor, features, train, y_train, validation, y_validation, fit_scale_on=None):
        """Encode two sets of rows with one preprocessor, one after the other in one array (views of it: final_data
        joins them without a copy); the regression target standardised with the scale of `fit_scale_on` (default: the
        first set's targets)."""
        from autotune.tabular.encode import encode_parts

        x_train, x_val = encode_parts(preprocessor, [train, validation], features)
        (y_train, y_val), scale = task_of(self.task).encode_target(self.labels, (y_train, y_validation), fit_scale_on)
        return x_train, y_train, x_val, y_val, scale

    def search_folds(self, folds: int, sample: int | None = None) -> list:
        """The cross-validated search's folds over the search's training rows (a --sample of them) plus
        the validation rows, each cleaned, encoded and scaled with statistics learned on its own
        training rows alone — as --cv and the final model do — so no held-out fold has shaped the
        preprocessing it is scored through; of the columns the training split keeps (a column it drops
        as constant is one the final model cannot read: a fold network that read it could not be kept).
        Split as SearchHyperModel._folds splits the encoded rows."""
        from autotune.data.clean import learn_features
        from autotune.search.data import Fold
        from autotune.tabular.encode import build_preprocessor, category_slots, ramp_columns, sequence_blocks

        keep = self._sample_index(sample)
        frame = pd.concat([self.parts.train.iloc[keep], self.parts.validation])
        y = pd.concat([self.parts.y_train.iloc[keep], self.parts.y_validation])
        splits = task_of(self.task).kfold(folds, self.seed).split(frame, y)
        out, self.fold_encodings = [], []
        for i, (train, val) in enumerate(splits):
            features, _ = learn_features(frame.iloc[train], self.profile, self.select, reads_word_ids(self.space),
                                         within=self.features)
            preprocessor = build_preprocessor(features, f"preprocess_fold_{i}")
            x_train, y_train, x_val, y_val, scale = self._encode(
                preprocessor, features, frame.iloc[train], y.iloc[train], frame.iloc[val], y.iloc[val])
            out.append(Fold(x_train, y_train, x_val, y_val, scale.std if scale is not None else 1.0,
                            category_slots(features), ramp_columns(features), sequence_blocks(features)))
            self.fold_encodings.append((features, preprocessor, scale))
        return out

    def _sample_index(self, sample: int | None) -> np.ndarray:
        """Positions of the search's training rows: all, or a stratified sample of `sample` of them."""
        return sample_rows(self.arrays["y_train"], sample, self.seed, task_of(self.task).stratified)

    @property
    def train_rows(self) -> int:
        return len(self.arrays["y_train"]) + len(self.arrays["y_val"])

    def release_rows(self) -> int:
        """Let the encoded training and validation rows go once the final model is trained: nothing after it reads
        them (evaluation, importance, the baselines and --cv read the frames) - on 1,000,000 rows x 50 columns, half a
        gigabyte the evaluation had held for nothing. The labels stay: they are small and count the rows. Returns the
        bytes let go."""
        return sum(self.arrays.pop(name).nbytes for name in ("x_train", "x_val") if name in self.arrays)

    def default_folds(self, tuner: str) -> int:
        return SMALL_DATA_FOLDS if self.train_rows <= SMALL_DATA_ROWS and tuner != "hyperband" else 1

    def default_ensemble(self, kept: bool = False) -> int:
        return TABULAR_ENSEMBLE

    def default_epochs(self) -> int:
        return TABULAR_EPOCHS

    @property
    def imbalanced(self) -> bool:
        return task_of(self.task).balancing(self.arrays["y_train"], self.labels)[0] is not None

    def hypermodel(self, folds: int, patience: int, on_trial_end=None, metric: str | None = None,
                   sample: int | None = None):
        from autotune.search.space import TabularHyperModel
        from autotune.tabular.encode import category_slots, ramp_columns, sequence_blocks

        a = self.arrays
        # the rows a search network trains on (its batch and steps an epoch follow from them): the --sample, if given
        rows = searched_rows(len(a["x_train"]), sample) + (len(a["x_val"]) if folds > 1 else 0)
        n_outputs = task_of(self.task).n_outputs(self.labels)
        model = TabularHyperModel(a["x_train"].shape[1], n_outputs, self.task, rows, self.seed, patience, folds,
                                  on_trial_end, space=self.space, metric=metric)
        model.category_slots, model.ramp_columns = category_slots(self.features), ramp_columns(self.features)
        model.sequence_blocks = sequence_blocks(self.features)
        if self.scale is not None:
            model.target_std = self.scale.std
        if folds > 1 and self.profile is not None:
            model.fold_data = self.search_folds(folds, sample)
            model.n_features = model.fold_data[0].width
            model.category_slots, model.ramp_columns = model.fold_data[0].category_slots, model.fold_data[0].ramp_columns
            model.sequence_blocks = model.fold_data[0].sequence_blocks
        model.class_weight, model.oversample = task_of(self.task).balancing(a["y_train"], self.labels, self.balance)
        # auto: the outputs shifted after training on the rows as they are, not class weights in the loss (bench/README
        # "Class weights or the outputs shifted": macro-F1 hpc_jobs +0.017, portal +0.026, olive -0.010)
        model.weighs_loss = self.balance == "weights"
        return model

    def search_data(self, sample: int | None = None):
        """The search's training rows (a stratified sample of `sample` rows, if given) and validation rows."""
        a = self.arrays
        keep = self._sample_index(sample)
        return a["x_train"][keep], a["y_train"][keep], (a["x_val"], a["y_val"])

    def final_data(self):
        """Training and validation rows together: the array both are views of, one after the other (prepare), else a
        copy of both."""
        a = self.arrays
        x_train, x_val, base = a["x_train"], a["x_val"], a["x_train"].base
        joined = (isinstance(base, np.ndarray) and base is x_val.base and base.flags.c_contiguous
                  and x_train.flags.c_contiguous and x_val.flags.c_contiguous and x_train.dtype == x_val.dtype
                  and x_train.shape[1:] == x_val.shape[1:] and x_val.ctypes.data == x_train.ctypes.data + x_train.nbytes)
        x_all = (np.ndarray((len(x_train) + len(x_val), *x_train.shape[1:]), x_train.dtype, buffer=base,
                            offset=x_train.ctypes.data - base.ctypes.data)
                 if joined else np.concatenate([x_train, x_val]))
        return x_all, np.concatenate([a["y_train"], a["y_val"]])

    def assemble(self, networks, members: list[dict] | None = None):
        """The exported model: raw columns -> each network behind its preprocessing - the training split's, or for a
        kept fold network (a member with a "fold") its fold's - averaged."""
        from autotune.train import inference_model

        encodings = [self.fold_encodings[m["fold"]][1:] if "fold" in m else (self.preprocessor, self.scale)
                     for m in members] if members else None
        return inference_model(self.preprocessor, networks, self.task, self.scale, encodings)

    def test_outputs(self, model) -> np.ndarray:
        from autotune.train import predict_raw

        return predict_raw(model, raw_inputs(self.parts.test, self.features))

    def feature_importance(self, model, metric: str, outputs: np.ndarray) -> dict:
        """Permutation importance of each input column on the test rows (evaluate/importance.py); `outputs`: the
        model's test outputs (test_outputs), the unshuffled score's."""
        from autotune.evaluate.importance import permutation_importance
        from autotune.train import predict_raw

        truth = task_of(self.task).truth(self.parts.y_test.to_numpy(), self.labels)
        return permutation_importance(lambda columns: predict_raw(model, columns),
                                      raw_inputs(self.parts.test, self.features), outputs,
                                      {f.key: f.name for f in self.features}, truth, metric, seed=self.seed)

    def export(self, model, path: Path) -> None:
        from autotune.bundle.export import export_saved_model

        export_saved_model(model, self.features, self.task, self.labels, path)

    def baseline(self, metric: str, class_weight: dict | None = None, oversample: bool = False,
                 weighs_loss: bool = True) -> tuple[dict, np.ndarray] | None:
        """Gradient boosting on the same raw columns and rows, balanced as the network is; with free text, TF-IDF
        and a linear model (evaluate/baseline.text_linear)."""
        from autotune.evaluate.baseline import gradient_boosting, text_linear

        fit = text_linear if any(f.kind == "text" for f in self.features) else gradient_boosting
        return fit(self.parts, self.features, self.task, self.labels, self.seed, metric, class_weight, oversample,
                   weighs_loss)

    def metadata(self) -> dict:
        return {
            "inputs": [f.to_dict() for f in self.features],
            "target_scale": None if self.scale is None else {"mean": self.scale.mean, "std": self.scale.std},
            "missing_values": "numbers: NaN; strings: empty string",
        }


# A bundle's input key: what clean.input_key makes (an identifier), and the "." and "-" it kept before c58da71,
# so an older bundle still loads
KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
FEATURE_FIELDS = {f.name for f in fields(Feature)} - {"projection", "projection_bias"}  # the model holds those
FEATURE_NUMBERS = ("fill", "clip_low", "clip_high", "mean", "variance")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def column_problem(entry: dict, where: str) -> tuple[str, str] | None:
    """A tabular input in metadata.json: the fields of a clean.Feature, each of its type; else the first field
    that is not, and what it must be."""
    unknown = sorted(set(entry) - FEATURE_FIELDS)
    if unknown:
        return f"{where}.{unknown[0]}", "is not a field of an input"
    if entry.get("kind") not in ("numeric", "categorical", "text"):
        return f"{where}.kind", 'must be "numeric", "categorical" or "text"'
    if entry.get("dtype") not in ("number", "string"):
        return f"{where}.dtype", 'must be "number" or "string"'
    for name in FEATURE_NUMBERS:
        if entry.get(name) is not None and not _is_number(entry[name]):
            return f"{where}.{name}", "must be a number"
    whole = next((n for n in ("dimensions", "sequence_length")
                  if not isinstance(entry.get(n, 0), int) or isinstance(entry.get(n), bool)), None)
    if whole:
        return f"{where}.{whole}", "must be a whole number"
    for name in ("missing_indicator", "thousands"):
        if not isinstance(entry.get(name, False), bool):
            return f"{where}.{name}", "must be true or false"
    vocabulary = entry.get("vocabulary", [])
    if not isinstance(vocabulary, list) or not all(isinstance(v, str) or _is_number(v) for v in vocabulary):
        return f"{where}.vocabulary", "must be a list of categories"
    return _number_lists_problem(entry, where)


def _number_lists_problem(entry: dict, where: str) -> tuple[str, str] | None:
    """An input's PCA loadings (numbers) and knots (none, or at least 3 increasing numbers)."""
    for name in ("components", "idf"):
        values = entry.get(name, [])
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            return f"{where}.{name}", "must be a list of numbers"
    if entry.get("kind") == "text" and len(entry.get("idf", [])) != len(entry.get("vocabulary", [])):
        return f"{where}.idf", "must hold one number for each word of the vocabulary"
    knots = entry.get("knots", [])
    if not isinstance(knots, list) or not all(_is_number(v) for v in knots) or (
            knots and (len(knots) < 3 or any(b <= a for a, b in zip(knots, knots[1:], strict=False)))):
        return f"{where}.knots", "must be an increasing list of at least 3 numbers"
    return None
