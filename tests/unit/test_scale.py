"""Row sampling for --sample (pure pandas). Devices and workers are in tests/system/test_scale.py,
the sampled fit in tests/integration/test_scale.py."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest


def test_a_sample_of_all_but_a_few_rows_is_drawn():
    """--sample just under the training rows left fewer rows out than there are classes, which stratified
    splitting cannot do (`ValueError: test_size`): such a sample is drawn at random; others stay stratified."""

    from autotune.modality import sample_rows

    y = np.repeat([0, 1, 2], [40, 30, 30])
    keep = sample_rows(y, 99, seed=0, classes=True)
    assert len(keep) == len(set(keep)) == 99
    keep = sample_rows(y, 10, seed=0, classes=True)
    assert sorted(np.bincount(y[keep])) == [3, 3, 4]  # stratified: each class in proportion


# /proc/cpuinfo lines as Linux writes them (abridged): this machine's AMD EPYC (AVX-512 with BF16), an Intel Sapphire
# Rapids (AMX), an AVX2-only Intel and an Arm Neoverse V1 (its "bf16" feature is not one measured here)
EPYC_BF16 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: avx2 avx512f amx_bf16 amx_tile amx_int8\n"
AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\nbugs\t\t: spectre_v1\n"
NEOVERSE = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\nCPU implementer\t: 0x41\n"


def test_native_bfloat16_reads_the_cpus_flags():
    """Issue 18: --mixed-precision auto trains image CNNs in bfloat16 only on a CPU that computes in it (without, every
    bfloat16 operation is converted to float32 and back)."""
    from autotune.search.devices import native_bfloat16

    assert native_bfloat16(EPYC_BF16) and native_bfloat16(SAPPHIRE)
    assert not native_bfloat16(AVX2_ONLY) and not native_bfloat16(NEOVERSE) and not native_bfloat16("")
    assert not native_bfloat16("flags\t\t: avx512f avx512bw\nmodel name\t: avx512_bf16 in a name is no flag\n")


@pytest.fixture
def two_cores_no_gpu(monkeypatch):
    """A host with 2 usable cores and no GPU (CUDA_VISIBLE_DEVICES empty), whatever runs the test."""
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


IMAGES, TABLE = SimpleNamespace(workers_pay=True), SimpleNamespace(workers_pay=False)


def test_workers_auto_gives_an_image_search_on_a_cpu_two_workers(two_cores_no_gpu, monkeypatch):
    """Issue 18: a CNN trial in one process keeps ~1.35 of 2 cores busy; two workers of one thread each use both
    (bench/README). Tables, few trials, a short budget, a GPU, one core, --role and tuners whose search depends on
    timing keep one process."""
    from autotune.config import FitConfig
    from autotune.search.distributed import auto_workers

    config = FitConfig.of("folder")
    assert auto_workers(config, IMAGES)[0] == 2 and "2 processes of 1 thread(s) on 2 CPU cores" in auto_workers(
        config, IMAGES)[1]
    assert auto_workers(config, TABLE)[0] == 0
    for options in ({"max_trials": 4}, {"time_budget": 60.0}, {"tuner": "hyperband"}, {"tuner": "grid"},
                    {"role": "chief"}, {"device": "gpu"}):
        assert auto_workers(config.replace(**options), IMAGES)[0] == 0, options
    assert auto_workers(config.replace(time_budget=600.0, tuner="random"), IMAGES)[0] == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert auto_workers(config, IMAGES)[0] == 0  # --device auto trains on the GPU
    assert auto_workers(config.replace(device="cpu"), IMAGES)[0] == 2
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert auto_workers(config.replace(device="cpu"), IMAGES)[0] == 0


def test_the_search_lag_leaves_out_the_trials_local_workers_may_still_run():
    """tune.InOrder's lag: 0 in one process (every earlier trial), N + 1 with N local workers (the chief and each of
    its workers alike), None where workers on other hosts may join (the search depends on timing)."""
    from autotune.config import ClusterConfig
    from autotune.search.distributed import search_lag

    assert search_lag(ClusterConfig(workers=0)) == 0
    assert search_lag(ClusterConfig(workers=2)) == search_lag(ClusterConfig(role="worker", local_workers=2)) == 3
    assert search_lag(ClusterConfig(role="chief")) is search_lag(ClusterConfig(role="chief", workers=2)) is None
    assert search_lag(ClusterConfig(role="worker")) is None
