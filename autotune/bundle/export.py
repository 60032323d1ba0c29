"""Write the bundle: a SavedModel that takes raw columns, the .keras model, metadata and report.

Everything is written into a staging directory beside the output and renamed into place only when
complete, so a failed or interrupted run never leaves a half-written bundle behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from autotune.data.clean import Feature
from autotune.errors import InputError
from autotune.task import task_of

SCHEMA_VERSION = 1
# The optional provenance signature: with this environment variable set, `fit` writes an HMAC-SHA256 of
# metadata.json (which holds every other file's sha256) beside it, and loading refuses a bundle without a
# valid one. Detached, so metadata.json never lists it.
SIGNING_KEY_ENV = "AUTOTUNE_SIGNING_KEY"
SIGNATURE_FILE = "metadata.json.hmac"
BUNDLE_FILES = ("saved_model", "model.keras", "metadata.json", "report.json", "report.md", "report.html")
# image bundles also hold report_images/: thumbnails of misclassified test images, for report.html


@contextlib.contextmanager
def output_lock(output: Path):
    """Hold an exclusive lock on the output for the whole run: a second `autotune fit` into the same
    directory fails at once instead of corrupting the first one's work."""
    import fcntl

    output.parent.mkdir(parents=True, exist_ok=True)
    path = output.parent / f".{output.name}.lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise InputError(f"{output}: another `autotune fit` ({holder}) is writing to it; wait for it to finish "
                         "or choose another --output") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


def work_dir(output: Path) -> Path:
    """Where a run keeps its state until the bundle is published: the search (for --resume), the image
    cache and the bundle being written. Beside the output, so the final rename is atomic."""
    return output.parent / f".{output.name}.autotune-work"


def prepare_work_dir(output: Path, resume: bool, overwrite: bool) -> Path:
    work = work_dir(output)
    if work.exists() and not resume:
        if not overwrite:
            raise InputError(f"{output}: an interrupted run left its state in {work}; pass --resume to continue "
                             "it, or --overwrite to start again")
        shutil.rmtree(work)
    if resume and not work.exists():
        raise InputError(f"{output}: nothing to resume (no {work.name} beside it); run without --resume")
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "bundle", ignore_errors=True)  # a bundle half-written when the run was stopped
    return work


def resolve_output(given: Path, data: Path) -> Path:
    """The output as the filesystem sees it (symlinks followed, absolute), so the lock, the work directory and
    the final rename all act on one directory however it is spelled; refused, before anything loads, when
    publishing a bundle there would replace the directory the run needs or the user keeps (`.`, `..`, `/`, the
    home directory, the data or a folder holding it)."""
    output = Path(os.path.realpath(given))
    source = Path(os.path.realpath(data))
    cwd = Path(os.path.realpath(os.getcwd()))
    try:
        home = Path(os.path.realpath(Path.home()))
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        home = None
    checks = (("the filesystem root", output == Path(output.anchor)), ("the data itself", output == source),
              ("a parent of the data", output in source.parents),
              ("your home directory", output == home),
              ("the current directory", output == cwd), ("a parent of the current directory", output in cwd.parents))
    for what, hit in checks:
        if hit:
            raise InputError(f"--output {given}: is {what} ({output}), and publishing the bundle would replace it; "
                             f"choose a new directory for the bundle, e.g. --output runs/{Path(data).stem}")
    return output


def check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: exists and is not a directory; choose another --output")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise InputError(f"{output}: already exists and is not empty; pass --overwrite or choose another --output")


def file_hashes(bundle: Path) -> dict[str, str]:
    """sha256 of every file in a bundle but metadata.json (which records them) and its signature (which
    signs it), by relative path."""
    import hashlib

    hashes = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        name = path.relative_to(bundle).as_posix()
        if name in ("metadata.json", SIGNATURE_FILE):
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        hashes[name] = "sha256:" + digest.hexdigest()
    return hashes


def seal(bundle: Path) -> None:
    """Record every file's hash in metadata.json, so loading finds a truncated or changed copy; then
    flush the files to disk, so a crash after the rename cannot leave a bundle with empty files."""
    meta_path = bundle / "metadata.json"
    metadata = json.loads(meta_path.read_text())
    metadata["files"] = file_hashes(bundle)
    write_json(meta_path, metadata)
    for path in bundle.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())


