"""Use a bundle: load it, predict on new rows, evaluate on new labelled rows. Whether it may be trusted
(hashes, signature, schema, the SavedModel's ops and signature) is verify.py's to decide."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autotune.bundle.verify import check_against_saved_model, check_row_labels, check_saved_model_ops, trusted_metadata
from autotune.data.clean import Feature, raw_inputs
from autotune.data.profile import coerce_numeric
from autotune.errors import ColumnError, InputError
from autotune.task import task_of


@dataclass
class Bundle:
    path: Path
    metadata: dict
    features: list[Feature]
    _model: object = None
    _serve: object = None

    @property
    def task(self) -> str:
        return self.metadata["task"]

    @property
    def kind(self) -> str:
        return self.metadata.get("kind", "tabular")

    @property
    def labels(self) -> list[str] | None:
        return self.metadata.get("labels")

    @property
    def channels(self) -> int:
        """The channels an image bundle's network reads: 1 for grayscale images, 3 otherwise (and in bundles written
        before metadata.json recorded them)."""
        return self.metadata.get("channels", 3)

    @property
    def serve(self):
        """The SavedModel's serving signature — what deployments call — loaded on first use."""
        if self._serve is None:
            import tensorflow as tf

            check_saved_model_ops(self.path / "saved_model")  # before TensorFlow runs anything in it
            try:
                signatures = tf.saved_model.load(str(self.path / "saved_model")).signatures
                serve = signatures["serving_default"]
            except (OSError, ValueError, KeyError, tf.errors.OpError) as exc:
                detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
                raise InputError(f"{self.path / 'saved_model'}: cannot be loaded ({detail}); "
                                 "re-export the bundle with `autotune fit`") from None
            check_against_saved_model(self, serve, signatures["labels"] if "labels" in signatures else None)
            self._serve = serve
        return self._serve

    @property
    def model(self):
        """The Keras model from raw columns to outputs, loaded on first use with safe_mode=True."""
        if self._model is None:
            import keras

            from autotune.tabular import layers  # noqa: F401  (registers the custom layers for loading)

            try:
                self._model = keras.saving.load_model(self.path / "model.keras", safe_mode=True, compile=False)
            except (ValueError, OSError, KeyError) as exc:
                detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
                raise InputError(f"{self.path / 'model.keras'}: cannot be loaded ({detail}); "
                                 "re-export the bundle with `autotune fit`") from None
        return self._model

    # --- the Python API (autotune.api): answers as DataFrames on the caller's index -----------------------

    def predict(self, data) -> pd.DataFrame:
        """The prediction for every row of a DataFrame, on its index, in a column named after the target (a
        class name, or a value in the target's units). An image bundle takes image paths (files or folders)
        instead and returns `autotune predict`'s table (path, prediction, p_<class>, error)."""
        if self.kind != "tabular":
            return predict_images(self, [Path(p) for p in ([data] if isinstance(data, str | Path) else data)])
        table = predict(self, _frame(data))
        return pd.DataFrame({self.metadata["target"]: table["prediction"].to_numpy()}, index=data.index)

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Each class's probability for every row, one column per class name, on the DataFrame's index."""
        if self.labels is None:
            raise InputError(f"{self.path}: a {self.task} bundle predicts values, not class probabilities; "
                             "use predict")
        outputs = predict_outputs(self, _frame(data))
        return pd.DataFrame(outputs, columns=list(self.labels), index=data.index)

    def evaluate(self, data: pd.DataFrame) -> dict:
        """The test metrics of `autotune evaluate` on labelled rows (those whose target is missing skipped)."""
        return evaluate(self, _frame(data))

    def leaderboard(self) -> pd.DataFrame:
        """The search's trials, best first: trial id, status, score (the search's objective), epochs, seconds,
        parameters and each hyperparameter as a column."""
        rows = []
        for trial in self._report()["search"]["trials"]:
            row = {k: v for k, v in trial.items() if k != "hyperparameters"}
            rows.append({**row, **(trial.get("hyperparameters") or {})})
        return pd.DataFrame(rows)

    @property
    def report(self) -> dict:
        """The run's summary (`autotune report --json`): task, headline metric, baselines, timings, data."""
        from autotune.report.summary import summary

        return summary(self._report())

    def _report(self) -> dict:
        from autotune.report.write import load_report

        return load_report(self.path)


def _frame(data) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame of rows, not {type(data).__name__}")
    return data


