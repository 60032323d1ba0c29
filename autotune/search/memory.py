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
