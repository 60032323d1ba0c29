"""Use a bundle: load it, predict on new rows, evaluate on new labelled rows."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autotune.clean import Feature, raw_inputs
from autotune.errors import ColumnError, InputError
from autotune.export import SCHEMA_VERSION
from autotune.profile import CLASSIFICATION, coerce_numeric, label_strings


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
    def serve(self):
        """The SavedModel's serving signature — what deployments call — loaded on first use."""
        if self._serve is None:
            import tensorflow as tf

            check_saved_model_ops(self.path / "saved_model")  # before TensorFlow runs anything in it
            try:
                self._serve = tf.saved_model.load(str(self.path / "saved_model")).signatures["serving_default"]
            except (OSError, ValueError, KeyError, tf.errors.OpError) as exc:
                detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
                raise InputError(f"{self.path / 'saved_model'}: cannot be loaded ({detail}); "
                                 "re-export the bundle with `autotune fit`") from None
        return self._serve

    @property
    def model(self):
        """The Keras model from raw columns to outputs, loaded on first use with safe_mode=True."""
        if self._model is None:
            import keras

            from autotune import layers  # noqa: F401  (registers the custom layers for loading)

            try:
                self._model = keras.saving.load_model(self.path / "model.keras", safe_mode=True, compile=False)
            except (ValueError, OSError, KeyError) as exc:
                detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
                raise InputError(f"{self.path / 'model.keras'}: cannot be loaded ({detail}); "
                                 "re-export the bundle with `autotune fit`") from None
        return self._model


# Every op an autotune SavedModel holds (tabular and image bundles, every searched layer and activation, the
# Keras Applications backbones), plus TensorFlow's own checkpoint save/restore machinery. A SavedModel is a
# program: one with any other op — reading or writing files, running Python (PyFunc), printing, talking to
# the network — was not written by autotune and is refused before it is loaded.
ALLOWED_OPS = frozenset("""
    Abs AddN AddV2 All Any ArgMax ArgMin Assert AssignVariableOp AvgPool BatchMatMulV2 BiasAdd BroadcastArgs
    BroadcastTo Cast Ceil ClipByValue ConcatV2 Const Conv2D Cos Cumsum DecodeBmp DecodeGif DecodeImage
    DecodeJpeg DecodePng DepthwiseConv2dNative DisableCopyOnRead Einsum Elu EnsureShape Equal Erf Erfc Exp
    ExpandDims Fill Floor FloorDiv FloorMod FusedBatchNormV3 GatherV2 Greater GreaterEqual HashTableV2
    Identity IdentityN If IsFinite IsInf IsNan LeakyRelu Less LessEqual Log Log1p LogicalAnd LogicalNot
    LogicalOr LookupTableFindV2 LookupTableImportV2 LookupTableSizeV2 MatMul Max MaxPool Maximum Mean
    MergeV2Checkpoints Min Minimum Mul Neg NoOp NotEqual OneHot OnesLike Pack Pad PadV2 PartitionedCall
    Placeholder Pow Prod Range Rank ReadVariableOp RealDiv Reciprocal Relu Relu6 Reshape ResizeArea
    ResizeBicubic ResizeBilinear ResizeNearestNeighbor RestoreV2 Round Rsqrt SaveV2 ScaleAndTranslate Select
    SelectV2 Selu Shape ShapeN ShardedFilename Sigmoid Sign Sin Size Slice Softmax Softplus Softsign Split
    SplitV Sqrt Square SquaredDifference Squeeze StatefulPartitionedCall StatelessIf StatelessWhile
    StaticRegexFullMatch StaticRegexReplace StopGradient StridedSlice StringJoin StringStrip Sub Sum Tanh
    TensorListElementShape TensorListFromTensor TensorListGetItem TensorListLength TensorListReserve
    TensorListSetItem TensorListStack Tile Transpose Unpack VarHandleOp VarIsInitializedOp Where While
    ZerosLike
""".split())


