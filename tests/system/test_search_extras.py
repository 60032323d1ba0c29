"""--select-features pca end to end: search, --cv, export, and raw rows predicted by the CLI and plain
TensorFlow in subprocesses. The other extras are in tests/integration/test_search_extras.py."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
from conftest import DATA, run_cli, serve_with_plain_tensorflow

# --- --select-features pca ---------------------------------------------------------------------------




RAW_ROWS = 8
def test_pca_end_to_end_search_cv_export_and_predict_raw_rows(tmp_path):
    """`autotune fit --select-features pca --cv 2` on breast-cancer's 30 numeric columns; the bundle takes raw
    rows (a missing value, text in a number column, an unknown column) and model.keras, the SavedModel,
    `autotune predict` and a process with only TensorFlow give the same probabilities."""
    bundle = tmp_path / "bundle"
    fit = run_cli("fit", "data/breast_cancer.csv", "--target", "target", "-o", str(bundle), "--select-features", "pca",
                  "--cv", "2", "--tuner", "random", "--max-trials", "1", "--epochs", "3", "--search-folds", "1",
                  "--ensemble", "1", "--no-baseline", "--json")
    assert fit.returncode == 0, fit.stderr
    assert "pca: 30 numeric features →" in fit.stderr
    report = json.loads((bundle / "report.json").read_text())
    (pca,) = [a for a in report["cleaning"] if a["step"] == "pca"]
    assert pca["columns"] == 30 and pca["components"] < 30 and "95% variance" in pca["description"]
    assert pca["description"] in (bundle / "report.md").read_text()
    assert report["cross_validation"]["kind"] == "2-fold" and len(report["cross_validation"]["per_fold"]) == 2
    with __import__("zipfile").ZipFile(bundle / "model.keras") as archive:
        config = archive.read("config.json").decode()
    assert '"Projection"' in config and "Lambda" not in config

    frame = pd.read_csv(DATA / "breast_cancer.csv").drop(columns="target").head(RAW_ROWS).astype(object)
    frame.loc[1, "mean radius"] = None
    frame.loc[2, "worst area"] = "unknown"
    frame["note"] = "x"
    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)

    from autotune.bundle.load import load_bundle, predict
    from autotune.data.clean import raw_inputs
    from autotune.train import predict_raw

    loaded = load_bundle(bundle)
    table = pd.read_csv(rows)
    served = predict(loaded, table)  # through the SavedModel's signature
    probabilities = served[["p_benign", "p_malignant"]].to_numpy()
    np.testing.assert_allclose(predict_raw(loaded.model, raw_inputs(table, loaded.features)), probabilities, atol=1e-5)

    cli = run_cli("predict", str(bundle), str(rows))
    assert cli.returncode == 0, cli.stderr
    ours = pd.read_csv(io.StringIO(cli.stdout))
    np.testing.assert_allclose(ours[["p_benign", "p_malignant"]].to_numpy(), probabilities, atol=1e-5)

    theirs = serve_with_plain_tensorflow(bundle, rows, tmp_path)
    assert theirs["leaked"] == []
    np.testing.assert_allclose(theirs["probabilities"], probabilities, atol=1e-5)
