"""Scaling out: several devices in one trial (MirroredStrategy over logical CPUs), mixed precision,
and one search spread over processes with keras-tuner's chief/worker mode, on loopback.

Device layouts cannot change once TensorFlow has started, so these run autotune in subprocesses.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, ROOT, run_cli, wait_for

from autotune.bundle.export import work_dir

SMALL = ["--tuner", "random", "--epochs", "4", "--patience", "4", "--no-baseline", "--search-folds", "1",
         "--ensemble", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    return {**os.environ, **extra}


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _worker_pid(tuner_id: str, under: Path) -> int | None:
    """The pid of this run's local worker process, found by its settings file (inside the run's work folder
    `under`) on the command line: the parallel suite may be running another test's workers of the same name."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"autotune.search.worker" in cmdline and any(
                    arg.endswith(f"{tuner_id}.json".encode()) and arg.startswith(str(under).encode()) for arg in cmdline):
                return int(proc.name)
    return None


def test_mirrored_strategy_and_bfloat16_on_two_logical_cpus(tmp_path):
    """A real search and export with each trial mirrored over two logical CPUs in mixed bfloat16; the
    exported SavedModel gives float32 probabilities equal to those of the trained Keras model."""
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "autotune", "fit", str(DATA / "penguins.csv"), "-t", "species",
                             "-o", str(out), "--max-trials", "2", "--mixed-precision", "bfloat16", *SMALL],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env=_env(AUTOTUNE_CPU_REPLICAS="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    compute = _report(out)["compute"]
    assert compute["strategy"] == "MirroredStrategy" and compute["replicas"] == 2
    assert compute["precision"] == "mixed_bfloat16"
    assert json.loads((out / "metadata.json").read_text())["compute"]["replicas"] == 2
    assert len([t for t in _report(out)["search"]["trials"] if t["status"] == "completed"]) == 2

    predicted = run_cli("predict", str(out), str(DATA / "penguins.csv"), "-o", str(tmp_path / "p.csv"))
    assert predicted.returncode == 0, predicted.stderr
    served = pd.read_csv(tmp_path / "p.csv")
    # The same rows through the .keras model in Keras: its networks really are bfloat16, its outputs float32.
    check = f"""
import json, sys, numpy as np, pandas as pd, keras
import autotune.tabular.layers
from autotune.data.clean import Feature, raw_inputs
from autotune.train import predict_raw
model = keras.saving.load_model({str(out / "model.keras")!r}, safe_mode=True)
policies = {{layer.dtype_policy.name for net in model.layers if isinstance(net, keras.Model) and net.name.startswith("network")
            for layer in net.layers if hasattr(layer, "kernel")}}
meta = json.load(open({str(out / "metadata.json")!r}))
features = [Feature.from_dict(f) for f in meta["inputs"]]
frame = pd.read_csv({str(DATA / "penguins.csv")!r})
columns = raw_inputs(frame, features)
probabilities = predict_raw(model, columns)
np.save({str(tmp_path / "keras.npy")!r}, probabilities)
print(json.dumps({{"policies": sorted(policies), "dtype": str(probabilities.dtype)}}))
"""
    checked = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stderr[-3000:]
    facts = json.loads(checked.stdout.strip().splitlines()[-1])
    assert "mixed_bfloat16" in facts["policies"] and facts["dtype"] == "float32"
    labels = json.loads((out / "metadata.json").read_text())["labels"]
    np.testing.assert_allclose(served[[f"p_{label}" for label in labels]].to_numpy(),
                               np.load(tmp_path / "keras.npy"), atol=1e-5)


def test_two_local_workers_share_one_search(tmp_path):
    """--workers 2 (on a given --bind address): a keras-tuner chief on loopback, two worker processes; both
    run trials, and the chief makes one complete bundle."""
    out = tmp_path / "out"
    # trials of a few seconds (300 epochs): with 4 epochs all four can end before the second worker has started
    result = run_cli("fit", str(DATA / "penguins.csv"), "-t", "species", "-o", str(out), "--max-trials", "4",
                     "--workers", "2", "--bind", f"127.0.0.1:{_free_port()}", *SMALL, "--epochs", "300",
                     "--patience", "300")
    assert result.returncode == 0, result.stderr[-3000:]
    report = _report(out)
    trials = report["search"]["trials"]
    assert len(trials) == 4 and all(t["status"] == "completed" for t in trials)
    assert {t["worker"] for t in trials} == {"tuner0", "tuner1"}
    assert report["compute"]["search"] == "keras-tuner chief/worker" and report["compute"]["workers"] == 2
    assert "tuner0 runs trial" in result.stderr and "tuner1 runs trial" in result.stderr
    assert (out / "saved_model").is_dir() and not work_dir(out).exists()
    assert run_cli("predict", str(out), str(DATA / "penguins.csv")).returncode == 0


def test_a_worker_killed_mid_trial_does_not_stop_the_search(tmp_path):
    """SIGKILL one of two workers during its trial: the other reruns that trial and finishes the search."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "autotune", "fit", str(DATA / "breast_cancer.csv"), "-o", str(out),
            "--max-trials", "4", "--workers", "2", *SMALL, "--epochs", "300", "--patience", "300"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = work_dir(out) / "workers" / "tuner0.log"

    def tuner0_in_a_trial() -> int | None:
        if log.exists() and " (1 of " not in log.read_text() and list((work_dir(out) / "search").rglob("trial.json")):
            time.sleep(3)  # tuner0 is inside its first trial
            return _worker_pid("tuner0", work_dir(out))
        return None

    pid = wait_for(tuner0_in_a_trial, 180, process, "worker tuner0 to start a trial", interval=0.5)
    os.kill(pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    assert "worker tuner0 exited with code -9" in stderr and "goes back to the queue" in stderr
    trials = _report(out)["search"]["trials"]
    assert len(trials) == 4 and all(t["status"] == "completed" for t in trials)
    lost = re.search(r"during trial (\S+), which goes back to the queue", stderr).group(1)
    # tuner0 may have finished trials before the kill; the one it held was rerun by tuner1
    assert {t["worker"] for t in trials} <= {"tuner0", "tuner1"}
    assert [t["worker"] for t in trials if t["trial"] == lost] == ["tuner1"]
    assert (out / "saved_model").is_dir()


def test_chief_and_worker_as_separate_processes(tmp_path):
    """The two-host recipe on one host: `--role chief --bind` and `--role worker --oracle` sharing --output."""
    out, port = tmp_path / "out", _free_port()
    common = [sys.executable, "-m", "autotune", "fit", str(DATA / "penguins.csv"), "-t", "species", "-o", str(out),
              "--max-trials", "3", *SMALL]
    chief = subprocess.Popen([*common, "--role", "chief", "--bind", f"127.0.0.1:{port}", "--json"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = subprocess.run([*common, "--role", "worker", "--oracle", f"127.0.0.1:{port}", "--worker-id", "hostB",
                             "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    stdout, stderr = chief.communicate(timeout=600)
    assert worker.returncode == 0, worker.stderr[-3000:]
    assert json.loads(worker.stdout) == {"status": "ok", "role": "worker", "worker_id": "hostB", "trials": 3}
    assert chief.returncode == 0, stderr[-3000:]
    assert json.loads(stdout)["status"] == "ok" and f"--oracle 127.0.0.1:{port}" in stderr
    assert {t["worker"] for t in _report(out)["search"]["trials"]} == {"hostB"}


def test_a_worker_without_a_chief_exits_with_a_message(tmp_path):
    """No chief: the worker says so and exits 3 instead of waiting for an hour (keras-tuner's default)."""
    out = tmp_path / "out"
    env = _env(AUTOTUNE_ORACLE_TIMEOUT="3")
    args = ["fit", str(DATA / "penguins.csv"), "-t", "species", "-o", str(out), "--role", "worker",
            "--oracle", f"127.0.0.1:{_free_port()}"]
    nothing = subprocess.run([sys.executable, "-m", "autotune", *args], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, env=env)
    assert nothing.returncode == 3 and "no chief has started a run" in nothing.stderr.strip().splitlines()[-1]
    work_dir(out).mkdir()  # a chief's run directory, but nobody listening
    silent = subprocess.run([sys.executable, "-m", "autotune", *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert silent.returncode == 3, silent.stderr[-2000:]
    assert "cannot reach the chief's oracle" in silent.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("args, message", [
    (["--role", "worker"], "--role worker needs --oracle"),
    (["--oracle", "127.0.0.1:9"], "--oracle is for --role worker"),
    (["--bind", "127.0.0.1:9"], "--bind is for the chief"),
    (["--role", "chief", "--bind", "nowhere"], "give ADDRESS:PORT"),
])
def test_cluster_options_are_checked_before_anything_runs(tmp_path, args, message):
    result = run_cli("fit", str(DATA / "penguins.csv"), "-t", "species", "-o", str(tmp_path / "o"), *args)
    assert result.returncode == 2 and message in result.stderr
    assert "tensorflow" not in result.stderr.lower() and not list(tmp_path.iterdir())


def test_device_gpu_without_a_gpu_is_refused(tmp_path):
    result = run_cli("fit", str(DATA / "penguins.csv"), "-t", "species", "-o", str(tmp_path / "o"), "--device", "gpu")
    assert result.returncode == 2, result.stderr
    assert "--device gpu: TensorFlow sees no GPU" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o").exists()

def _ended_trials(out: Path) -> list[str]:
    """The trials the chief's saved oracle records as ended (keras-tuner's oracle.json, `end_order`): what a resumed
    oracle reloads as done. A trial's own trial.json says COMPLETED a moment before (Oracle.end_trial writes it, then
    the oracle's state), so a kill in between leaves it to run again."""
    try:
        return json.loads((work_dir(out) / "search" / "search" / "oracle.json").read_text())["end_order"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):  # not yet written, or caught mid-write
        return []


def test_a_chief_killed_mid_search_resumes_from_its_saved_oracle(tmp_path):
    """SIGKILL the chief: its workers notice and stop; `--resume` reloads keras-tuner's oracle, keeps the
    trials it recorded as ended and runs only the rest."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "autotune", "fit", str(DATA / "breast_cancer.csv"), "-o", str(out),
            "--max-trials", "4", "--workers", "2", *SMALL, "--epochs", "60", "--patience", "60"]
    chief = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: _ended_trials(out), 300, chief, "a finished trial", interval=0.5)
    chief.kill()
    chief.wait(30)
    kept = set(_ended_trials(out))  # what the resumed chief reloads as done
    assert kept
    wait_for(lambda: _worker_pid("tuner0", work_dir(out)) is None and _worker_pid("tuner1", work_dir(out)) is None, 30,
             what="the workers' watchdogs to notice (within a second or two)", interval=0.1)
    assert "has gone; this worker stops" in (work_dir(out) / "workers" / "tuner0.log").read_text()

    resumed = subprocess.run([*args, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = _report(out)["search"]["trials"]
    assert len(trials) == 4 and all(t["status"] == "completed" for t in trials)
    # Kept trials are not rerun: the resumed chief hands out only the others.
    assert not any(f"runs trial {k}\n" in resumed.stderr for k in kept)
    assert all(t["worker"] in ("tuner0", "tuner1") for t in trials)
