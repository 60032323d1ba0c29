"""Images: how an image folder (or a CSV of image paths) is loaded, and the run that decodes them into a
tf.data pipeline, builds the CNN, exports a SavedModel that takes image bytes and fits the pixel baseline
(the image Modality)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autotune.data.load import read_table, resolve_target
from autotune.data.split import Split, drop_unusable_rows, split
from autotune.modality import (
    IMAGE_ENSEMBLE,
    IMAGE_EPOCHS,
    PIXEL_BASELINE_SIDE,
    Loaded,
    class_weights,
    sample_rows,
    searched_rows,
)
from autotune.task import CLASSIFICATION
from autotune.vision.images import folder_fingerprint, is_image_input, outside_paths, parse_size, profile_images, scan_csv, scan_folder

PREPARED = "prepared.json"  # in a run directory: what ImageRun.prepare learned, for the workers of the search


class Images:
    """A folder with one subfolder per class, or a CSV whose --image-column holds image paths."""

    name = "image"

    def accepts(self, config) -> bool:
        return is_image_input(Path(config.data.path), config.image.column)

    def load(self, config, reporter) -> Loaded:
        return load_images(config, reporter)

    def metadata_problem(self, metadata: dict) -> tuple[str, str] | None:
        """An image bundle's inputs take encoded image bytes, and its image_size is [width, height] in pixels."""
        for i, entry in enumerate(metadata["inputs"]):
            if entry.get("dtype") != "bytes":
                return f"inputs[{i}].dtype", 'must be "bytes" for an image bundle'
        size = metadata.get("image_size")
        if not isinstance(size, list) or len(size) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 4096 for v in size):
            return "image_size", "must be [width, height] in pixels"
        return None


