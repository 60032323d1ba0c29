"""`bench/run.py --suite`: the accuracy section over the development suite (bench/suite.py), several seeds.

Each seed is a new stratified split (autotune's own, `load_split`) and autotune's `--seed`; every contender of
that seed sees the same split. Per set and contender: mean ± sd over seeds of the headline metric — accuracy,
macro-F1 on the sets the suite marks imbalanced, RMSE for regression — and of the second one; autotune against
the better (by mean) of HistGradientBoosting and Logistic/Ridge: a win or a loss only when a paired t-test over
the seeds' differences gives p < 0.05, else a tie; each contender's mean rank over sets; wall time. The four
held-out sets are summarised on their own. AutoKeras and AutoGluon (when installed) are ranked with the rest, and
autotune's mean rank is set against AutoGluon's (`medium_quality`, at autotune's wall time) on the sets where both
are ranked.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path

BASELINES = ("HistGradientBoosting", "Logistic/Ridge")
CONTENDERS = ("autotune", *BASELINES, "AutoKeras", "AutoGluon")
SKIPPED = "tabular only"  # a contender that does not take the set's kind: no row in the ranks, not a failure
ALPHA = 0.05


def suite_datasets(names: list[str] | None, cache: Path | None, say) -> tuple[list[dict], list[str]]:
    """The suite's sets, built into the cache if need be: (sets to run, names not available)."""
    import suite

    cache = cache or suite.default_cache()
    built = suite.build(cache, names, say=lambda message: say(f"suite: {message}"))
    sets, missing = [], []
    for name, (status, entry) in built.items():
        if status == "unavailable":
            missing.append(name)
            continue
        sets.append({"name": name, "path": str(cache / entry["path"]), "target": entry["target"], "in_data": False,
                     "held_out": entry["held_out"], "suite_task": entry["task"], "exercises": entry["exercises"],
                     "kind": entry["kind"], "sha256": entry["sha256"], "source": entry["source"]})
    return sets, missing


def headline(ds: dict) -> tuple[str, str, bool]:
    """(metric key, second metric key, higher is better) for a set."""
    if ds["suite_task"] == "regression":
        return "rmse", "r2", False
    if "imbalanced" in ds["exercises"]:
        return "f1_macro", "accuracy", True
    return "accuracy", "f1_macro", True


# --- the journal: a suite run split over several sittings --------------------------------------------------

PRODUCT = ("autotune", "recipes", "setup.py")  # what a suite row measures; bench/ and tests/ may change between parts


class JournalError(Exception):
    """A journal that cannot be continued by this checkout (another product tree, other settings)."""


def product_fingerprint(root: Path) -> str | None:
    """The git trees of the product's files at HEAD, or None when they are not committed as they are on disk
    (a journal's sets are reused only for exactly the product they measured)."""
    def ask(*args):
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=root)
        return done.stdout.strip() if done.returncode == 0 else None

    if ask("status", "--porcelain", "--", *PRODUCT) != "":
        return None
    trees = [ask("rev-parse", f"HEAD:{path}") for path in PRODUCT]
    return None if None in trees else "-".join(tree[:12] for tree in trees)


def journal_key(opts: argparse.Namespace, ak: tuple[str | None, str], ag: tuple[str | None, str]) -> dict:
    """What must match for a journal's set to stand beside this run's: seeds, split, and the same outside
    contenders (a set measured without AutoGluon cannot join a table that has it)."""
    return {"seeds": opts.seeds, "test_size": opts.test_size, "autokeras": ak[1] if ak[0] else None,
            "autogluon": ag[1] if ag[0] else None}


