"""report.json (for machines) and report.md (for people), both pure functions of the run's results."""
from __future__ import annotations

from autotune.data.clean import describe_action
from autotune.task import task_of

# What the trials tables' "epochs" column counts, said under each of them (report.md, report.html, `autotune report`);
# the epoch count the final model retrains a trial's configuration for is its best_epoch, in report.json.
EPOCHS_CAPTION = ("epochs: epochs trained in the trial (the longest fold, counted from the trial's start, including "
                  "epochs inherited from a Hyperband parent); the final model retrains for the trial's best epoch count")


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _metrics_md(task: str, metrics: dict) -> list[str]:
    out = []
    if task_of(task).has_classes:
        out += [f"- accuracy: **{metrics['accuracy']:.4f}**", f"- macro-F1: **{metrics['f1_macro']:.4f}**"]
        if "log_loss" in metrics:
            out.append(f"- log loss: {metrics['log_loss']:.4f}")
        out += [f"- test rows: {metrics['rows']}", "", "### Per class", ""]
        out.append(_table(["class", "precision", "recall", "F1", "support"],
                          [[k, v["precision"], v["recall"], v["f1"], v["support"]]
                           for k, v in metrics["per_class"].items()]))
        cm = metrics["confusion_matrix"]
        out += ["", "### Confusion matrix (rows: true, columns: predicted)", ""]
        out.append(_table(["true \\ predicted", *cm["labels"]],
                          [[label, *row] for label, row in zip(cm["labels"], cm["matrix"], strict=True)]))
    else:
        out += [f"- RMSE: **{metrics['rmse']:.4g}**", f"- MAE: {metrics['mae']:.4g}",
                f"- R²: {_fmt(metrics['r2'])}", f"- test rows: {metrics['rows']}"]
    return out


def _cv_md(cv: dict | None) -> list[str]:
    if not cv:
        return []
    lines = [f"## Cross-validation ({cv['kind']})", ""]
    if cv.get("estimates"):
        lines += [f"> {cv['estimates']}", ""]
    if cv.get("mean"):
        lines.append(_table(["metric", "mean", "std"], [[k, v, cv["std"][k]] for k, v in cv["mean"].items()]))
        lines += ["", _table(["fold", *cv["per_fold"][0]], [[i + 1, *f.values()] for i, f in enumerate(cv["per_fold"])])]
    else:
        lines.append(_table(["metric", "pooled over all rows"], [[k, v] for k, v in cv["pooled"].items()]))
    return [*lines, ""]


def render_markdown(report: dict) -> str:
    """report.md: the headline and run summary, test metrics, --cv, the data, cleaning, the chosen
    configuration, every trial and the timings."""
    lines = [*_summary_md(report), "## Test metrics", "", *_metrics_md(report["task"], report["test_metrics"]), "",
             *_cv_md(report.get("cross_validation")), *_profile_md(report), *_configuration_md(report),
             *_trials_md(report["search"]),
             "## Timings (seconds)", "", _table(["stage", "seconds"], [[k, v] for k, v in report["timings"].items()]), ""]
    return "\n".join(lines)


def _summary_md(report: dict) -> list[str]:
    head, data, search, prof = report["headline"], report["data"], report["search"], report["profile"]
    return [
        f"# autotune report: {data['name']}",
        "",
        f"**{report['task']}** of `{report['target']}` — test {head['metric']}: **{head['value']:.4f}** "
        f"on {report['split']['test']} held-out rows the search never saw.",
        "",
        *([f"- baseline: {report['baseline']['verdict']} "
           f"({report['baseline']['model']}, {report['baseline']['seconds']:.1f} s)"] if report.get("baseline") else []),
        *([f"- trivial baseline: {report['trivial_baseline']['verdict']}"] if report.get("trivial_baseline") else []),
        *[f"- **warning**: {w}" for w in report.get("warnings") or [] if w not in prof.get("warnings", [])],
        (f"- data: `{data['name']}`, {data['rows']} files in {len(data['images']['classes'])} class folders, "
         f"{data['fingerprint']}" if data.get("images") else
         f"- data: `{data['name']}`, {data['rows']} rows × {data['columns']} columns, {data['fingerprint']}"),
        f"- split: {report['split']['train']} train / {report['split']['validation']} validation / "
        f"{report['split']['test']} test (seed {report['seed']})",
        f"- search: {search['tuner']} tuner, {len(search['trials'])} trials, objective {search['objective']} "
        f"on {search.get('validation', 'the validation split')}",
        f"- time: {report['timings']['total']:.1f} s in all "
        f"(search {report['timings']['search']:.1f} s, final fit {report['timings']['final_fit']:.1f} s)",
        "",
    ]


def _profile_md(report: dict) -> list[str]:
    """The data profile: each column (or the images' sizes and skipped files), the target, warnings."""
    prof, images = report["profile"], report["data"].get("images")
    lines = ["## Data profile", "",
             _table(["column", "kind", "input", "missing %", "distinct"],
                    [[c["name"], c["kind"], c["dtype"], round(100 * c["missing"] / max(prof["rows"], 1), 1), c["unique"]]
                     for c in prof["columns"]]),
             ""]
    if images:
        w, h = images["width"], images["height"]
        lines += [f"Images: {images['images']} usable, resized to {images['image_size'][1]}×{images['image_size'][0]}; "
                  f"width {w['min']}–{w['max']} (median {w['median']:g}), height {h['min']}–{h['max']} "
                  f"(median {h['median']:g}); modes {', '.join(f'{k} {v}' for k, v in images['modes'].items())}; "
                  f"formats {', '.join(f'{k} {v}' for k, v in images['formats'].items())}.", ""]
        if images["skipped"]:
            lines += ["Skipped files:", "", *[f"- `{s['path']}`: {s['reason']}" for s in images["skipped"]], ""]
    if prof.get("class_counts"):
        lines += ["Target distribution: " + ", ".join(f"{k} {v}" for k, v in prof["class_counts"].items()), ""]
    lines += [f"> warning: {warning}" for warning in prof.get("warnings", [])]
    return lines


def _configuration_md(report: dict) -> list[str]:
    """What cleaning was learned, and the configuration(s) the final model retrained."""
    members = report["final_model"]["members"]
    lines = ["## Cleaning", ""]
    lines += [f"- {describe_action(a)}" for a in report["cleaning"]] or ["- nothing to clean"]
    return [*lines, "", "## Best configuration", "",
            _table(["hyperparameter", "value"], [[k, v] for k, v in report["search"]["best_hyperparameters"].items()]),
            "", "Final model: " + " + ".join(
                f"trial {m['trial']} (rank {m['rank']}) retrained on train + validation for {m['epochs']} epochs"
                for m in members) + (", outputs averaged." if len(members) > 1 else "."),
            ""]


def _trials_md(search: dict) -> list[str]:
    hp_names = list(search["best_hyperparameters"])
    rows = []
    for i, trial in enumerate(search["trials"]):
        mark = "★" if i == 0 and trial["score"] is not None else ""
        rows.append([f"{trial['trial']}{mark}", trial["status"], trial["score"], trial["epochs"], trial["seconds"],
                     *[trial["hyperparameters"].get(k) for k in hp_names]])
    return ["## Trials", "", _table(["trial", "status", search["objective"], "epochs", "seconds", *hp_names], rows), "",
            f"_{EPOCHS_CAPTION}._", ""]
