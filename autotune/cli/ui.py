"""How progress looks: rich tables and a progress bar on a terminal, timestamped plain lines
without one (cron, CI), nothing with --quiet. Everything goes to stderr; stdout is for --json."""
from __future__ import annotations

import sys
import time
from datetime import datetime

from rich.console import Console
from rich.table import Table

from autotune.config import METRICS
from autotune.events import Reporter
from autotune.task import task_of

HEADLINE_NAMES = {"accuracy": "accuracy", "rmse": "RMSE", "f1_macro": "macro-F1", "roc_auc": "ROC AUC",
                  "log_loss": "log loss", "mae": "MAE", "r2": "R²"}


def make_console(file=None, force_terminal: bool | None = None) -> Console:
    """A rich console on stderr (stdout belongs to --json and predictions)."""
    return Console(file=file or sys.stderr, force_terminal=force_terminal, highlight=False, soft_wrap=False)


def _fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _value(value) -> str:
    """A metric as the result table shows it: four decimals, a dash when undefined."""
    return "–" if value is None else f"{value:.4f}"


def _duration(seconds: float) -> str:
    """A duration as a user writes one, never rounded: 90 -> "90 s", 600 -> "10 min", 5400 -> "1 h 30 min"
    (whole minutes in hours and minutes, anything else in seconds)."""
    if seconds % 60:
        return f"{seconds:g} s"
    hours, minutes = divmod(int(seconds) // 60, 60)
    return " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if p)


def profile_table(prof) -> Table:
    """The data profile: one row per column with its kind, missing share and distinct values."""
    table = Table(title=f"{prof.rows} rows × {len(prof.columns) + 1} columns — {prof.task} of “{prof.target}”",
                  title_justify="left")
    for name, justify in (("column", "left"), ("kind", "left"), ("missing %", "right"), ("distinct", "right")):
        table.add_column(name, justify=justify)
    for col in prof.columns:
        kind = col.kind if col.kind in ("numeric", "categorical", "text") else f"[dim]{col.kind} (dropped)[/dim]"
        table.add_row(col.name, kind, f"{100 * col.missing / max(prof.rows, 1):.1f}", str(col.unique))
    return table


def target_line(prof) -> str:
    """The target in one line: class counts and shares, or mean, std and range."""
    if prof.class_counts:
        total = sum(prof.class_counts.values())
        return "target: " + ", ".join(f"{k} {v} ({100 * v / total:.0f}%)" for k, v in prof.class_counts.items())
    s = prof.target_summary
    return f"target: mean {s['mean']:.4g}, std {s['std']:.4g}, range [{s['min']:.4g}, {s['max']:.4g}]"


def summary_table(report: dict, output) -> Table:
    """The end-of-fit result: test metrics, baseline verdicts and where the bundle is."""
    metrics, head = report["test_metrics"], report["headline"]
    table = Table(title=f"Result — bundle in {output}", title_justify="left", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row(f"test {HEADLINE_NAMES.get(head['metric'], head['metric'])}", f"{head['value']:.4f}")
    if task_of(report["task"]).has_classes:
        table.add_row("test macro-F1", f"{metrics['f1_macro']:.4f}")
    else:
        table.add_row("test MAE", f"{metrics['mae']:.4g}")
        table.add_row("test R²", _fmt(metrics["r2"]))
    table.add_row("test rows", str(metrics["rows"]))
    if report.get("baseline"):
        b = report["baseline"]
        table.add_row("baseline", f"{b['model']}: {HEADLINE_NAMES.get(b['metric'], b['metric'])} {_value(b['value'])}")
    if report.get("trivial_baseline"):
        b = report["trivial_baseline"]
        table.add_row("trivial baseline", f"{b['model']}: {HEADLINE_NAMES.get(b['metric'], b['metric'])} "
                                          f"{_value(b['value'])}")
    search = report["search"]
    table.add_row("trials", f"{len(search['trials'])} ({search['tuner']})")
    best = ", ".join(f"{k}={_fmt(v)}" for k, v in search["best_hyperparameters"].items())
    table.add_row("best", best)
    t = report["timings"]
    table.add_row("time", f"{t['total']:.1f} s (search {t['search']:.1f} s, final fit {t['final_fit']:.1f} s)")
    return table


def per_class_table(metrics: dict, title: str = "per class (test set)") -> Table:
    """Precision, recall, F1 and support per class."""
    table = Table(title=title, title_justify="left")
    for name in ("class", "precision", "recall", "F1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for label, m in metrics["per_class"].items():
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    return table


def confusion_table(metrics: dict) -> Table:
    """The confusion matrix, true classes as rows."""
    cm = metrics["confusion_matrix"]
    table = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("true \\ predicted")
    for label in cm["labels"]:
        table.add_column(label, justify="right")
    for label, row in zip(cm["labels"], cm["matrix"], strict=True):
        table.add_row(label, *map(str, row))
    return table


def _plain(header: list[str], rows: list[list[str]]) -> list[str]:
    """Aligned plain-text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(f"{v:<{w}}" if i == 0 else f"{v:>{w}}" for i, (v, w) in enumerate(zip(r, widths, strict=True)))
            for r in [header, *rows]]


def print_schema(console: Console, schema: dict) -> None:
    """`autotune schema`: column → key → dtype, a table on a terminal and aligned plain text otherwise."""
    head = [f"{schema['bundle']}: {schema['kind']} {schema['task']} of \"{schema['target']}\"",
            f"metadata.json sha256 {schema['metadata_sha256']} (pin it with --expect-sha256)"]
    rows = [[c["column"], c["key"], c["dtype"]] for c in schema["inputs"]]
    outputs = "; ".join(f"{k}: {v}" for k, v in (schema.get("outputs") or {}).items())
    tail = [f"outputs: {outputs}"] + ([f"labels: {', '.join(schema['labels'])}"] if schema["labels"] else [])
    if console.is_terminal:
        for line in head:
            console.print(line, markup=False, highlight=False)
        table = Table(title="inputs (number: float32, NaN for missing; string: \"\" for missing)", title_justify="left")
        for name in ("column", "key", "dtype"):
            table.add_column(name)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        for line in tail:
            console.print(line, markup=False, highlight=False)
        return
    widths = [max(len(r[i]) for r in [["column", "key", "dtype"], *rows]) for i in range(3)]
    table = ["  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=True)).rstrip()
             for r in [["column", "key", "dtype"], *rows]]
    lines = [*head, "", *table, "", *tail]
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


def _quoted(labels: list[str], last: str) -> str:
    names = [f"'{v}'" for v in labels]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}"


def label_notes(metrics: dict) -> list[str]:
    """One line when the rows lack a class the model knows, one when they hold labels it never saw."""
    cm, unseen = metrics["confusion_matrix"], metrics.get("unseen_labels") or []
    known = cm["labels"][:len(cm["labels"]) - len(unseen)]
    lacking = [label for label, row in zip(known, cm["matrix"], strict=False) if not sum(row)]
    notes = []
    if lacking:
        notes.append(f"these rows hold no {_quoted(lacking, 'or')}, {'a class' if len(lacking) == 1 else 'classes'} "
                     "the model knows (macro-F1 averages over the classes present in the rows or predicted)")
    if unseen:
        notes.append(f"these rows hold {len(unseen)} label{'s' if len(unseen) > 1 else ''} the model never saw: "
                     f"{_quoted(unseen, 'and')} ({metrics.get('unseen_rows', '?')} rows, counted as errors in "
                     "every metric)")
    return notes


def print_evaluation(console: Console, task: str, metrics: dict, source: str) -> None:
    """`autotune evaluate`'s result: rich tables on a terminal, plain text otherwise."""
    if not task_of(task).has_classes:
        console.print(f"RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g}, R² {_fmt(metrics['r2'])} "
                      f"on {metrics['rows']} rows", markup=False, highlight=False, soft_wrap=True)
        return
    lines = [f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['f1_macro']:.4f} on {metrics['rows']} rows",
             *label_notes(metrics)]
    if console.is_terminal:
        for line in lines:
            console.print(line, markup=False, highlight=False)
        console.print(per_class_table(metrics, title=f"per class ({source})"))
        console.print(confusion_table(metrics))
        return
    lines += ["", f"per class ({source}):"]
    lines += _plain(["class", "precision", "recall", "F1", "support"],
                    [[k, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])]
                     for k, m in metrics["per_class"].items()])
    cm = metrics["confusion_matrix"]
    lines += ["", "confusion matrix (rows: true, columns: predicted):"]
    lines += _plain(["true \\ predicted", *cm["labels"]],
                    [[label, *map(str, row)] for label, row in zip(cm["labels"], cm["matrix"], strict=True)])
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


