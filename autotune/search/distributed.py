"""One search spread over several processes or hosts with keras-tuner's own chief/worker mode.

keras-tuner runs the oracle in a chief process behind gRPC; each worker process runs the same tuner
with `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` set, asks the chief
for a trial, trains it and reports back; all share one results directory. We add no scheduling of
our own: the chief here is keras-tuner's `OracleServicer` on a gRPC server, kept in a loop that also
watches the local worker processes, so that a worker killed mid-trial hands its trial back to the
others (keras-tuner's retry queue) and a search whose workers have all gone does not wait forever. The
oracle hands trials out in order (tune.InOrder: keras-tuner's IDLE answer while the trials a choice needs
are still running), so that a seed repeats a search with local workers.

keras-tuner's gRPC has no authentication and no TLS: the chief binds to 127.0.0.1 unless told
otherwise, refuses a wildcard address (every interface) unless --allow-remote-workers says the network is
trusted, and warns whenever it listens beyond loopback.
"""
from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autotune.errors import AutotuneError, InputError
from autotune.search import kt_compat
from autotune.search.devices import usable_cpus

log = logging.getLogger(__name__)

ORACLE_TIMEOUT_ENV = "AUTOTUNE_ORACLE_TIMEOUT"  # seconds a worker waits for the chief on each call
ORACLE_TIMEOUT = 300.0
LOOPBACK = "127.0.0.1"
WILDCARDS = ("0.0.0.0", "::", "")  # listen on every interface (gRPC binds both IPv4 and IPv6 for 0.0.0.0)
DEADLINE_GRACE = 60.0  # remote workers: seconds past the time budget before the chief stops waiting for them


class ChiefLost(AutotuneError):
    """A worker could not reach the chief's oracle: the chief stopped, or was never started."""

    exit_code = 3


# --workers auto: local workers for a search whose trials each use fewer cores than the CPU has. A default image run
# (mnist_5k, 4,000 training digits) kept ~1.35 of 2 cores busy in one process; two workers of one thread each use
# both (bench/README, "--workers 2 for images"). Not for fewer trials or a shorter budget than these, where each
# worker's start-up (importing TensorFlow and listing the images; the decoded images it reads from its chief: trials
# start ~12 s into a default mnist_5k run) is a large share of the run (not measured).
AUTO_WORKERS = 2
AUTO_MIN_TRIALS = 8
AUTO_MIN_BUDGET = 120.0
IN_ORDER_TUNERS = ("bayesian", "random")  # whose oracles hand trials out in order (tune.InOrder): a seed repeats them


def auto_workers(config, run) -> tuple[int, str]:
    """--workers auto: how many local workers the search gets (0: one process), and why, in a few words."""
    cluster, search = config.cluster, config.search
    cpus = usable_cpus()
    if cluster.role or not run.workers_pay or search.tuner not in IN_ORDER_TUNERS:
        return 0, ""
    if search.max_trials < AUTO_MIN_TRIALS or (config.run.time_budget or math.inf) < AUTO_MIN_BUDGET:
        return 0, ""
    if cpus < AUTO_WORKERS or config.compute.device == "gpu" or (config.compute.device == "auto" and visible_gpu_ids()):
        return 0, ""
    return AUTO_WORKERS, f"--workers auto: {AUTO_WORKERS} processes of {cpus // AUTO_WORKERS} thread(s) on {cpus} CPU cores"


def search_lag(cluster) -> int | None:
    """tune.InOrder's lag for this process's search: 0 in one process; with N local workers, N + 1 (a trial is chosen
    from, and compared with, the trials before the N + 1 latest: with 2 workers, the schedule of bench/README's
    three mnist_5k searches would have waited ~10 % of their wall for the trials it needs, against ~30 % with lag 1);
    None where workers on other hosts may join (--role): the search then depends on timing."""
    local = cluster.workers or cluster.local_workers
    if cluster.role == "chief" or (cluster.role == "worker" and not cluster.local_workers):
        return None
    return local + 1 if local else 0


