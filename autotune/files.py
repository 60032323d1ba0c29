"""Files autotune writes outside a bundle (predictions, metrics, a report page), each whole or not at all."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from autotune import interrupt
from autotune.errors import InputError


@contextlib.contextmanager
def replaced(path: Path, newline: str | None = None, sync: bool = False, binary: bool = False):
    """A text file (`binary`: bytes) written into a temporary beside `path` and renamed over it once the block completes: on any
    error or interrupt the temporary is removed and `path` is as it was. The temporary is made with SIGTERM/SIGINT
    held (interrupt.deferred), so a signal cannot land between its creation and its name being known. OSError
    propagates; `sync` flushes the file to disk before the rename. Shared by atomic_write, keras-tuner's state
    files (kt_compat.atomic_state_files) and what a search's workers share (SearchHyperModel.shared_dir, the chief's
    prepared images: ImageRun.prepare)."""
    import tempfile

    temporary = None
    try:
        with interrupt.deferred():  # a signal as the temporary is made: held until its name is known
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
            temporary = Path(name)
        with (os.fdopen(handle, "wb") if binary else os.fdopen(handle, "w", encoding="utf-8", newline=newline)) as fh:
            yield fh
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:  # KeyboardInterrupt (Ctrl-C, SIGTERM) included
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_write(path: str | Path, what: str, newline: str | None = None):
    """A text file autotune writes outside a bundle (predictions, metrics, a report page), written into a
    temporary file beside it and renamed over it only once complete (`replaced`): an interrupted or failed write
    leaves the previous file, or none, never a truncated one, and removes the temporary."""
    given, path = path, Path(os.path.realpath(path))  # through a link, as a plain write goes: it stays a link
    try:
        if path.exists() and not path.is_file():  # a device or a pipe (/dev/null, /dev/stdout): written in place
            with open(path, "w", encoding="utf-8", newline=newline) as fh:
                yield fh
            return
        with replaced(path, newline, sync=True) as fh:
            # mkstemp makes the file private; the result gets the mode a plain write would give it
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fh.fileno(), path.stat().st_mode & 0o7777 if path.is_file() else 0o666 & ~umask)
            yield fh
    except OSError as exc:
        raise InputError(f"{given}: cannot write {what} ({exc.strerror or exc})") from None
