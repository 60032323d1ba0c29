"""Disk space for a bundle: refused up front when it clearly will not fit, and what a failed write after the
search keeps for --resume (and says)."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

from autotune.errors import AutotuneError, InputError


class TooLittleSpace(Exception):
    """The filesystem of the output has clearly too little free space for the bundle (see check_space)."""


def bundle_estimate(parameters: int, images: int = 0) -> int:
    """Bytes a bundle needs at least: its weights twice (the SavedModel's variables and model.keras), the
    graph and the reports (~256 KiB for a small tabular model), and the image report's thumbnails."""
    return 2 * 4 * parameters + 256 * 1024 + images * 16 * 1024


def check_space(work: Path, need: int) -> None:
    """Refuse at once, before the final fit or the export, when the bundle clearly cannot be written: a
    full disk found half-way through writing costs the final fit's time and an ENOSPC traceback."""
    free = shutil.disk_usage(work).free
    if free < need:
        raise TooLittleSpace(f"{work.parent}: {_megabytes(free)} free, and the bundle needs about "
                             f"{_megabytes(need)}")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


# errno -> what a failed write says, and what to do before --resume
_WRITE_FAILURES = {errno.ENOSPC: ("no space left on device", "free some space, then "),
                   errno.EDQUOT: ("disk quota exceeded", "free some space or raise the quota, then "),
                   errno.EROFS: ("read-only file system", "make it writable, then ")}


def kept_for_resume(exc: BaseException, work: Path) -> BaseException:
    """A failure after the search (final fit, evaluation, export, publish) keeps the finished search for
    --resume, and its message says so: a failed write (a full disk, above all) is exit 2 and names the file;
    any other error keeps its own exit code and gets the hint added."""
    shutil.rmtree(work / "bundle", ignore_errors=True)  # half-written, and it may hold the space a retry needs
    trials = len(list((work / "search" / "search").glob("trial_*")))
    kept = f"the finished search ({trials} trial{'s' if trials != 1 else ''}) is kept in {work}"
    if isinstance(exc, TooLittleSpace):
        return InputError(f"{exc}; {kept}: free some space, then re-run the same command with --resume")
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) or code is None and "No space left on device" in str(exc):  # TensorFlow's own writes
        code = code if isinstance(exc, OSError) else errno.ENOSPC
        reason, fix = _WRITE_FAILURES.get(code, (exc.strerror if isinstance(exc, OSError) and exc.strerror
                                                 else str(exc).strip().splitlines()[0], "fix that, then "))
        where = getattr(exc, "filename", None) or work / "bundle"
        return InputError(f"{where}: {reason} while writing the bundle; {kept}: {fix}re-run the same command "
                          "with --resume")
    if isinstance(exc, AutotuneError):
        exc.message = f"{exc.message}; {kept}: re-run the same command with --resume"
    elif isinstance(exc, Exception):
        exc.add_note(f"{kept}: re-run the same command with --resume")
    return exc


def disk_usage(path: Path) -> int:
    """Bytes of every file under path."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
