"""report.html checked in headless Chromium and rebuilt by `autotune report` in a subprocess, and --help
kept free of matplotlib and TensorFlow. The rendering itself is in tests/integration/test_report_html.py."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import run_cli
from integration.test_report_html import TABULAR_PLOTS, _report

from autotune.cli.commands import cli
from autotune.report.html import render_html

INSTALL = ("install it with `apt-get install chromium chromium-driver` (Debian/Ubuntu; .ci/run does this as root "
           "or with sudo) and Selenium with `pip install -e '.[test]'`")


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


def test_help_imports_neither_matplotlib_nor_tensorflow():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom autotune.cli.commands import cli\n"
            "for args in (['--help'], ['report', '--help'], ['fit', '--help']):\n"
            "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
            "print(sorted(m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert "--tensorboard DIR" in CliRunner().invoke(cli, ["fit", "--help"]).output


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
