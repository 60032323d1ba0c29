"""The command line as users meet it, on a real fitted bundle in-process: refusals before work, predict and
evaluate. Argument errors are in tests/unit/test_cli.py, the CLI in subprocesses in tests/system/test_cli.py."""
from __future__ import annotations

import json
import shutil

from conftest import DATA
from unit.test_cli import invoke


def test_output_that_holds_a_bundle_is_refused_before_any_work(penguins_run):
    result = invoke("fit", str(DATA / "penguins.csv"), "--target", "species", "-o", str(penguins_run.output))
    assert result.exit_code == 2
    assert "already exists and is not empty; pass --overwrite" in result.stderr


def test_predict_writes_a_csv_and_ignores_extra_and_target_columns(penguins_run, tmp_path):
    out = tmp_path / "preds.csv"
    result = invoke("predict", str(penguins_run.output), str(DATA / "penguins.csv"), "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "prediction,p_Adelie,p_Chinstrap,p_Gentoo" and len(lines) == 345
    assert f"wrote 344 predictions to {out}" in result.stderr


def test_predict_names_the_missing_column(penguins_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("island,bill_length_mm\nDream,40\n")
    result = invoke("predict", str(penguins_run.output), str(rows))
    assert result.exit_code == 2
    assert result.stderr.startswith('error: column "bill_depth_mm": required by the model but not in the data')


def test_evaluate_reports_metrics_on_labelled_rows(penguins_run, tmp_path):
    result = invoke("evaluate", str(penguins_run.output), str(DATA / "penguins.csv"), "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["rows"] == 344 and 0.5 < metrics["accuracy"] <= 1.0
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 344


def test_evaluate_needs_the_target(penguins_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text((DATA / "penguins.csv").read_text().replace("species,", "kind,", 1))
    result = invoke("evaluate", str(penguins_run.output), str(rows))
    assert result.exit_code == 2 and 'column "species": the target column is needed' in result.stderr


def test_a_broken_model_file_is_bad_input(penguins_run, tmp_path):
    """A SavedModel that cannot be read (here: its graph overwritten, the hashes recomputed to match)."""
    from autotune.bundle.export import seal

    bundle = tmp_path / "bundle"
    shutil.copytree(penguins_run.output, bundle)
    (bundle / "saved_model" / "saved_model.pb").write_bytes(b"not a protocol buffer")
    seal(bundle)
    result = invoke("predict", str(bundle), str(DATA / "penguins.csv"))
    assert result.exit_code == 2
    assert "saved_model: cannot be loaded" in result.stderr and "re-export the bundle" in result.stderr


def test_predict_keeps_the_columns_asked_for_and_an_id_column_by_itself(penguins_run, tmp_path):
    """Issue 19, item 4: predictions join back to their rows by an ID, not by row order."""
    import pandas as pd

    frame = pd.read_csv(DATA / "penguins.csv")
    frame.insert(0, "penguin_id", [f"P{i:04d}" for i in range(len(frame))][::-1])
    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)
    out = tmp_path / "auto.csv"
    result = invoke("predict", str(penguins_run.output), str(rows), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert 'note: column "penguin_id" looks like an ID: copied into the predictions' in result.stderr
    table = pd.read_csv(out)
    assert list(table.columns[:2]) == ["penguin_id", "prediction"]
    assert table["penguin_id"].tolist() == frame["penguin_id"].tolist()
    out = tmp_path / "kept.csv"
    result = invoke("predict", str(penguins_run.output), str(rows), "-o", str(out), "--keep", "island,year",
                    "--id-column", "penguin_id")
    assert result.exit_code == 0, result.output and "looks like an ID" not in result.stderr
    table = pd.read_csv(out)
    assert list(table.columns[:4]) == ["island", "year", "penguin_id", "prediction"]
    assert table["island"].tolist() == frame["island"].tolist()
    result = invoke("predict", str(penguins_run.output), str(rows), "--keep", "colour")
    assert result.exit_code == 2
    assert result.stderr.startswith('error: column "colour": --keep names a column the data does not have')


def test_predict_warns_once_per_column_of_values_never_seen_in_training(penguins_run, tmp_path):
    import pandas as pd

    frame = pd.read_csv(DATA / "penguins.csv").head(20)
    frame.loc[:2, "island"] = "Atlantis"          # 3 rows: a category never seen
    frame.loc[3, "island"] = None                # missing is not unseen
    frame.loc[4:5, "body_mass_g"] = 99999.0      # 2 rows above the training range
    frame.loc[6, "body_mass_g"] = 1.0            # 1 below
    rows = tmp_path / "rows.csv"
    frame.to_csv(rows, index=False)
    out = tmp_path / "p.csv"
    result = invoke("predict", str(penguins_run.output), str(rows), "-o", str(out))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert ('warning: column "island": 3 of 20 row(s) hold a category never seen in training '
            "(1 distinct, e.g. 'Atlantis')") in warnings
    assert any(w.startswith('warning: column "body_mass_g": 3 of 20 row(s) outside the training range [')
               and w.endswith("(1 below, 2 above)") for w in warnings)
    columns = [w.split('"')[1] for w in warnings]
    assert len(columns) == len(set(columns)) and "wrote 20 predictions" in result.stderr  # one line per column
    # the same warnings in --json's document (stdout), with the counts
    result = invoke("predict", str(penguins_run.output), str(rows), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "ok" and document["predicted"] == 20 and document["failed"] == 0
    assert document["warnings"] == [w.removeprefix("warning: ") for w in warnings]
    result = invoke("predict", str(penguins_run.output), str(rows), "--json")
    assert result.exit_code == 2 and "--json needs -o FILE" in result.stderr
    assert json.loads(result.stdout)["status"] == "error"
    # probabilities at one precision: six decimals
    cells = [cell for line in out.read_text().splitlines()[1:] for cell in line.split(",")[1:]]
    assert all(len(cell.split(".")[-1]) <= 6 for cell in cells) and any(len(cell.split(".")[-1]) == 6 for cell in cells)
