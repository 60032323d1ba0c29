"""The process's memory: measured after each trial (the leaderboard's rss_mb, read by bench/run.py), and handed back
to the system where a stage has let a large part of it go (release_freed: after the read, after encoding, after the
final fit)."""
from __future__ import annotations

import os


def resident_mb() -> float:
    """The process's resident memory now, in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


RELEASE_BYTES = 2**26  # release_freed runs for memory let go or made from this size on


def release_freed(size: int) -> bool:
    """Collect the garbage held in reference cycles, then hand the C heap's free pages back to the system (glibc's
    malloc_trim; nothing more where there is none) - where `size`, the bytes the caller has just let go of or made (a
    frame, encoded rows), reaches RELEASE_BYTES: a collection takes ~0.4 s once TensorFlow is loaded, and a small
    run's heap holds nothing worth it. pandas' CSV parser and TensorFlow's eager calls free their working memory into
    glibc's arenas, which keep it, and a loaded frame can wait in a cycle for the next collection: on 1,000,000 rows x
    50 columns, ~0.3 GB after the read and ~0.2 GB after encoding, resident for the rest of the run. Returns whether
    it ran."""
    import ctypes
    import gc

    if size < RELEASE_BYTES:
        return False
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return True
    trim(0)
    return True
