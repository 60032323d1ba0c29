"""report.html: one self-contained page a person can open from a cron mail or a shared drive.

`render_html(report, bundle)` is a pure function of report.json (plus the thumbnails it lists under
report_images/ for image runs): `autotune report BUNDLE -o FILE` rebuilds the page byte for byte.
No network, no scripts, no external fonts or images: plots are inline SVG (plots.py), thumbnails
base64 PNG, and a Content-Security-Policy forbids anything else. Its headline reads the run's summary
(summary.py), as the terminal view of `autotune report` and the --json documents do.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

from autotune.report.summary import (
    BATCH_CAPTION,
    EPOCHS_CAPTION,
    TEXT_HEADER,
    decision_text,
    final_model_text,
    importance_caption,
    metric_name,
    number,
    objective_text,
    run_warnings,
    seconds,
    summary,
    text_rows,
    trained_batches,
)
from autotune.report.thumbnails import report_image
from autotune.task import task_of

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _table(header: list[str], rows: list[list], classes: list[str] | None = None, numeric_from: int = 1) -> str:
    """An HTML table; from column `numeric_from` on, columns holding only numbers are right-aligned."""
    def is_number(v) -> bool:
        return v is None or (isinstance(v, int | float) and not isinstance(v, bool))

    numeric = [i >= numeric_from and all(is_number(row[i]) for row in rows) for i in range(len(header))]

    def align(i: int) -> str:
        return ' class="n"' if numeric[i] else ""

    head = "".join(f"<th{align(i)}>{_e(h)}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        css = f' class="{classes[r]}"' if classes and classes[r] else ""
        cells = "".join(f"<td{align(i)}>{v if isinstance(v, _Raw) else _e(number(v))}</td>" for i, v in enumerate(row))
        body.append(f"<tr{css}>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


class _Raw(str):
    """Markup that _table puts in a cell as is."""


def _figure(svg: str, caption: str) -> str:
    return f'<figure class="plot">{svg}<figcaption>{caption}</figcaption></figure>'


def _headline_html(report: dict) -> str:
    """The page's header: the run's summary as a lead line, cards of the key figures and a list of facts."""
    s, timings = summary(report), report.get("timings", {})
    head, evaluated = s["headline"], s["evaluated_on"]
    where = (f"on {evaluated['rows']} labelled rows of <code>{_e(evaluated['data'])}</code>" if evaluated else
             f"on {s['test_rows']} held-out test rows the search never saw")
    cards = [("test " + metric_name(head["metric"]), number(head["value"]), where)]
    if s["baseline"]:
        b = s["baseline"]
        cards.append((f"baseline {metric_name(b['metric'])}", number(b["value"]), _e(b["model"])))
    cards.append(("time", seconds(timings.get("total")),
                  f"search {seconds(timings.get('search'))}, final fit {seconds(timings.get('final_fit'))}"))
    cards.append(("trials", str(s["trials"]), f"{_e(s['tuner'])} tuner, objective {_e(objective_text(s))}"))
    card_html = "".join(f'<div class="card"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div>'
                        f'<div class="sub">{sub}</div></div>' for label, value, sub in cards)
    banner = ""
    if evaluated:
        banner = (f'<p class="banner">These test results come from <code>autotune evaluate</code> on '
                  f"<code>{_e(evaluated['data'])}</code> ({evaluated['rows']} labelled rows), not from the run's own "
                  "test set. The search, data profile and cleaning below are the original run's.</p>")
    lead = (f"{_e(s['task']).capitalize()} of <b>{_e(s['target'])}</b>: test {_e(metric_name(head['metric']))} "
            f"<b>{number(head['value'])}</b> {where}.")
    banner += "".join(f'<p class="warning">warning: {_e(w)}</p>' for w in run_warnings(report))
    return (f'<header><h1>autotune report: {_e(s["data"])}</h1><p class="lead">{lead}</p>{banner}'
            f'<div class="cards">{card_html}</div><dl class="facts">'
            + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in _facts(report, s)) + "</dl></header>")


def _facts(report: dict, s: dict) -> list[tuple[str, str]]:
    """The header's facts: task, data, fingerprint, split, the baselines' verdicts, when and by what."""
    data, split = report["data"], report.get("split", {})
    if data.get("images"):
        shape = f"{data['rows']} image files in {len(data['images']['classes'])} class folders"
    else:
        shape = f"{data['rows']} rows × {data['columns']} columns"
    facts = [
        ("task", f"{_e(s['task'])} of <code>{_e(s['target'])}</code> ({_e(s['kind'])} data)"),
        ("data", f"<code>{_e(s['data'])}</code>, {shape}"),
        ("fingerprint", f'<code class="wrap">{_e(s["fingerprint"])}</code>'),
        ("split", f"{split.get('train', '–')} train / {split.get('validation', '–')} validation / "
                  f"{split.get('test', '–')} test, seed {_e(s['seed'])}"),
    ]
    for key, name in (("baseline", "baseline"), ("trivial_baseline", "trivial baseline")):
        if s[key] and s[key].get("verdict"):
            facts.append((name, _e(s[key]["verdict"])))
    facts.append(("created", f"{_e(s['created'])} by autotune {_e(s['autotune_version'])}"))
    return facts


def _test_metrics_table(report: dict) -> str:
    metrics = report["test_metrics"]
    # The baselines were scored on the run's own test rows: beside an `autotune evaluate` page's, they would mislead.
    columns = [] if report.get("evaluation") else [
        (f"{title} ({entry['model']})", entry["test_metrics"])
        for title, entry in (("baseline", report.get("baseline")), ("trivial", report.get("trivial_baseline")))
        if entry and entry.get("test_metrics")]
    keys = task_of(report["task"]).metric_table
    header = ["metric", "network", *[title for title, _ in columns]]
    rows = [[name, metrics.get(key), *[m.get(key) for _, m in columns]] for key, name in keys if key in metrics]
    rows.append(["rows", metrics.get("rows"), *[m.get("rows") for _, m in columns]])
    out = _table(header, rows)
    if metrics.get("unseen_labels"):
        out += (f"<p class=\"note\">Test labels never seen in training (counted as errors): "
                f"{_e(', '.join(metrics['unseen_labels']))}.</p>")
    return out


def _classification_plots(report: dict) -> list[str]:
    from autotune.report import plots

    metrics, curves = report["test_metrics"], report.get("test_curves") or {}
    cm = metrics["confusion_matrix"]
    out = [_figure(plots.confusion_matrix(cm["labels"], cm["matrix"]),
                   "Confusion matrix on the test set: rows are the true class, columns the predicted one. Left, counts; "
                   "right, each row as shares of its true class (the diagonal is each class's recall)."),
           _figure(plots.per_class_bars(metrics["per_class"]), "Precision, recall and F1 of each class on the test set"
                   + (f" (the {plots.MAX_CLASSES} with the lowest F1 of {len(metrics['per_class'])})."
                      if len(metrics["per_class"]) > plots.MAX_CLASSES else ".")),
           _table(["class", "precision", "recall", "F1", "support"],
                  [[k, v["precision"], v["recall"], v["f1"], v["support"]] for k, v in metrics["per_class"].items()])]
    if curves.get("roc"):
        binary = len(cm["labels"]) == 2
        if binary:
            which = f", for <b>{_e(cm['labels'][1])}</b> as the positive class."
        else:
            which = ", each class against the rest, with its AUC and average precision (AP)" + (
                f"; the {plots.MAX_LEGEND} classes with the lowest AUC of {len(curves['roc'])}."
                if len(curves["roc"]) > plots.MAX_LEGEND else ".")
        out.append(_figure(plots.roc_pr(curves["roc"], curves["precision_recall"], binary),
                           "ROC and precision-recall curves on the test set" + which))
    if curves.get("calibration", {}).get("bins"):
        out.append(_figure(plots.calibration(curves["calibration"]["bins"], curves["calibration"]["of"]),
                           "Calibration: within each bin of predicted probability, how often that prediction was "
                           "right. Points on the diagonal mean the probabilities can be taken at face value; the bars "
                           "count the test rows in each bin."))
    if not curves:
        out.append('<p class="note">This bundle has no curve data (made by an older autotune): ROC, precision-recall '
                   "and calibration plots are left out.</p>")
    return out


def _regression_plots(report: dict) -> list[str]:
    from autotune.report import plots

    curves = report.get("test_curves") or {}
    if not curves.get("actual"):
        return ['<p class="note">This bundle has no curve data (made by an older autotune): plots are left out.</p>']
    sampled = curves["rows"] if curves["rows"] > len(curves["actual"]) else None
    hist = curves["residual_histogram"]
    return ['<div class="pair">' + _figure(plots.predicted_vs_actual(curves["actual"], curves["predicted"], sampled),
                    "Predicted against actual values on the test set; points on the dotted line are exact."
                    + (f" A fixed sample of {len(curves['actual'])} of the {curves['rows']} rows." if sampled else "")),
            _figure(plots.residual_histogram(hist["edges"], hist["counts"]),
                    "Residuals (actual − predicted) of every test row.") + "</div>"]


def _misclassified_html(report: dict, bundle: Path | None) -> str:
    found = report.get("misclassified")
    if not found:
        return ""
    items = []
    for item in found["shown"]:
        path = report_image(bundle, item.get("file"))
        if path is None:
            items.append(f'<figure class="thumb missing"><div class="nofile">{_e(item["file"])} not found</div>'
                         f"<figcaption>true {_e(item['true'])}<br>predicted {_e(item['predicted'])}</figcaption></figure>")
            continue
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        items.append(f'<figure class="thumb"><img src="data:image/png;base64,{data}" alt="{_e(item["source"])}: true '
                     f'{_e(item["true"])}, predicted {_e(item["predicted"])}"><figcaption><span class="true">true '
                     f"{_e(item['true'])}</span><br><span class='pred'>predicted {_e(item['predicted'])} "
                     f"({item['confidence']:.0%})</span><br><span class='src'>{_e(item['source'])}</span>"
                     "</figcaption></figure>")
    total = found["total"]
    if not total:
        text = "No test image was misclassified."
    else:
        text = (f"{total} test image(s) misclassified; the {len(found['shown'])} most confident mistakes, "
                "with the model's probability for the wrong class:")
    return (f'<section id="misclassified"><h2>Misclassified test images</h2><p>{text}</p>'
            f'<div class="thumbs">{"".join(items)}</div></section>')


def _search_html(report: dict) -> str:
    from autotune.config import METRICS
    from autotune.report import plots

    search = report["search"]
    objective = search["objective"]
    higher = METRICS.get(objective.removeprefix("val_"), ("", False))[1]
    members = report["final_model"]["members"]
    final = (_e(final_model_text(members)) + f"; {report['final_model'].get('parameters', '–'):,} parameters."
             + _e(decision_text(report)))
    validation = search.get("validation", "the validation split")
    curves_note = ("first fold of the cross-validation" if validation.startswith(tuple("23456789")) or "fold" in validation
                   else "validation split")
    parts = [f'<section id="search"><h2>Search</h2><p>{_e(search["tuner"])} tuner, {len(search["trials"])} trial(s) '
             f"of up to {search['epochs']} epochs (patience {search['patience']}), each scored by <code>{_e(objective)}"
             f"</code> on {_e(validation)}."
             + (" The time budget ended the search." if search.get("stopped_by_budget") else "") + f" {final}</p>",
             _figure(plots.trial_scores(search["trials"], objective, higher),
                     f"Validation {_e(objective)} of each trial when it finished; the line is the best so far, the star "
                     "the best trial."),
             _figure(plots.learning_curves(search.get("best_trial_curves"), report["final_model"].get("history"),
                                           curves_note),
                     "Training and validation loss per epoch of the best trial (" + _e(curves_note) + ")"
                     + (", and the training loss of the final model, retrained on train + validation (it has no "
                        "validation data; the test set is only used once, above)."
                        if report["final_model"].get("history") else
                        "; the final model is the trial's network at its best epoch (the test set is only used once,"
                        " above).")
                     + ("" if search.get("best_trial_curves") else
                        " The best trial's curves were not recorded (a resumed run, or an older autotune).")),
             "<h3>Trials, best first</h3>", _leaderboard(search),
             f'<p class="note">{_e(EPOCHS_CAPTION)}' + (f"; {_e(BATCH_CAPTION)}" if trained_batches(search) else "")
             + ".</p>",
             "</section>"]
    return "".join(parts)


def _leaderboard(search: dict) -> str:
    names = list(search["best_hyperparameters"])
    for trial in search["trials"]:
        names += [k for k in trial["hyperparameters"] if k not in names]
    batches = trained_batches(search)
    rows, classes = [], []
    for i, trial in enumerate(search["trials"]):
        best = i == 0 and trial["score"] is not None
        rows.append([_Raw(f"{'★ ' if best else ''}{_e(trial['trial'])}"), trial["status"], trial["score"],
                     trial.get("epochs"), trial.get("seconds"), *([batches[i]] if batches else []),
                     *[trial["hyperparameters"].get(k) for k in names]])
        classes.append("best" if best else ("failed" if trial["score"] is None else ""))
    return _table(["trial", "status", search["objective"], "epochs", "seconds", *(["rows a step"] if batches else []),
                   *names], rows, classes, numeric_from=2)


def _importance_html(importance: dict | None) -> str:
    """Permutation importance as a bar chart of table rows (the bar: the mean worsening, to scale)."""
    if not importance:
        return ""
    top = max([c["importance"] for c in importance["columns"] if c["importance"] is not None] + [0.0]) or 1.0
    rows = "".join(
        f'<tr><td>{_e(c["column"])}</td><td class="n">{_e(number(c["importance"]))}</td>'
        f'<td class="n">{_e(number(c["sd"]))}</td><td class="barcell"><span class="bar" style="width:'
        f'{100 * max(c["importance"] or 0.0, 0.0) / top:.1f}%"></span></td></tr>' for c in importance["columns"])
    return ('<h3 id="importance">Feature importance</h3><div class="scroll"><table class="balance importance"><thead>'
            '<tr><th>column</th><th class="n">importance</th><th class="n">sd</th><th></th></tr></thead>'
            f'<tbody>{rows}</tbody></table></div><p class="note">{_e(importance_caption(importance))}.</p>')


def _balance_html(counts: dict) -> str:
    total = sum(counts.values()) or 1
    top = max(counts.values()) or 1
    rows = "".join(f'<tr><td>{_e(k)}</td><td class="n">{v}</td><td class="n">{100 * v / total:.1f}%</td>'
                   f'<td class="barcell"><span class="bar" style="width:{100 * v / top:.1f}%"></span></td></tr>'
                   for k, v in counts.items())
    return ('<h3>Class balance</h3><div class="scroll"><table class="balance"><thead><tr><th>class</th>'
            f'<th class="n">rows</th><th class="n">share</th><th></th></tr></thead><tbody>{rows}</tbody></table></div>')


def _data_html(report: dict) -> str:
    prof, data = report["profile"], report["data"]
    parts = ['<section id="data"><h2>Data</h2>']
    images = data.get("images")
    if images:
        w, h = images["width"], images["height"]
        parts.append(f"<p>{images['images']} usable images, resized to {images['image_size'][1]}×{images['image_size'][0]}"
                     f" for the model; width {w['min']:g}–{w['max']:g} (median {w['median']:g}), height {h['min']:g}–"
                     f"{h['max']:g} (median {h['median']:g}); colour modes "
                     f"{_e(', '.join(f'{k} {v}' for k, v in images['modes'].items()))}; formats "
                     f"{_e(', '.join(f'{k} {v}' for k, v in images['formats'].items()))}.</p>")
    else:
        rows = max(prof["rows"], 1)
        parts.append(_table(["column", "kind", "input", "missing", "missing %", "distinct"],
                            [[c["name"], c["kind"], c["dtype"], c["missing"], round(100 * c["missing"] / rows, 1),
                              c["unique"]] for c in prof["columns"]], numeric_from=3))
        if text_rows(prof):
            parts.append("<p>Free text (the whole table's cells; the model's words are learned on the training "
                         "split):</p>")
            parts.append(_table(TEXT_HEADER, text_rows(prof), numeric_from=1))
    if prof.get("class_counts"):
        parts.append(_balance_html(prof["class_counts"]))
    elif prof.get("target_summary"):
        s = prof["target_summary"]
        parts.append(f"<p>Target <code>{_e(prof['target'])}</code>: "
                     + ", ".join(f"{_e(k)} {number(v)}" for k, v in s.items()) + ".</p>")
    if prof.get("target_missing"):
        parts.append(f"<p>{prof['target_missing']} row(s) without a target were dropped.</p>")
    for warning in prof.get("warnings", []):
        parts.append(f'<p class="warning">warning: {_e(warning)}</p>')
    parts.append("<h3>Cleaning</h3>")
    actions = report.get("cleaning") or []
    if actions:
        parts.append("<ul>" + "".join(f"<li>{_e(a.get('description') or a)}</li>" for a in actions) + "</ul>")
    else:
        parts.append("<p>Nothing to clean.</p>")
    parts.append("</section>")
    return "".join(parts)


def _cross_validation_html(cv: dict | None) -> str:
    if not cv:
        return ""
    out = f"<h3>Cross-validation ({_e(cv['kind'])})</h3>"
    if cv.get("estimates"):
        out += f'<p class="{"warning" if cv.get("optimistic") else "note"}">{_e(cv["estimates"])}.</p>'
    if cv.get("mean"):
        out += _table(["metric", "mean", "std"], [[k, v, cv["std"][k]] for k, v in cv["mean"].items()])
    elif cv.get("pooled"):
        out += _table(["metric", "pooled over all rows"], [[k, v] for k, v in cv["pooled"].items()])
    return out


STYLE = """
:root{--fg:#1d2127;--muted:#5f6b7a;--line:#dde2e8;--accent:#1f77b4;--best:#fff6d6;--bg:#ffffff}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1120px;padding:24px 28px 48px;color:var(--fg);background:var(--bg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif}
h1{font-size:24px;margin:0 0 6px}h2{font-size:19px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:22px 0 8px}p{margin:8px 0}code{font:12.5px/1.3 ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
.wrap{word-break:break-all}.lead{font-size:16px;margin-bottom:14px}
.banner{background:#fff3cd;border:1px solid #e8d48a;padding:8px 12px;border-radius:6px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{flex:1 1 200px;border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:600;margin:2px 0}.card .sub{color:var(--muted);font-size:12.5px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:12px 0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
nav{margin:14px 0;font-size:13px}nav a{color:var(--accent);margin-right:14px;text-decoration:none}
.scroll{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;
white-space:nowrap}th{background:#f4f6f8;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:var(--best);font-weight:600}tr.failed td{color:var(--muted)}
figure.plot{margin:16px 0;break-inside:avoid}figure.plot svg{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:12.5px;margin-top:4px;max-width:820px}
.pair{display:flex;flex-wrap:wrap;gap:0 28px}.pair figure.plot{flex:0 1 460px}
.thumbs{display:flex;flex-wrap:wrap;gap:12px}
figure.thumb{margin:0;width:132px;border:1px solid var(--line);border-radius:6px;padding:8px;text-align:center;break-inside:avoid}
figure.thumb img{width:96px;height:96px;object-fit:contain;image-rendering:pixelated;background:#f4f6f8}
figure.thumb figcaption{font-size:11.5px;color:var(--fg);margin:4px 0 0}
figure.thumb .true{color:#1a7f37}figure.thumb .pred{color:#b42318}figure.thumb .src{color:var(--muted);word-break:break-all}
.nofile{width:96px;height:96px;margin:auto;font-size:10px;color:var(--muted)}
table.balance td.barcell{width:260px}.bar{display:inline-block;height:10px;background:var(--accent);border-radius:2px;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
.note{color:var(--muted)}.warning{color:#9a6700}
footer{margin-top:40px;color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding-top:8px}
@page{margin:14mm}
@media print{body{max-width:none;padding:0;font-size:11px}nav{display:none}h2{break-after:avoid}
.card,table,figure{break-inside:avoid}th{background:none}tr.best td{background:none;text-decoration:underline}
.scroll{overflow:visible}table{font-size:10px}th,td{white-space:normal}}
"""


def render_html(report: dict, bundle: str | Path | None = None) -> str:
    """The page, from report.json alone (plus the thumbnails in `bundle` for image runs)."""
    bundle = Path(bundle) if bundle is not None else None
    task = report["task"]
    result = ['<section id="results"><h2>Test results</h2>', _test_metrics_table(report)]
    result += _classification_plots(report) if task_of(task).has_classes else _regression_plots(report)
    result.append(_cross_validation_html(report.get("cross_validation")))
    result.append(_importance_html(report.get("feature_importance")))
    result.append("</section>")
    misclassified = _misclassified_html(report, bundle)
    timings = report.get("timings") or {}
    sections = [("results", "Test results"), *([("misclassified", "Misclassified images")] if misclassified else []),
                ("search", "Search"), ("data", "Data"), ("timings", "Timings")]
    nav = "<nav>" + "".join(f'<a href="#{k}">{v}</a>' for k, v in sections) + "</nav>"
    body = [
        _headline_html(report), nav, "".join(result), misclassified, _search_html(report), _data_html(report),
        '<section id="timings"><h2>Timings</h2>',
        _table(["stage", "seconds"], [[k, v] for k, v in timings.items()]), "</section>",
        f"<footer>Made by autotune {_e(report.get('autotune_version', ''))} from the bundle's report.json "
        f"(<code>autotune report BUNDLE -o report.html</code> rebuilds it). Self-contained: no network, no "
        "scripts.</footer>",
    ]
    title = f"autotune report: {report['data']['name']}"
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n" + "\n".join(b for b in body if b)
            + "\n</body></html>\n")


def write_html(report: dict, bundle: str | Path, path: str | Path) -> None:
    """The page at `path` (`report -o`, `evaluate --report`), written whole or not at all."""
    from autotune.files import atomic_write

    page = render_html(report, bundle)
    with atomic_write(path, "the report") as fh:
        fh.write(page)