def load_bundle(path: str | Path, expect_sha256: str | None = None) -> Bundle:
    """Open a bundle for use, once verify.trusted_metadata has found its metadata.json pinned and signed when
    asked, valid against its schema, and every file it lists present with its hash."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such bundle directory; pass the output directory of `autotune fit`")
    if not (path / "metadata.json").exists():
        raise InputError(f"{path}: not an autotune bundle (no metadata.json); pass the output directory of `autotune fit`")
    metadata = trusted_metadata(path, expect_sha256)
    features = [Feature.from_dict(f) for f in metadata["inputs"]] if metadata.get("kind", "tabular") == "tabular" else []
    return Bundle(path, metadata, features)


def input_warnings(bundle: Bundle, frame: pd.DataFrame) -> list[str]:
    """Columns the model ignores (never seen in training) and values it reads as missing (text in a number
    column)."""
    out = []
    known = {f.name for f in bundle.features} | {bundle.metadata.get("target")} | set(
        bundle.metadata.get("dropped_columns") or ())
    extra = [str(c) for c in frame.columns if c not in known]
    if extra and bundle.kind == "tabular":
        shown = ", ".join(f'"{c}"' for c in extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        out.append(f"{len(extra)} column(s) the model was not trained on are ignored: {shown}")
    for f in bundle.features:
        if f.dtype == "number" and f.name in frame.columns:
            numbers, stray = coerce_numeric(frame[f.name], f.thousands)
            if np.isinf(numbers).any():
                stray = (*stray, "inf")
            if stray:
                shown = ", ".join(repr(v) for v in stray[:3])
                out.append(f'column "{f.name}": non-numeric values {shown} read as missing')
    return out


def unseen_values(bundle: Bundle, frame: pd.DataFrame) -> list[str]:
    """One line per column holding values the model never saw in training, with counts: categories outside the
    vocabulary (they meet the out-of-vocabulary slot) and numbers outside the training range (below the lowest
    or above the highest training value: the network extrapolates there). Missing values are not unseen."""
    from autotune.data.clean import MISSING_TOKEN

    out, rows = [], len(frame)
    for f in bundle.features:
        if f.name not in frame.columns:
            continue
        values = raw_inputs(frame[[f.name]], [f])[f.key]
        if f.kind == "categorical":
            if f.dtype == "number":
                known = np.isin(values, np.asarray(f.vocabulary, dtype=np.float32)) | ~np.isfinite(values)
            else:
                values = np.char.strip(values.astype(str))
                known = np.isin(values, list(f.vocabulary)) | (values == MISSING_TOKEN)
            unseen = pd.unique(values[~known])
            if len(unseen):
                shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in unseen[:3])
                out.append(f'column "{f.name}": {int((~known).sum())} of {rows} row(s) hold a category never seen in '
                           f"training ({len(unseen)} distinct, e.g. {shown})")
        elif f.knots:  # the knots run from the training minimum to its maximum
            low, high = f.knots[0], f.knots[-1]
            finite = values[np.isfinite(values)]
            below, above = int((finite < low).sum()), int((finite > high).sum())
            if below or above:
                out.append(f'column "{f.name}": {below + above} of {rows} row(s) outside the training range '
                           f"[{low:g}, {high:g}] ({below} below, {above} above)")
    return out


def kept_columns(bundle: Bundle, frame: pd.DataFrame, keep: list[str]) -> tuple[list[str], str | None]:
    """The input columns copied into the predictions, so they join back to their rows: those asked for (a column
    not in the data is bad input), else the first column the model does not use that looks like an ID (a
    different integer or word in every row, as the profile judges it), with a note saying so."""
    from autotune.data.profile import ID, infer_kind

    if keep:
        absent = [c for c in keep if c not in frame.columns]
        if absent:
            shown = ", ".join(f'"{c}"' for c in frame.columns[:20])
            raise ColumnError(absent[0], f"--keep names a column the data does not have; columns are: {shown}")
        return list(dict.fromkeys(keep)), None
    used = {f.name for f in bundle.features} | {bundle.metadata.get("target")}
    for column in frame.columns:
        if column not in used and infer_kind(str(column), frame[column]).kind == ID:
            return [column], (f'column "{column}" looks like an ID: copied into the predictions to join them back '
                              "(--keep COL chooses the columns)")
    return [], None


PREDICT_BATCH = 10_000


def predict_outputs(bundle: Bundle, frame: pd.DataFrame) -> np.ndarray:
    """Through the SavedModel's signature, as deployments call it (and ~12× faster than Keras's
    predict loop here: bench/serving.py), in batches that bound memory."""
    import tensorflow as tf

    if len(frame) == 0:
        raise InputError("no rows to predict")
    columns = raw_inputs(frame, bundle.features)
    name = task_of(bundle.task).output_name
    parts = []
    for start in range(0, len(frame), PREDICT_BATCH):
        batch = {k: tf.constant(v[start:start + PREDICT_BATCH]) for k, v in columns.items()}
        out = bundle.serve(**batch)
        if "label" in out:
            check_row_labels(bundle, out[name].numpy(), out["label"].numpy())
        parts.append(out[name].numpy())
    return np.concatenate(parts)


def predictions_frame(bundle: Bundle, outputs: np.ndarray) -> pd.DataFrame:
    """The prediction (and each class's probability) of every row, as the bundle's task writes them."""
    return task_of(bundle.task).prediction_frame(outputs, bundle.labels)


def predict(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """One row of predictions per input row: the label and each class's probability, or the value."""
    return predictions_frame(bundle, predict_outputs(bundle, frame))


def predict_images(bundle: Bundle, items: list[Path]) -> pd.DataFrame:
    """One row per image file: its path, the predicted label and each class's probability. Files that
    are not readable images get an empty prediction and the reason, instead of stopping the batch."""
    from autotune.vision.images import _inspect, list_image_files, pixel_limit
    from autotune.vision.pipeline import predict_files

    bundle.serve  # noqa: B018  (loading the SavedModel checks metadata.json's labels against its own)
    files = [str(f) for f in list_image_files(items)]
    limit = pixel_limit(tuple(bundle.metadata["image_size"]))  # a decompression bomb is never decoded
    problems = {f: _inspect(f, limit)[1] for f in files}
    readable = [f for f in files if problems[f] is None]
    outputs = predict_files(bundle.model, readable, tuple(bundle.metadata["image_size"]),
                            bundle.channels) if readable else None
    rows, position = [], {f: i for i, f in enumerate(readable)}
    for f in files:
        if f in position:
            probabilities = outputs[position[f]]
            rows.append({"path": f, "prediction": bundle.labels[int(probabilities.argmax())], "error": "",
                         **{f"p_{label}": float(p) for label, p in zip(bundle.labels, probabilities, strict=True)}})
        else:
            rows.append({"path": f, "prediction": "", "error": problems[f]})
    return pd.DataFrame(rows, columns=["path", "prediction", *[f"p_{label}" for label in bundle.labels], "error"])


def evaluate(bundle: Bundle, frame: pd.DataFrame) -> dict:
    """The bundle's test metrics on new labelled rows (rows with a missing target are skipped)."""
    return evaluate_with_curves(bundle, frame)[0]


def evaluate_with_curves(bundle: Bundle, frame: pd.DataFrame) -> tuple[dict, dict]:
    """The metrics, and the curve data that report.html plots (ROC, calibration, predicted vs actual...)."""
    from autotune.evaluate.metrics import curves
    from autotune.evaluate.metrics import evaluate as score

    target = bundle.metadata["target"]
    if target not in frame.columns:
        raise ColumnError(target, "the target column is needed to evaluate; use `autotune predict` for unlabelled data")
    y = task_of(bundle.task).read_target(frame[target])
    keep = y.notna().to_numpy()
    if not keep.any():
        raise ColumnError(target, "the target is missing in every row")
    outputs = predict_outputs(bundle, frame[keep])
    truth = y[keep].to_numpy()
    return score(bundle.task, truth, outputs, bundle.labels), curves(bundle.task, truth, outputs, bundle.labels)


def bundle_schema(bundle: Bundle) -> dict:
    """What a deployment feeds the bundle and gets back, from metadata.json: each column with its input key
    and dtype, the outputs, the labels, and metadata.json's sha256 (to pin the bundle with)."""
    from autotune.bundle.format import metadata_sha256

    meta = bundle.metadata
    return {"bundle": str(bundle.path), "metadata_sha256": metadata_sha256(bundle.path), "kind": bundle.kind,
            "task": bundle.task, "target": meta["target"],
            "inputs": [{"column": f["name"], "key": f["key"], "dtype": f["dtype"]} for f in meta["inputs"]],
            "outputs": meta.get("outputs"), "labels": bundle.labels}
