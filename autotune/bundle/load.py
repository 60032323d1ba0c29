"""Use a bundle: load it, predict on new rows, evaluate on new labelled rows."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from autotune.bundle.format import SCHEMA_VERSION, SIGNATURE_FILE, SIGNING_KEY_ENV
from autotune.data.clean import Feature, raw_inputs
from autotune.data.profile import coerce_numeric
from autotune.errors import ColumnError, InputError
from autotune.task import TASKS, task_of

CORRUPT = "; the bundle is corrupt or was edited — re-export it with `autotune fit`"


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


def load_bundle(path: str | Path, expect_sha256: str | None = None) -> Bundle:
    """Open a bundle for use: metadata.json pinned (--expect-sha256) and signed (AUTOTUNE_SIGNING_KEY) when
    asked, valid against its schema, and every file it lists present with its hash."""
    path = Path(path)
    meta_path = path / "metadata.json"
    if not path.is_dir():
        raise InputError(f"{path}: no such bundle directory; pass the output directory of `autotune fit`")
    if not meta_path.exists():
        raise InputError(f"{path}: not an autotune bundle (no metadata.json); pass the output directory of `autotune fit`")
    raw = meta_path.read_bytes()
    if expect_sha256 is not None:
        import hashlib

        actual = hashlib.sha256(raw).hexdigest()
        if actual != expect_sha256:
            raise InputError(f"{meta_path}: sha256 is {actual}, not the expected {expect_sha256}; refused — this is "
                             "not the bundle you pinned")
    verify_signature(path, raw)
    try:
        metadata = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = getattr(exc, "msg", type(exc).__name__)
        raise InputError(f"{meta_path}: unreadable ({detail}); re-export the bundle") from None
    if not isinstance(metadata, dict):
        raise InputError(f"{meta_path}: must be a JSON object, not {_json_type(metadata)}{CORRUPT}")
    version = metadata.get("schema_version")
    if version != SCHEMA_VERSION:
        versions = metadata.get("versions") if isinstance(metadata.get("versions"), dict) else {}
        raise InputError(
            f"{path}: bundle schema version {version!r} is not supported by this autotune "
            f"(expects {SCHEMA_VERSION}); use the autotune version that made it ({versions.get('autotune', '?')})"
        )
    validate_metadata(meta_path, metadata)
    for name in ("model.keras", "saved_model"):
        if not (path / name).exists():
            raise InputError(f"{path}: incomplete bundle, {name} is missing; re-run `autotune fit`")
    verify_files(path, metadata)
    features = [Feature.from_dict(f) for f in metadata["inputs"]] if metadata.get("kind", "tabular") == "tabular" else []
    return Bundle(path, metadata, features)


def verify_signature(path: Path, metadata: bytes) -> None:
    """With AUTOTUNE_SIGNING_KEY set, metadata.json must carry a valid HMAC under it: the hashes it holds
    then prove where the bundle came from, not only that it is whole."""
    import hmac

    from autotune.bundle.format import metadata_signature, signing_key

    key = signing_key()
    if key is None:
        return
    signature = path / SIGNATURE_FILE
    if not signature.is_file():
        raise InputError(f"{path}: not signed (no {SIGNATURE_FILE}) while {SIGNING_KEY_ENV} is set; refused — "
                         "re-export it with `autotune fit` under the same key")
    given = signature.read_bytes().decode("utf-8", "replace").strip()
    if not hmac.compare_digest(given.encode(), metadata_signature(key, metadata).encode()):
        raise InputError(f"{signature}: the signature does not match metadata.json under {SIGNING_KEY_ENV} "
                         "(edited, or signed with another key); refused — use a bundle signed with your key")


def _json_type(value) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")  # what clean.input_key makes
FEATURE_FIELDS = {f.name for f in fields(Feature)}
FEATURE_NUMBERS = ("fill", "clip_low", "clip_high", "mean", "variance")


class _Invalid(Exception):
    """A metadata.json field autotune would not have written: which field, and what it must be."""

    def __init__(self, field: str, problem: str):
        super().__init__(field, problem)
        self.field, self.problem = field, problem


def validate_metadata(meta_path: Path, metadata: dict) -> None:
    """The fields load_bundle, predict and evaluate use, each of the type and in the range autotune writes:
    an edited or damaged metadata.json is refused here, in one line naming the field, never later as an
    IndexError or TypeError. (What the SavedModel itself takes is checked when it is loaded.)"""
    try:
        kind = _check_header(metadata)
        inputs = metadata.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise _Invalid("inputs", "must be the list of the model's input columns")
        keys: set[str] = set()
        for i, entry in enumerate(inputs):
            _check_input(entry, f"inputs[{i}]", kind, keys)
        if kind == "image":
            size = metadata.get("image_size")
            if not isinstance(size, list) or len(size) != 2 or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 4096 for v in size):
                raise _Invalid("image_size", "must be [width, height] in pixels")
    except _Invalid as invalid:
        raise InputError(f'{meta_path}: field "{invalid.field}" {invalid.problem}{CORRUPT}') from None


def _check_header(metadata: dict) -> str:
    """The bundle-wide fields (files, kind, task, target, labels, dropped columns); returns the kind."""
    files = metadata.get("files")
    if files is None:
        raise _Invalid("files", "is missing (the sha256 of every file)")
    if not isinstance(files, dict) or not files or not all(
            isinstance(k, str) and isinstance(v, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", v)
            for k, v in files.items()):
        raise _Invalid("files", 'must map each file of the bundle to its "sha256:…" hash')
    kind = metadata.get("kind", "tabular")
    if kind not in ("tabular", "image"):
        raise _Invalid("kind", f'must be "tabular" or "image", not {json.dumps(kind)}')
    task = metadata.get("task")
    if task not in tuple(TASKS):  # a tuple: JSON may hold an unhashable value here
        raise _Invalid("task", f"must be {' or '.join(json.dumps(name) for name in TASKS)}, not {json.dumps(task)}")
    if not isinstance(metadata.get("target"), str):
        raise _Invalid("target", "must be the target column's name")
    problem = task_of(task).check_labels(metadata.get("labels"))
    if problem:
        raise _Invalid("labels", problem)
    dropped = metadata.get("dropped_columns", [])
    if not isinstance(dropped, list) or not all(isinstance(v, str) for v in dropped):
        raise _Invalid("dropped_columns", "must be a list of column names")
    return kind


def _check_input(entry, where: str, kind: str, keys: set[str]) -> None:
    """One entry of `inputs`: its name and key (unique, case-insensitively), then what its kind needs."""
    if not isinstance(entry, dict):
        raise _Invalid(where, f"must be an object, not {_json_type(entry)}")
    for name in ("name", "key"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise _Invalid(f"{where}.{name}", "must be a non-empty string")
    if not KEY.fullmatch(entry["key"]) and kind == "tabular":
        raise _Invalid(f"{where}.key", f"{json.dumps(entry['key'])} is not an input name autotune makes")
    if entry["key"].lower() in keys:
        raise _Invalid(f"{where}.key", f"{json.dumps(entry['key'])} is used by another input")
    keys.add(entry["key"].lower())
    if kind == "image":
        if entry.get("dtype") != "bytes":
            raise _Invalid(f"{where}.dtype", 'must be "bytes" for an image bundle')
        return
    _check_column(entry, where)


def _check_column(entry: dict, where: str) -> None:
    """A tabular input: the fields of a clean.Feature, each of its type."""
    unknown = sorted(set(entry) - FEATURE_FIELDS)
    if unknown:
        raise _Invalid(f"{where}.{unknown[0]}", "is not a field of an input")
    if entry.get("kind") not in ("numeric", "categorical"):
        raise _Invalid(f"{where}.kind", 'must be "numeric" or "categorical"')
    if entry.get("dtype") not in ("number", "string"):
        raise _Invalid(f"{where}.dtype", 'must be "number" or "string"')
    for name in FEATURE_NUMBERS:
        if entry.get(name) is not None and not _is_number(entry[name]):
            raise _Invalid(f"{where}.{name}", "must be a number")
    for name in ("missing_indicator", "thousands"):
        if not isinstance(entry.get(name, False), bool):
            raise _Invalid(f"{where}.{name}", "must be true or false")
    vocabulary = entry.get("vocabulary", [])
    if not isinstance(vocabulary, list) or not all(isinstance(v, str) or _is_number(v) for v in vocabulary):
        raise _Invalid(f"{where}.vocabulary", "must be a list of categories")
    components = entry.get("components", [])
    if not isinstance(components, list) or not all(_is_number(v) for v in components):
        raise _Invalid(f"{where}.components", "must be a list of numbers")


SERVING_DTYPES = {"number": "float32", "string": "string", "bytes": "string"}


def check_against_saved_model(bundle: Bundle, serve, labels_signature) -> None:
    """metadata.json describes the SavedModel: the same input keys with the same dtypes, and the same class
    names in the same order as the SavedModel's own `labels` output. An edited list would otherwise feed a
    column under the wrong type or silently relabel every prediction."""
    meta_path = bundle.path / "metadata.json"

    def bad(field: str, problem: str) -> InputError:
        return InputError(f'{meta_path}: field "{field}" {problem}{CORRUPT}')

    takes = {key: spec.dtype.name for key, spec in serve.structured_input_signature[1].items()}
    for i, entry in enumerate(bundle.metadata["inputs"]):
        key, dtype = entry["key"], entry["dtype"]
        if key not in takes:
            raise bad(f"inputs[{i}].key", f"{json.dumps(key)} is not an input of the SavedModel "
                                          f"(it takes {', '.join(sorted(takes))})")
        if SERVING_DTYPES[dtype] != takes[key]:
            raise bad(f"inputs[{i}].dtype", f'is "{dtype}" but the SavedModel takes {takes[key]} for input "{key}"')
    listed = {entry["key"] for entry in bundle.metadata["inputs"]}
    unlisted = sorted(set(takes) - listed)
    if unlisted:
        raise bad("inputs", f'lacks the SavedModel\'s input "{unlisted[0]}"')
    if task_of(bundle.task).has_classes and labels_signature is not None:
        own = [v.decode("utf-8") for v in labels_signature()["labels"].numpy()]
        if own != bundle.labels:
            raise bad("labels", f"{json.dumps(bundle.labels, ensure_ascii=False)} does not match the SavedModel's "
                                f"own labels {json.dumps(own, ensure_ascii=False)}")


def verify_files(path: Path, metadata: dict) -> None:
    """Every file metadata.json lists is present with the same sha256: a truncated or partial copy of a
    bundle is reported here, never half-used. (validate_metadata has refused a missing or malformed list.)"""
    from autotune.bundle.format import file_hashes

    expected = metadata["files"]
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
    name = task_of(bundle.task).output_name
    parts = []
    for start in range(0, len(frame), PREDICT_BATCH):
        batch = {k: tf.constant(v[start:start + PREDICT_BATCH]) for k, v in columns.items()}
        out = bundle.serve(**batch)
        if "label" in out:
            check_row_labels(bundle, out[name].numpy(), out["label"].numpy())
        parts.append(out[name].numpy())
    return np.concatenate(parts)


def check_row_labels(bundle: Bundle, probabilities: np.ndarray, named: np.ndarray) -> None:
    """Each row's class as the SavedModel names it is the one metadata.json's `labels` gives its largest
    probability (for bundles whose SavedModel predates the `labels` signature checked at load)."""
    width = probabilities.shape[1] if probabilities.ndim == 2 else 0
    if width != len(bundle.labels):
        raise InputError(f'{bundle.path / "metadata.json"}: field "labels" lists {len(bundle.labels)} classes but the '
                         f"SavedModel outputs {width}{CORRUPT}")
    ours = np.asarray(bundle.labels, dtype=object)[probabilities.argmax(axis=1)]
    theirs = np.array([v.decode("utf-8") for v in named], dtype=object)
    differ = np.flatnonzero(ours != theirs)
    if len(differ):
        raise InputError(f'{bundle.path / "metadata.json"}: field "labels" names a row "{ours[differ[0]]}" where the '
                         f'SavedModel says "{theirs[differ[0]]}"{CORRUPT}')


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
