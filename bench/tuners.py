"""The four tuners side by side: same data, same split, same time budget.

    python bench/tuners.py [--budget 60] [names…]      (default: breast_cancer and penguins)

Writes bench/results/tuners.md and tuners.json: per tuner and dataset, the trials completed, the best
validation score (the search's objective) and the test score of the exported model.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"breast_cancer": "target", "wine": "target", "penguins": "species", "diabetes": "progression"}


def main() -> None:
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=["breast_cancer", "penguins"])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of search per run")
    args = parser.parse_args()
    rows = []
    for name in args.names:
        for tuner in ("random", "bayesian", "hyperband", "grid"):
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                report = fit(FitConfig.of(ROOT / "data" / f"{name}.csv", target=TARGETS[name], output=Path(tmp) / "b",
                                       tuner=tuner, max_trials=200, time_budget=args.budget, baseline=False)).report
            search = report["search"]
            best = next(t for t in search["trials"] if t["score"] is not None)
            rows.append({"data": name, "tuner": tuner, "trials": len(search["trials"]),
                         "objective": search["objective"], "best_validation": best["score"],
                         "validation": search["validation"], "test_metric": report["headline"]["metric"],
                         "test": report["headline"]["value"], "wall_seconds": round(time.perf_counter() - start, 1)})
            print(json.dumps(rows[-1]), flush=True)
    lines = [f"Search budget {args.budget:.0f} s per run (`python bench/tuners.py --budget {args.budget:.0f}`), "
             "default settings otherwise, stratified 80/20 split, seed 0.", "",
             "| data | tuner | trials | best validation | scored on | test | wall s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['tuner']} | {r['trials']} | {r['objective']} {r['best_validation']:.4f} | "
                     f"{r['validation']} | {r['test_metric']} {r['test']:.4f} | {r['wall_seconds']} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuners.md").write_text("\n".join(lines) + "\n")
    (out / "tuners.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