def check_cluster_options(config) -> None:
    """--workers/--role/--bind/--oracle make sense together, or the run stops before it starts."""
    if config.cluster.workers is not None and config.cluster.workers < 0:
        raise InputError("--workers must be 0 or more")
    if config.cluster.role == "worker":
        if not config.cluster.oracle:
            raise InputError("--role worker needs --oracle ADDRESS:PORT, the address the chief printed")
        if config.cluster.workers or config.cluster.bind:
            raise InputError("--role worker takes --oracle only; --workers and --bind are for the chief")
        parse_address(config.cluster.oracle, "--oracle")
    elif config.cluster.oracle:
        raise InputError("--oracle is for --role worker; the chief listens on --bind")
    if config.cluster.bind:
        if config.cluster.role != "chief" and not config.cluster.workers:
            raise InputError("--bind is for the chief: use it with --role chief or --workers N")
        check_bind(config.cluster.bind, config.cluster.allow_remote_workers)


def check_bind(text: str, allow_remote: bool) -> tuple[str, int]:
    """The chief can listen on --bind, and only as widely as asked: checked before anything loads, so a
    wrong address costs a second, not a search. gRPC itself would bind a port another process holds
    (it sets SO_REUSEPORT), so a plain socket probes the address first."""
    host, port = parse_address(text, "--bind")
    if host in WILDCARDS and not allow_remote:
        raise InputError(f"--bind {text}: a wildcard address listens on every network interface of this host (IPv4 "
                         "and IPv6), and keras-tuner's oracle has no authentication or TLS; bind one address of a "
                         "trusted network (e.g. 10.0.0.5:8000), or pass --allow-remote-workers if every host that "
                         "can reach this one is trusted")
    probe_listen(host, port, f"--bind {text}")
    return host, port


def probe_listen(host: str, port: int, where: str) -> None:
    """Bad input (naming `where`, the options that gave the address) unless this host can listen on host:port."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise InputError(f"{where}: cannot resolve {host!r}; give an IP address or a name of this host") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.bind(address)
            except OSError as exc:
                reason = {errno.EADDRINUSE: ("the port is in use", "pick a free port"),
                          errno.EADDRNOTAVAIL: ("not an address of this host", "bind one of this host's addresses"),
                          errno.EACCES: ("permission denied", "pick a port above 1023")}.get(
                              exc.errno, (exc.strerror or str(exc), "pick another address or port"))
                raise InputError(f"{where}: cannot listen there ({reason[0]}); {reason[1]}") from None


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is this host's loopback (reachable from this host only)."""
    if host in WILDCARDS:
        return False
    try:
        return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback
                   for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM))
    except (socket.gaierror, ValueError):
        return False


def describe_bind(host: str, port: int) -> str:
    """The exact address the chief listens on, in words a person can act on."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if host in WILDCARDS:
        return f"{address} (every network interface, IPv4 and IPv6)"
    return address


def parse_address(text: str, option: str) -> tuple[str, int]:
    """ADDRESS:PORT of --bind/--oracle as (host, port); anything else is bad input naming the option."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{option} {text!r}: give ADDRESS:PORT, e.g. 127.0.0.1:8000 or 10.0.0.5:8000")
    return host.strip("[]"), int(port)


def oracle_timeout() -> float:
    """Seconds a worker waits on the chief's oracle (AUTOTUNE_ORACLE_TIMEOUT overrides)."""
    return float(os.environ.get(ORACLE_TIMEOUT_ENV, ORACLE_TIMEOUT))


def wait_for_chief(path: Path, missing: str) -> None:
    """Wait for `path`, which the chief makes, up to oracle_timeout(); ChiefLost(`missing`) if it never appears."""
    waited = time.time()
    while not path.exists():
        if time.time() - waited > oracle_timeout():
            raise ChiefLost(missing)
        time.sleep(0.2)


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on now, for a chief on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def keras_tuner_role(tuner_id: str, host: str, port: int):
    """keras-tuner reads its distributed role from these environment variables (while the tuner is
    built, searches and saves); they are set for that time only."""
    names = {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port)}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    if tuner_id != "chief":
        # keras-tuner waits up to an hour on each call to a chief that has gone; a worker should say so sooner.
        kt_compat.set_worker_timeout(oracle_timeout())
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Cluster:
    """This process's part in a distributed search."""

    role: str  # "chief" | "worker"
    host: str  # the chief's oracle address (a worker connects to it, the chief listens on it)
    port: int
    tuner_id: str = "chief"
    workers: list = field(default_factory=list)  # the chief's local worker processes (LocalWorker)
    ran_by: dict = field(default_factory=dict)  # chief: trial id -> worker id that ran it
    on_trial_start: Callable[[str, str], None] | None = None  # chief: (worker id, trial id), for progress
    warn: Callable[..., None] | None = None  # chief: where warnings about workers go (format, *args)
    state_path: Path | None = None  # chief: ran_by on disk, so a resumed chief still knows who ran what

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class LocalWorker:
    tuner_id: str
    process: subprocess.Popen
    log_path: Path
    returncode: int | None = None


