"""report.html (a pure function of report.json, self-contained, checked in headless Chromium),
`autotune report`, `autotune evaluate --report` and --tensorboard, on real tiny runs."""
from __future__ import annotations

import base64
import html
import json
import re

from click.testing import CliRunner
from conftest import DATA, TINY

from autotune.cli.commands import cli
from autotune.evaluate.metrics import CURVE_POINTS
from autotune.report.html import render_html
from autotune.report.summary import summary

MAX_BYTES = 400_000  # "a few hundred KB at most"
TABULAR_PLOTS = {"plot-confusion", "plot-per-class", "plot-roc-pr", "plot-calibration", "plot-trials", "plot-learning"}
REGRESSION_PLOTS = {"plot-predicted-actual", "plot-residuals", "plot-trials", "plot-learning"}


def _plots(page: str) -> set[str]:
    return set(re.findall(r'<svg [^>]*id="(plot-[a-z-]+)"', page))


def _report(run) -> dict:
    return json.loads((run.output / "report.json").read_text())


def test_tabular_report_shows_headline_profile_cleaning_leaderboard_and_plots(penguins_run):
    report, page = _report(penguins_run), (penguins_run.output / "report.html").read_text()
    assert len(page.encode()) < MAX_BYTES
    assert _plots(page) == TABULAR_PLOTS
    assert f"{report['headline']['value']:.4g}" in page and report["data"]["fingerprint"] in page
    assert report["baseline"]["verdict"] in page and "held-out test rows" in page
    for action in report["cleaning"]:
        assert html.escape(action["description"]) in page
    for column in report["profile"]["columns"]:
        assert f"<td>{column['name']}</td>" in page
    for label in report["profile"]["class_counts"]:
        assert f"<td>{label}</td>" in page
    assert page.count('<tr class="best">') == 1 and f"★ {report['search']['trials'][0]['trial']}" in page
    for name in report["search"]["best_hyperparameters"]:
        assert f"<th>{name}</th>" in page or f'<th class="n">{name}</th>' in page
    # Self-contained: no script, no external reference (the only URLs are SVG namespace names).
    assert "<script" not in page and "@import" not in page and "url(http" not in page
    assert set(re.findall(r'(?:src|href)="([a-z]+):', page)) <= {"data"}
    assert not [u for u in re.findall(r"https?://[^\s\"'<>]+", page) if not u.startswith("http://www.w3.org/")]
    assert "default-src 'none'" in page

    # The data behind the plots, in report.json: curves thinned, the best trial's epochs, per-class ROC.
    test_curves = report["test_curves"]
    assert [c["label"] for c in test_curves["roc"]] == report["test_metrics"]["confusion_matrix"]["labels"]
    assert all(len(c["fpr"]) <= CURVE_POINTS for c in test_curves["roc"])
    assert all(len(c["precision"]) <= CURVE_POINTS for c in test_curves["precision_recall"])
    assert sum(b["count"] for b in test_curves["calibration"]["bins"]) == report["test_metrics"]["rows"]
    best = report["search"]["best_trial_curves"]
    assert len(best["loss"]) == len(best["val_loss"]) == report["search"]["trials"][0]["epochs"]


def test_regression_report_plots_predicted_against_actual_and_residuals(diabetes_run, tmp_path):
    report, page = _report(diabetes_run), (diabetes_run.output / "report.html").read_text()
    assert _plots(page) == REGRESSION_PLOTS and len(page.encode()) < MAX_BYTES
    c = report["test_curves"]
    assert len(c["actual"]) == len(c["predicted"]) == report["test_metrics"]["rows"]
    assert sum(c["residual_histogram"]["counts"]) == report["test_metrics"]["rows"]
    assert render_html(report, tmp_path) == page


