"""Where NumPy's training loop (search/numpy_mlp.py) beats the traced one (search/stacked.py), side by side.

For each size — rows per copy, encoded width, hidden units, batch size — one 3-copy trial of a fixed configuration
(2 layers, batch norm, dropout 0.1, Adam) trains both ways for a fixed number of epochs, no early stopping, in one
process, alternating, over a few repeats; the table gives the median seconds of each and their ratio, and
numpy_mlp.MAX_CELLS (batch × the widest layer) is where the ratio crosses 1.

    python bench/numpy_loop.py [--epochs 30] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = [  # rows per copy, width, units, batch
    (200, 12, 64, 32), (400, 40, 128, 32), (1000, 60, 128, 64), (3000, 100, 256, 128),
    (3000, 300, 256, 256), (10000, 100, 256, 256), (10000, 760, 256, 256), (30000, 100, 128, 512)]


def trial(engine, rows: int, width: int, units: int, batch: int, epochs: int) -> float:
    import keras_tuner as kt

    from autotune.search.hyperparameters import CLIP_NORM
    from autotune.search.recipes import TABULAR_SPACE
    from autotune.search.stacked import Copy, train_side_by_side

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows + 100, width)).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=len(x)) > 0).astype(np.int32)
    hp = kt.HyperParameters()
    for name, value in {"layers": 2, "units": units, "activation": "relu", "dropout": 0.1, "l1": 0.0, "l2": 1e-4,
                        "batch_norm": True, "numeric_encoding": "standardized"}.items():
        hp.Fixed(name, value)
    copies = [Copy(x[:rows], y[:rows], x[rows:], y[rows:]) for _ in range(3)]
    started = time.perf_counter()
    net = engine(hp, TABULAR_SPACE, copies, 2, False, seed=0, category_dropout=0.0)
    train_side_by_side(net, copies, optimizer="adam", learning_rate=1e-3, batch_size=batch, epochs=epochs,
                       patience=epochs, monitor="val_log_loss", metrics=[], clip=CLIP_NORM, seed=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from autotune.search.numpy_mlp import MAX_CELLS, NumpyMLP
    from autotune.search.stacked import StackedMLP

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# NumPy vs traced training loop — {args.epochs} epochs a trial, 3 copies, median of {args.repeats}")
    print(f"git {commit}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"MAX_CELLS = {MAX_CELLS}\n")
    print("| rows | width | units | batch | batch × widest | traced s | numpy s | numpy / traced |")
    print("|---|---|---|---|---|---|---|---|")
    trial(StackedMLP, 200, 12, 32, 32, 2)  # warm TensorFlow up
    for rows, width, units, batch in SIZES:
        times = {StackedMLP: [], NumpyMLP: []}
        for _ in range(args.repeats):
            for engine in times:
                times[engine].append(trial(engine, rows, width, units, batch, args.epochs))
        traced, numpy = (float(np.median(times[e])) for e in (StackedMLP, NumpyMLP))
        print(f"| {rows} | {width} | {units} | {batch} | {batch * max(width, units)} | {traced:.2f} | {numpy:.2f} "
              f"| {numpy / traced:.2f} |", flush=True)


if __name__ == "__main__":
    main()
