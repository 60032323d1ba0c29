"""Where a run trains and in what precision: every visible GPU (several under MirroredStrategy), else
the CPU; float16 on GPUs that support it. TensorFlow decides op placement itself; this module only
chooses the devices, the tf.distribute strategy and the Keras dtype policy, and records them.

Device settings must be made before TensorFlow initialises its runtime, so `configure_runtime` is
called by tfenv.import_tensorflow right after the import.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

from autotune.errors import InputError

log = logging.getLogger(__name__)

# Split the CPU into this many logical devices, so MirroredStrategy can be exercised without a GPU
# (tests and experiments; a real multi-device run uses GPUs).
CPU_REPLICAS_ENV = "AUTOTUNE_CPU_REPLICAS"
MIN_FLOAT16_CAPABILITY = (7, 0)  # tensor cores: Volta and later


def hide_gpus_before_import() -> None:
    """--device cpu: keep TensorFlow off every GPU (set before it is imported; workers inherit it)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"


def configure_runtime(tf) -> None:
    """GPU memory growth (so several workers can share a card) and, when asked, logical CPUs.
    Must run before the first op; later calls (TensorFlow already initialised) change nothing."""
    try:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        replicas = int(os.environ.get(CPU_REPLICAS_ENV, "0") or 0)
        if replicas > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError as exc:  # the runtime was initialised already (an earlier run in this process)
        log.debug("device settings left as they are: %s", exc)


@dataclass
class Compute:
    device: str  # "gpu" | "cpu"
    devices: list[str]  # the logical devices a trial runs on
    precision: str  # Keras dtype policy: "float32" | "mixed_float16" | "mixed_bfloat16"
    strategy: object = None  # tf.distribute.MirroredStrategy over `devices` when there are several

    @property
    def replicas(self) -> int:
        return len(self.devices) if self.strategy is not None else 1

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @contextlib.contextmanager
    def policy(self):
        """The run's dtype policy while networks are built and trained; float32 again afterwards."""
        import keras

        keras.mixed_precision.set_global_policy(self.precision)
        try:
            yield
        finally:
            keras.mixed_precision.set_global_policy("float32")

    def to_dict(self) -> dict:
        return {"device": self.device, "devices": self.devices, "replicas": self.replicas,
                "strategy": type(self.strategy).__name__ if self.strategy is not None else "default",
                "precision": self.precision}


def in_float32(build, *args):
    """build(*args) under the float32 policy (the layers around mixed-precision networks), then the
    policy in force before."""
    import keras

    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        return build(*args)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _supports_float16(tf, gpus) -> bool:
    for gpu in gpus:
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if not capability or tuple(capability) < MIN_FLOAT16_CAPABILITY:
            return False
    return bool(gpus)


# /proc/cpuinfo flags of x86 CPUs with bfloat16 arithmetic that oneDNN uses: AVX512-BF16 (Cooper Lake, Zen 4 and
# later), AMX (Sapphire Rapids and later). Arm's BF16 extension is left out: not measured.
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes in bfloat16 natively (`cpuinfo`: /proc/cpuinfo's text; read here when None); without,
    oneDNN emulates it (not measured here, so auto leaves such CPUs in float32). False where the flags cannot be read
    (not Linux)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return bool(BFLOAT16_FLAGS & set(value.split()))
    return False


def resolve(device: str = "auto", mixed_precision: str = "auto", bfloat16_on_cpu: bool = False) -> Compute:
    """The devices and precision for this run, from --device and --mixed-precision; `bfloat16_on_cpu`: the data's
    networks train faster in mixed bfloat16 on a CPU that has it (images' CNNs), which auto then picks there."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU") if device != "cpu" else []
    if device == "gpu" and not gpus:
        raise InputError("--device gpu: TensorFlow sees no GPU here (no CUDA device, driver or CUDA-enabled "
                         "TensorFlow); use --device auto to train on the CPU")
    kind = "gpu" if gpus else "cpu"
    names = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if mixed_precision == "auto":
        if kind == "gpu":
            precision = "mixed_float16" if _supports_float16(tf, tf.config.list_physical_devices("GPU")) else "float32"
        else:
            precision = "mixed_bfloat16" if bfloat16_on_cpu and native_bfloat16() else "float32"
    else:
        precision = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[mixed_precision]
    strategy = tf.distribute.MirroredStrategy(names) if len(names) > 1 else None
    return Compute(kind, names, precision, strategy)


def usable_cpus() -> int:
    """The CPU cores this process may run on (its affinity where the OS has one: a container's or taskset's share)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def thread_counts() -> dict:
    """The thread pools the run computed with. A seed reproduces a run's numbers only with the same ones: the order
    in which a matrix product sums follows the BLAS threads (OPENBLAS_NUM_THREADS=1 against the default on 2 cores
    moved hpc_jobs's test macro-F1 from 0.7456 to 0.7433, seed 0). TensorFlow's 0 means its own choice."""
    import tensorflow as tf
    from threadpoolctl import threadpool_info

    return {"cpus": usable_cpus(),
            "blas": {f"{pool['internal_api']} ({pool.get('threading_layer', '?')})": pool["num_threads"]
                     for pool in threadpool_info() if pool.get("user_api") == "blas"},
            "tensorflow_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "tensorflow_inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