def test_image_report_embeds_the_misclassified_thumbnails_and_is_rebuilt_identically(digits_run, tmp_path):
    from PIL import Image

    report, page = _report(digits_run), (digits_run.output / "report.html").read_text()
    wrong = report["misclassified"]
    assert wrong["total"] >= len(wrong["shown"]) >= 1 and len(wrong["shown"]) <= 12
    for item in wrong["shown"]:
        thumbnail = digits_run.output / item["file"]
        with Image.open(thumbnail) as image:
            assert image.format == "PNG" and max(image.size) == 64
        assert base64.b64encode(thumbnail.read_bytes()).decode() in page
        assert item["true"] != item["predicted"]
    assert _plots(page) == TABULAR_PLOTS and "Misclassified test images" in page
    assert len(page.encode()) < MAX_BYTES
    result = CliRunner().invoke(cli, ["report", str(digits_run.output), "-o", str(tmp_path / "again.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "again.html").read_bytes() == page.encode()


def test_a_report_without_curve_data_still_renders(penguins_run):
    report = _report(penguins_run)
    report.pop("test_curves")
    report["search"].pop("best_trial_curves")
    page = render_html(report)
    assert "no curve data" in page and "plot-confusion" in page and "were not recorded" in page


# --- the command line --------------------------------------------------------------------------------

def test_report_command_prints_plain_text_a_rich_table_or_json(penguins_run, tmp_path):
    report, bundle = _report(penguins_run), str(penguins_run.output)
    plain = CliRunner().invoke(cli, ["report", bundle])
    assert plain.exit_code == 0, plain.output
    assert "trials, best first" in plain.output and "┃" not in plain.output and "\x1b[" not in plain.output
    assert f"{report['headline']['value']:.4g}" in plain.output and report["data"]["fingerprint"] in plain.output
    best = report["search"]["trials"][0]
    assert re.search(rf"^{best['trial']}★\s+completed", plain.output, re.M)

    rich = CliRunner(env={"FORCE_COLOR": "1", "COLUMNS": "160"}).invoke(cli, ["report", bundle])
    assert rich.exit_code == 0 and "┃" in rich.output and "trials, best first" in rich.output

    as_json = CliRunner().invoke(cli, ["report", bundle, "--json"])
    assert as_json.exit_code == 0
    document = json.loads(as_json.output)
    assert {k: v for k, v in document.items() if k not in ("status", "output", "metadata_sha256")} == json.loads(
        json.dumps(summary(report)))
    assert document["headline"] == report["headline"] and document["trials"] == TINY["max_trials"]


def test_evaluate_writes_a_report_of_the_new_data(penguins_run, tmp_path):
    out = tmp_path / "evaluation.html"
    result = CliRunner().invoke(cli, ["evaluate", str(penguins_run.output), str(DATA / "penguins.csv"), "--json",
                                      "--report", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output.strip().splitlines()[-1])
    page = out.read_text()
    assert "<code>autotune evaluate</code> on <code>penguins.csv</code>" in page
    assert f"{metrics['accuracy']:.4g}" in page and _plots(page) == TABULAR_PLOTS
    assert "baseline (" not in page  # the baseline was scored on the run's own test set


# --- TensorBoard ---------------------------------------------------------------------------------------

def _events(folder) -> dict[str, set[str]]:
    """Tags (and hparams plugin records) found in the event files under each directory."""
    import tensorflow as tf

    found: dict[str, set[str]] = {}
    for path in folder.rglob("events.out.tfevents.*"):
        tags = found.setdefault(str(path.parent.relative_to(folder)), set())
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                tags.add(f"hparams:{value.tag}" if plugin == "hparams" else value.tag)
    return found


def test_tensorboard_logs_every_trial_with_hparams_in_a_cross_validated_search(tmp_path):
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    logs = tmp_path / "tb"
    result = fit(FitConfig.of(DATA / "penguins.csv", target="species", output=tmp_path / "bundle", tuner="random",
                           max_trials=2, epochs=2, patience=2, ensemble=1, baseline=False, tensorboard=logs))
    assert result.report["search"]["validation"].startswith("3-fold")  # small data: the k-fold path
    found = _events(logs)
    for trial in (t["trial"] for t in result.report["search"]["trials"]):
        run = f"{trial}/execution0"
        assert {"epoch_loss", "epoch_accuracy"} <= found[f"{run}/train"]
        assert {"epoch_loss", "epoch_log_loss"} <= found[f"{run}/validation"]
        assert any(tag.startswith("hparams:") for tag in found[run]), found[run]
        assert "trial/val_log_loss" in found[run]
    assert not list((tmp_path / "bundle").rglob("events.out.tfevents.*"))
