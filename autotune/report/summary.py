"""The run's summary (one document for `fit --json`, `report --json`, the terminal and the reports' headline)
and report.md: pure functions of report.json's content."""
from __future__ import annotations

import itertools

from autotune.data.clean import describe_action
from autotune.task import task_of

# What the trials tables' "epochs" column counts, said under each of them (report.md, report.html, `autotune report`);
# the epoch count the final model retrains a trial's configuration for (or, for images, the epoch whose weights it
# keeps) is its best_epoch, in report.json.
EPOCHS_CAPTION = ("epochs: epochs trained in the trial (the longest fold, counted from the trial's start, including "
                  "epochs inherited from a Hyperband parent); the final model retrains for the trial's best epoch count "
                  "(images: keeps the trial's network at that epoch)")
METRIC_NAMES = {"accuracy": "accuracy", "rmse": "RMSE", "f1_macro": "macro-F1", "roc_auc": "ROC AUC",
                "log_loss": "log loss", "mae": "MAE", "r2": "R²"}
_VERDICT = ("model", "metric", "value", "verdict")


def summary(report: dict) -> dict:
    """The minute's worth of a run, from its report.json: what was predicted, how well, against what, how
    long, on which data. `fit --json` and `report --json` print it (the CLI adds the bundle's path and its
    metadata_sha256); the terminal view of `autotune report` and report.html's headline read it."""
    search, data = report["search"], report["data"]
    completed = [t for t in search["trials"] if t.get("score") is not None]
    return {
        "task": report["task"],
        "target": report["target"],
        "headline": report["headline"],
        "test_metrics": {k: v for k, v in report["test_metrics"].items() if k not in ("per_class", "confusion_matrix")},
        "best_hyperparameters": search["best_hyperparameters"],
        "best_trial": completed[0]["trial"] if completed else None,  # the leaderboard's id, as in the log
        "trials": len(search["trials"]),
        "timings": report.get("timings", {}),
        "baseline": _verdict(report.get("baseline")),
        "cross_validation": _cv(report.get("cross_validation")),
        "trivial_baseline": _verdict(report.get("trivial_baseline")),
        # every warning the run gave (those of the data profile too), as its log and report.json hold them
        "warnings": list(report.get("warnings") or []),
        "data": data["name"],
        "fingerprint": data.get("fingerprint"),
        "kind": report.get("kind", "tabular"),
        "test_rows": report["test_metrics"].get("rows"),
        "evaluated_on": report.get("evaluation"),  # `autotune evaluate --report`'s data, else None
        "tuner": search["tuner"],
        "objective": search["objective"],
        "objective_weighted_by_class": bool(search.get("objective_weighted_by_class")),
        "seed": report.get("seed"),
        "created": report.get("created"),
        "autotune_version": report.get("autotune_version"),
    }


def _verdict(baseline: dict | None) -> dict | None:
    return None if not baseline else {k: baseline.get(k) for k in _VERDICT}


def _cv(cv: dict | None) -> dict | None:
    """--cv's figures with what they estimate."""
    return None if not cv else {k: cv.get(k) for k in ("kind", "mean", "std", "pooled", "estimates", "optimistic")}


def run_warnings(report: dict) -> list[str]:
    """The run's warnings that its data profile does not already say (the reports show those with the profile)."""
    profiled = (report.get("profile") or {}).get("warnings", [])
    return [w for w in report.get("warnings") or [] if w not in profiled]


def metric_name(metric: str) -> str:
    """A metric as people read it (RMSE, macro-F1)."""
    return METRIC_NAMES.get(metric, metric)


def number(value, digits: int = 4) -> str:
    """A figure in a table or a line: floats to `digits` significant digits, a dash when missing."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def objective_text(s: dict) -> str:
    """The search's objective as a person reads it: with class weights, its validation log loss is weighted too."""
    return s["objective"] + (" (rows weighted by class, as in training)" if s.get("objective_weighted_by_class") else "")