def saved_model_ops(path: Path) -> set[str]:
    """Every op in a SavedModel's graph and in every function of its library (what its signatures call,
    however deeply), read from saved_model.pb without loading it."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    try:
        model.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    except (OSError, DecodeError) as exc:
        raise InputError(f"{path}: cannot be loaded (saved_model.pb: {type(exc).__name__}); re-export the bundle "
                         "with `autotune fit`") from None
    ops = set()
    for graph in model.meta_graphs:
        ops |= {node.op for node in graph.graph_def.node}
        for function in graph.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def check_saved_model_ops(path: Path) -> None:
    """Refuse a SavedModel holding an op autotune never exports (its hashes prove nothing: whoever can edit
    a file can edit metadata.json too)."""
    foreign = sorted(saved_model_ops(path) - ALLOWED_OPS)
    if foreign:
        raise InputError(f"{path}: holds op(s) an autotune bundle never contains ({', '.join(foreign[:5])}); "
                         "refused without running it — use a bundle made by `autotune fit` from a source you trust")


def load_bundle(path: str | Path) -> Bundle:
    path = Path(path)
    meta_path = path / "metadata.json"
    if not path.is_dir():
        raise InputError(f"{path}: no such bundle directory; pass the output directory of `autotune fit`")
    if not meta_path.exists():
        raise InputError(f"{path}: not an autotune bundle (no metadata.json); pass the output directory of `autotune fit`")
    try:
        metadata = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path}: unreadable ({exc.msg}); re-export the bundle") from None
    version = metadata.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InputError(
            f"{path}: bundle schema version {version!r} is not supported by this autotune "
            f"(expects {SCHEMA_VERSION}); use the autotune version that made it ({metadata.get('versions', {}).get('autotune', '?')})"
        )
    for name in ("model.keras", "saved_model"):
        if not (path / name).exists():
            raise InputError(f"{path}: incomplete bundle, {name} is missing; re-run `autotune fit`")
    verify_files(path, metadata)
    features = [Feature.from_dict(f) for f in metadata["inputs"]] if metadata.get("kind", "tabular") == "tabular" else []
    return Bundle(path, metadata, features)


def verify_files(path: Path, metadata: dict) -> None:
    """Every file metadata.json lists is present with the same sha256: a truncated or partial copy of a
    bundle is reported here, never half-used. (Bundles from before hashes were recorded have no list.)"""
    from autotune.export import file_hashes

    expected = metadata.get("files")
    if not expected:
        return
    if not isinstance(expected, dict):
        raise InputError(f"{path}: metadata.json has an unreadable file list; re-export the bundle")
    present = file_hashes(path)
    for name, digest in expected.items():
        problem = ("is missing" if name not in present else
                   "does not match its hash in metadata.json (truncated or changed)" if present[name] != digest
                   else None)
        if problem:
            raise InputError(f"{path}: bundle is incomplete or corrupt: {name} {problem}; copy the whole "
                             "bundle again or re-run `autotune fit`")


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


PREDICT_BATCH = 10_000


def predict_outputs(bundle: Bundle, frame: pd.DataFrame) -> np.ndarray:
    """Through the SavedModel's signature, as deployments call it (and ~12× faster than Keras's
    predict loop here: bench/serving.py), in batches that bound memory."""
    import tensorflow as tf

    if len(frame) == 0:
        raise InputError("no rows to predict")
    columns = raw_inputs(frame, bundle.features)
    name = "probabilities" if bundle.task == CLASSIFICATION else "value"
    parts = []
    for start in range(0, len(frame), PREDICT_BATCH):
        batch = {k: tf.constant(v[start:start + PREDICT_BATCH]) for k, v in columns.items()}
        parts.append(bundle.serve(**batch)[name].numpy())
    return np.concatenate(parts)


def predictions_frame(bundle: Bundle, outputs: np.ndarray) -> pd.DataFrame:
    if bundle.task == CLASSIFICATION:
        labels = bundle.labels
        table = pd.DataFrame({"prediction": np.asarray(labels, dtype=object)[outputs.argmax(axis=1)]})
        for i, label in enumerate(labels):
            table[f"p_{label}"] = outputs[:, i]
        return table
    return pd.DataFrame({"prediction": outputs.reshape(-1)})


def predict(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """One row of predictions per input row: the label and each class's probability, or the value."""
    return predictions_frame(bundle, predict_outputs(bundle, frame))


def predict_images(bundle: Bundle, items: list[Path]) -> pd.DataFrame:
    """One row per image file: its path, the predicted label and each class's probability. Files that
    are not readable images get an empty prediction and the reason, instead of stopping the batch."""
    from autotune.images import _inspect, list_image_files, pixel_limit
    from autotune.vision import predict_files

    files = [str(f) for f in list_image_files(items)]
    limit = pixel_limit(tuple(bundle.metadata["image_size"]))  # a decompression bomb is never decoded
    problems = {f: _inspect(f, limit)[1] for f in files}
    readable = [f for f in files if problems[f] is None]
    outputs = predict_files(bundle.model, readable, tuple(bundle.metadata["image_size"])) if readable else None
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
    from autotune.evaluate import curves
    from autotune.evaluate import evaluate as score

    target = bundle.metadata["target"]
    if target not in frame.columns:
        raise ColumnError(target, "the target column is needed to evaluate; use `autotune predict` for unlabelled data")
    y = label_strings(frame[target]) if bundle.task == CLASSIFICATION else coerce_numeric(frame[target])[0]
    keep = y.notna().to_numpy()
    if not keep.any():
        raise ColumnError(target, "the target is missing in every row")
    outputs = predict_outputs(bundle, frame[keep])
    truth = y[keep].to_numpy()
    return score(bundle.task, truth, outputs, bundle.labels), curves(bundle.task, truth, outputs, bundle.labels)
