"""A bundle's report files: report.json (for machines), report.md and report.html (for people) written, and
report.json read back for `autotune report` and `autotune evaluate --report`."""
from __future__ import annotations

import json
from pathlib import Path

from autotune.bundle.format import write_json
from autotune.errors import InputError


def write_report(bundle: Path, report: dict) -> None:
    """report.json, report.md and report.html into the bundle."""
    from autotune.report.html import render_html
    from autotune.report.summary import render_markdown

    write_json(bundle / "report.json", report)
    (bundle / "report.md").write_text(render_markdown(report))
    # From report.json as written, so `autotune report BUNDLE -o FILE` rebuilds the page byte for byte.
    written = json.loads((bundle / "report.json").read_text())
    (bundle / "report.html").write_text(render_html(written, bundle), encoding="utf-8")


def load_report(bundle: str | Path) -> dict:
    """report.json of a bundle; a missing or unreadable one is bad input (exit 2)."""
    bundle = Path(bundle)
    if not bundle.is_dir():
        raise InputError(f"{bundle}: no such bundle directory; pass the output directory of `autotune fit`")
    path = bundle / "report.json"
    if not path.is_file():
        raise InputError(f"{bundle}: not an autotune bundle (no report.json); pass the output directory of `autotune fit`")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable ({exc}); re-export the bundle with `autotune fit`") from None
    if not isinstance(report, dict) or not {"headline", "task", "search", "test_metrics"} <= set(report):
        raise InputError(f"{path}: not an autotune report (fields missing); re-export the bundle with `autotune fit`")
    return report
