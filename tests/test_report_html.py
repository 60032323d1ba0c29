"""report.html (a pure function of report.json, self-contained, checked in headless Chromium),
`autotune report`, `autotune evaluate --report` and --tensorboard, on real tiny runs."""
from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA, TINY, run_cli

from autotune.cli.commands import cli
from autotune.evaluate.metrics import CURVE_POINTS, SCATTER_POINTS, curves
from autotune.report.html import headline, render_html

MAX_BYTES = 400_000  # "a few hundred KB at most"
TABULAR_PLOTS = {"plot-confusion", "plot-per-class", "plot-roc-pr", "plot-calibration", "plot-trials", "plot-learning"}
REGRESSION_PLOTS = {"plot-predicted-actual", "plot-residuals", "plot-trials", "plot-learning"}
INSTALL = ("install it with `apt-get install chromium chromium-driver` (Debian/Ubuntu; .ci/run does this as root "
           "or with sudo) and Selenium with `pip install -e '.[test]'`")


@pytest.fixture(scope="module")
def digits_run(digits_folder, tmp_path_factory):
    """One tiny image fit: barely trained, so some test images are misclassified."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path_factory.mktemp("digits-report") / "bundle"
    return fit(FitConfig(digits_folder, output=out, tuner="random", max_trials=1, epochs=2, seed=0))


def _plots(page: str) -> set[str]:
    return set(re.findall(r'<svg [^>]*id="(plot-[a-z-]+)"', page))


def _report(run) -> dict:
    return json.loads((run.output / "report.json").read_text())


# --- rendering ---------------------------------------------------------------------------------------

def test_tabular_report_is_rebuilt_byte_identically_from_report_json(penguins_run, tmp_path):
    page = (penguins_run.output / "report.html").read_bytes()
    assert render_html(_report(penguins_run), penguins_run.output).encode() == page
    # report.json alone is enough: a copy of it, away from the bundle, renders the same page.
    (tmp_path / "report.json").write_text((penguins_run.output / "report.json").read_text())
    assert render_html(json.loads((tmp_path / "report.json").read_text()), tmp_path).encode() == page
    # In another process (another hash seed), as a user rebuilds it: byte for byte the same.
    result = run_cli("report", str(penguins_run.output), "-o", str(tmp_path / "again.html"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "again.html").read_bytes() == page


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


def test_curves_are_compact_and_deterministic():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 5000)
    probabilities = rng.dirichlet([1, 1, 1], 5000)
    probabilities[np.arange(5000), truth] += 0.5
    labels = ["a", "b", "c"]
    y = [labels[i] for i in truth]
    first = curves("classification", y, probabilities, labels)
    assert first == curves("classification", y, probabilities, labels)
    assert [c["label"] for c in first["roc"]] == labels and all(c["auc"] > 0.7 for c in first["roc"])
    assert max(len(c["tpr"]) for c in first["roc"]) <= CURVE_POINTS
    assert max(len(c["recall"]) for c in first["precision_recall"]) <= CURVE_POINTS
    assert first["roc"][0]["fpr"][0] == 0 and first["roc"][0]["tpr"][-1] == 1
    binary = curves("classification", ["n", "y"] * 50, np.tile([[0.8, 0.2], [0.3, 0.7]], (50, 1)), ["n", "y"])
    assert [c["label"] for c in binary["roc"]] == ["y"] and binary["roc"][0]["auc"] == 1.0
    assert binary["calibration"]["of"] == "P(y)"
    actual = rng.normal(size=20_000)
    regression = curves("regression", actual, actual + rng.normal(scale=0.1, size=20_000), None)
    assert len(regression["actual"]) == SCATTER_POINTS and regression["rows"] == 20_000
    assert sum(regression["residual_histogram"]["counts"]) == 20_000
    assert len(json.dumps(regression)) < 60_000


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
    assert document == json.loads(json.dumps(headline(report)))
    assert document["metric"] == report["headline"]["metric"] and document["trials"] == TINY["max_trials"]


def test_report_command_refuses_a_bad_bundle_in_one_line(tmp_path):
    for bad in (tmp_path / "missing", tmp_path):
        result = CliRunner().invoke(cli, ["report", str(bad)])
        assert result.exit_code == 2
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    (tmp_path / "report.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])  # a report alone is not a bundle (issue 15)
    assert result.exit_code == 2 and "no metadata.json" in result.output


def test_help_imports_neither_matplotlib_nor_tensorflow():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom autotune.cli.commands import cli\n"
            "for args in (['--help'], ['report', '--help'], ['fit', '--help']):\n"
            "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
            "print(sorted(m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert "--tensorboard DIR" in CliRunner().invoke(cli, ["fit", "--help"]).output


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
    result = fit(FitConfig(DATA / "penguins.csv", target="species", output=tmp_path / "bundle", tuner="random",
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


# --- in a real browser ---------------------------------------------------------------------------------

def _chromium() -> tuple[str | None, str | None]:
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    return binary, shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    binary, driver = _chromium()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if binary is None or driver is None or webdriver is None:
        missing = ", ".join(n for n, v in (("chromium", binary), ("chromedriver", driver), ("selenium", webdriver))
                            if v is None)
        reason = f"headless Chromium not found (missing: {missing}); {INSTALL}"
        if os.environ.get("AUTOTUNE_REQUIRE_BROWSER"):  # .ci/run: the browser test must run
            pytest.fail(reason)
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


INSPECT = """
const images = [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0,
                                                  src: i.src.slice(0, 22)}));