def seconds(value) -> str:
    """A duration in the unit that reads best (s, min, h)."""
    if value is None:
        return "–"
    if value < 90:
        return f"{value:.1f} s"
    if value < 5400:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(number(v) for v in row) + " |" for row in rows]
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
                f"- R²: {number(metrics['r2'])}", f"- test rows: {metrics['rows']}"]
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
             *_cv_md(report.get("cross_validation")), *importance_md(report.get("feature_importance")),
             *_profile_md(report), *_configuration_md(report),
             *_trials_md(report["search"]),
             "## Timings (seconds)", "", _table(["stage", "seconds"], [[k, v] for k, v in report["timings"].items()]), ""]
    return "\n".join(lines)


def importance_caption(importance: dict) -> str:
    """What the feature-importance table shows, said under it (report.md, report.html, `autotune report`)."""
    return (f"How much the test {metric_name(importance['metric'])} worsens when a column's values are shuffled "
            f"across the {importance['rows']} test rows (mean ± sd over {importance['repeats']} shuffles; "
            f"unshuffled: {number(importance['baseline'])}). Near 0: the model does not use the column")


def importance_md(importance: dict | None) -> list[str]:
    if not importance:
        return []
    rows = [[c["column"], c["importance"], c["sd"]] for c in importance["columns"]]
    return ["## Feature importance (permutation, test rows)", "", _table(["column", "importance", "sd"], rows), "",
            f"_{importance_caption(importance)}._", ""]


def _summary_md(report: dict) -> list[str]:
    """report.md's headline: the run's summary, with the data's shape, the split and the timings."""
    s, data, split, timings = summary(report), report["data"], report["split"], report["timings"]
    baseline = report.get("baseline")
    return [
        f"# autotune report: {s['data']}",
        "",
        f"**{s['task']}** of `{s['target']}` — test {s['headline']['metric']}: **{s['headline']['value']:.4f}** "
        f"on {split['test']} held-out rows the search never saw.",
        "",
        *([f"- baseline: {baseline['verdict']} ({baseline['model']}{_reweighted(baseline)}, {baseline['seconds']:.1f} s)"]
          if baseline else []),
        *([f"- trivial baseline: {s['trivial_baseline']['verdict']}"] if s["trivial_baseline"] else []),
        *[f"- **warning**: {w}" for w in run_warnings(report)],
        (f"- data: `{s['data']}`, {data['rows']} files in {len(data['images']['classes'])} class folders, "
         f"{s['fingerprint']}" if data.get("images") else
         f"- data: `{s['data']}`, {data['rows']} rows × {data['columns']} columns, {s['fingerprint']}"),
        f"- split: {split['train']} train / {split['validation']} validation / {split['test']} test (seed {s['seed']})",
        f"- search: {s['tuner']} tuner, {s['trials']} trials, objective {objective_text(s)} "
        f"on {report['search'].get('validation', 'the validation split')}",
        f"- time: {timings['total']:.1f} s in all "
        f"(search {timings['search']:.1f} s, final fit {timings['final_fit']:.1f} s)",
        "",
    ]


TEXT_HEADER = ["text column", "characters (median / 90th pct / max)", "words (median / 90th pct / max)",
               "distinct words"]


def text_rows(prof: dict) -> list[list]:
    """Each free-text column's length distribution and vocabulary size, for the report's profile."""
    def spread(v: dict) -> str:
        return f"{v['median']:g} / {v['p90']:g} / {v['max']:,}"

    return [[c["name"], spread(c["text"]["chars"]), spread(c["text"]["words"]), f"{c['text']['vocabulary']:,}"]
            for c in prof["columns"] if c.get("text")]


def _profile_md(report: dict) -> list[str]:
    """The data profile: each column (or the images' sizes and skipped files), the target, warnings."""
    prof, images = report["profile"], report["data"].get("images")
    lines = ["## Data profile", "",
             _table(["column", "kind", "input", "missing %", "distinct"],
                    [[c["name"], c["kind"], c["dtype"], round(100 * c["missing"] / max(prof["rows"], 1), 1), c["unique"]]
                     for c in prof["columns"]]),
             ""]
    if text_rows(prof):
        lines += ["Free text (the whole table's cells; the model's words are learned on the training split):", "",
                  _table(TEXT_HEADER, text_rows(prof)), ""]
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
            "", final_model_text(members) + "." + decision_text(report), ""]


