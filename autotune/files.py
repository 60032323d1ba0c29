"""Files autotune writes outside a bundle (predictions, metrics, a report page), each whole or not at all."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from autotune import interrupt
from autotune.errors import InputError


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
    temporary = None
    try:
        with interrupt.deferred():  # a signal as the temporary is made: held until its name is known
            try:
                handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
            except OSError as exc:
                raise InputError(f"{given}: cannot write {what} ({exc.strerror or exc})") from None
            temporary = Path(name)
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
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