class ConsoleReporter(Reporter):
    """Rich output on a terminal; plain timestamped lines when the console is not one."""

    def __init__(self, console: Console | None = None, verbose: bool = False, clock=time.perf_counter):
        self.console = console or make_console()
        self.verbose = verbose
        self.clock = clock
        self.start = clock()
        self.max_trials: int | None = None
        self.objective = ""
        self.warnings: list[str] = []
        self._status = None  # a transient "trial N running" line, on a terminal only

    @property
    def tty(self) -> bool:
        return self.console.is_terminal

    def _line(self, message: str, style: str = "") -> None:
        if self.tty:
            self.console.print(message, style=style)
        else:  # markup off: plain lines for logs
            stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
            self.console.print(f"{stamp} {message}", markup=False, highlight=False, soft_wrap=True)

    def note(self, message: str) -> None:
        self._line(f"note: {message}", "cyan")

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        self._line(f"warning: {message}", "yellow")

    def profiled(self, profile, cleaning: list[dict]) -> None:
        from autotune.data.clean import describe_action

        if self.tty:
            self.console.print(profile_table(profile))
            self.console.print(target_line(profile))
        else:
            kinds = ", ".join(f"{c.name}={c.kind}" for c in profile.columns)
            self._line(f"profile: {profile.rows} rows, {profile.task} of {profile.target}; {kinds}")
            self._line(target_line(profile))
        for action in cleaning:
            self._line(f"clean: {describe_action(action)}", "dim")

    def search_started(self, tuner: str, max_trials: int | None, epochs: int, objective: str) -> None:
        self.max_trials, self.objective = max_trials, objective
        budget = f"up to {max_trials} trials" if max_trials else "Hyperband's schedule"
        goal = "maximising" if METRICS.get(objective.removeprefix("val_"), ("", False))[1] else "minimising"
        self._line(f"search: {tuner} tuner, {budget}, up to {epochs} epochs each, {goal} {objective}", "bold")
        if self.tty:
            self._status = self.console.status(self._running(1))
            self._status.start()

    def budget_preview(self, setup_seconds: float, epoch_seconds: float, max_trials, epochs: int, time_budget,
                       reserve: float | None = None, measured: bool = False) -> None:
        if max_trials is None and not time_budget:
            return
        text = (f"estimate{' from the first trial' if measured else ''}: ~{setup_seconds:.2g} s to start a trial and "
                f"~{epoch_seconds:.2g} s per epoch")
        worst = (setup_seconds + epoch_seconds * epochs) * (max_trials or 0)
        if max_trials:
            text += (f", so at most ~{_duration(round(worst))} for {max_trials} trials × {epochs} epochs (early "
                     "stopping usually ends trials sooner)")
        if time_budget:
            text += (f"; the time budget of {_duration(time_budget)} covers the whole run, ~{_duration(round(reserve or 0))} "
                     "of it kept for the final fit and export")
            if not max_trials or worst > time_budget - (reserve or 0):
                text += " — it will end the search"
        self._line(text, "dim")

    def _running(self, number: int) -> str:
        total = f" of {self.max_trials}" if self.max_trials else ""
        return f"trial {number}{total} running… (elapsed {self.clock() - self.start:.0f} s)"

    def trial_finished(self, trial, number: int, score, best, epochs: int, seconds: float,
                       hyperparameters: dict) -> None:
        total = f" of {self.max_trials}" if self.max_trials else ""
        mark = " ★" if score is not None and score == best else ""
        state = f"{self.objective} {_fmt(score)}" if score is not None else "failed"
        name = f"trial {trial} ({number}{total})" if trial is not None else f"trial {number}{total}"
        self._line(f"{name}: {state}{mark}, best {_fmt(best)}, {epochs} epochs, "
                   f"{seconds:.1f} s (elapsed {self.clock() - self.start:.0f} s)")
        if self.verbose:
            self._line("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in hyperparameters.items()), "dim")
        if self._status is not None:
            self._status.update(self._running(number + 1))

    def stage(self, name: str) -> None:
        if self._status is not None and name != "search":
            self._status.stop()
            self._status = None
        if self.verbose or not self.tty:
            self._line(f"[{self.clock() - self.start:6.1f}s] {name}", "dim")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def finished(self, report: dict, output) -> None:
        self.close()
        if self.tty:
            self.console.print(summary_table(report, output))
            if task_of(report["task"]).has_classes:
                self.console.print(per_class_table(report["test_metrics"]))
        else:
            head = report["headline"]
            self._line(f"done: test {head['metric']} {head['value']:.4f}; bundle in {output}")


class QuietReporter(Reporter):
    """--quiet: only warnings reach stderr."""

    def __init__(self, console: Console | None = None):
        self.console = console or make_console()
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        self.console.print(f"warning: {message}", markup=False, soft_wrap=True)