def start_local_workers(config, count: int, host: str, port: int, work: Path, started: float) -> list[LocalWorker]:
    """N worker processes on this host, each running `python -m autotune.search.worker CONFIG` with the run's
    settings; on a host with several GPUs each gets its own (CUDA_VISIBLE_DEVICES)."""
    gpus = visible_gpu_ids()
    work.mkdir(parents=True, exist_ok=True)
    workers = []
    for i in range(count):
        tuner_id = f"tuner{i}"
        settings = {**config.options(), "role": "worker", "workers": 0, "local_workers": count, "bind": None,
                    "oracle": f"{connect_host(host)}:{port}",
                    "worker_id": tuner_id, "started": started, "parent_pid": os.getpid()}
        path = work / f"{tuner_id}.json"
        path.write_text(json.dumps(settings, default=str))
        env = dict(os.environ)
        if len(gpus) > 1:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
        elif not gpus:
            # CPU workers share the cores instead of each starting a thread per core and contending.
            env.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, usable_cpus() // count)))
        log_path = work / f"{tuner_id}.log"
        with open(log_path, "ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "autotune.search.worker", str(path)], stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        workers.append(LocalWorker(tuner_id, process, log_path))
    return workers


def connect_host(host: str) -> str:
    """The address workers dial for a chief bound to host (loopback for a wildcard)."""
    return LOOPBACK if host in ("0.0.0.0", "", "::") else host


def visible_gpu_ids() -> list[str]:
    """GPU ids for CUDA_VISIBLE_DEVICES, without importing TensorFlow (nvidia-smi, else the variable)."""
    declared = os.environ.get("CUDA_VISIBLE_DEVICES")
    if declared is not None:
        return [g for g in declared.split(",") if g.strip() and g.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def stop_workers(workers: list[LocalWorker], grace: float = 10.0) -> None:
    """SIGTERM the local workers, then SIGKILL those still running after grace seconds."""
    for w in workers:
        if w.process.poll() is None:
            w.process.terminate()
    deadline = time.time() + grace
    for w in workers:
        try:
            w.process.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            w.process.kill()
            w.process.wait()


def serve(oracle, cluster: Cluster, on_trial_end: Callable | None = None,
          on_trial_start: Callable[[str, str], None] | None = None, deadline: float | None = None,
          poll: float = 0.5) -> None:
    """Run keras-tuner's oracle service until the search is over.

    Over means: with local workers, every one of them has exited; without (workers on other hosts),
    keras-tuner's own rule: a worker was told to stop and no trial is running. A local worker that
    dies mid-trial hands its trial back to keras-tuner's retry queue, so another worker reruns it.
    """
    if cluster.state_path is not None and cluster.state_path.exists():
        cluster.ran_by.update(json.loads(cluster.state_path.read_text()))
    watch = _TrialWatch(oracle, cluster, on_trial_start, on_trial_end)
    server, servicer = _start_oracle_server(oracle, cluster)
    try:
        while True:
            time.sleep(poll)
            watch.poll()
            if cluster.workers:
                if _reap_workers(oracle, cluster):
                    break
            elif kt_compat.stop_requested(servicer) and kt_compat.chief_may_exit(oracle):
                break
            elif deadline is not None and time.time() > deadline + DEADLINE_GRACE:
                (cluster.warn or log.warning)("time budget over and workers still hold trials %s; ending the search",
                                              sorted(t.trial_id for t in oracle.ongoing_trials.values()))
                break
    finally:
        server.stop(grace=None)
    _close_abandoned_trials(oracle, cluster)


def _start_oracle_server(oracle, cluster: Cluster):
    """keras-tuner's oracle servicer on a gRPC server listening on cluster.address; (server, servicer)."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    # No SO_REUSEPORT: a second chief on the same port fails here instead of sharing the port with the first.
    server = grpc.server(ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
    servicer = kt_compat.add_oracle_servicer(oracle, server)
    try:
        bound = server.add_insecure_port(cluster.address)
    except RuntimeError:  # gRPC >= 1.6x raises where older versions returned 0
        bound = 0
    if not bound:
        raise InputError(f"--bind {cluster.address}: the chief cannot listen there (the port was taken since the "
                         "run started, or the address is not this host's); pick another --bind ADDRESS:PORT")
    server.start()
    log.info("keras-tuner oracle listening on %s", cluster.address)
    return server, servicer


class _TrialWatch:
    """Turns the oracle's state, polled, into trial-started (which worker runs it, saved for a resumed
    chief) and trial-ended events."""

    def __init__(self, oracle, cluster: Cluster, on_trial_start: Callable | None, on_trial_end: Callable | None):
        self.oracle, self.cluster = oracle, cluster
        self.on_trial_start, self.on_trial_end = on_trial_start, on_trial_end
        self.seen_running: dict[str, str] = {}
        self.finished: set[str] = {t.trial_id for t in oracle.trials.values() if t.status not in ("RUNNING", "IDLE")}
        self.saved = dict(cluster.ran_by)
        self.lock = threading.Lock()  # the oracle servicer's thread hands trials out, the chief's loop polls
        # Who runs a trial is recorded, and saved, when the oracle hands it out (keras-tuner's servicer calls
        # create_trial with the worker's id): a trial shorter than the poll interval is never seen among the ongoing
        # ones, and one that finished before the next poll would be kept by a resumed chief without its worker.
        create_trial = oracle.create_trial

        def handing_out(tuner_id, *args, **kwargs):
            trial = create_trial(tuner_id, *args, **kwargs)
            if trial.status == "RUNNING":
                cluster.ran_by[trial.trial_id] = tuner_id
                self.save()
            return trial

        oracle.create_trial = handing_out

    def save(self) -> None:
        """cluster.ran_by into its state file, if it changed since the last save."""
        cluster = self.cluster
        with self.lock:
            if cluster.state_path is not None and cluster.ran_by != self.saved:
                self.saved = dict(cluster.ran_by)
                cluster.state_path.write_text(json.dumps(self.saved))

    def poll(self) -> None:
        cluster = self.cluster
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            if self.seen_running.get(tuner_id) != trial.trial_id:
                self.seen_running[tuner_id] = trial.trial_id
                cluster.ran_by[trial.trial_id] = tuner_id
                if self.on_trial_start:
                    self.on_trial_start(tuner_id, trial.trial_id)
        self.save()
        for trial in list(self.oracle.trials.values()):
            if trial.trial_id not in self.finished and trial.status not in ("RUNNING", "IDLE"):
                self.finished.add(trial.trial_id)
                if self.on_trial_end:
                    self.on_trial_end(cluster.ran_by.get(trial.trial_id, "?"), trial)


def _reap_workers(oracle, cluster: Cluster) -> bool:
    """Notice local workers that have exited (a failed one's trial goes back to the queue); True once all have."""
    for w in cluster.workers:
        if w.returncode is None and w.process.poll() is not None:
            w.returncode = w.process.returncode
            lost = _hand_back(oracle, cluster, w.tuner_id, requeue=w.returncode != 0)
            if w.returncode != 0:
                (cluster.warn or log.warning)("worker %s exited with code %s%s; see %s", w.tuner_id, w.returncode,
                                              f" during trial {lost.trial_id}, which goes back to the queue"
                                              if lost else "", w.log_path)
    return all(w.returncode is not None for w in cluster.workers)


def _hand_back(oracle, cluster: Cluster, tuner_id: str, requeue: bool):
    """A worker has gone: it is no longer waited for. If it died mid-trial, the trial goes back to the
    queue for another worker; if it stopped on the time budget, its unstarted trial is dropped. Under the
    oracle's lock, as keras-tuner's own servicer calls are."""
    import keras_tuner as kt

    @kt.synchronized
    def hand_back(oracle):
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        if trial is not None:
            if requeue:
                kt_compat.retry_queue(oracle).append(trial.trial_id)
            else:
                cluster.ran_by.pop(trial.trial_id, None)
            oracle.save()
        return trial

    return hand_back(oracle)


def _close_abandoned_trials(oracle, cluster: Cluster) -> None:
    """Trials that no worker came back to (their worker died last): recorded as failed, not left running."""
    for trial in oracle.trials.values():
        if trial.status == "RUNNING" and trial.trial_id in cluster.ran_by:
            trial.status = "FAILED"
            trial.message = f"its worker ({cluster.ran_by[trial.trial_id]}) stopped before it finished"
            kt_compat.save_trial(oracle, trial)
    kt_compat.retry_queue(oracle).clear()
    oracle.ongoing_trials.clear()
    oracle.save()
