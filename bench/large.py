"""Data that grows: `autotune fit` on a generated CSV of 1,000,000 rows × 50 columns (45 numeric, 4
categorical, a binary label), searching on a sample (--sample) and training the final model on every
row. Reports wall time per stage, peak RSS of the whole process and training rows per second.

    python bench/large.py [--rows 1000000] [--sample 20000] [--trials 4] [--epochs 5]

Writes bench/results/large.md and .json. The data is generated (seed 0), never downloaded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 45)).round(4), columns=[f"x{i}" for i in range(45)])
    for i in range(4):
        frame[f"c{i}"] = rng.choice(list("abcdefgh"), rows)
    signal = frame.x0 + frame.x1 * frame.x2 + (frame.c0 == "a") * 0.5 + rng.normal(scale=0.5, size=rows)
    frame["label"] = np.where(signal > 0, "yes", "no")
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "large.csv"
        started = time.perf_counter()
        make_csv(data, args.rows)
        generated = time.perf_counter() - started
        out = Path(tmp) / "bundle"
        command = [sys.executable, "-m", "autotune", "fit", str(data), "--target", "label", "-o", str(out),
                   "--sample", str(args.sample), "--max-trials", str(args.trials), "--epochs", str(args.epochs),
                   "--tuner", "random", "--no-baseline", "--json"]
        started = time.perf_counter()
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if run.returncode:
            sys.exit(f"autotune fit failed ({run.returncode}):\n{run.stderr[-3000:]}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        csv_mb = round(data.stat().st_size / 2**20, 1)
        report = json.loads((out / "report.json").read_text())
    timings = report["timings"]
    train_rows = report["final_model"]["train_rows"]
    epochs = max(m["epochs"] for m in report["final_model"]["members"])
    # what the final fit trained: each member's network (its trial's configuration and weights) and epochs; a dense
    # network's training costs ~6 floating-point operations per weight per row (2 forward, 4 backward)
    trials = {t["trial"]: t for t in report["search"]["trials"]}
    members = [{"trial": m["trial"], "epochs": m["epochs"], "parameters": int(trials[m["trial"]].get("parameters") or 0),
                "batch_rows": m.get("batch_rows"), "search_batch_rows": trials[m["trial"]].get("batch_rows"),
                "final_learning_rate": m["learning_rate"],
                **{k: trials[m["trial"]]["hyperparameters"].get(k)
                   for k in ("layers", "units", "batch_size", "learning_rate", "optimizer")}}
               for m in report["final_model"]["members"]]
    flops = 6 * sum(m["parameters"] * m["epochs"] for m in members) * train_rows
    sys.path.insert(0, str(ROOT / "bench"))
    from run import git  # bench/ is not a package

    result = {
        "git": git(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "command": " ".join(["python", "bench/large.py", *sys.argv[1:]]),
        "fit_command": "autotune fit large.csv --target label --sample N --max-trials T --epochs E --tuner random "
                       "--no-baseline",
        "rows": args.rows, "columns": 50, "csv_mb": csv_mb,
        "generate_seconds": round(generated, 1), "wall_seconds": round(wall, 1), "peak_rss_mb": round(peak_mb),
        "timings": timings, "train_rows": train_rows, "final_epochs": epochs,
        # the rows x epochs the final fit trained, every network of the final model (they train one after the other)
        "final_fit_rows_per_second": round(train_rows * sum(m["epochs"] for m in members) / timings["final_fit"])
        if timings.get("final_fit") else None,
        # ... as recorded before 1498bcc: one network's epochs over the whole final fit's time (a 3-network final
        # fit's rate, a third of it)
        "final_fit_rows_per_second_one_network": round(train_rows * epochs / timings["final_fit"])
        if timings.get("final_fit") else None,
        "final_members": members,
        "final_fit_gflops_per_second": round(flops / timings["final_fit"] / 1e9, 1) if timings.get("final_fit") else None,
        "test_metrics": {k: v for k, v in report["test_metrics"].items() if isinstance(v, float)},
        "trials": len(report["search"]["trials"]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "large.json").write_text(json.dumps(result, indent=2))
    changed = result["git"]["uncommitted_files"]
    lines = [f"# Large CSV: {args.rows:,} rows × 50 columns", "", f"`{result['command']}` on {os.cpu_count()} CPUs "
             f"({platform.platform()}), git {result['git']['commit']} "
             + (f"({changed} uncommitted file(s))" if changed else "(clean tree)")
             + f"; search on a {args.sample:,}-row sample, final fit on all training rows.", "",
             "| measure | value |", "|---|---|",
             f"| wall time, `autotune fit` end to end | {result['wall_seconds']} s |",
             f"| peak RSS of the fit process | {result['peak_rss_mb']} MB |",
             *[f"| stage `{k}` | {v} s |" for k, v in timings.items()],
             f"| final fit: rows × epochs per second, every network of the final model | "
             f"{result['final_fit_rows_per_second']:,} |",
             f"| ... counting one network's epochs (the figure recorded before 1498bcc) | "
             f"{result['final_fit_rows_per_second_one_network']:,} |",
             "| final fit: networks (layers × units; rows a step in the final fit, in the search, and the searched "
             "batch_size; optimizer, learning rate in the final fit and the searched one; weights; epochs) | "
             + "; ".join(f"{m['layers']} × {m['units']}; {m['batch_rows']}, {m['search_batch_rows']}, "
                         f"{m['batch_size']}; {m['optimizer']} {m['final_learning_rate']:.3g}, "
                         f"{m['learning_rate']:g}: {m['parameters']:,} weights, {m['epochs']} epochs"
                         for m in members) + " |",
             f"| final fit: ~6 FLOPs a weight a row, so GFLOP/s | {result['final_fit_gflops_per_second']} |",
             f"| test accuracy | {result['test_metrics'].get('accuracy', float('nan')):.4f} |"]
    (RESULTS / "large.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
