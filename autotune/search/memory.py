"""The process's memory, measured after each trial (the leaderboard's rss_mb, read by bench/run.py)."""
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


def release_freed() -> None:
    """Collect the garbage held in reference cycles, then hand the C heap's free pages back to the system (glibc's
    malloc_trim; nothing more where there is none). pandas' CSV parser and TensorFlow's eager calls free their working
    memory into glibc's arenas, which keep it, and a loaded frame can wait in a cycle for the next collection: on
    1,000,000 rows x 50 columns, ~0.3 GB after the read and ~0.2 GB after encoding, resident for the rest of the run.
    A few milliseconds."""
    import ctypes
    import gc

    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)