def read_journal(path: Path, fingerprint: str | None, key: dict) -> dict[str, dict]:
    """The sets a journal already holds for this product and settings: {name: entry}. Refuses a journal written
    by another product tree or other settings, and any continuation from an uncommitted product."""
    if not path.exists():
        return {}
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if entries and fingerprint is None:
        raise JournalError(f"{path}: the product files ({', '.join(PRODUCT)}) have uncommitted changes; commit "
                           "them or start a new journal")
    done = {}
    for entry in entries:
        if entry["product"] != fingerprint:
            raise JournalError(f"{path}: its set {entry['set']['data']} measured product {entry['product']} "
                               f"(commit {entry['commit']}), this checkout is {fingerprint}; start a new journal")
        if entry["key"] != key:
            raise JournalError(f"{path}: its set {entry['set']['data']} ran with {entry['key']}, this run asks "
                               f"{key}; start a new journal or ask for the same")
        done[entry["set"]["data"]] = entry
    return done


def append_journal(path: Path, fingerprint: str | None, key: dict, commit: str | None, started: str,
                   record: dict, commands: list[dict]) -> None:
    """One finished set (every seed and contender) and the commands it ran, as one line."""
    if fingerprint is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps({"product": fingerprint, "key": key, "commit": commit, "started": started,
                              "set": record, "commands": commands}, default=str) + "\n")


def suite_section(runner, opts: argparse.Namespace, sets: list[dict], ak: tuple[str | None, str], contenders: dict,
                  load_split, say, ag: tuple[str | None, str] = (None, "not run"),
                  journal: dict | None = None) -> list[dict]:
    """Every set × seed × contender; `contenders` holds run.py's autotune, sklearn, autokeras and autogluon
    functions. AutoKeras and AutoGluon only when installed (`ak`, `ag`: interpreter, versions or why not);
    AutoGluon's time limit is the wall time of autotune's row of the same set and seed.

    `journal` ({"path", "product", "key", "commit", "started", "done"}): sets in `done` are taken from an
    earlier sitting on the same product instead of run again, and each set run here is appended to the path."""
    out = []
    for ds in sets:
        if journal and ds["name"] in journal["done"]:
            entry = journal["done"][ds["name"]]
            say(f"suite: {ds['name']}: from the journal (started {entry['started']}, commit {entry['commit']})")
            out.append({**entry["set"], "journal": {"started": entry["started"], "commit": entry["commit"]}})
            runner.commands.extend(entry["commands"])
            continue
        first_command = len(runner.commands)
        seeds = []
        for seed in range(opts.seeds):
            say(f"suite: {ds['name']}, seed {seed}")
            seeded = argparse.Namespace(**{**vars(opts), "seed": seed})
            run_ds = {**ds, "name": f"{ds['name']}-seed{seed}"}  # logs and bundles of each seed kept apart
            loaded = load_split(ds["path"], ds["target"], seed, opts.test_size)
            run_ds["kind"] = loaded.run.kind
            test_rows = len(loaded.parts.test)
            rows = [contenders["autotune"](runner, run_ds, seeded, False, test_rows),
                    contenders["sklearn"](runner, run_ds, seeded, "hgb"),
                    contenders["sklearn"](runner, run_ds, seeded, "linear")]
            if ak[0] is not None:
                rows.append(contenders["autokeras"](runner, run_ds, seeded, loaded, *ak))
            if ag[0] is not None:
                rows.append(contenders["autogluon"](runner, run_ds, seeded, loaded, rows[0].get("wall_s"), *ag))
            for row in rows:
                row.pop("probabilities", None)
                say(f"  {row['contender']}: {row['status']} " + ", ".join(
                    f"{k} {row[k]:.4f}" for k in ("accuracy", "f1_macro", "rmse", "r2", "wall_s")
                    if row.get(k) is not None))
            seeds.append({"seed": seed, "test_rows": test_rows, "train_rows": len(loaded.parts.train) +
                          len(loaded.parts.validation), "contenders": rows})
        out.append({"data": ds["name"], "held_out": ds["held_out"], "task": ds["suite_task"], "kind": ds["kind"],
                    "exercises": ds["exercises"], "source": ds["source"], "sha256": ds["sha256"],
                    "rows": loaded.rows, "seeds": seeds})
        if journal:
            append_journal(journal["path"], journal["product"], journal["key"], journal["commit"], journal["started"],
                           out[-1], runner.commands[first_command:])
    return out


