"""Default-budget accuracy on the data/ sets, beside scikit-learn baselines on the same split.

    python bench/accuracy.py            # every set in data/
    python bench/accuracy.py wine       # some of them

Writes bench/results/accuracy.md and accuracy.json. Each autotune run is a real `fit` with the
default settings; the baselines see the same train + validation rows and the same test rows.
"""
from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {"breast_cancer": "target", "wine": "target", "penguins": "species", "diabetes": "progression"}


def logistic_or_ridge(parts, features, task, labels, seed):
    """Standardised one-hot features into LogisticRegression / Ridge (scikit-learn, same split)."""
    import numpy as np
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from autotune.evaluate import evaluate, headline

    numeric = [f.name for f in features if f.kind == "numeric"]
    categorical = [f.name for f in features if f.kind == "categorical"]
    prep = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                       OneHotEncoder(handle_unknown="ignore")), categorical))
    model = make_pipeline(prep, LogisticRegression(max_iter=5000) if task == "classification" else RidgeCV())
    import pandas as pd

    x = pd.concat([parts.train, parts.validation])
    for column in categorical:
        x[column] = x[column].astype(str)
    test = parts.test.copy()
    for column in categorical:
        test[column] = test[column].astype(str)
    model.fit(x, pd.concat([parts.y_train, parts.y_validation]).to_numpy())
    if task == "classification":
        probabilities = model.predict_proba(test)
        outputs = probabilities[:, [list(model.classes_).index(label) for label in labels]]
    else:
        outputs = np.asarray(model.predict(test))
    metrics = evaluate(task, parts.y_test.to_numpy(), outputs, labels)
    return headline(task, metrics)[1], metrics


def main(names: list[str]) -> None:
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    rows = []
    for name in names or list(SETS):
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = fit(FitConfig(ROOT / "data" / f"{name}.csv", target=SETS[name], output=Path(tmp) / "b"))
        wall = time.perf_counter() - start
        report = result.report
        from autotune.events import Reporter
        from autotune.pipeline import _load_table  # the same split and features as the run

        loaded = _load_table(FitConfig(ROOT / "data" / f"{name}.csv", target=SETS[name]), Reporter())
        linear, _ = logistic_or_ridge(loaded.parts, loaded.run.features, loaded.run.task, loaded.run.labels, 0)
        metrics = report["test_metrics"]
        rows.append({"data": name, "task": report["task"], "metric": report["headline"]["metric"],
                     "autotune": report["headline"]["value"],
                     "f1_macro": metrics.get("f1_macro"), "r2": metrics.get("r2"),
                     "hist_gradient_boosting": report["baseline"]["value"], "linear": linear,
                     "wall_seconds": round(wall, 1), "trials": len(report["search"]["trials"])})
        print(json.dumps(rows[-1]), flush=True)
    lines = ["| data | metric | autotune | HistGradientBoosting | Logistic/Ridge | macro-F1 / R² | wall s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        extra = r["f1_macro"] if r["task"] == "classification" else r["r2"]
        lines.append(f"| {r['data']} | {r['metric']} | {r['autotune']:.4f} | {r['hist_gradient_boosting']:.4f} | "
                     f"{r['linear']:.4f} | {extra:.4f} | {r['wall_seconds']} |")
    header = (f"Default settings, stratified 80/20 split, seed 0; {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}. Command: `python bench/accuracy.py`.\n\n")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "accuracy.md").write_text(header + "\n".join(lines) + "\n")
    (out / "accuracy.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
