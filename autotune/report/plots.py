"""The report's plots: matplotlib figures written as SVG text, for html_report.py to inline.

Each function takes plain data from report.json and returns one `<svg>` element. The output is
deterministic (fixed figure sizes, a fixed hash salt for the SVG's ids, no date) and small (text
stays text). matplotlib is imported with this module, and this module only when a report is
rendered, so `autotune --help` never loads it. No pyplot: figures are drawn on their own canvas,
whatever backend the caller uses.
"""
from __future__ import annotations

import io
import math
import re

import matplotlib
from matplotlib.figure import Figure

BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
MAX_CLASSES = 30  # per-class plots beyond this show the 30 worst classes
MAX_LEGEND = 10

STYLE = {
    "svg.fonttype": "none",  # text as <text>: a tenth of the size of glyph outlines, and selectable
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "path.simplify": True,
}


def short(label, width: int = 18) -> str:
    """A label cut to width characters for a plot's axis."""
    text = str(label)
    return text if len(text) <= width else text[: width - 1] + "…"


def _floats(values: list) -> list[float]:
    """JSON's null (a diverged epoch) as NaN, which matplotlib leaves out."""
    return [math.nan if v is None else float(v) for v in values]


def _figure(width: float, height: float, **kwargs) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def to_svg(fig: Figure, name: str, title: str) -> str:
    """The figure as an inline `<svg>` element with an accessible name; ids are unique per plot name."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": f"autotune-{name}", "svg.id": f"plot-{name}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # no XML declaration or DOCTYPE inside HTML
    text = re.sub(r'<g id="[^"]*"', "<g", text)  # group ids are never referenced; they would repeat across plots
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    return text.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" class="plot" ', 1).strip()


def _attr(text: str) -> str:
    return str(text).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def draw(name: str, title: str, paint) -> str:
    """Draw with the report's style and return the SVG."""
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": f"autotune-{name}"}):
        fig = paint()
    return to_svg(fig, name, title)


def confusion_matrix(labels: list[str], matrix: list[list[int]]) -> str:
    """Counts and row-normalised shares (recall on the diagonal), side by side, with label names."""
    k = len(labels)

    def paint():
        side = min(max(3.2, 0.9 + 0.42 * k), 8.0)
        fig = _figure(min(2 * side + 1.2, 16), side + 0.4)
        axes = fig.subplots(1, 2)
        counts = [[float(v) for v in row] for row in matrix]
        shares = [[v / sum(row) if sum(row) else 0.0 for v in row] for row in counts]
        for ax, values, title, fmt in ((axes[0], counts, "counts", "{:.0f}"),
                                       (axes[1], shares, "share of each true class", "{:.0%}")):
            top = max(max(row) for row in values) if values else 1.0
            image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top or 1.0, aspect="equal", interpolation="nearest")
            ax.grid(False)
            ax.set_title(title)
            ticks = list(range(k))
            names = [short(v, 14) for v in labels]
            ax.set_xticks(ticks, names, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center",
                          fontsize=8 if k <= 15 else 6)
            # many classes: the right panel's rows are the left one's; naming them twice only adds bytes
            ax.set_yticks(ticks, names if k <= 15 or values is counts else [], fontsize=8 if k <= 15 else 6)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            if k <= 15:
                for i in range(k):
                    for j in range(k):
                        v = values[i][j]
                        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8 if k <= 8 else 6,
                                color="white" if top and v > 0.55 * top else "#222222")
            fig.colorbar(image, ax=ax, shrink=0.8, format="{x:.0%}" if values is shares else None)
        return fig

    return draw("confusion", "confusion matrix: counts and row-normalised", paint)


def per_class_bars(per_class: dict) -> str:
    """Precision, recall and F1 of each class as grouped horizontal bars (the worst 30 when there are more)."""
    items = list(per_class.items())
    if len(items) > MAX_CLASSES:
        items = sorted(items, key=lambda kv: (kv[1]["f1"], kv[0]))[:MAX_CLASSES]
    k = len(items)

    def paint():
        fig = _figure(7.0, min(1.2 + 0.42 * k, 11))
        ax = fig.subplots()
        height = 0.26
        for offset, (key, colour) in zip((-height, 0, height), (("precision", BLUE), ("recall", ORANGE), ("f1", GREEN)),
                                         strict=True):
            ys = [i + offset for i in range(k)]
            ax.barh(ys, [v[key] for _, v in items], height=height, color=colour, label="F1" if key == "f1" else key)
        ax.set_yticks(range(k), [f"{short(name)} ({v['support']})" for name, v in items])
        ax.invert_yaxis()
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("score on the test set (support in brackets)")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right", ncols=3, bbox_to_anchor=(1, 1.0))
        return fig

    return draw("per-class", "precision, recall and F1 per class", paint)


def _lines(ax, entries: list[dict], x: str, y: str, score: str, score_name: str) -> None:
    for i, entry in enumerate(entries):
        label = f"{short(entry['label'])} ({score_name} {entry[score]:.3f})" if i < MAX_LEGEND else None
        ax.plot(entry[x], entry[y], color=PALETTE[i % len(PALETTE)], linewidth=1.4, label=label,
                drawstyle="steps-pre" if x == "recall" else "default")  # PR: precision holds until the next recall