# --- summaries (pure: tested in tests/unit/test_suite.py) -------------------------------------------------

def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def paired_decision(ours: list[float], theirs: list[float], higher: bool) -> dict:
    """Win / tie / loss of `ours` against `theirs` over paired seeds: a paired t-test, p < ALPHA."""
    from scipy import stats

    diffs = [(a - b) if higher else (b - a) for a, b in zip(ours, theirs, strict=True)]  # > 0: ours better
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return {"decision": "tie", "mean_difference": mean, "p": None, "seeds": len(diffs)}
    if statistics.pstdev(diffs) == 0:  # the same difference on every seed: no variance to test against
        p = 0.0 if mean else 1.0
    else:
        p = float(stats.ttest_rel(diffs, [0.0] * len(diffs)).pvalue)
    decision = "tie" if p >= ALPHA or mean == 0 else ("win" if mean > 0 else "loss")
    return {"decision": decision, "mean_difference": mean, "p": p, "seeds": len(diffs)}


def summarise_set(result: dict) -> dict:
    key, second, higher = headline({"suite_task": result["task"], "exercises": result["exercises"]})
    per: dict[str, dict] = {}
    for name in CONTENDERS:
        rows = [next((c for c in s["contenders"] if c["contender"] == name), None) for s in result["seeds"]]
        if all(r is None for r in rows):
            continue
        ok = [r for r in rows if r is not None and r.get("status") == "ok"]
        mean, sd = _mean_sd([r[key] for r in ok])
        mean2, sd2 = _mean_sd([r[second] for r in ok])
        per[name] = {"mean": mean, "sd": sd, "second_mean": mean2, "second_sd": sd2, "ok": len(ok),
                     "runs": len(rows), "wall_s": statistics.fmean([r["wall_s"] for r in ok]) if ok else None,
                     "values": [r[key] if r is not None and r.get("status") == "ok" else None for r in rows],
                     "failures": [r.get("status") for r in rows if r is not None and r.get("status") != "ok"]}
    complete = {n: p for n, p in per.items() if p["ok"] == p["runs"] and p["ok"]}
    baselines = [n for n in BASELINES if n in complete]
    best = (max if higher else min)(baselines, key=lambda n: complete[n]["mean"]) if baselines else None
    versus = None
    if best and "autotune" in complete:
        versus = {"baseline": best, **paired_decision(complete["autotune"]["values"], complete[best]["values"], higher)}
    ranked = sorted(complete, key=lambda n: complete[n]["mean"], reverse=higher)
    ranks = {}
    for name in ranked:  # ties share the mean of their positions
        same = [i + 1 for i, n in enumerate(ranked) if complete[n]["mean"] == complete[name]["mean"]]
        ranks[name] = statistics.fmean(same)
    return {"data": result["data"], "held_out": result["held_out"], "task": result["task"], "rows": result["rows"],
            "metric": key, "second": second, "higher_is_better": higher, "contenders": per, "versus": versus,
            "ranks": ranks, "gap": _gap(result["task"], key, complete)}


TOLERANCE = {"classification": 0.01, "regression": 0.02}  # issue 17: never more than 0.01 macro-F1 / 0.02 R² below


def _gap(task: str, key: str, complete: dict) -> dict | None:
    """Issue 17's yardstick on one set: autotune's mean minus the better baseline's, in the headline metric for
    classes (accuracy or macro-F1) and in R² for regression (RMSE's units differ set by set); None when autotune
    or both baselines have a failed seed."""
    metric = "r2" if task == "regression" else key
    field = "second_mean" if task == "regression" else "mean"
    baselines = [n for n in BASELINES if n in complete]
    if "autotune" not in complete or not baselines:
        return None
    best = max(baselines, key=lambda n: complete[n][field])
    return {"metric": metric, "baseline": best, "value": complete["autotune"][field] - complete[best][field],
            "tolerance": TOLERANCE["regression" if task == "regression" else "classification"]}