const svgs = [...document.querySelectorAll('svg.plot')].map(s => {
  const box = s.getBBox(), shown = s.getBoundingClientRect();
  return {id: s.id, width: box.width, height: box.height, shownWidth: shown.width, shownHeight: shown.height,
          shapes: s.querySelectorAll('path, use, text').length};
});
return {images, svgs, title: document.title, height: document.documentElement.scrollHeight,
        sections: [...document.querySelectorAll('section')].map(s => s.id)};
"""


@pytest.mark.parametrize("which", ["penguins_run", "digits_run"])
def test_report_renders_in_headless_chromium_without_errors_or_requests(which, request, browser, tmp_path):
    run = request.getfixturevalue(which)
    page = run.output / "report.html"
    browser.get_log("browser"), browser.get_log("performance")  # only this page's entries below
    browser.get(page.as_uri())
    state = browser.execute_script(INSPECT)

    assert state["title"] == f"autotune report: {_report(run)['data']['name']}"
    assert {"results", "search", "data", "timings"} <= set(state["sections"])
    assert {s["id"] for s in state["svgs"]} == TABULAR_PLOTS
    for svg in state["svgs"]:
        assert svg["width"] > 100 and svg["height"] > 100 and svg["shapes"] > 20, svg
        assert svg["shownWidth"] > 100 and svg["shownHeight"] > 100, svg
    if which == "digits_run":
        assert len(state["images"]) == len(_report(run)["misclassified"]["shown"]) >= 1
        assert "misclassified" in state["sections"]
    assert all(image["ok"] and image["src"] == "data:image/png;base64," for image in state["images"]), state["images"]

    console = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert console == []
    requests = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    urls = {m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"}
    assert page.as_uri() in urls
    assert {u for u in urls if u != page.as_uri() and not u.startswith("data:")} == set()

    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": state["height"], "scale": 1}})
    screenshot = tmp_path / f"{which.removesuffix('_run')}-report.png"
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 50_000
    pdf = base64.b64decode(browser.print_page())  # "readable when printed": it prints to a few pages
    (tmp_path / screenshot.name.replace(".png", ".pdf")).write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pdf.startswith(b"%PDF") and 2 <= pages <= 12, pages
    print(f"screenshot: {screenshot}")
