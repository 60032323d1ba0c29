"""`autotune serve` on loopback beside the SavedModel called in-process: requests per second and p50/p99 latency
for 1-row and 1,000-row requests (issue 19), one client at a time and several at once, in one run.

    python bench/serve_http.py [BUNDLE] [--requests 300] [--clients 4]

Without BUNDLE it fits a small one on data/penguins.csv first. Prints a Markdown table (the figures are this
machine's, this run's: compare the rows with each other, not with another run).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: bytes) -> float:
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - started


def measure(call, requests: int, clients: int) -> dict:
    """Latencies of `requests` calls made by `clients` threads at once, and the throughput of the whole."""
    for _ in range(min(10, requests)):
        call()  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda _: call(), range(requests)))
    wall = time.perf_counter() - started
    return {"requests_per_s": requests / wall, "p50_ms": 1000 * float(np.percentile(latencies, 50)),
            "p99_ms": 1000 * float(np.percentile(latencies, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import pandas as pd
    import tensorflow as tf

    import autotune
    from autotune.data.clean import raw_inputs

    scratch = tempfile.mkdtemp(prefix="serve-bench-")
    bundle = autotune.load(args.bundle) if args.bundle else autotune.fit(
        ROOT / "data" / "penguins.csv", target="species", output=Path(scratch) / "bundle", max_trials=2, epochs=10)
    frame = pd.read_csv(ROOT / "data" / "penguins.csv")
    frame = pd.concat([frame] * (1000 // len(frame) + 1), ignore_index=True)
    columns = raw_inputs(frame, bundle.features)

    def instances(n: int) -> list[dict]:
        return [{k: (None if isinstance(v[i], float) and np.isnan(v[i]) else v[i].item() if hasattr(v[i], "item")
                     else v[i]) for k, v in columns.items()} for i in range(n)]

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "autotune", "serve", str(bundle.path), "--port", str(port),
                               "--name", "m"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/models/m:predict"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        signature = tf.saved_model.load(str(bundle.path / "saved_model")).signatures["serving_default"]
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=ROOT).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=ROOT).stdout
        print(f"# autotune serve vs the SavedModel in-process — {args.requests} requests per row\n")
        print(f"git {commit}{' (uncommitted changes)' if dirty.strip() else ''}, "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
        print("| rows a request | clients | how | requests/s | rows/s | p50 ms | p99 ms |")
        print("|--:|--:|---|--:|--:|--:|--:|")
        for rows in (1, 1000):
            body = json.dumps({"instances": instances(rows)}).encode()
            batch = {k: tf.constant(v[:rows]) for k, v in columns.items()}
            for clients in (1, args.clients):
                for how, call in (("HTTP (autotune serve)", lambda body=body: post(url, body)),
                                  ("SavedModel in-process", lambda batch=batch: _timed(signature, batch))):
                    m = measure(call, args.requests, clients)
                    print(f"| {rows} | {clients} | {how} | {m['requests_per_s']:.1f} | "
                          f"{m['requests_per_s'] * rows:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} |", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _timed(signature, batch) -> float:
    started = time.perf_counter()
    signature(**batch)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