def summarise(results: list[dict]) -> dict:
    sets = [summarise_set(r) for r in results]
    out = {"sets": sets}
    for group, held in (("development", False), ("held_out", True)):
        chosen = [s for s in sets if s["held_out"] is held]
        decisions = [s["versus"]["decision"] for s in chosen if s["versus"]]
        ranks = {n: [s["ranks"][n] for s in chosen if n in s["ranks"]] for n in CONTENDERS}
        wall = {n: sum(s["contenders"][n]["wall_s"] * s["contenders"][n]["ok"] for s in chosen
                       if n in s["contenders"] and s["contenders"][n]["wall_s"] is not None) for n in CONTENDERS}
        out[group] = {"sets": len(chosen), "wins": decisions.count("win"), "ties": decisions.count("tie"),
                      "losses": decisions.count("loss"), "not_compared": len(chosen) - len(decisions),
                      "mean_rank": {n: statistics.fmean(r) for n, r in ranks.items() if r},
                      "ranked_sets": {n: len(r) for n, r in ranks.items() if r},
                      "wall_s": {n: round(w, 1) for n, w in wall.items() if w}}
        gaps = [(s["data"], s["gap"]) for s in chosen if s["gap"]]
        out[group]["versus_best_baseline"] = {
            "sets": len(gaps), "at_least": sum(g["value"] >= 0 for _, g in gaps),
            "beyond_tolerance": [{"data": name, **g} for name, g in gaps if g["value"] < -g["tolerance"]],
            "worst": min(({"data": name, **g} for name, g in gaps), key=lambda g: g["value"], default=None)}
        both = [s["ranks"] for s in chosen if "autotune" in s["ranks"] and "AutoGluon" in s["ranks"]]
        if both:  # the yardstick: autotune's mean rank ahead of AutoGluon's at equal wall time
            out[group]["versus_autogluon"] = {
                "sets": len(both), "autotune": statistics.fmean(r["autotune"] for r in both),
                "AutoGluon": statistics.fmean(r["AutoGluon"] for r in both),
                "ahead": sum(r["autotune"] < r["AutoGluon"] for r in both),
                "behind": sum(r["autotune"] > r["AutoGluon"] for r in both)}
    return out


# --- Markdown ---------------------------------------------------------------------------------------------

NAMES = {"accuracy": "accuracy", "f1_macro": "macro-F1", "rmse": "RMSE", "r2": "R²"}


def _pm(mean, sd) -> str:
    return "—" if mean is None else f"{mean:.4f} ± {sd:.4f}"


