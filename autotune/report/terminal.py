"""`autotune report BUNDLE` on a terminal or in a pipe: the run's summary and the trials, best first, as rich
tables on a terminal and plain lines without one."""
from __future__ import annotations

from autotune.report.summary import (
    EPOCHS_CAPTION,
    metric_name,
    number,
    objective_text,
    run_warnings,
    seconds,
    summary,
)


def print_summary(report: dict, console) -> None:
    """The summary's facts, then the leaderboard and what its epochs column counts."""
    s = summary(report)
    facts = _facts(s, run_warnings(report))
    if importance := report.get("feature_importance"):
        shown = importance["columns"][:10]
        facts.append(("important columns", ", ".join(f"{c['column']} {number(c['importance'])}" for c in shown)
                      + (f" (+{len(importance['columns']) - 10} more)" if len(importance["columns"]) > 10 else "")
                      + f": test {metric_name(importance['metric'])} lost when shuffled"))
    header = ["trial", "status", s["objective"], "epochs", "seconds", "hyperparameters"]
    rows = _trial_rows(report["search"]["trials"])
    if console.is_terminal:
        _print_tables(console, f"autotune report: {s['data']}", facts, header, rows)
        return
    width = max(len(k) for k, _ in facts)
    lines = [f"{k:<{width}}  {v}" for k, v in facts] + ["", "trials, best first:"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = (f"{row[i]:<{widths[i]}}" if i < 2 else f"{row[i]:>{widths[i]}}" for i in range(len(widths)))
        lines.append("  ".join(cells) + "  " + row[-1])
    lines += ["", f"{EPOCHS_CAPTION}."]
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def _facts(s: dict, warnings: list[str]) -> list[tuple[str, str]]:
    """The summary as (label, text) lines: data, task, the test score, the baselines, --cv, warnings, search, time."""
    head, evaluated = s["headline"], s["evaluated_on"]
    facts = [("data", s["data"]), ("fingerprint", s["fingerprint"]),
             ("task", f"{s['task']} of {s['target']} ({s['kind']})"),
             (f"test {metric_name(head['metric'])}", f"{number(head['value'])} on {s['test_rows']} rows"
              + (f" of {evaluated['data']}" if evaluated else ""))]
    if baseline := s["baseline"]:
        facts.append(("baseline", baseline.get("verdict") or f"{baseline['model']} {number(baseline['value'])}"))
    cv, metric = s["cross_validation"], head["metric"]
    if cv and cv.get("mean") and metric in cv["mean"]:
        facts.append(("cross-validation", f"{metric_name(metric)} {number(cv['mean'][metric])} ± "
                                          f"{number(cv['std'][metric])} ({cv['kind']})"
                                          + (f": {cv['estimates']}" if cv.get("estimates") else "")))
    if s["trivial_baseline"]:
        facts.append(("trivial baseline", s["trivial_baseline"].get("verdict")))
    facts += [("warning", w) for w in warnings]
    return [*facts, ("search", f"{s['trials']} trial(s), {s['tuner']} tuner, objective {objective_text(s)}"),
            ("time", seconds(s["timings"].get("total"))),
            ("created", f"{s['created']} (autotune {s['autotune_version']})")]


def _trial_rows(trials: list[dict]) -> list[list[str]]:
    """The leaderboard's rows, the best (a completed first trial) starred."""
    rows = []
    for i, t in enumerate(trials):
        mark = "★" if i == 0 and t["score"] is not None else ""
        hp = ", ".join(f"{k}={number(v)}" for k, v in t["hyperparameters"].items())
        rows.append([f"{t['trial']}{mark}", t["status"], number(t["score"]), number(t.get("epochs")),
                     number(t.get("seconds")), hp])
    return rows


def _print_tables(console, title: str, facts: list[tuple[str, str]], header: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    for k, v in facts:
        table.add_row(k, v)
    console.print(table)
    board = Table(title="trials, best first", title_justify="left")
    for i, name in enumerate(header):
        board.add_column(name, justify="right" if 2 <= i <= 4 else "left")
    for r, row in enumerate(rows):
        board.add_row(*row, style="bold" if r == 0 and row[0].endswith("★") else None)
    console.print(board)
    console.print(f"{EPOCHS_CAPTION}.", markup=False, highlight=False)
