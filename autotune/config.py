"""The settings of a run, as frozen dataclasses the CLI fills in and tests construct directly."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path

# The choices a run offers, in one place. Plain data: the CLI imports this at start-up.
TUNERS = ("bayesian", "random", "hyperband", "grid")
AUGMENTATIONS = ("auto", "none", "light", "strong")
BALANCE = ("auto", "weights", "adjust", "oversample", "none")
SELECT_FEATURES = ("none", "corr", "pca")  # tabular: correlated columns dropped, or PCA inside the model
DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("auto", "off", "float16", "bfloat16")
ROLES = ("chief", "worker")
BACKBONES = {"mobilenetv3small": "MobileNetV3Small", "efficientnetb0": "EfficientNetB0"}  # keras.applications
# name: (task, higher is better). The same scikit-learn functions score the search's validation
# data, the test set and the baseline, so "best" means one thing everywhere (see evaluate/metrics.py).
METRICS = {
    "accuracy": ("classification", True), "f1_macro": ("classification", True),
    "roc_auc": ("classification", True), "log_loss": ("classification", False),
    "rmse": ("regression", False), "mae": ("regression", False), "r2": ("regression", True),
}


@dataclass(frozen=True)
class DataConfig:
    """What is learned from: the file, its target, and how its rows are split and encoded."""

    path: Path
    target: str | None = None
    task: str | None = None  # classification | regression | None: inferred from the target
    test_size: float = 0.2
    validation_size: float = 0.2  # of the training part
    select_features: str = "none"  # none | corr: drop numeric columns correlated above 0.95 | pca (95% variance)
    text_columns: tuple[str, ...] = ()  # columns read as free text, whatever the profile's rule says
    categorical_columns: tuple[str, ...] = ()  # columns read as categories, whatever the profile's rule says


@dataclass(frozen=True)
class SearchConfig:
    """What the search tries and how each trial is trained and scored."""

    tuner: str = "bayesian"
    max_trials: int = 12
    epochs: int | None = None  # the most a trial trains; None: 60 for tables, 16 for images (default_epochs)
    patience: int = 8
    folds: int | None = None  # None: 3-fold CV on small data, else the validation split
    metric: str | None = None  # the search's objective and the headline; None: accuracy / macro-F1 / RMSE
    balance: str = "auto"  # auto | weights | adjust | oversample | none
    sample: int | None = None  # search on this many training rows (a stratified sample); the final fit uses all
    space: dict | None = None  # the recipe's search space (hyperparameter -> choices or range)
    recipe: str | None = None  # the recipe's name, for the report


@dataclass(frozen=True)
class ImageConfig:
    """Image runs: where the images are, their size, the training-time augmentation and the backbone."""

    column: str | None = None  # a CSV of image paths: the column that holds them
    allow_outside_paths: bool = False  # image CSV: also read paths that lead outside the CSV's folder
    size: str | None = None  # WIDTHxHEIGHT; None: chosen from the images' sizes
    augment: str = "auto"  # auto | none | light | strong (training only); auto: light, flips where harmless
    backbone: str | None = None  # mobilenetv3small | efficientnetb0 instead of the searched conv blocks
    weights: Path | None = None  # a local weights file for the backbone (never downloaded)


@dataclass(frozen=True)
class ComputeConfig:
    """Which devices train, in which precision."""

    device: str = "auto"  # auto: every visible GPU (several: MirroredStrategy), else the CPU | cpu | gpu
    mixed_precision: str = "auto"  # auto (devices.resolve) | off | float16 | bfloat16


@dataclass(frozen=True)
class ClusterConfig:
    """How trials are spread over processes and hosts (keras-tuner's chief/worker mode)."""

    # > 0: a keras-tuner chief on loopback and this many worker processes run the search; 0: one process; None
    # (--workers auto): chosen once the data is loaded (distributed.auto_workers)
    workers: int | None = None
    role: str | None = None  # chief | worker: one process of a search spread over several hosts
    bind: str | None = None  # chief: ADDR:PORT its oracle listens on (default 127.0.0.1 and a free port)
    allow_remote_workers: bool = False  # chief: a wildcard --bind (every interface) is allowed
    oracle: str | None = None  # worker: ADDR:PORT of the chief's oracle
    worker_id: str | None = None  # worker: its keras-tuner id (default: tuner-<host>-<pid>); reuse it to rerun its trial
    local_workers: int = 0  # worker: started by a chief on this host with this many (--workers N), 0 otherwise


@dataclass(frozen=True)
class FinalConfig:
    """After the search: the final model and what it is compared with."""

    ensemble: int | None = None  # best configurations averaged in the final model; None: 3 for tables, 1 for images
    cv: int | str | None = None  # k-fold (or "loo") cross-validation of the exported kind of model, reported
    baseline: bool = True  # also fit scikit-learn's HistGradientBoosting on the same split (tabular)


@dataclass(frozen=True)
class RunConfig:
    """This invocation: where it writes, whether it resumes, how long it may take, what it logs."""

    output: Path | None = None  # default: runs/<data-name>-<timestamp>
    overwrite: bool = False
    resume: bool = False  # continue an interrupted run in the same output directory
    time_budget: float | None = None  # seconds for the whole run, load to published bundle (the search leaves room)
    tensorboard: Path | None = None  # TensorBoard logs of the search (per-trial scalars, HParams) in this directory
    mlflow: str | None = None  # MLflow tracking URI: the run, each trial as a nested run, the bundle (tracking.py)


# The parts whose settings change what a trial computes: a resumed run must match them (and the data's
# content) exactly, or its kept trials were scored on another problem. The file's path may change (its content
# is compared by fingerprint); the run, final and cluster parts may too (where to write, how long, what happens
# after the search, how trials are spread over processes).
SEARCH_PARTS = ("data", "search", "image", "compute")
# Option names (the CLI's, recipes' and the worker's settings file) that differ from their field's name.
RENAMED = {"data": ("data", "path"), "search_folds": ("search", "folds"), "image_column": ("image", "column"),
           "image_size": ("image", "size")}


@dataclass(frozen=True)
class FitConfig:
    """The settings of `autotune fit`, in parts. `FitConfig.of(path, **options)` builds one from flat option
    names (`max_trials=3`, `augment="none"`), as the CLI, recipes and tests give them."""

    data: DataConfig
    search: SearchConfig = field(default_factory=SearchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    run: RunConfig = field(default_factory=RunConfig)
    seed: int = 0  # the split, the search's sampling and every initialisation

    @classmethod
    def of(cls, data: Path | str, **options) -> FitConfig:
        """A config from flat option names; an unknown name is a TypeError, as for a dataclass."""
        where = _option_fields()
        parts: dict[str, dict] = {name: {} for name in _PART_TYPES}
        for name, value in {"data": Path(data), **options}.items():
            if name == "seed":
                continue
            if name not in where:
                raise TypeError(f"FitConfig.of() got an unexpected option {name!r}")
            part, field_name = where[name]
            parts[part][field_name] = value
        return cls(**{name: _PART_TYPES[name](**values) for name, values in parts.items()},
                   seed=options.get("seed", 0))

    def options(self) -> dict:
        """The flat option names and values: the inverse of `of` (the worker's settings file)."""
        values = {"seed": self.seed}
        for option, (part, field_name) in _option_fields().items():
            values[option] = getattr(getattr(self, part), field_name)
        return values

    def replace(self, **options) -> FitConfig:
        """This config with some options changed (flat names)."""
        return FitConfig.of(**{**self.options(), **options})

    def search_settings(self) -> dict:
        """Everything that changes what a trial computes, as JSON values (the data's path excepted)."""
        settings = {"seed": self.seed}
        for option, (part, field_name) in _option_fields().items():
            if part in SEARCH_PARTS and (part, field_name) != ("data", "path"):
                settings[option] = getattr(getattr(self, part), field_name)
        return json.loads(json.dumps(settings, default=str))


_PART_TYPES = {"data": DataConfig, "search": SearchConfig, "image": ImageConfig, "compute": ComputeConfig,
               "cluster": ClusterConfig, "final": FinalConfig, "run": RunConfig}


def _option_fields() -> dict[str, tuple[str, str]]:
    """Flat option name -> (part, field)."""
    where = {}
    for part, kind in _PART_TYPES.items():
        for f in fields(kind):
            where[f.name] = (part, f.name)
    renamed = {value: key for key, value in RENAMED.items()}
    return {renamed.get(target, name): target for name, target in where.items()}


def search_hash(config: FitConfig, fingerprint: str) -> str:
    """One hash of the data's content and every setting that changes the search: a resumed run must match it."""
    blob = json.dumps({"fingerprint": fingerprint, **config.search_settings()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def parse_duration(text: str | None) -> float | None:
    """'90s', '10m', '1h', '1h30m' or plain seconds -> seconds."""
    import re

    if text is None:
        return None
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
        if not parts or "".join(f"{n}{u}" for n, u in parts) != text.replace(" ", ""):
            raise ValueError(f"{text!r} is not a duration; use e.g. 90s, 10m, 1h or 1h30m")
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("the time budget must be positive")
    return seconds
