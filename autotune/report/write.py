"""Write a bundle's report: report.json (for machines), report.md and report.html (for people)."""
from __future__ import annotations

import json
from pathlib import Path

from autotune.bundle.format import write_json


def write_report(bundle: Path, report: dict) -> None:
    from autotune.report.html import render_html
    from autotune.report.summary import render_markdown

    write_json(bundle / "report.json", report)
    (bundle / "report.md").write_text(render_markdown(report))
    # From report.json as written, so `autotune report BUNDLE -o FILE` rebuilds the page byte for byte.
    written = json.loads((bundle / "report.json").read_text())
    (bundle / "report.html").write_text(render_html(written, bundle), encoding="utf-8")