def section(results: dict) -> list[str]:
    """The suite's part of the Markdown report."""
    summary = results["suite_summary"]
    seeds = results["settings"]["seeds"]
    missing = results.get("suite_missing")
    lines = ["## Development suite", "",
             f"{seeds} seed(s) per set: each a new stratified split (test {results['settings']['test_size']:.0%}) "
             "and autotune's `--seed`; every contender of a seed sees the same split, each in a fresh process. "
             "Headline: accuracy (macro-F1 where the suite marks the set imbalanced), RMSE for regression; "
             "mean ± sd over seeds. autotune against the better baseline (HistGradientBoosting or Logistic/Ridge, by "
             f"mean): win or loss only when a paired t-test over the seeds gives p < {ALPHA}, else tie. "
             f"Cache: `{results['suite_cache']}`." + (f" Not built (package missing): {', '.join(missing)}." if missing
                                                     else ""), ""]
    earlier = {}
    for s in results.get("suite", []):
        if s.get("journal"):
            earlier.setdefault((s["journal"]["started"], s["journal"]["commit"]), []).append(s["data"])
    if earlier:
        journal = results.get("journal") or {}
        lines += [f"Sets from earlier sittings of the journal `{journal.get('path')}` (the same committed product, "
                  f"`{journal.get('product')}`, seeds, split and contenders): " + "; ".join(
                      f"{', '.join(names)} (started {started}, commit {commit})"
                      for (started, commit), names in earlier.items()) + ".", ""]
    for group, title in (("development", "Development sets (tuning may look at these)"),
                         ("held_out", "Held-out sets (never used for tuning decisions)")):
        chosen = [s for s in summary["sets"] if s["held_out"] is (group == "held_out")]
        if not chosen:
            continue
        g = summary[group]
        lines += [f"### {title}", "",
                  f"autotune vs the better baseline: **{g['wins']} win(s), {g['ties']} tie(s), {g['losses']} loss(es)**"
                  + (f", {g['not_compared']} not compared (a run failed)" if g["not_compared"] else "") + ".", "",
                  "| data | rows | metric | " + " | ".join(CONTENDERS) + " | vs best baseline (p) | autotune wall s |",
                  "|---|--:|---|" + "---|" * len(CONTENDERS) + "---|--:|"]
        for s in chosen:
            cells = []
            for name in CONTENDERS:
                c = s["contenders"].get(name)
                if c is None:
                    cells.append("—")
                elif not c["ok"] and set(c["failures"]) == {SKIPPED}:
                    cells.append(SKIPPED)
                elif c["ok"] < c["runs"]:
                    cells.append(f"{_pm(c['mean'], c['sd'])} ({c['runs'] - c['ok']} failed)")
                else:
                    second = _pm(c["second_mean"], c["second_sd"])
                    cells.append(f"{_pm(c['mean'], c['sd'])}<br>{NAMES[s['second']]} {second}")
            v = s["versus"]
            verdict = "—" if v is None else f"{v['decision']} vs {v['baseline']}" + \
                ("" if v["p"] is None else f" ({v['p']:.3f})")
            wall = (s["contenders"].get("autotune") or {}).get("wall_s")
            arrow = "↑" if s["higher_is_better"] else "↓"
            lines.append(f"| {s['data']} | {s['rows']:,} | {NAMES[s['metric']]} {arrow} | " + " | ".join(cells) +
                         f" | {verdict} | {'—' if wall is None else f'{wall:.0f}'} |")
        lines += ["", "| contender | mean rank (1 = best) | sets ranked | wall s in all |", "|---|--:|--:|--:|"]
        for name in CONTENDERS:
            if name in g["mean_rank"]:
                lines.append(f"| {name} | {g['mean_rank'][name]:.2f} | {g['ranked_sets'][name]} | "
                             f"{g['wall_s'].get(name, 0):,.0f} |")
        vb = g.get("versus_best_baseline")
        if vb and vb["sets"]:
            worst = vb["worst"]
            lines += ["", f"autotune's mean ≥ the better baseline's (accuracy / macro-F1; R² for regression) on "
                      f"**{vb['at_least']} of {vb['sets']}** set(s); worst: {worst['data']}, "
                      f"{worst['value']:+.4f} {NAMES[worst['metric']]} vs {worst['baseline']}; more than the "
                      "tolerance (0.01; 0.02 R²) below on: " + (", ".join(
                          f"{b['data']} ({b['value']:+.4f})" for b in vb["beyond_tolerance"]) or "none") + "."]
        ag = g.get("versus_autogluon")
        if ag:
            lines += ["", f"autotune vs AutoGluon (`medium_quality`, time limit = autotune's wall time of the same seed) "
                      f"on the {ag['sets']} set(s) where both are ranked: mean rank **{ag['autotune']:.2f} vs "
                      f"{ag['AutoGluon']:.2f}**; autotune ahead on {ag['ahead']}, behind on {ag['behind']}."]
        lines.append("")
    return lines
