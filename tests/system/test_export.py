"""The exported bundle as deployments use it, through the CLI and plain TensorFlow in subprocesses.
In-process checks of the bundle are in tests/integration/test_export.py."""
from __future__ import annotations

import io
import json
import textwrap

import numpy as np
import pandas as pd
from conftest import run_cli, serve_with_plain_tensorflow

# Raw rows as a user sends them: a missing number, a missing category, unseen categories (island and
# year), a number column holding text, and a column the model never saw.
NEW_ROWS = textwrap.dedent("""\
    island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year,note
    Biscoe,45.1,,210,5000,,2008,x
    Atlantis,39.0,18.0,185,3500,female,2031,y
    Dream,?,17.9,192,3700,male,2009,z
    Torgersen,38.6,21.2,191,3800,male,2007,
    """)

def test_fit_predict_and_plain_tensorflow_agree(tmp_path):
    """`autotune fit` → `autotune predict` → a process importing only TensorFlow: same probabilities."""
    bundle = tmp_path / "bundle"
    fit = run_cli("fit", "data/penguins.csv", "--target", "species", "-o", str(bundle), "--tuner", "random",
                  "--max-trials", "2", "--epochs", "5", "--json")
    assert fit.returncode == 0, fit.stderr
    summary = json.loads(fit.stdout)
    assert summary["status"] == "ok" and summary["output"] == str(bundle)
    rows = tmp_path / "new.csv"
    rows.write_text(NEW_ROWS)

    predict = run_cli("predict", str(bundle), str(rows))
    assert predict.returncode == 0, predict.stderr
    assert "non-numeric values '?'" in predict.stderr
    ours = pd.read_csv(io.StringIO(predict.stdout))
    assert list(ours.columns) == ["prediction", "p_Adelie", "p_Chinstrap", "p_Gentoo"] and len(ours) == 4

    theirs = serve_with_plain_tensorflow(bundle, rows, tmp_path)
    assert theirs["leaked"] == []
    np.testing.assert_allclose(theirs["probabilities"], ours[["p_Adelie", "p_Chinstrap", "p_Gentoo"]].to_numpy(),
                               atol=1e-5)
    assert theirs["label"] == ours["prediction"].tolist()
    assert np.allclose(np.sum(theirs["probabilities"], axis=1), 1.0, atol=1e-5)


def test_categories_with_surrounding_whitespace_score_alike_everywhere(penguins_run, tmp_path):
    """`autotune predict` strips categories as it reads them; the SavedModel (plain TensorFlow) and
    model.keras fed the raw strings must strip them the same way (issue 14, item 5)."""
    import keras

    import autotune.tabular.layers  # noqa: F401  registers the custom preprocessing layers
    from autotune.bundle.load import load_bundle

    clean = textwrap.dedent("""\
        island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year
        Biscoe,45.1,15.0,210,5000,female,2008
        Dream,39.0,18.0,185,3500,male,2009
        Torgersen,38.6,21.2,191,3800,female,2007
        """)
    spaced = (clean.replace("Biscoe", '" Biscoe "').replace("Dream", '"Dream\t"').replace("female", '"\u00a0female"')
              .replace(",male", ',"  male "'))
    (tmp_path / "clean.csv").write_text(clean)
    (tmp_path / "spaced.csv").write_text(spaced)
    assert pd.read_csv(tmp_path / "spaced.csv")["island"].tolist()[0] == " Biscoe "

    columns = ["p_Adelie", "p_Chinstrap", "p_Gentoo"]
    outputs = {}
    for name in ("clean", "spaced"):
        predict = run_cli("predict", str(penguins_run.output), str(tmp_path / f"{name}.csv"))
        assert predict.returncode == 0, predict.stderr
        outputs[f"predict {name}"] = pd.read_csv(io.StringIO(predict.stdout))[columns].to_numpy()
        outputs[f"serving {name}"] = np.asarray(
            serve_with_plain_tensorflow(penguins_run.output, tmp_path / f"{name}.csv", tmp_path)["probabilities"])
    features = load_bundle(penguins_run.output).features
    model = keras.saving.load_model(penguins_run.output / "model.keras", safe_mode=True)
    raw = pd.read_csv(tmp_path / "spaced.csv")
    inputs = {f.key: (raw[f.name].to_numpy(np.float32) if f.dtype == "number" else raw[f.name].to_numpy(object))
              .reshape(-1, 1) for f in features}
    import tensorflow as tf

    outputs["model.keras spaced"] = np.asarray(model({k: tf.constant(v) for k, v in inputs.items()}))
    for name, values in outputs.items():
        np.testing.assert_allclose(values, outputs["predict clean"], atol=1e-5, err_msg=name)
