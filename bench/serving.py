"""Start-up and serving speed: `autotune --help`, and batch prediction of an exported tabular bundle
through the SavedModel, the .keras model and `autotune predict` on a 100,000-row CSV.

    python bench/serving.py

Writes bench/results/serving.md and serving.json. All figures come from one run on one machine.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = 100_000


def timed(command: list[str], repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    import numpy as np
    import pandas as pd

    from autotune.bundle import load_bundle, predict
    from autotune.clean import raw_inputs
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    results = {"help_seconds": timed([sys.executable, "-m", "autotune", "--help"], repeat=5)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = fit(FitConfig(ROOT / "data" / "penguins.csv", target="species", output=tmp / "bundle", tuner="random",
                            max_trials=2, epochs=5, baseline=False)).output
        frame = pd.read_csv(ROOT / "data" / "penguins.csv")
        big = frame.sample(ROWS, replace=True, random_state=0).reset_index(drop=True)
        csv = tmp / "big.csv"
        big.to_csv(csv, index=False)

        import tensorflow as tf

        bundle = load_bundle(out)
        columns = raw_inputs(big, bundle.features)
        serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
        tensors = {k: tf.constant(v) for k, v in columns.items()}
        serve(**{k: v[:10] for k, v in tensors.items()})  # warm up
        start = time.perf_counter()
        for i in range(0, ROWS, 10_000):
            serve(**{k: v[i:i + 10_000] for k, v in tensors.items()})
        results["saved_model_rows_per_s"] = ROWS / (time.perf_counter() - start)

        predict(bundle, big.head(100))  # warm up
        start = time.perf_counter()
        predict(bundle, big)
        results["bundle_predict_rows_per_s"] = ROWS / (time.perf_counter() - start)

        from autotune.train import predict_raw

        predict_raw(bundle.model, {k: v[:10] for k, v in columns.items()})  # warm up
        start = time.perf_counter()
        predict_raw(bundle.model, columns)
        results["keras_predict_rows_per_s"] = ROWS / (time.perf_counter() - start)

        results["cli_predict_100k_seconds"] = timed([sys.executable, "-m", "autotune", "predict", str(out), str(csv),
                                                     "-o", str(tmp / "preds.csv")])
        results["cli_predict_rows_per_s"] = ROWS / results["cli_predict_100k_seconds"]
        results["saved_model_vs_keras"] = results["saved_model_rows_per_s"] / results["keras_predict_rows_per_s"]
        assert np.isfinite(list(results.values())).all()
    lines = ["`python bench/serving.py` — one run, one machine; the ratio is the figure to compare.", "",
             "| measure | value |", "|---|---|",
             f"| `autotune --help` (median of 5) | {results['help_seconds']:.3f} s |",
             f"| SavedModel, 10,000-row batches | {results['saved_model_rows_per_s']:,.0f} rows/s |",
             f"| `bundle.predict`: pandas → raw columns → SavedModel | {results['bundle_predict_rows_per_s']:,.0f} rows/s |",
             f"| .keras model, Keras `predict` over tf.data | {results['keras_predict_rows_per_s']:,.0f} rows/s |",
             f"| SavedModel / .keras | {results['saved_model_vs_keras']:.2f}× |",
             f"| `autotune predict` on {ROWS:,} rows, end to end | {results['cli_predict_100k_seconds']:.1f} s "
             f"({results['cli_predict_rows_per_s']:,.0f} rows/s) |"]
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "serving.md").write_text("\n".join(lines) + "\n")
    (out_dir / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
