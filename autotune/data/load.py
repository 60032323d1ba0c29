"""Load a tabular file into a DataFrame and resolve the target column.

Everything here is pure pandas: no TensorFlow, so errors in the input are reported fast.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autotune import interrupt
from autotune.errors import InputError

TARGET_NAMES = ("target", "label", "class", "y")
_SNIFF_BYTES = 64 * 1024
_PARQUET_MAGIC = b"PAR1"
PIPE_WAIT = 60.0  # seconds a pipe or FIFO may stay silent before its first byte


@dataclass(frozen=True)
class LoadedData:
    path: Path
    frame: pd.DataFrame
    encoding: str | None
    delimiter: str | None
    fingerprint: str  # sha256 of the file's bytes
    notes: tuple[str, ...] = ()


def fingerprint(path: Path) -> str:
    """sha256 of the file's bytes: the data's identity in metadata, reports and the resume check."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _sniff_encoding(head: bytes, path: Path) -> tuple[str, list[str]]:
    if b"\x00" in head:
        raise InputError(f"{path}: this looks like a binary file, not CSV text; pass a CSV or Parquet file")
    for enc in ("utf-8-sig", "utf-8"):
        try:
            head.decode(enc)
            return enc, []
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of a partial sniffed block is still UTF-8.
            if len(head) == _SNIFF_BYTES and exc.start >= len(head) - 3:
                return enc, []
    return "latin-1", [f"{path.name} is not UTF-8; read it as Latin-1"]


def _sniff_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()][:20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: str | Path) -> LoadedData:
    """Read a CSV (encoding and delimiter sniffed) or Parquet file; raise InputError on anything unusable.

    A pipe, FIFO or /dev/stdin can be read only once, and reading a file takes three passes (sniff,
    parse, fingerprint): such an input is copied once to a temporary file and read from there."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; pass a CSV or Parquet file")
    if not path.is_file():
        with _spooled(path) as copy:
            return _read_file(copy, path)
    return _read_file(path, path)


@contextlib.contextmanager
def _spooled(path: Path) -> Iterator[Path]:
    """A pipe's whole content in a temporary file, deleted afterwards. Opened without blocking, so a
    FIFO that no program writes is refused after PIPE_WAIT seconds instead of waited on forever."""
    import select
    import tempfile

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); pass a CSV or Parquet file") from None
    name = None
    try:
        with interrupt.deferred():  # a signal as the copy is made: held until its name is known
            handle, name = tempfile.mkstemp(prefix="autotune-input-")
        with os.fdopen(handle, "wb") as copy:
            ready = select.poll()
            ready.register(fd, select.POLLIN | select.POLLHUP)
            if not ready.poll(int(PIPE_WAIT * 1000)):
                raise InputError(f"{path}: nothing arrived on this pipe within {PIPE_WAIT:g} s; start the program "
                                 "that writes it first, or save the data to a file and pass that")
            os.set_blocking(fd, True)
            for block in iter(lambda: os.read(fd, 1 << 20), b""):
                copy.write(block)
        yield Path(name)
    finally:
        os.close(fd)
        if name is not None:
            Path(name).unlink(missing_ok=True)


def _read_file(file: Path, path: Path) -> LoadedData:
    """read_table on `file`, naming it `path` in every message (the pipe a spooled copy came from)."""
    with open(file, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise InputError(f"{path}: the file is empty; it needs a header row and data rows")
    if head.startswith(_PARQUET_MAGIC) or path.suffix.lower() in (".parquet", ".pq"):
        frame = _read_parquet(file, path)
        return LoadedData(path, _check_frame(frame, path), None, None, fingerprint(file))
    encoding, notes = _sniff_encoding(head, path)
    text = head.decode(encoding, errors="replace")
    if text.lstrip().startswith(("{", "[")):
        raise InputError(f"{path}: this looks like JSON, not CSV; convert it to CSV or Parquet")
    delimiter = _sniff_delimiter(text)
    header = next(csv.reader(text.splitlines()[:1], delimiter=delimiter), [])
    _check_unique([h.strip() for h in header], path)
    try:
        # index_col=False: a trailing delimiter on every row must not turn the first column into the index.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            try:
                frame = pd.read_csv(file, sep=delimiter, encoding=encoding, skipinitialspace=True, index_col=False)
            except UnicodeDecodeError:
                if encoding == "latin-1":
                    raise
                # UTF-8 in the sniffed block, something else further on: Latin-1 reads any byte.
                notes.append(f"{path.name} is not UTF-8 past its first {_SNIFF_BYTES // 1024} KB; read it as Latin-1")
                encoding = "latin-1"
                frame = pd.read_csv(file, sep=delimiter, encoding=encoding, skipinitialspace=True, index_col=False)
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: cannot parse as CSV ({_first_line(exc)}); check for ragged rows or quoting") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: no columns found; the file needs a header row") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot decode the text ({exc.reason}); save it as UTF-8") from None
    if any("Length of header" in str(w.message) for w in caught):  # pandas would silently drop fields
        raise InputError(f"{path}: the header has {len(frame.columns)} column(s) but the rows have more; remove any "
                         "title or comment lines above the header")
    return LoadedData(path, _check_frame(frame, path), encoding, delimiter, fingerprint(file), tuple(notes))


def _read_parquet(file: Path, path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(f"{path}: reading Parquet needs pyarrow; pip install 'autotune[parquet]'") from None
    try:
        return pd.read_parquet(file)
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise InputError(f"{path}: cannot read as Parquet ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    names = [str(c).strip() for c in frame.columns]  # "label " in a header written as "x , label " is "label"
    _check_unique(names, path)
    if len(frame) == 0:
        raise InputError(f"{path}: has a header but no data rows")
    frame.columns = names
    return frame


def _check_unique(names: list[str], path: Path) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{path}: duplicate column names {dupes}; give every column a unique name")


def resolve_target(frame: pd.DataFrame, target: str | None, path: Path) -> str:
    """The target column: the one named, else a conventional name, else an error listing the columns."""
    columns = list(frame.columns)
    if target is not None:
        if target in columns:
            return target
        folded = [c for c in columns if c.lower() == target.lower()]
        hint = f' (did you mean "{folded[0]}"?)' if folded else ""
        raise InputError(f'{path}: no column "{target}"{hint}; columns are: {", ".join(columns)}')
    for name in TARGET_NAMES:
        for column in columns:
            if column.lower() == name:
                return column
    raise InputError(
        f"{path}: no target column named {'/'.join(TARGET_NAMES)}; pass --target with one of: {', '.join(columns)}"
    )