def signing_key() -> bytes | None:
    """The deployment's HMAC key from AUTOTUNE_SIGNING_KEY, or None when it is not set (an empty value is
    refused: it would silently turn the check off)."""
    value = os.environ.get(SIGNING_KEY_ENV)
    if value is None:
        return None
    if not value:
        raise InputError(f"{SIGNING_KEY_ENV} is set but empty; set it to your key or unset it")
    return value.encode()


def metadata_signature(key: bytes, metadata: bytes) -> str:
    import hashlib
    import hmac

    return "hmac-sha256:" + hmac.new(key, metadata, hashlib.sha256).hexdigest()


def metadata_sha256(bundle: Path) -> str:
    """The sha256 of metadata.json: it pins the whole bundle (it holds every other file's hash)."""
    import hashlib

    return hashlib.sha256((Path(bundle) / "metadata.json").read_bytes()).hexdigest()


def sign(bundle: Path) -> None:
    """With AUTOTUNE_SIGNING_KEY set, write metadata.json's HMAC beside it (after seal: it signs the hashes)."""
    key = signing_key()
    if key is not None:
        signature = metadata_signature(key, (bundle / "metadata.json").read_bytes())
        (bundle / SIGNATURE_FILE).write_text(signature + "\n")


def publish(bundle: Path, output: Path, overwrite: bool) -> None:
    """Seal (and sign, when a key is set) a complete bundle and move it into place; an old one is replaced
    only after the new one is complete."""
    check_output(output, overwrite)
    seal(bundle)
    sign(bundle)
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(output, old)
    os.rename(bundle, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_saved_model(model, features: list[Feature], task: str, labels: list[str] | None,
                       path: Path) -> None:
    """A serving signature over the raw columns, each a 1-D tensor (float32 numbers, strings)."""
    import keras
    import tensorflow as tf

    signature = {
        f.key: tf.TensorSpec((None,), tf.float32 if f.dtype == "number" else tf.string, name=f.key)
        for f in features
    }
    archive = keras.export.ExportArchive()
    archive.track(model)
    kind = task_of(task)
    vocabulary = kind.label_vocabulary(labels)  # None: no class names to serve

    def serve(columns):
        raw = model({k: tf.reshape(v, (-1, 1)) for k, v in columns.items()}, training=False)
        return kind.serving_outputs(raw, vocabulary)

    archive.add_endpoint("serve", tf.function(serve), input_signature=[signature])  # the first: serving_default
    if vocabulary is not None:
        add_labels_endpoint(archive, vocabulary)
    archive.write_out(str(path), verbose=False)


def add_labels_endpoint(archive, vocabulary) -> None:
    """A `labels` signature: the class names in the order of `probabilities`, from the SavedModel itself, so
    loading can check metadata.json's `labels` against them (an edited list would relabel every prediction)."""
    import tensorflow as tf

    archive.add_endpoint("labels", tf.function(lambda: {"labels": vocabulary}), input_signature=[])
@contextlib.contextmanager
def atomic_write(path: str | Path, what: str, newline: str | None = None):
    """A text file autotune writes outside a bundle (predictions, metrics, a report page), written into a
    temporary file beside it and renamed over it only once complete: an interrupted or failed write leaves
    the previous file, or none, never a truncated one, and removes the temporary."""
    import tempfile

    given, path = path, Path(os.path.realpath(path))  # through a link, as a plain write goes: it stays a link
    if path.exists() and not path.is_file():  # a device or a pipe (/dev/null, /dev/stdout): written in place
        try:
            with open(path, "w", encoding="utf-8", newline=newline) as fh:
                yield fh
        except OSError as exc:
            raise InputError(f"{given}: cannot write {what} ({exc.strerror or exc})") from None
        return
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{given}: cannot write {what} ({exc.strerror or exc})") from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as fh:
            # mkstemp makes the file private; the result gets the mode a plain write would give it
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fh.fileno(), path.stat().st_mode & 0o7777 if path.is_file() else 0o666 & ~umask)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(f"{given}: cannot write {what} ({exc.strerror or exc})") from None
    except BaseException:  # KeyboardInterrupt (Ctrl-C, SIGTERM) included
        temporary.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_report(bundle: Path, report: dict) -> None:
    from autotune.report.html import render_html
    from autotune.report.summary import render_markdown

    write_json(bundle / "report.json", report)
    (bundle / "report.md").write_text(render_markdown(report))
    # From report.json as written, so `autotune report BUNDLE -o FILE` rebuilds the page byte for byte.
    written = json.loads((bundle / "report.json").read_text())
    (bundle / "report.html").write_text(render_html(written, bundle), encoding="utf-8")
