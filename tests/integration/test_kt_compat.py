"""Each upstream internal autotune/search/kt_compat.py wraps still exists and behaves as the workaround assumes.

These run against the installed keras-tuner, Keras and TensorFlow with real oracles, real gRPC and real layers:
one failing here after an upgrade names the wrapper to revisit (setup.py pins keras-tuner below 1.5 until then).
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest

from autotune.search import kt_compat


def build(hp: kt.HyperParameters) -> keras.Model:
    """A tiny real network with two tunable hyperparameters and one fixed one."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.Int("units", 1, 8)),
                              keras.layers.Dropout(hp.Choice("dropout", [0.0, 0.5])), keras.layers.Dense(1)])
    hp.Fixed("fixed", 1)
    model.compile("sgd", "mse")
    return model


def random_oracle(directory: Path, max_trials: int = 5) -> kt.Oracle:
    """A RandomSearch tuner's oracle, with its space declared and its project directory set, as in a search."""
    return kt.RandomSearch(build, objective=kt.Objective("score", "max"), max_trials=max_trials, seed=1,
                           directory=str(directory), project_name="p").oracle


def complete(oracle, tuner_id: str, score: float):
    """Run one trial through the oracle's public API and mark it completed with `score`."""
    trial = oracle.create_trial(tuner_id)
    oracle.update_trial(trial.trial_id, {"score": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    return trial


# --- distributed: oracle_client.TIMEOUT, OracleServicer, protos, exit_chief ---------------------------------


def test_worker_timeout_bounds_each_call_to_a_chief_that_is_not_there(tmp_path, monkeypatch):
    """keras-tuner's client reads oracle_client.TIMEOUT at call time: set to 0.5 s, a call to a port nobody
    listens on gives up after about that long (DEADLINE_EXCEEDED), not after the default hour."""
    import grpc
    from keras_tuner.src.distribute import oracle_client

    from autotune.search.distributed import LOOPBACK, free_port

    monkeypatch.setattr(oracle_client, "TIMEOUT", oracle_client.TIMEOUT)  # restored after the test
    assert oracle_client.TIMEOUT == 60 * 60  # the hour a worker would otherwise wait
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", LOOPBACK)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    client = oracle_client.OracleClient(random_oracle(tmp_path))
    kt_compat.set_worker_timeout(0.5)
    raised = []

    def call() -> None:
        try:
            client.create_trial("tuner0")
        except grpc.RpcError as exc:
            raised.append(exc.code())

    start = time.perf_counter()
    caller = threading.Thread(target=call, daemon=True)  # a TIMEOUT no longer read fails here, not in an hour
    caller.start()
    caller.join(10)
    assert raised == [grpc.StatusCode.DEADLINE_EXCEEDED]
    assert time.perf_counter() - start < 10


def test_oracle_servicer_serves_trials_and_says_when_the_search_is_over(tmp_path, monkeypatch):
    """The servicer registered on our own gRPC server hands a worker (keras-tuner's OracleClient) its trials;
    once the oracle has none left it sets stop_triggered, and exit_chief holds once no worker or trial is left."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc
    from keras_tuner.src.distribute import oracle_client

    from autotune.search.distributed import LOOPBACK, free_port

    oracle = random_oracle(tmp_path, max_trials=1)
    server = grpc.server(ThreadPoolExecutor(max_workers=1))
    servicer = kt_compat.add_oracle_servicer(oracle, server)
    port = free_port()
    assert server.add_insecure_port(f"{LOOPBACK}:{port}")
    server.start()
    try:
        monkeypatch.setenv("KERASTUNER_ORACLE_IP", LOOPBACK)
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
        client = oracle_client.OracleClient(oracle)
        trial = client.create_trial("tuner0")
        assert trial.status == "RUNNING" and set(trial.hyperparameters.values) == {"units", "dropout", "fixed"}
        assert oracle.ongoing_trials["tuner0"].trial_id == trial.trial_id  # served from our oracle
        assert not kt_compat.stop_requested(servicer)
        assert not kt_compat.chief_may_exit(oracle)  # a trial is running
        client.update_trial(trial.trial_id, {"score": 1.0})
        trial.status = "COMPLETED"
        client.end_trial(trial)
        assert client.create_trial("tuner0").status == "STOPPED"  # max_trials reached
        assert kt_compat.stop_requested(servicer)
        assert kt_compat.chief_may_exit(oracle)
    finally:
        server.stop(grace=None)


# --- Oracle._retry_queue, Oracle._save_trial ----------------------------------------------------------------


def test_retry_queue_hands_a_trial_out_again_and_is_saved(tmp_path):
    """An id appended to the live queue is the next trial create_trial hands out (to another worker), the
    queue is part of the oracle's saved state, and a cleared queue hands out new trials again."""
    oracle = random_oracle(tmp_path)
    lost = oracle.create_trial("tuner0")
    oracle.ongoing_trials.pop("tuner0")  # its worker died mid-trial
    queue = kt_compat.retry_queue(oracle)
    assert queue == []
    queue.append(lost.trial_id)
    assert oracle.get_state()["retry_queue"] == [lost.trial_id]
    again = oracle.create_trial("tuner1")
    assert again.trial_id == lost.trial_id and again.status == "RUNNING"
    oracle.ongoing_trials.pop("tuner1")
    kt_compat.retry_queue(oracle).append(lost.trial_id)
    kt_compat.retry_queue(oracle).clear()
    assert oracle.create_trial("tuner1").trial_id != lost.trial_id


def test_save_trial_writes_its_status_to_its_trial_json(tmp_path):
    oracle = random_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    trial.status, trial.message = "FAILED", "its worker stopped"
    kt_compat.save_trial(oracle, trial)
    saved = json.loads((tmp_path / "p" / f"trial_{trial.trial_id}" / "trial.json").read_text())
    assert saved["status"] == "FAILED" and saved["message"] == "its worker stopped"


def test_a_tuner_fits_each_trial_through_its_build_and_fit_hook_which_checks_the_results(tmp_path):
    """tune.TrialIds overrides Tuner._build_and_fit_model (keras-tuner's hook for overriding) to fit without building,
    and checks what fit returned with keras-tuner's own validate_trial_results."""
    fitted = []

    class Unbuilt(kt.RandomSearch):
        def _build_and_fit_model(self, trial, *args, **kwargs):
            results = {"score": float(trial.hyperparameters.get("units"))}
            kt_compat.validate_trial_results(results, self.oracle.objective)
            fitted.append(trial.trial_id)
            return results

    tuner = Unbuilt(build, objective=kt.Objective("score", "max"), max_trials=3, seed=1, directory=str(tmp_path),
                    project_name="p")
    tuner.search(np.zeros((4, 2)), np.zeros(4), epochs=1, verbose=0)
    assert sorted(fitted) == sorted(tuner.oracle.trials) and len(fitted) == 3
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == max(t.hyperparameters.get("units") for t in tuner.oracle.trials.values())
    with pytest.raises(kt.errors.FatalValueError):
        kt_compat.validate_trial_results({"loss": 1.0}, tuner.oracle.objective)


def test_a_state_save_that_dies_midway_leaves_the_previous_state_file(tmp_path, monkeypatch):
    """keras-tuner opened oracle.json for writing, then wrote: a chief SIGKILLed in between left it empty and
    `--resume` failed on a JSONDecodeError (tests/system/test_scale.py, seen once). With atomic_state_files a save
    is written beside the file and renamed over it: a save that dies before the rename changes nothing."""
    import os

    from keras_tuner.src import utils

    oracle = random_oracle(tmp_path)
    oracle.create_trial("tuner0")
    kt_compat.atomic_state_files()
    kt_compat.atomic_state_files()  # idempotent
    oracle.save()
    state = tmp_path / "p" / "oracle.json"
    before = state.read_text()
    assert json.loads(before)["ongoing_trials"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process stops between writing and renaming

    monkeypatch.setattr(os, "replace", killed)
    oracle.ongoing_trials.clear()
    with pytest.raises(KeyboardInterrupt):
        oracle.save()
    assert state.read_text() == before  # the previous state, whole
    assert sorted(p.name for p in state.parent.iterdir() if p.name.startswith(".")) == []  # no temporary left
    monkeypatch.undo()
    oracle.save()
    assert json.loads(state.read_text())["ongoing_trials"] == {}
    assert getattr(utils.save_json, "autotune_atomic", False)


# --- HyperbandOracle._brackets, HyperbandOracle._get_size ---------------------------------------------------


def test_hyperband_brackets_hold_rounds_of_trial_ids_the_size_the_oracle_fills(tmp_path):
    """Hyperband fills round 0 of its first bracket with exactly hyperband_round_size trials, listed in the
    bracket as {"id", "past_id": None}, then opens the next bracket; once round 0's trials complete, the best is
    promoted into round 1 with past_id naming its parent."""
    oracle = kt.Hyperband(build, objective=kt.Objective("score", "max"), max_epochs=9, factor=3, seed=1,
                          directory=str(tmp_path), project_name="p").oracle
    trials = [oracle.create_trial("tuner0")]
    (bracket,) = kt_compat.hyperband_brackets(oracle)
    assert set(bracket) >= {"bracket_num", "rounds"} and len(bracket["rounds"]) > 1
    size = kt_compat.hyperband_round_size(oracle, bracket["bracket_num"], 0)
    assert size > 1
    trials += [oracle.create_trial(f"tuner{i}") for i in range(1, size)]
    assert bracket["rounds"][0] == [{"past_id": None, "id": t.trial_id} for t in trials]
    oracle.create_trial("another")  # round 0 is full: the oracle starts the next bracket
    assert len(kt_compat.hyperband_brackets(oracle)) == 2 and len(bracket["rounds"][0]) == size
    for i, trial in enumerate(trials):
        oracle.update_trial(trial.trial_id, {"score": float(i)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    promoted = oracle.create_trial("next")
    assert kt_compat.hyperband_brackets(oracle)[0] is bracket
    assert bracket["rounds"][1] == [{"past_id": trials[-1].trial_id, "id": promoted.trial_id}]  # the best one
    assert promoted.hyperparameters.values["tuner/trial_id"] == trials[-1].trial_id
    assert 1 <= kt_compat.hyperband_round_size(oracle, bracket["bracket_num"], 1) < size


# --- the Bayesian oracle's helpers ---------------------------------------------------------------------------


def bayesian_oracle(directory: Path, seed: int = 1):
    from autotune.search.tune import BayesianOracle

    oracle = BayesianOracle(objective=kt.Objective("score", "max"), max_trials=20, num_initial_points=3, seed=seed)
    kt.Tuner(oracle=oracle, hypermodel=build, directory=str(directory), project_name="p")
    return oracle


def test_bayesian_helpers_encode_configurations_as_points_in_the_unit_cube(tmp_path):
    """The trials so far as points in [0, 1]^2 (the two tunable hyperparameters; "fixed" is left out) with
    scores to minimise; a point decodes to the values it encodes; tried values are known as tried."""
    oracle = bayesian_oracle(tmp_path)
    first = kt_compat.random_configuration(oracle)
    assert first["status"] == "RUNNING" and set(first["values"]) == {"units", "dropout", "fixed"}
    done = [complete(oracle, f"tuner{i}", score) for i, score in enumerate([0.1, 0.7, 0.4])]
    points, scores = kt_compat.observed_points(oracle)
    assert points.shape == (3, 2) and ((points >= 0) & (points <= 1)).all()
    np.testing.assert_allclose(scores, [-0.1, -0.7, -0.4])  # "max" objective: negated, to minimise
    np.testing.assert_array_equal(kt_compat.search_bounds(oracle), [[0, 1], [0, 1]])
    for point, trial in zip(points, done, strict=True):
        assert kt_compat.point_to_values(oracle, point) == trial.hyperparameters.values
        assert kt_compat.already_tried(oracle, trial.hyperparameters.values)
        assert kt_compat.trial_point(oracle, trial) == list(point)  # one trial's point, as the oracle embeds it
        assert kt_compat.ended(oracle, trial)
    running = oracle.create_trial("tuner9")
    assert running.status == "RUNNING" and not kt_compat.ended(oracle, running)
    running.status = "INVALID"  # a worker that died: queued to run again, not ended
    kt_compat.retry_queue(oracle).append(running.trial_id)
    assert not kt_compat.ended(oracle, running)
    untried = next({"units": u, "dropout": d, "fixed": 1} for u in range(1, 9) for d in (0.0, 0.5)
                   if {"units": u, "dropout": d, "fixed": 1} not in [t.hyperparameters.values for t in done])
    assert not kt_compat.already_tried(oracle, untried)


@pytest.mark.filterwarnings("ignore:The optimal value found")  # the Gaussian process on 4 points
def test_bayesian_random_state_follows_the_seed_and_the_cheap_search_proposes_untried_values(tmp_path):
    """The oracle's RandomState is seeded by its seed (so candidates follow --seed); with the helpers above,
    tune.BayesianOracle's own populate_space proposes a configuration not tried yet."""
    a, b = bayesian_oracle(tmp_path / "a", seed=3), bayesian_oracle(tmp_path / "b", seed=3)
    assert isinstance(kt_compat.random_state(a), np.random.RandomState)
    np.testing.assert_array_equal(kt_compat.random_state(a).uniform(size=4), kt_compat.random_state(b).uniform(size=4))
    for i, score in enumerate([0.1, 0.7, 0.4, 0.2]):
        complete(a, f"tuner{i}", score)
    proposal = a.populate_space(str(len(a.trials)))  # the id keras-tuner gives the next trial
    assert proposal["status"] == "RUNNING"
    assert not kt_compat.already_tried(a, proposal["values"])


# --- Keras: Layer._convert_input_args ------------------------------------------------------------------------


class Identity(keras.layers.Layer):
    def call(self, x):
        return x


def test_keep_input_dtype_stops_keras_casting_a_layers_inputs():
    """By default Keras casts a float64 input to the float32 policy; with the flag off the input is left as it
    came, which is what lets tabular.layers.StripText take strings."""
    import tensorflow as tf

    from autotune.tabular.layers import StripText

    x = tf.constant([[1.5]], dtype="float64")
    assert keras.backend.standardize_dtype(Identity()(x).dtype) == "float32"
    layer = Identity()
    kt_compat.keep_input_dtype(layer)
    assert keras.backend.standardize_dtype(layer(x).dtype) == "float64"
    assert StripText()(tf.constant([" Biscoe\t"])).numpy().tolist() == [b"Biscoe"]


# --- TensorFlow: ops._gradient_registry._registry -------------------------------------------------------------


def test_forget_custom_gradients_drops_the_registry_entries_a_trace_adds():
    """Tracing a tf.custom_gradient function adds a "CustomGradient-…" entry to TensorFlow's gradient registry
    that stays for the life of the process; inside the block the gradient works, after it the entry is gone."""
    import tensorflow as tf
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    assert isinstance(registry, dict)

    @tf.custom_gradient
    def doubled_gradient(x):
        return tf.identity(x), lambda dy: 2 * dy

    def traced():
        @tf.function
        def gradient(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = doubled_gradient(x)
            return tape.gradient(y, x)

        return float(gradient(tf.constant(1.0)))

    before = set(registry)
    assert traced() == 2.0
    leaked = [k for k in set(registry) - before if str(k).startswith("CustomGradient-")]
    assert leaked  # without the workaround the entry stays
    before = set(registry)
    with kt_compat.forget_custom_gradients():
        assert traced() == 2.0
        assert any(str(k).startswith("CustomGradient-") for k in set(registry) - before)
    assert not [k for k in set(registry) - before if str(k).startswith("CustomGradient-")]


def test_the_chief_saves_who_runs_a_trial_as_it_hands_the_trial_out(tmp_path):
    """workers.json (which worker ran which trial, kept for a resumed chief) is written when the oracle hands a trial
    out, not at the chief's next poll: a trial of a second that finished before a poll, its chief then killed, kept
    no worker in the resumed report (tests/system/test_scale.py's chief-killed test, under load)."""
    from autotune.search.distributed import Cluster, _TrialWatch

    oracle = random_oracle(tmp_path)
    cluster = Cluster("chief", "127.0.0.1", 0, state_path=tmp_path / "workers.json")
    _TrialWatch(oracle, cluster, None, None)
    first = complete(oracle, "tuner0", 0.5)
    assert json.loads(cluster.state_path.read_text()) == {first.trial_id: "tuner0"}
    second = oracle.create_trial("tuner1")
    assert json.loads(cluster.state_path.read_text()) == {first.trial_id: "tuner0", second.trial_id: "tuner1"}