def load_images(config, reporter) -> Loaded:
    """Scan an image folder (or a CSV of image paths), profile and split the images; unreadable ones are skipped."""
    source = Path(config.data.path)
    if source.is_dir():
        files = scan_folder(source)
        digest = folder_fingerprint(files["path"])
    else:
        table = read_table(source)
        target = resolve_target(table.frame, config.data.target, table.path)
        files = scan_csv(source, table.frame, config.image.column, target, config.image.allow_outside_paths)
        outside = outside_paths(source, files["path"])
        if outside:
            reporter.note(f"{len(outside)} image path(s) outside {source.parent} read (--allow-outside-paths), "
                          f"e.g. {files['path'][outside[0]]}")
        digest = table.fingerprint
    usable, prof, image_profile = profile_images(files, source, parse_size(config.image.size))
    frame, row_actions = drop_unusable_rows(usable, prof)
    parts = split(frame, prof, config.data.test_size, config.data.validation_size, config.seed)
    cleaning = [{"step": "skip_file", "column": s["path"], "reason": s["reason"]} for s in image_profile.skipped]
    labels = sorted(set(parts.y_train) | set(parts.y_validation))
    run = ImageRun(parts, labels, image_profile.image_size, config.image.augment, config.seed, config.search.space,
                   config.image.backbone, str(config.image.weights) if config.image.weights else None, config.search.balance,
                   channels=3 if config.image.backbone else image_profile.channels)  # a backbone reads RGB
    return Loaded(source.name, digest, len(files), 1, prof, parts, row_actions + cleaning, run,
                  {"images": image_profile.to_dict()})


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
    flips: bool = True  # the augmentation mirrors images left to right (--augment auto: only where harmless)
    flip_check: dict | None = None  # --augment auto: what vision.flips.check_flips measured
    channels: int = 3  # the channels the model reads: the profile's (ImageProfile.channels; 1 for grayscale images)

    @property
    def bfloat16_on_cpu(self) -> bool:
        """--mixed-precision auto: the searched CNNs train in mixed bfloat16 on a CPU with native bfloat16 (0.75x the
        wall of a default run on mnist_5k, bench/README); a pretrained backbone keeps float32 (not measured)."""
        return self.backbone is None

    @property
    def workers_pay(self) -> bool:
        """--workers auto: local workers on a CPU with 2 cores or more (distributed.auto_workers) for the searched CNNs,
        whose trials in one process keep ~1.35 of 2 cores busy; a pretrained backbone keeps one process (not measured)."""
        return self.backbone is None

    @property
    def report_images(self) -> int:
        """Thumbnails of the worst test mistakes the bundle holds, for report.html."""
        from autotune.report.thumbnails import MAX_MISCLASSIFIED

        return MAX_MISCLASSIFIED

    def check_cv(self, cv) -> None:
        """--cv refused before any training when its stratified folds cannot be made from these images."""
        from autotune.evaluate.crossval import image_folds

        image_folds(cv, self.parts, 0)

    def cross_validate(self, cv, prof, candidates: list, metric: str, patience: int, seed: int,
                       select: str = "none", alpha: float = 0.0) -> dict:
        from autotune.evaluate.crossval import cross_validate_images

        return cross_validate_images(cv, self, self.parts, candidates, metric, patience, seed, alpha)

    def bundle_extras(self, bundle: Path, outputs: np.ndarray) -> dict:
        """The worst test mistakes as thumbnails in the bundle (report_images/), for report.html."""
        from autotune.report.thumbnails import write_misclassified

        return {"misclassified": write_misclassified(bundle, self.parts.test["path"].tolist(),
                                                     self.parts.y_test.tolist(), outputs, self.labels)}

    def prepare(self, staging: Path, chief: Path | None = None) -> list[str]:
        """Decode the training and validation images once (cached under `staging`), learn the channel
        statistics from the training images, and resolve --augment auto; returns lines for the log. What it
        prepared is written to `staging`/PREPARED for the workers of a search spread over processes: a worker
        (`chief`: the chief's run directory) reads it and the chief's decoded images instead of preparing them again
        (mnist_5k's trials started 24 s in with three processes preparing on 2 cores, against 8 s in one process);
        it prepares its own only where its images or settings are not the chief's."""
        import hashlib
        import json

        from autotune.files import replaced
        from autotune.vision.pipeline import channel_statistics, image_dataset

        index = {label: i for i, label in enumerate(self.labels)}
        sets = {name: (frame["path"].tolist(), np.array([index[v] for v in y], np.int32))
                for name, frame, y in (("train", self.parts.train, self.parts.y_train),
                                       ("val", self.parts.validation, self.parts.y_validation))}
        key = hashlib.sha256(json.dumps([{name: [paths, labels.tolist()] for name, (paths, labels) in sets.items()},
                                         self.image_size, self.channels, self.augment, self.seed]).encode()).hexdigest()
        prepared = self._chiefs(chief, key) if chief is not None else None
        source = chief if prepared else staging
        for name, (paths, labels) in sets.items():
            self.data[name] = image_dataset(paths, labels, self.image_size, source / "cache" / name, self.channels)
            self.data[f"y_{name}"] = labels
        if prepared:
            self.mean, self.variance, self.augment, self.flips, self.flip_check, lines = (
                prepared[k] for k in ("mean", "variance", "augment", "flips", "flip_check", "lines"))
            return lines
        self.mean, self.variance = channel_statistics(self.data["train"])  # decodes the training images into the cache
        for _ in self.data["val"].batch(256):  # and the validation images, before any worker reads the cache
            pass
        lines = self._resolve_augment()
        record = {"key": key, "mean": self.mean, "variance": self.variance, "augment": self.augment, "flips": self.flips,
                  "flip_check": self.flip_check, "lines": lines}
        with replaced(staging / PREPARED) as out:  # whole or absent for a worker waiting on it
            json.dump(record, out)
        return lines

    @staticmethod
    def _chiefs(chief: Path, key: str) -> dict | None:
        """What the chief prepared (PREPARED in its run directory, waited for as the run directory is), if it
        prepared these images with these settings; else None."""
        import json

        from autotune.search.distributed import wait_for_chief

        wait_for_chief(chief / PREPARED, f"the chief never prepared the images (no {chief / PREPARED}); start the "
                                         "chief with the same command, and the same --output on a filesystem this "
                                         "host shares")
        record = json.loads((chief / PREPARED).read_text())
        return record if record["key"] == key else None

    def _resolve_augment(self) -> list[str]:
        """--augment auto: light, with flips unless mirrored images lose their class (vision.flips)."""
        if self.augment != "auto":
            return []
        from autotune.vision.flips import check_flips

        side = PIXEL_BASELINE_SIDE
        check = check_flips(self.small_pixels("train").reshape(-1, side, side, self.channels), self.data["y_train"],
                            self.seed)
        self.augment, self.flips = "light", check.flips
        self.flip_check = check.to_dict() | {"reason": check.reason()}
        return [f"augmentation (--augment auto): light, {check.reason()}"]

    def small_pixels(self, name: str) -> np.ndarray:
        """The decoded "train" or "val" images shrunk to PIXEL_BASELINE_SIDE² (rows of floats), computed once a run:
        --augment auto's flip check and the pixel baseline both read the training ones."""
        from autotune.vision.pipeline import small_pixels

        key = f"pixels_{name}"
        if key not in self.data:
            self.data[key] = small_pixels(self.data[name], PIXEL_BASELINE_SIDE)
        return self.data[key]

    @property
    def train_rows(self) -> int:
        return len(self.data["y_train"]) + len(self.data["y_val"])

    def default_folds(self, tuner: str) -> int:
        return 1  # k-fold on images multiplies the costliest part of the run

    def default_ensemble(self, kept: bool = False) -> int:
        return IMAGE_ENSEMBLE if kept else 1  # retrained networks: one (a retrain costs a trial each)

    def default_epochs(self) -> int:
        return IMAGE_EPOCHS

    @property
    def imbalanced(self) -> bool:
        return class_weights(self.data["y_train"], len(self.labels)) is not None

    def hypermodel(self, folds: int, patience: int, on_trial_end=None, metric: str | None = None,
                   sample: int | None = None):
        from autotune.vision.pipeline import ImageHyperModel

        rows = searched_rows(len(self.data["y_train"]), sample)  # the images a search network trains on
        model = ImageHyperModel(self.image_size, self.mean, self.variance, self.augment, len(self.labels), rows,
                                self.seed, patience, on_trial_end, space=self.space,
                                backbone=self.backbone, weights=self.weights, metric=metric, flips=self.flips,
                                channels=self.channels)
        model.class_weight = class_weights(self.data["y_train"], len(self.labels), self.balance)
        model.weighs_loss = self.balance != "adjust"  # auto: class weights in the loss (tables' auto adjusts)
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

    def release_rows(self) -> int:
        """Nothing to let go after the final fit (0 bytes): the baseline and the test outputs read the cached images."""
        return 0

    def final_data(self):
        return (self.data["train"].concatenate(self.data["val"]),
                np.concatenate([self.data["y_train"], self.data["y_val"]]))

    def assemble(self, networks, members: list[dict] | None = None):
        from autotune.vision.pipeline import inference_model

        return inference_model(networks, self.image_size, self.channels)

    def test_outputs(self, model) -> np.ndarray:
        from autotune.vision.pipeline import predict_files

        return predict_files(model, self.parts.test["path"].tolist(), self.image_size, self.channels)

    def feature_importance(self, model, metric: str, outputs) -> None:
        """None: an image's inputs are pixels, not columns to shuffle."""
        return None

    def export(self, model, path: Path) -> None:
        from autotune.vision.pipeline import export_saved_model

        export_saved_model(model, self.labels, self.image_size, path, self.channels)

    def baseline(self, metric: str, class_weight: dict | None = None, oversample: bool = False,
                 weighs_loss: bool = True) -> tuple[dict, np.ndarray] | None:
        """A cheap non-neural baseline: standardised logistic regression on the images shrunk to
        PIXEL_BASELINE_SIDE² pixels (the same decoded train + validation images, weighted as the CNN is),
        so the report says whether the CNN earned its cost."""
        import time

        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        from autotune.evaluate.baseline import decision_on_validation, oversampled_rows, row_weights
        from autotune.evaluate.metrics import evaluate, headline
        from autotune.vision.pipeline import image_dataset, small_pixels

        start = time.perf_counter()
        side = PIXEL_BASELINE_SIDE
        x = np.concatenate([self.small_pixels("train"), self.small_pixels("val")])
        y = np.concatenate([self.parts.y_train.to_numpy(), self.parts.y_validation.to_numpy()])
        if oversample:
            rows = oversampled_rows(y, self.labels, self.seed)
            x, y = x[rows], y[rows]
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.1))
        decision = None
        if class_weight and not oversample:
            # the network's decision rule (decision.py), chosen as the tabular baselines' is
            decision = decision_on_validation(model, self.small_pixels("train"), self.small_pixels("val"), self.parts,
                                              self._aligned, self.labels, metric, class_weight,
                                              "logisticregression__", self.seed, weighs_loss)
        model.fit(x, y, logisticregression__sample_weight=row_weights(y, self.labels,
                                                                      class_weight if weighs_loss else None))
        test = image_dataset(self.parts.test["path"].tolist(), None, self.image_size, None, self.channels)
        outputs = self._aligned(model, small_pixels(test, side))
        if decision is not None:
            from autotune.decision import shifted

            outputs = shifted(outputs, np.array(decision.bias_shift))
        metrics = evaluate(self.task, self.parts.y_test.to_numpy(), outputs, self.labels)
        name, value = headline(self.task, metrics, metric)
        entry = {"model": f"LogisticRegression on {side}×{side} pixels",
                 "name": "the pixel logistic-regression baseline", "metric": name, "value": value,
                 "test_metrics": metrics, "class_weight": class_weight, "oversample": bool(oversample),
                 "class_weight_in_loss": bool(class_weight and weighs_loss),
                 "decision": None if decision is None else decision.to_dict(),
                 "seconds": round(time.perf_counter() - start, 3)}
        return entry, outputs

    def _aligned(self, model, pixels: np.ndarray) -> np.ndarray:
        """A fitted pixel model's probabilities in the run's label order (a class it never saw: 0)."""
        probabilities = model.predict_proba(pixels)
        outputs = np.zeros((len(probabilities), len(self.labels)))
        for column, label in enumerate(model.classes_):
            outputs[:, self.labels.index(label)] = probabilities[:, column]
        return outputs

    def metadata(self) -> dict:
        return {
            "inputs": [{"name": "image", "key": "image", "kind": "image", "dtype": "bytes",
                        "image_size": list(self.image_size), "channels": self.channels, "mean": self.mean,
                        "variance": self.variance}],
            "augmentation": self.augment,
            "flips": self.flips if self.augment != "none" else False,
            "flip_check": self.flip_check,
            "backbone": self.backbone,
            "image_size": list(self.image_size),
            "channels": self.channels,
            "serving": "signature input `image`: 1-D string tensor of encoded JPEG/PNG/BMP/GIF files (decoded to "
                       + ("grayscale: a colour image as its luminance" if self.channels == 1 else "RGB") + "); "
                       f"model.keras input: float32 [batch, height, width, {self.channels}] in 0..255",
        }
