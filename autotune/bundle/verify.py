"""Whether a bundle may be trusted, decided before and while it is used: metadata.json pinned (--expect-sha256)
and signed (AUTOTUNE_SIGNING_KEY) when asked, valid against its schema (the kind's own fields checked by its
Modality), every file it lists present with its hash, the SavedModel's graph free of any op autotune never
exports, and metadata.json's inputs and labels the SavedModel's own. load.py reads and predicts; this refuses."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autotune.bundle.format import SCHEMA_VERSION, SIGNATURE_FILE, SIGNING_KEY_ENV
from autotune.errors import InputError
from autotune.modality import Modality, modalities, modality_named
from autotune.task import TASKS, task_of

if TYPE_CHECKING:
    from autotune.bundle.load import Bundle

CORRUPT = "; the bundle is corrupt or was edited — re-export it with `autotune fit`"


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
""".split()) | frozenset({  # free text (TextVectorization, TF-IDF): lowercase, split, count; no file or network I/O
    "StringLower", "StringSplitV2", "DenseBincount", "RaggedBincount",
    "RaggedTensorToTensor",  # ... the word ids padded or cut to the sequence encoders' length
    "ReverseV2",  # a bidirectional GRU's backward pass over the words
    "LowerBound", "UpperBound", "Erfinv"})  # numbers' normal scores (layers.NumberEmbeddings: searchsorted, erfinv)


CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints"})  # read, write and delete files


def _parse_saved_model(path: Path):
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    try:
        model.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    except (OSError, DecodeError) as exc:
        raise InputError(f"{path}: cannot be loaded (saved_model.pb: {type(exc).__name__}); re-export the bundle "
                         "with `autotune fit`") from None
    return model


def _called(nodes) -> set[str]:
    """The functions that these nodes call (PartitionedCall's f, While's cond/body, If's branches, ...)."""
    names = set()
    for node in nodes:
        for value in node.attr.values():
            if value.HasField("func"):
                names.add(value.func.name)
            names.update(f.name for f in value.list.func)
    return names


def _closure(roots: set[str], functions: dict) -> set[str]:
    reached, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in reached or name not in functions:
            continue
        reached.add(name)
        todo.extend(_called(functions[name].node_def))
    return reached


def saved_model_ops(path: Path) -> set[str]:
    """Every op in a SavedModel's graph and in every function of its library (what its signatures call,
    however deeply), read from saved_model.pb without loading it."""
    ops = set()
    for graph in _parse_saved_model(path).meta_graphs:
        ops |= {node.op for node in graph.graph_def.node}
        for function in graph.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def foreign_ops(path: Path) -> set[str]:
    """The ops of a SavedModel that autotune never exports where they are: any op outside ALLOWED_OPS, and the
    checkpoint ops (which read, write and delete files at the paths they are given) anywhere but in the functions
    only the saver calls (the meta graph's saver_def: TensorFlow's own save and restore of the variables)."""
    foreign = set()
    for graph in _parse_saved_model(path).meta_graphs:
        functions = {f.signature.name: f for f in graph.graph_def.library.function}
        saver_nodes = {name.split(":")[0] for name in (graph.saver_def.save_tensor_name,
                                                         graph.saver_def.restore_op_name) if name}
        nodes = [n for n in graph.graph_def.node if n.name not in saver_nodes]
        saver = _closure(_called(n for n in graph.graph_def.node if n.name in saver_nodes), functions)
        # every function anything else may call (the signatures, the objects' methods and initializers)
        other = _closure(_called(nodes) | (set(functions) - saver), functions)
        strict = ALLOWED_OPS - CHECKPOINT_OPS
        foreign |= {n.op for n in nodes} - strict
        for name in other:
            foreign |= {n.op for n in functions[name].node_def} - strict
        for name in saver - other:
            foreign |= {n.op for n in functions[name].node_def} - ALLOWED_OPS
    return foreign


def check_saved_model_ops(path: Path) -> None:
    """Refuse a SavedModel holding an op autotune never exports (its hashes prove nothing: whoever can edit
    a file can edit metadata.json too)."""
    foreign = sorted(foreign_ops(path))
    if foreign:
        raise InputError(f"{path}: holds op(s) an autotune bundle never contains ({', '.join(foreign[:5])}); "
                         "refused without running it — use a bundle made by `autotune fit` from a source you trust")


def trusted_metadata(path: Path, expect_sha256: str | None = None) -> dict:
    """metadata.json of the bundle at `path`, once it is pinned and signed when asked, valid against its schema,
    and every file it lists is present with its hash; else an InputError saying what to do."""
    meta_path = path / "metadata.json"
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
    return metadata


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


class _Invalid(Exception):
    """A metadata.json field autotune would not have written: which field, and what it must be."""

    def __init__(self, field: str, problem: str):
        super().__init__(field, problem)
        self.field, self.problem = field, problem


def validate_metadata(meta_path: Path, metadata: dict) -> None:
    """The fields load_bundle, predict and evaluate use, each of the type and in the range autotune writes:
    an edited or damaged metadata.json is refused here, in one line naming the field, never later as an
    IndexError or TypeError. (What the SavedModel itself takes is checked when it is loaded.) The bundle's
    Modality checks the fields of its kind: what each input holds, and the kind's own fields."""
    try:
        modality = _check_header(metadata)
        inputs = metadata.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise _Invalid("inputs", "must be the list of the model's input columns")
        keys: set[str] = set()
        for i, entry in enumerate(inputs):
            _check_input(entry, f"inputs[{i}]", keys)
        problem = modality.metadata_problem(metadata)
        if problem:
            raise _Invalid(*problem)
    except _Invalid as invalid:
        raise InputError(f'{meta_path}: field "{invalid.field}" {invalid.problem}{CORRUPT}') from None


def _check_header(metadata: dict) -> Modality:
    """The bundle-wide fields (files, kind, task, target, labels, dropped columns); returns the kind's Modality."""
    files = metadata.get("files")
    if files is None:
        raise _Invalid("files", "is missing (the sha256 of every file)")
    if not isinstance(files, dict) or not files or not all(
            isinstance(k, str) and isinstance(v, str) and re.fullmatch(r"sha256:[0-9a-f]{64}", v)
            for k, v in files.items()):
        raise _Invalid("files", 'must map each file of the bundle to its "sha256:…" hash')
    kind = metadata.get("kind", "tabular")
    modality = modality_named(kind)
    if modality is None:
        raise _Invalid("kind", f"must be {' or '.join(json.dumps(m.name) for m in modalities())}, "
                               f"not {json.dumps(kind)}")
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
    return modality


def _check_input(entry, where: str, keys: set[str]) -> None:
    """One entry of `inputs`: an object with a name and a key, unique case-insensitively (what else it holds
    is its kind's: Modality.metadata_problem)."""
    if not isinstance(entry, dict):
        raise _Invalid(where, f"must be an object, not {_json_type(entry)}")
    for name in ("name", "key"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise _Invalid(f"{where}.{name}", "must be a non-empty string")
    if entry["key"].lower() in keys:
        raise _Invalid(f"{where}.key", f"{json.dumps(entry['key'])} is used by another input")
    keys.add(entry["key"].lower())


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
