"""Issue 19, item 5: `--mlflow` logs the run, each trial as a nested run with its curves, and the bundle; read back
with MLflow's own client from a temporary local store."""
from __future__ import annotations

import json

import pytest
from conftest import DATA

mlflow = pytest.importorskip("mlflow")


def test_a_fit_logged_to_a_local_store_reads_back_with_mlflows_client(tmp_path, monkeypatch):
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    run = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "bundle", max_trials=3,
                           epochs=6, patience=3, seed=0, tuner="random", mlflow=uri))
    report = json.loads((run.output / "report.json").read_text())
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["autotune-penguins.csv"], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == len(report["search"]["trials"]) == 3
    parent = parents[0]
    assert parent.data.metrics["test.accuracy"] == pytest.approx(report["test_metrics"]["accuracy"])
    assert parent.data.params["tuner"] == "random" and parent.data.params["seed"] == "0"
    assert parent.data.tags["target"] == "species"
    best = report["search"]["trials"][0]
    child = next(r for r in children if r.info.run_name == f"trial {best['trial']}")
    assert child.data.metrics["score"] == pytest.approx(best["score"])
    assert child.data.params["units"] == str(best["hyperparameters"]["units"])
    client = mlflow.tracking.MlflowClient(uri)
    curve = client.get_metric_history(child.info.run_id, "val_loss")
    assert len(curve) == best["epochs"] and [m.step for m in curve] == list(range(len(curve)))
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "bundle")}
    assert {"bundle/metadata.json", "bundle/saved_model", "bundle/report.json"} <= artifacts


def test_an_unreachable_tracking_server_is_a_warning_and_the_bundle_stays(tmp_path, monkeypatch):
    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.pipeline import fit

    class Warnings(Reporter):
        def __init__(self):
            self.lines = []

        def warning(self, message):
            self.lines.append(message)

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries would wait minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    reporter = Warnings()
    run = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "bundle", max_trials=1,
                           epochs=2, seed=0, mlflow="http://127.0.0.1:9"), reporter)
    assert (run.output / "metadata.json").exists()
    assert any(line.startswith("--mlflow http://127.0.0.1:9: the run was not logged") for line in reporter.lines)
