"""The bundle's format, shared by the code that writes a bundle (export.py) and the code that reads one
(load.py): its schema version, its files, their hashes and the optional provenance signature."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from autotune.errors import InputError

SCHEMA_VERSION = 1
# The optional provenance signature: with this environment variable set, `fit` writes an HMAC-SHA256 of
# metadata.json (which holds every other file's sha256) beside it, and loading refuses a bundle without a
# valid one. Detached, so metadata.json never lists it.
SIGNING_KEY_ENV = "AUTOTUNE_SIGNING_KEY"
SIGNATURE_FILE = "metadata.json.hmac"
BUNDLE_FILES = ("saved_model", "model.keras", "metadata.json", "report.json", "report.md", "report.html")
# image bundles also hold report_images/: thumbnails of misclassified test images, for report.html


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
    """The HMAC-SHA256 of metadata.json's bytes under the signing key, as metadata.sig holds it."""
    import hashlib
    import hmac

    return "hmac-sha256:" + hmac.new(key, metadata, hashlib.sha256).hexdigest()


def metadata_sha256(bundle: Path) -> str:
    """The sha256 of metadata.json: it pins the whole bundle (it holds every other file's hash)."""
    import hashlib

    return hashlib.sha256((Path(bundle) / "metadata.json").read_bytes()).hexdigest()


def write_json(path: Path, data: dict) -> None:
    """A bundle's JSON file, indented, with numpy values as plain numbers."""
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
