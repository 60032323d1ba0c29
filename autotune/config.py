"""The settings of a run, as frozen dataclasses the CLI fills in and tests construct directly."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The choices a run offers, in one place. Plain data: the CLI imports this at start-up.
TUNERS = ("bayesian", "random", "hyperband", "grid")
AUGMENTATIONS = ("none", "light", "strong")
BALANCE = ("auto", "weights", "oversample", "none")
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
class FitConfig:
    data: Path
    target: str | None = None
    task: str | None = None  # classification | regression | None: inferred from the target
    output: Path | None = None  # default: runs/<data-name>-<timestamp>
    overwrite: bool = False
    test_size: float = 0.2
    validation_size: float = 0.2  # of the training part
    tuner: str = "bayesian"
    max_trials: int = 12
    epochs: int = 60
    patience: int = 8
    seed: int = 0
    search_folds: int | None = None  # None: 3-fold CV on small data, else the validation split
    image_column: str | None = None  # a CSV of image paths: the column that holds them
    allow_outside_paths: bool = False  # image CSV: also read paths that lead outside the CSV's folder
    image_size: str | None = None  # WIDTHxHEIGHT; None: chosen from the images' sizes
    augment: str = "light"  # none | light | strong (images, training only)
    backbone: str | None = None  # images: mobilenetv3small | efficientnetb0 instead of the searched conv blocks
    weights: Path | None = None  # images: a local weights file for the backbone (never downloaded)
    metric: str | None = None  # the search's objective and the headline; None: accuracy / macro-F1 / RMSE
    balance: str = "auto"  # auto | weights | oversample | none
    select_features: str = "none"  # none | corr: drop numeric columns correlated above 0.95 | pca (95% variance)
    cv: int | str | None = None  # k-fold (or "loo") cross-validation of the exported kind of model, reported
    recipe: str | None = None  # the recipe's name, for the report
    space: dict | None = None  # the recipe's search space (hyperparameter -> choices or range)
    baseline: bool = True  # also fit scikit-learn's HistGradientBoosting on the same split (tabular)
    resume: bool = False  # continue an interrupted run in the same output directory
    time_budget: float | None = None  # seconds for the whole run, load to published bundle (the search leaves room)
    ensemble: int | None = None  # best configurations averaged in the final model; None: 3 on small data, else 1
    tensorboard: Path | None = None  # TensorBoard logs of the search (per-trial scalars, HParams) in this directory
    device: str = "auto"  # auto: every visible GPU (several: MirroredStrategy), else the CPU | cpu | gpu
    mixed_precision: str = "auto"  # auto: float16 on GPUs that support it, off on CPU | off | float16 | bfloat16
    sample: int | None = None  # search on this many training rows (a stratified sample); the final fit uses all
    workers: int = 0  # > 0: a keras-tuner chief on loopback and this many worker processes run the search
    role: str | None = None  # chief | worker: one process of a search spread over several hosts
    bind: str | None = None  # chief: ADDR:PORT its oracle listens on (default 127.0.0.1 and a free port)
    allow_remote_workers: bool = False  # chief: a wildcard --bind (every interface) is allowed
    oracle: str | None = None  # worker: ADDR:PORT of the chief's oracle
    worker_id: str | None = None  # worker: its keras-tuner id (default: tuner-<host>-<pid>); reuse it to rerun its trial


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