def final_model_text(members: list[dict]) -> str:
    """"Final model: trial … retrained on train + validation for N epochs at B rows a step, …" (report.md, .html),
    "trial … as the search trained it …" for a trial's own network, or "trial …: its K fold networks …" for a
    cross-validated trial's (members with a "fold", one sentence a trial); a learning rate other than the searched
    one is said with its rule."""
    def text(group: list[dict]) -> str:
        m = group[0]
        if "fold" in m:  # one trial's fold networks
            rows = sorted({f["train_rows"] for f in group})
            rows = f"{rows[0]:,}" if len(rows) == 1 else f"{rows[0]:,}–{rows[-1]:,}"
            return (f"trial {m['trial']} (rank {m['rank']}): its {len(group)} fold networks as the search trained "
                    f"them, each on its fold's {rows} training rows with that fold's preprocessing, at its own best "
                    f"epoch ({', '.join(str(f['epochs']) for f in group)})"
                    + (f" at {m['batch_rows']} rows a step" if m.get("batch_rows") else ""))
        return ((f"trial {m['trial']} (rank {m['rank']}) as the search trained it, on the training split, at its best "
                 f"epoch ({m['epochs']})" if m.get("from_trial") else
                 f"trial {m['trial']} (rank {m['rank']}) retrained on train + validation for {m['epochs']} epochs")
                + (f" at {m['batch_rows']} rows a step" if m.get("batch_rows") else "") + _scaled_rate(m))

    # a configuration's fold networks are consecutive members; every other member is a configuration of its own
    said = [list(g) for _, g in itertools.groupby(members, key=lambda m: (m["trial"], "fold" in m))]
    return "Final model: " + " + ".join(text(g) for g in said) + (", outputs averaged" if len(members) > 1 else "")


def _scaled_rate(member: dict) -> str:
    """", learning rate R (the searched r × √(B/b), at most the space's highest)" where a network trained at another
    rate than its trial's (the rule: SearchHyperModel.trained_rate)."""
    rate, searched = member.get("learning_rate"), member.get("searched_learning_rate")
    if rate is None or rate == searched:
        return ""
    return (f", learning rate {rate:.3g} (the searched {searched:g} × √({member['batch_rows']}/"
            f"{member['searched_batch_rows']}), at most the space's highest)")


def trained_batches(search: dict) -> list | None:
    """Each trial's rows a step, where any trial trained at more than its searched batch_size (an epoch holds at most
    MAX_STEPS_PER_EPOCH steps: larger data takes more rows a step); None where every trial trained at its own."""
    trials = search["trials"]
    if all(t.get("batch_rows") in (None, t["hyperparameters"].get("batch_size")) for t in trials):
        return None
    return [t.get("batch_rows") for t in trials]


BATCH_CAPTION = ("rows a step: the batch a trial trained at — its batch_size (times the devices it trained on), or "
                 "more where an epoch would take over 200 steps")  # 200: search.space.MAX_STEPS_PER_EPOCH


def _reweighted(baseline: dict) -> str:
    d = baseline.get("decision")
    return f"; outputs re-weighted as the network's, α {d['alpha']:g} (0 balanced classes, 1 the class frequencies)" \
        if d and any(d["bias_shift"]) else ""


def decision_text(report: dict) -> str:
    """A sentence on the outputs' re-weighting between balanced classes and the class frequencies, if the run made
    one (decision.describe)."""
    from autotune.decision import describe

    text = describe(report["final_model"].get("decision"))
    return f" {text[0].upper()}{text[1:]}." if text else ""


def _trials_md(search: dict) -> list[str]:
    hp_names = list(search["best_hyperparameters"])
    batches = trained_batches(search)
    rows = []
    for i, trial in enumerate(search["trials"]):
        mark = "★" if i == 0 and trial["score"] is not None else ""
        rows.append([f"{trial['trial']}{mark}", trial["status"], trial["score"], trial["epochs"], trial["seconds"],
                     *([batches[i]] if batches else []), *[trial["hyperparameters"].get(k) for k in hp_names]])
    header = ["trial", "status", search["objective"], "epochs", "seconds", *(["rows a step"] if batches else []),
              *hp_names]
    return ["## Trials", "", _table(header, rows), "",
            f"_{EPOCHS_CAPTION}" + (f"; {BATCH_CAPTION}" if batches else "") + "._", ""]