def roc_pr(roc: list[dict], precision_recall: list[dict], binary: bool) -> str:
    """ROC and precision-recall curves, one per class against the rest (or the positive class); with more
    than ten classes, the ten with the lowest AUC."""
    if len(roc) > MAX_LEGEND:
        worst = {e["label"] for e in sorted(roc, key=lambda e: (e["auc"], str(e["label"])))[:MAX_LEGEND]}
        roc = [e for e in roc if e["label"] in worst]
        precision_recall = [e for e in precision_recall if e["label"] in worst]

    def paint():
        fig = _figure(9.0, 4.0)
        left, right = fig.subplots(1, 2)
        _lines(left, roc, "fpr", "tpr", "auc", "AUC")
        left.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=1, label="chance")
        left.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate",
                 title="ROC" + ("" if binary else " (one class vs the rest)"))
        left.legend(loc="lower right")
        _lines(right, precision_recall, "recall", "precision", "average_precision", "AP")
        right.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
                  title="precision–recall" + ("" if binary else " (one class vs the rest)"))
        right.legend(loc="lower left")
        return fig

    return draw("roc-pr", "ROC and precision-recall curves", paint)


def calibration(bins: list[dict], of: str) -> str:
    """Reliability diagram: predicted probability against observed frequency, with each bin's count."""
    def paint():
        fig = _figure(4.8, 4.4)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        top.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=1, label="perfectly calibrated")
        xs, ys = [b["predicted"] for b in bins], [b["observed"] for b in bins]
        top.plot(xs, ys, color=BLUE, marker="o", markersize=4, linewidth=1.4, label="model")
        top.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="observed frequency", title=f"calibration: {of}")
        top.legend(loc="upper left")
        bottom.bar(xs, [b["count"] for b in bins], width=0.08, color=BLUE, alpha=0.6)
        bottom.set(xlabel="predicted probability", ylabel="rows")
        return fig

    return draw("calibration", "calibration curve", paint)


def predicted_vs_actual(actual: list[float], predicted: list[float], sampled_of: int | None) -> str:
    """Regression: predicted against actual values on the test rows, as inline SVG."""
    def paint():
        fig = _figure(4.8, 4.4)
        ax = fig.subplots()
        ax.scatter(actual, predicted, s=10, color=BLUE, alpha=0.55, linewidths=0)
        values = [v for v in actual + predicted if math.isfinite(v)] or [0.0, 1.0]
        lo, hi = min(values), max(values)
        pad = (hi - lo) * 0.04 or 1.0
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=GREY, linestyle=":", linewidth=1, label="perfect")
        ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel="actual", ylabel="predicted",
               title="predicted vs actual" + (f" ({len(actual)} of {sampled_of} rows)" if sampled_of else ""))
        ax.set_aspect("equal")
        ax.legend(loc="upper left")
        return fig

    return draw("predicted-actual", "predicted against actual values", paint)


def residual_histogram(edges: list[float], counts: list[int]) -> str:
    """Regression: the histogram of test residuals, as inline SVG."""
    def paint():
        fig = _figure(4.8, 4.4)
        ax = fig.subplots()
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color=BLUE, alpha=0.75, edgecolor="white",
               linewidth=0.5)
        ax.axvline(0, color=GREY, linestyle=":", linewidth=1)
        ax.set(xlabel="residual (actual − predicted)", ylabel="rows", title="residuals")
        return fig

    return draw("residuals", "histogram of residuals", paint)


def trial_scores(trials: list[dict], objective: str, higher_is_better: bool) -> str:
    """Each trial's validation score at the time it finished (trials in the order they ran), the best
    so far as a step line, the best trial as a star."""
    ordered = sorted(trials, key=lambda t: (len(str(t["trial"])), str(t["trial"])))
    clock, xs, ys = 0.0, [], []
    for trial in ordered:
        clock += trial.get("seconds") or 0.0
        xs.append(clock)
        ys.append(trial["score"])

    def paint():
        fig = _figure(6.4, 3.6)
        ax = fig.subplots()
        done = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if done:
            ax.scatter([x for x, _ in done], [y for _, y in done], s=18, color=BLUE, zorder=3, label="trial")
            best, steps = None, []
            for x, y in done:
                if best is None or (y > best if higher_is_better else y < best):
                    best = y
                steps.append((x, best))
            ax.step([x for x, _ in steps], [b for _, b in steps], where="post", color=ORANGE, linewidth=1.4,
                    label="best so far")
            star = max(done, key=lambda d: d[1]) if higher_is_better else min(done, key=lambda d: d[1])
            ax.scatter([star[0]], [star[1]], marker="*", s=140, color=RED, zorder=4, label="best trial")
        failed = len(ys) - len(done)
        ax.set_xlim(left=0)
        ax.set(xlabel="search time (s, trials in the order they ran)", ylabel=objective,
               title=f"validation {objective} of each trial" + (f" ({failed} failed, not shown)" if failed else ""))
        ax.legend(loc="best")
        return fig

    return draw("trials", "validation score of each trial over the search", paint)


def learning_curves(best_trial: dict | None, final: dict | None, validation: str) -> str:
    """Train and validation loss per epoch of the best trial, and the final fit's training loss."""
    def paint():
        fig = _figure(6.4, 3.6)
        ax = fig.subplots()
        if best_trial:
            for key, colour, label in (("loss", BLUE, "best trial: training loss"),
                                       ("val_loss", ORANGE, f"best trial: validation loss ({validation})")):
                if best_trial.get(key):
                    ax.plot(range(1, len(best_trial[key]) + 1), _floats(best_trial[key]), color=colour, marker="o",
                            markersize=2.5, linewidth=1.4, label=label)
        if final and final.get("loss"):
            ax.plot(range(1, len(final["loss"]) + 1), _floats(final["loss"]), color=GREEN, linestyle="--", linewidth=1.4,
                    label="final model (train + validation): training loss")
        ax.set(xlabel="epoch", ylabel="loss", title="learning curves")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="upper right")
        return fig

    return draw("learning", "learning curves: loss per epoch", paint)
