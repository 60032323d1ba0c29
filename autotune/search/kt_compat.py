"""Every access autotune makes to keras-tuner, Keras and TensorFlow internals, in one place.

Each function below wraps one private attribute, private module or patch of upstream state, says which
upstream behaviour it works around and why the public API does not suffice, and has a test in
tests/integration/test_kt_compat.py that fails if the upstream changes it. Written against keras-tuner 1.4.8,
Keras 3.15 and TensorFlow 2.21; setup.py pins keras-tuner below 1.5 for this reason.

Nothing heavy is imported at module level: distributed.py and the CLI import this without TensorFlow.

Public names are used directly elsewhere: `kt.synchronized` (the oracle's lock; distributed.py once imported
it from keras_tuner.src.engine.oracle), `kt.engine.trial` and the Tuner/Oracle hooks tune.py overrides.
"""
from __future__ import annotations

import contextlib
import json

# --- keras-tuner: the distributed chief and workers (keras_tuner.src.distribute, private) ----------------


def set_worker_timeout(seconds: float) -> None:
    """Seconds a worker waits on each gRPC call to the chief's oracle.

    keras-tuner's OracleClient passes the module constant `keras_tuner.src.distribute.oracle_client.TIMEOUT`
    (one hour) to every call and reads it at call time; no constructor argument or environment variable sets
    it, so a worker whose chief has gone would hang for an hour. Breaks if the constant is renamed or read
    once at import."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


def add_oracle_servicer(oracle, server):
    """keras-tuner's gRPC servicer of `oracle`, registered on `server`; returns the servicer.

    keras-tuner's own chief loop (`oracle_chief.start_server`) binds with SO_REUSEPORT, never returns and
    cannot watch local workers, so the chief here runs the same `OracleServicer` on its own server. Neither
    the servicer nor the generated gRPC module (`keras_tuner.src.protos`) is public."""
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    return servicer


def stop_requested(servicer) -> bool:
    """Whether the servicer has told a worker that the search is over (`OracleServicer.stop_triggered`, set
    when the oracle's create_trial returns STOPPED): keras-tuner's own rule for ending the chief."""
    return bool(servicer.stop_triggered)


def chief_may_exit(oracle) -> bool:
    """keras-tuner's `oracle_chief.exit_chief`: no trial is running and no worker is still registered.
    Private because keras-tuner's chief loop is its only caller; used so the chief ends on the same rule."""
    from keras_tuner.src.distribute.oracle_chief import exit_chief

    return exit_chief(oracle)


# --- keras-tuner: Oracle state (keras_tuner.src.engine.oracle) ----------------------------------------------


def retry_queue(oracle) -> list:
    """The oracle's queue of trial ids to run again (`Oracle._retry_queue`, a list), live: appending an id makes
    the next `create_trial` hand that trial out again, and it is saved with the oracle's state.

    keras-tuner fills it only when a worker reports a trial as failed; a worker killed mid-trial reports
    nothing, so the chief queues its trial itself. There is no public method to requeue or clear it."""
    return oracle._retry_queue


def save_trial(oracle, trial) -> None:
    """Write `trial` (its status and message) to its trial.json (`Oracle._save_trial`).

    The chief marks the trials of workers that died last as FAILED; the public `end_trial` would instead
    count a run against max_retries_per_trial and may queue the trial again."""
    oracle._save_trial(trial)


def atomic_state_files() -> None:
    """Make keras-tuner write its state files (oracle.json, each trial.json, the tuner's) whole or not at all: into a
    temporary file beside the target, renamed over it (`keras_tuner.src.utils.save_json`, which Stateful.save and the
    tuner call through the module, so replacing the module's function reaches them all).

    keras-tuner opens the target for writing and writes: a chief killed (SIGKILL, power cut of the process) in
    between left an empty oracle.json, and `--resume` then failed with an internal JSONDecodeError (seen in
    tests/system/test_scale.py). No public hook for how state is written. Idempotent; remote paths (gs://…) keep
    keras-tuner's own write."""
    from pathlib import Path

    from keras_tuner.src import utils

    from autotune.files import replaced

    if getattr(utils.save_json, "autotune_atomic", False):
        return
    original = utils.save_json

    def save_json(path, obj):
        if "://" in str(path):
            return original(path, obj)
        text = json.dumps(obj)
        with replaced(Path(path)) as fh:
            fh.write(text)
        return text

    save_json.autotune_atomic = True
    utils.save_json = save_json


# --- keras-tuner: a trial's results (keras_tuner.src.engine.tuner_utils) -----------------------------------


def validate_trial_results(results, objective) -> None:
    """Raise keras-tuner's own error where a trial's results (what HyperModel.fit returned) do not hold the objective
    (`tuner_utils.validate_trial_results`, which `Tuner._build_and_fit_model` calls after fit).

    tune.TrialIds overrides that hook (keras-tuner's for overriding: "For AutoKeras to override") to fit without
    building where the hypermodel trains in a loop of its own; the check it then makes is keras-tuner's, not a copy."""
    from keras_tuner.src.engine import tuner_utils

    tuner_utils.validate_trial_results(results, objective, "HyperModel.fit()")


# --- keras-tuner: Hyperband's brackets (keras_tuner.src.tuners.hyperband) -----------------------------------


def hyperband_brackets(oracle) -> list[dict]:
    """The open brackets of a HyperbandOracle (`_brackets`): dicts with "bracket_num" and "rounds", each
    round a list of {"id": trial id, "past_id": the id it was promoted from or None}.

    Read to delete the checkpoints of trials Hyperband can no longer promote (tune.unpromotable_trials):
    keras-tuner keeps every trial's checkpoint and says nothing public about which it will read back."""
    return oracle._brackets


def hyperband_round_size(oracle, bracket_num: int, round_num: int) -> int:
    """How many trials round `round_num` of bracket `bracket_num` holds (`HyperbandOracle._get_size`):
    a round that is full promotes nobody more. Private, as above."""
    return oracle._get_size(bracket_num, round_num)


# --- keras-tuner: the Bayesian oracle's helpers (keras_tuner.src.tuners.bayesian) ---------------------------
# tune.BayesianOracle replaces populate_space (keras-tuner's acquisition search costs seconds a trial) but keeps
# its Gaussian process, its encoding of configurations as points in [0, 1]^n and its bookkeeping, reached
# through these protected helpers: reimplementing them would be a second, drifting copy of keras-tuner.


def random_configuration(oracle) -> dict:
    """A random untried configuration, or STOPPED when there is none (`_random_populate_space`): the
    populate_space answer keras-tuner itself gives before it has enough trials for its Gaussian process."""
    return oracle._random_populate_space()


def observed_points(oracle):
    """(points, scores) of the trials so far, as the Gaussian process is fitted on (`_vectorize_trials`):
    points in [0, 1]^n, scores to minimise (negated for a "max" objective)."""
    return oracle._vectorize_trials()


def trial_point(oracle, trial) -> list[float]:
    """A trial's configuration as a point in [0, 1]^n, as `_vectorize_trials` embeds each trial (a hyperparameter
    inactive in the trial, or added after it, at its default)."""
    values = trial.hyperparameters
    return [hp.value_to_prob(values.values[hp.name] if values.is_active(hp) and hp.name in values.values else hp.default)
            for hp in oracle._nonfixed_space()]


def ended(oracle, trial) -> bool:
    """Whether a trial has ended for good: completed, failed or stopped, or invalid and not queued to run again."""
    return trial.status in ("COMPLETED", "FAILED", "STOPPED") or (
        trial.status == "INVALID" and trial.trial_id not in oracle._retry_queue)


def search_bounds(oracle):
    """The bounds of the points, an array of [low, high] rows, one per tunable hyperparameter
    (`_get_hp_bounds`)."""
    return oracle._get_hp_bounds()


def random_state(oracle):
    """The oracle's seeded numpy RandomState (`_random_state`), so candidate points follow --seed."""
    return oracle._random_state


def point_to_values(oracle, point) -> dict:
    """The hyperparameter values a point in [0, 1]^n stands for (`_vector_to_values`)."""
    return oracle._vector_to_values(point)


def already_tried(oracle, values: dict) -> bool:
    """Whether a configuration with these values was tried already (`Oracle._duplicate`)."""
    return oracle._duplicate(values)


# --- Keras: layers that take strings (keras.layers.Layer) ---------------------------------------------------


def keep_input_dtype(layer) -> None:
    """Stop Keras casting the layer's inputs to its dtype policy's compute dtype (`Layer._convert_input_args`).

    Keras 3 casts every floating input of a layer call to the policy's dtype; a layer that takes strings has
    nothing to cast, and the built-in string layers (StringLookup…) switch the cast off with this same
    attribute. There is no public constructor argument for it."""
    layer._convert_input_args = False


# --- TensorFlow: the process-wide gradient registry (tensorflow.python.framework.ops) -----------------------


@contextlib.contextmanager
def forget_custom_gradients():
    """Drop the gradient functions TensorFlow registered while the block traced a model's train step.

    Keras's optimizer sums gradients through tf.distribute's all_reduce, a tf.custom_gradient: each
    trace adds an entry to TensorFlow's process-wide gradient registry (`ops._gradient_registry._registry`,
    keys "CustomGradient-<uid>") that is never removed and keeps the traced graph alive, ~28 MB per trial of a
    search (bench/run.py). The entries are read only while a graph is being traced, so once model.fit has
    returned they can go. Private API, no public way to unregister: on a TensorFlow without it this does
    nothing."""
    try:
        from tensorflow.python.framework import ops

        registry = ops._gradient_registry._registry
        before = set(registry)
    except (ImportError, AttributeError, TypeError):
        yield
        return
    try:
        yield
    finally:
        for key in [k for k in registry if k not in before and str(k).startswith("CustomGradient-")]:
            registry.pop(key, None)
