"""What the run does with memory it has freed."""
from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest


def _glibc() -> bool:
    try:
        ctypes.CDLL(None).malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not _glibc(), reason="the C heap keeps nothing it can hand back without glibc's malloc_trim")
def test_memory_freed_between_live_blocks_goes_back_to_the_system():
    """Many small blocks freed around a few that stay (what a CSV parse or eager TensorFlow calls leave): glibc keeps
    the freed pages resident until release_freed hands them back."""
    script = """
import gc
import numpy as np
from autotune.search.memory import RELEASE_BYTES, release_freed, resident_mb
blocks = [np.ones(10_000) for _ in range(4_000)]  # 80 kB each: the heap's, not mmap's
allocated = resident_mb()
blocks = blocks[::50]
gc.collect()
freed = resident_mb()
release_freed(RELEASE_BYTES)
print(allocated, freed, resident_mb())
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    allocated, freed, released = (float(v) for v in run.stdout.split())
    assert freed > allocated - 100  # free() alone kept the pages (~300 MB of them)
    assert released < freed - 200


def test_small_runs_skip_the_collection():
    """A collection costs ~0.4 s once TensorFlow is loaded: under RELEASE_BYTES let go, garbage waits for Python's
    own collector; from it on, a cycle is collected at once."""
    import gc
    import weakref

    from autotune.search.memory import RELEASE_BYTES, release_freed

    class Node:
        pass

    enabled = gc.isenabled()
    gc.disable()
    try:
        node = Node()
        node.me = node  # a cycle: only a collection frees it
        alive = weakref.ref(node)
        del node
        assert not release_freed(RELEASE_BYTES - 1) and alive() is not None
        assert release_freed(RELEASE_BYTES) and alive() is None
    finally:
        if enabled:
            gc.enable()
