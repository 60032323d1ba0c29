"""The benchmark harness: autotune side by side with what users would run instead, in one run, on
one split, on one machine.

    python bench/run.py --quick                 # < 10 min on 2 CPU cores: penguins + diabetes, tiny budgets
    python bench/run.py --full                  # every set in data/ at autotune's defaults (20-40 min)
    python bench/run.py --full my.csv:price photos/   # plus your own CSVs (PATH:TARGET) and image folders
    python bench/run.py --suite                 # the development suite (bench/suite.py), 3 seeds a set: hours
    python bench/run.py --suite --sets penguins --seeds 2 --trials 1 --epochs 2   # a smoke test, minutes

Sections (`--sections`, all by default):
  accuracy  every data set × {autotune default, autotune --time-budget, HistGradientBoosting,
            LogisticRegression/RidgeCV on standardised one-hot features, AutoKeras and AutoGluon when installed}:
            accuracy and macro-F1 (RMSE and R² for regression), wall seconds, peak RSS
  search    a 20-trial random search: share of time outside model.fit, trials per minute, RSS per trial
  startup   `autotune --help`, and time to the first trial on a small CSV
  serving   SavedModel vs .keras batch prediction (rows/s, images/s), `autotune predict` on 100,000 rows

Every contender and measurement runs in a fresh process (`workers.py`, the `autotune` CLI,
`autokeras_worker.py`, `autogluon_worker.py`), so its wall time and peak RSS (from wait4) are its own.
Writes bench/results/<quick|full>.md and .json: the tables, the targets of issue 6 with their status, the
machine, the versions and every command that was run. AutoKeras is optional: `--autokeras-python
PATH` (or $AUTOKERAS_PYTHON, or an importable `autokeras`); so is AutoGluon (`--autogluon-python PATH`,
or $AUTOGLUON_PYTHON, or an importable `autogluon.tabular`; medium_quality with a time limit equal to the
autotune row's wall time); see bench/README.md for their virtualenvs.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import suite_bench  # noqa: E402  (bench/ is not a package)
from workers import load_split  # noqa: E402

TARGETS = {"breast_cancer": "target", "wine": "target", "penguins": "species", "diabetes": "progression",
           "reviews": "score"}
CONTENDERS = ("autotune", "autotune --time-budget", "HistGradientBoosting", "Logistic/Ridge", "AutoKeras")
# What each mode runs. "trials"/"epochs"/"patience" None: autotune's defaults (the default recipe).
MODES = {
    "quick": dict(sets=["penguins", "diabetes"], trials=3, epochs=20, patience=None, time_budget=45.0,
                  search_set="penguins", search_trials=20, search_epochs=5, first_trial_set="penguins",
                  predict_rows=100_000, images_per_class=20, predict_images=1000),
    "full": dict(sets=None, trials=None, epochs=None, patience=None, time_budget=60.0,
                 search_set="breast_cancer", search_trials=20, search_epochs=10, first_trial_set="penguins",
                 predict_rows=100_000, images_per_class=50, predict_images=2000),
}
MODES["suite"] = {**MODES["full"], "sets": None}  # the suite's sets (bench/suite.py), accuracy only
AUTOTUNE_DEFAULTS = dict(trials=12, epochs=60, patience=8)  # FitConfig's; AutoKeras gets the same budget
GOALS = {"rss_growth_mb": 100.0, "outside_fit_share": 0.10, "help_seconds": 0.5, "saved_model_rows_per_s": 50_000,
         "f1_margin": 0.01, "default_wall_s": 20.0, "import_ratio": 4.0, "startup_s": 0.5,
         "large_rows_per_s": 300_000, "large_rss_mb": 2048}


# --- running things ----------------------------------------------------------------------------

class Runner:
    """Runs commands in fresh processes, timing each and reading its peak RSS, and keeps the list."""

    def __init__(self, work: Path, verbose: bool = False):
        self.work, self.verbose = work, verbose
        self.commands: list[dict] = []
        (work / "logs").mkdir(parents=True, exist_ok=True)

    def run(self, command: list[str], label: str, timeout: float = 3600, env: dict | None = None,
            cwd: Path | None = None) -> dict:
        log = self.work / "logs" / f"{len(self.commands):02d}-{label.replace(' ', '_').replace('/', '_')}.log"
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
        if self.verbose:
            print(f"  $ {shell(command)}", file=sys.stderr, flush=True)
        measured = log.with_suffix(".measure.json")
        launcher = [sys.executable, "-S", str(BENCH / "measure.py"), str(measured)]
        with open(log, "w") as out:
            # Its own session, so that a timeout ends the launcher and the command it started together.
            process = subprocess.Popen([*launcher, *command], cwd=cwd or ROOT, stdout=out, stderr=subprocess.STDOUT,
                                       env=environment, start_new_session=True)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        figures = json.loads(measured.read_text()) if measured.exists() else \
            {"seconds": float(timeout), "peak_rss_mb": 0.0, "exit_code": process.returncode}
        seconds, code = figures["seconds"], figures["exit_code"]
        entry = {"label": label, "command": shell(command), "seconds": round(seconds, 3),
                 "peak_rss_mb": round(figures["peak_rss_mb"], 1), "exit_code": code}
        self.commands.append(entry)
        if code != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-15:]
            entry["error"] = "\n".join(tail)
            print(f"  ! {label} exited {code}; last lines of {log}:\n    " + "\n    ".join(tail), file=sys.stderr)
        return entry

    def worker(self, kind: str, spec: dict, label: str, timeout: float = 3600) -> tuple[dict, dict | None]:
        spec_path = self.work / f"{len(self.commands):02d}-{kind}.spec.json"
        result_path = spec_path.with_suffix("").with_suffix(".result.json")
        spec_path.write_text(json.dumps(spec, default=str))
        entry = self.run([sys.executable, str(BENCH / "workers.py"), kind, str(spec_path), str(result_path)], label,
                         timeout)
        result = json.loads(result_path.read_text()) if entry["exit_code"] == 0 and result_path.exists() else None
        return entry, result


def shell(command: list[str]) -> str:
    """A command as one copyable line, with paths inside the repository made relative to it."""
    def short(arg: str) -> str:
        if arg == sys.executable:
            return "python"
        if arg.startswith(str(ROOT) + os.sep):
            return os.path.relpath(arg, ROOT)
        return arg
    return " ".join(shlex.quote(short(str(a))) for a in command)


def autotune_command() -> list[str]:
    return [sys.executable, "-m", "autotune"]


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- the data sets -----------------------------------------------------------------------------

def datasets(names: list[str] | None, extra: list[str]) -> list[dict]:
    """data/ sets by name (all by default), then each extra CSV (PATH or PATH:TARGET) or image folder."""
    chosen = names if names is not None else sorted(p.stem for p in (ROOT / "data").glob("*.csv"))
    out = [{"name": n, "path": str(ROOT / "data" / f"{n}.csv"), "target": TARGETS.get(n), "in_data": True}
           for n in chosen]
    for item in extra:
        path, target = item, None
        if not Path(item).exists() and ":" in item:
            path, target = item.rsplit(":", 1)
        if not Path(path).exists():
            raise SystemExit(f"{path}: no such file or folder")
        out.append({"name": Path(path).stem or Path(path).name, "path": str(Path(path).resolve()), "target": target,
                    "in_data": False})
    return out


def _optional_python(option: str | None, variable: str, flag: str, probe: str) -> tuple[str | None, str]:
    """The first interpreter (the flag's, else $variable's, else this one) whose `probe` runs: (it, the probe's
    last line of output: the versions), or (None, why there is none). An optional contender runs in it."""
    if option == "none":
        return None, f"not run ({flag} none)"
    candidates = [option] if option else [p for p in (os.environ.get(variable), sys.executable) if p]
    for python in candidates:
        try:
            found = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        except OSError as exc:
            if option:
                return None, f"not installed ({python}: {exc.strerror})"
            continue
        if found.returncode == 0:
            return python, found.stdout.strip().splitlines()[-1]
        if option:
            last = (found.stderr.strip().splitlines() or ["import failed"])[-1]
            return None, f"not installed ({python}: {last})"
    return None, "not installed"


def autokeras_python(option: str | None) -> tuple[str | None, str]:
    """An interpreter that imports autokeras, and its versions (or why there is none)."""
    return _optional_python(option, "AUTOKERAS_PYTHON", "--autokeras-python",
                            "import autokeras, keras; print(f'autokeras {autokeras.__version__}, keras {keras.__version__}')")


def autogluon_python(option: str | None) -> tuple[str | None, str]:
    """An interpreter that imports autogluon.tabular, and its version (or why there is none)."""
    return _optional_python(option, "AUTOGLUON_PYTHON", "--autogluon-python",
                            "import autogluon.tabular; from importlib.metadata import version; "
                            "print(f'autogluon.tabular {version(\"autogluon.tabular\")}')")


# --- accuracy ----------------------------------------------------------------------------------

def _headline(task: str, metrics: dict) -> dict:
    if task == "classification":
        return {"accuracy": metrics.get("accuracy"), "f1_macro": metrics.get("f1_macro")}
    return {"rmse": metrics.get("rmse"), "r2": metrics.get("r2")}


def autotune_contender(runner: Runner, ds: dict, opts: argparse.Namespace, budget: bool, expected_test: int,
                       before: bool = False) -> dict:
    """autotune's default run (or with --time-budget) on one set; before=True: the same command run from the checkout
    of --before (a git worktree on PYTHONPATH), the 'before' of a change measured side by side in this run."""
    output = runner.work / "bundles" / f"{ds['name']}-{'budget' if budget else 'default'}{'-before' if before else ''}"
    command = [*autotune_command(), "fit", ds["path"], "-o", str(output), "--overwrite", "--no-baseline", "--quiet",
               "--seed", str(opts.seed)]
    if ds["target"]:
        command += ["--target", ds["target"]]
    for flag, value in (("--max-trials", opts.trials), ("--epochs", opts.epochs), ("--patience", opts.patience)):
        if value is not None:
            command += [flag, str(value)]
    if budget:
        command += ["--time-budget", f"{opts.time_budget:g}s"]
    name = "autotune --time-budget" if budget else "autotune"
    if before:
        name += f" @{opts.before}"
    # `python -m` puts its working directory first on sys.path: the before's run starts in its checkout
    entry = runner.run(command, f"{ds['name']} {name}", env={"PYTHONPATH": str(opts.before_checkout)} if before else None,
                       cwd=opts.before_checkout if before else None)
    row = {"contender": name, "command": entry["command"], "wall_s": entry["seconds"], "peak_rss_mb": entry["peak_rss_mb"]}
    if entry["exit_code"] != 0:
        return {**row, "status": f"failed (exit {entry['exit_code']})", "error": entry.get("error")}
    report = json.loads((output / "report.json").read_text())
    trials = report["search"]["trials"]
    settings = (f"{report['search']['tuner']}, {len(trials)}/{report['search']['max_trials']} trials × ≤"
                f"{report['search']['epochs']} epochs, scored on {report['search']['validation'].split(' over')[0]}, "
                f"ensemble of {len(report['final_model']['members'])}")
    if budget:
        settings = f"--time-budget {opts.time_budget:g}s: " + settings
    search = report["timings"].get("search") or 0.0
    fit = sum(t.get("fit_seconds") or 0 for t in trials)
    startups = [t["startup_seconds"] for t in trials if t.get("startup_seconds") is not None]
    overhead = {"search_s": search, "fit_s": round(fit, 3), "in_trials_s": round(sum(t.get("seconds") or 0 for t in trials), 3),
                "trials_per_minute": len(trials) / (search / 60) if search else None,
                "startup_s": statistics.median(startups) if startups else None,
                "outside_fit_share": 1 - fit / search if search else None, "timings": report["timings"]}
    return {**row, "status": "ok", **_headline(report["task"], report["test_metrics"]), "settings": settings,
            "trials": len(trials), "bundle": str(output), "same_split": report["split"]["test"] == expected_test,
            "tuner": report["search"]["tuner"], **overhead}


def sklearn_contender(runner: Runner, ds: dict, opts: argparse.Namespace, model: str) -> dict:
    name = "HistGradientBoosting" if model == "hgb" else "Logistic/Ridge"
    spec = {"data": ds["path"], "target": ds["target"], "seed": opts.seed, "test_size": opts.test_size, "model": model}
    entry, result = runner.worker("sklearn", spec, f"{ds['name']} {name}")
    row = {"contender": name, "command": entry["command"], "wall_s": entry["seconds"], "peak_rss_mb": entry["peak_rss_mb"]}
    if result is None:
        return {**row, "status": f"failed (exit {entry['exit_code']})", "error": entry.get("error")}
    classification = result["task"] == "classification"
    if ds.get("kind") == "image":
        settings = ("HistGradientBoostingClassifier" if model == "hgb" else "standardised LogisticRegression") + \
            " on 16×16 RGB pixels"
    elif model == "hgb":
        settings = f"HistGradientBoosting{'Classifier' if classification else 'Regressor'}, defaults " \
                   "(autotune's own baseline code; a text column as its TF-IDF's 128 leading directions)"
    else:
        settings = ("LogisticRegression(max_iter=5000)" if classification else "RidgeCV") + \
            " on median-imputed standardised numbers + one-hot categories + TF-IDF of text columns"
    return {**row, "status": "ok", **_headline(result["task"], result["metrics"]), "settings": settings,
            "fit_predict_s": round(result["fit_predict_seconds"], 3)}


def _split_arrays(loaded, path: Path) -> dict:
    """The split, as AutoKeras and AutoGluon take it: raw columns (strings for categories, NaN for missing
    numbers) or uint8 images at autotune's image size; class indices in autotune's label order."""
    import numpy as np
    import pandas as pd

    run, parts = loaded.run, loaded.parts
    train_x = pd.concat([parts.train, parts.validation])
    train_y = pd.concat([parts.y_train, parts.y_validation]).to_numpy()
    spec = {"task": run.task, "kind": run.kind}
    if run.kind == "image":
        from PIL import Image

        height, width = run.image_size

        def images(frame):
            return np.stack([np.asarray(Image.open(p).convert("RGB").resize((width, height), Image.BILINEAR), np.uint8)
                             for p in frame["path"]])

        x_train, x_test = images(train_x), images(parts.test)
    else:
        features = run.features
        categorical = any(f.kind in ("categorical", "text") for f in features)

        def table(frame):
            columns = []
            for f in features:
                values = frame[f.name]
                if f.kind == "categorical":
                    columns.append(values.astype(str).where(values.notna(), "missing").to_numpy(object))
                elif f.kind == "text":  # the raw text ("" missing): AutoGluon finds its words itself
                    columns.append(values.astype(str).where(values.notna(), "").to_numpy(object))
                else:
                    columns.append(pd.to_numeric(values, errors="coerce").to_numpy(np.float64))
            stacked = np.stack(columns, axis=1)
            return stacked.astype(object) if categorical else stacked.astype(np.float64)

        x_train, x_test = table(train_x), table(parts.test)
        spec["columns"] = [f.name for f in features]
        spec["column_types"] = {f.name: f.kind if f.kind in ("categorical", "text") else "numerical" for f in features}
    if run.task == "classification":
        index = {label: i for i, label in enumerate(run.labels)}
        train_y = np.array([index[v] for v in train_y], np.int64)
        spec["classes"] = len(run.labels)
    else:
        train_y = train_y.astype(np.float64)
    np.savez(path, x_train=x_train, y_train=train_y, x_test=x_test)
    return spec


def _external_worker(runner: Runner, python: str, script: str, base: Path, label: str, loaded,
                     row: dict) -> tuple[dict, dict | None, dict | None]:
    """Run an optional contender's worker (base/spec.json -> base/result.json, base/outputs.npy) in its own
    interpreter, whose virtualenv must not see this repository's packages, and score its test outputs with the
    functions every contender is scored with: (row, result, metrics), or (the failed row, None, None)."""
    import numpy as np

    from autotune.evaluate.metrics import evaluate

    entry = runner.run([python, str(BENCH / script), str(base / "spec.json"), str(base / "result.json")], label,
                       env={"PYTHONPATH": ""})
    row.update(command=entry["command"], wall_s=entry["seconds"], peak_rss_mb=entry["peak_rss_mb"])
    if entry["exit_code"] != 0:
        return {**row, "status": f"failed (exit {entry['exit_code']})", "error": entry.get("error")}, None, None
    result = json.loads((base / "result.json").read_text())
    outputs = np.load(base / "outputs.npy")
    return row, result, evaluate(loaded.run.task, loaded.parts.y_test.to_numpy(), outputs, loaded.run.labels)


def autokeras_contender(runner: Runner, ds: dict, opts: argparse.Namespace, loaded, python: str | None,
                        why: str) -> dict:
    row = {"contender": "AutoKeras"}
    if python is None:
        return {**row, "status": why}
    base = runner.work / f"autokeras-{ds['name']}"
    base.mkdir(parents=True, exist_ok=True)
    trials = opts.trials or AUTOTUNE_DEFAULTS["trials"]
    spec = {**_split_arrays(loaded, base / "data.npz"), "npz": str(base / "data.npz"),
            "outputs": str(base / "outputs.npy"), "directory": str(base / "search"), "max_trials": trials,
            "epochs": opts.epochs or AUTOTUNE_DEFAULTS["epochs"], "patience": opts.patience or AUTOTUNE_DEFAULTS["patience"],
            "seed": opts.seed}
    (base / "spec.json").write_text(json.dumps(spec))
    row, result, metrics = _external_worker(runner, python, "autokeras_worker.py", base, f"{ds['name']} AutoKeras",
                                            loaded, row)
    if result is None:
        return row
    kind = "ImageClassifier" if loaded.run.kind == "image" else \
        ("StructuredDataClassifier" if loaded.run.task == "classification" else "StructuredDataRegressor")
    settings = (f"{kind}, {result['trials']}/{trials} trials × ≤{spec['epochs']} epochs, early stopping "
                f"(patience {spec['patience']}), AutoKeras {result['autokeras']} / Keras {result['keras']}")
    return {**row, "status": "ok", **_headline(loaded.run.task, metrics), "settings": settings,
            "trials": result["trials"], "probabilities": result["probabilities"]}


AUTOGLUON_METRICS = {"accuracy": "accuracy", "f1_macro": "f1_macro", "rmse": "root_mean_squared_error"}


def autogluon_contender(runner: Runner, ds: dict, opts: argparse.Namespace, loaded, time_limit: float | None,
                        python: str | None, why: str) -> dict:
    """AutoGluon `TabularPredictor(presets="medium_quality")` on the split, with `time_limit` = the wall seconds
    of the autotune row of the same set and seed; tabular sets only. Scored like every other contender."""
    row = {"contender": "AutoGluon"}
    if python is None:
        return {**row, "status": why}
    if loaded.run.kind == "image":
        return {**row, "status": "tabular only"}
    if not time_limit:
        return {**row, "status": "not run (no autotune wall time to match)"}


    base = runner.work / f"autogluon-{ds['name']}"
    base.mkdir(parents=True, exist_ok=True)
    # The metric the set is judged by (suite_bench.headline): macro-F1 where the suite marks it imbalanced.
    metric = "rmse" if loaded.run.task == "regression" else \
        ("f1_macro" if "imbalanced" in ds.get("exercises", ()) else "accuracy")
    spec = {**_split_arrays(loaded, base / "data.npz"), "npz": str(base / "data.npz"),
            "outputs": str(base / "outputs.npy"), "directory": str(base / "models"), "time_limit": round(time_limit, 1),
            "eval_metric": AUTOGLUON_METRICS[metric], "seed": opts.seed}
    (base / "spec.json").write_text(json.dumps(spec))
    row, result, metrics = _external_worker(runner, python, "autogluon_worker.py", base, f"{ds['name']} AutoGluon",
                                            loaded, row)
    if not opts.keep:  # its models take hundreds of MB a run
        shutil.rmtree(base / "models", ignore_errors=True)
    if result is None:
        return row
    settings = (f"TabularPredictor(presets=\"{result['presets']}\", eval_metric=\"{result['eval_metric']}\"), "
                f"time_limit {result['time_limit']:g} s (autotune's wall), best {result['best_model']} of "
                f"{result['models']} models, fit {result['fit_seconds']:.0f} s, AutoGluon {result['autogluon']}")
    return {**row, "status": "ok", **_headline(loaded.run.task, metrics), "settings": settings,
            "time_limit_s": result["time_limit"], "fit_s": round(result["fit_seconds"], 3),
            "best_model": result["best_model"], "autogluon": result["autogluon"]}


def accuracy_section(runner: Runner, opts: argparse.Namespace, sets: list[dict], ak: tuple[str | None, str],
                     ag: tuple[str | None, str] = (None, "not run")) -> list[dict]:
    """Every set × contender on the split of --seed. AutoGluon's row only where an interpreter for it was found
    or asked for (its rows then say why not), so that the default tables keep CONTENDERS."""
    results = []
    for ds in sets:
        say(f"accuracy: {ds['name']}")
        loaded = load_split(ds["path"], ds["target"], opts.seed, opts.test_size)
        ds["kind"] = loaded.run.kind
        info = {"data": ds["name"], "path": shell([ds["path"]]), "in_data": ds["in_data"], "task": loaded.run.task,
                "kind": loaded.run.kind, "target": loaded.prof.target, "rows": loaded.rows,
                "train_rows": len(loaded.parts.train) + len(loaded.parts.validation), "test_rows": len(loaded.parts.test)}
        rows = [autotune_contender(runner, ds, opts, False, info["test_rows"]),
                *([autotune_contender(runner, ds, opts, False, info["test_rows"], before=True)] if opts.before else []),
                autotune_contender(runner, ds, opts, True, info["test_rows"]),
                sklearn_contender(runner, ds, opts, "hgb"), sklearn_contender(runner, ds, opts, "linear"),
                autokeras_contender(runner, ds, opts, loaded, *ak)]
        asked = opts.autogluon_python or os.environ.get("AUTOGLUON_PYTHON")
        if ag[0] is not None or asked not in (None, "", "none"):
            rows.append(autogluon_contender(runner, ds, opts, loaded, rows[0].get("wall_s"), *ag))
        for row in rows:
            say(f"  {row['contender']}: {row['status']} " + ", ".join(
                f"{k} {row[k]:.4f}" for k in ("accuracy", "f1_macro", "rmse", "r2", "wall_s") if row.get(k) is not None))
        results.append({**info, "contenders": rows})
    return results


# --- search efficiency -------------------------------------------------------------------------

def search_section(runner: Runner, opts: argparse.Namespace) -> dict:
    import numpy as np

    ds = datasets([opts.search_set], [])[0] if (ROOT / "data" / f"{opts.search_set}.csv").exists() else \
        datasets([], [opts.search_set])[0]
    say(f"search: {opts.search_trials}-trial random search on {ds['name']}")
    output = runner.work / "bundles" / "search"
    command = [*autotune_command(), "fit", ds["path"], "-o", str(output), "--overwrite", "--no-baseline", "--quiet",
               "--tuner", "random", "--max-trials", str(opts.search_trials), "--epochs", str(opts.search_epochs),
               "--seed", str(opts.seed)]
    if ds["target"]:
        command += ["--target", ds["target"]]
    entry = runner.run(command, "search")
    out = {"data": ds["name"], "command": entry["command"], "wall_s": entry["seconds"], "peak_rss_mb": entry["peak_rss_mb"]}
    if entry["exit_code"] != 0:
        return {**out, "status": f"failed (exit {entry['exit_code']})", "error": entry.get("error")}
    report = json.loads((output / "report.json").read_text())
    timings = report["timings"]
    trials = sorted(report["search"]["trials"], key=lambda t: t["trial"])  # in the order they ran
    fit = sum(t["fit_seconds"] or 0 for t in trials)
    in_trials = sum(t["seconds"] or 0 for t in trials)
    rss = [t["rss_mb"] for t in trials if t["rss_mb"] is not None]
    slope = float(np.polyfit(np.arange(len(rss)), rss, 1)[0]) if len(rss) > 2 else None
    search = timings["search"]
    return {
        **out, "status": "ok", "validation": report["search"]["validation"], "epochs": opts.search_epochs,
        "trials": len(trials), "completed": sum(t["score"] is not None for t in trials),
        "trials_per_minute": len(trials) / (search / 60), "search_s": search, "fit_s": fit, "in_trials_s": in_trials,
        # The target's measure: the search stage's wall time outside model.fit (tracing, building, datasets,
        # tuner bookkeeping and checkpoints between trials).
        "outside_fit_share": 1 - fit / search,
        "outside_fit_share_in_trials": 1 - fit / in_trials if in_trials else None,
        # The whole process, counting the final fit stage as fitting: imports, TensorFlow start-up, loading,
        # encoding, evaluation and export are the rest.
        "outside_fit_share_run": 1 - (fit + timings.get("final_fit", 0)) / entry["seconds"],
        "stages_s": {**timings, "process": entry["seconds"],
                     "imports_and_startup": round(entry["seconds"] - timings["total"], 3)},
        "rss_mb": rss, "rss_growth_mb": rss[-1] - rss[0] if rss else None,
        "rss_growth_after_first_mb": rss[-1] - rss[1] if len(rss) > 1 else None,
        "rss_slope_mb_per_trial": slope,
        "trial_seconds": [t["seconds"] for t in trials], "trial_fit_seconds": [t["fit_seconds"] for t in trials],
        "trial_epochs": [t["epochs"] for t in trials],
    }


# --- start-up ----------------------------------------------------------------------------------

def tensorflow_import(runner: Runner, repeat: int = 3) -> float:
    """Seconds for a fresh `python -c "import tensorflow"` (median of `repeat`): the yardstick of a default run's wall."""
    return statistics.median(runner.run([sys.executable, "-c", "import tensorflow"], f"import tensorflow {i + 1}")["seconds"]
                             for i in range(repeat))


def checkout(revision: str, where: Path) -> Path:
    """A detached git worktree of `revision` (the --before contender runs autotune from it)."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), revision], cwd=ROOT, check=True,
                   capture_output=True)
    return where


def git_describe(revision: str) -> dict:
    out = subprocess.run(["git", "log", "-1", "--format=%h", revision], cwd=ROOT, capture_output=True, text=True)
    return {"revision": revision, "commit": out.stdout.strip()}


def startup_section(runner: Runner, opts: argparse.Namespace) -> dict:
    say("startup: autotune --help, time to first trial")
    script = Path(sys.executable).with_name("autotune")
    command = [str(script)] if script.exists() else autotune_command()
    command = [*command, "--help"]
    runner.run(command, "help warm-up")
    times = [runner.run(command, f"help {i + 1}")["seconds"] for i in range(opts.help_repeat)]
    ds = datasets([opts.first_trial_set], [])[0]
    spec = {"data": ds["path"], "target": ds["target"], "epochs": opts.epochs or AUTOTUNE_DEFAULTS["epochs"],
            "launched": time.time()}
    entry, result = runner.worker("first_trial", spec, "first trial")
    out = {"help_command": shell(command), "help_seconds": statistics.median(times), "help_runs": times,
           "first_trial_command": entry["command"], "first_trial_data": ds["name"]}
    if result is None:
        return {**out, "first_trial": None, "error": entry.get("error")}
    return {**out, "first_trial": result}


# --- serving -----------------------------------------------------------------------------------

def make_digit_folder(root: Path, per_class: int) -> Path:
    """scikit-learn's bundled handwritten digits (real 8×8 scans, no download) as 32×32 PNG files,
    one folder per digit."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for digit in range(10):
        folder = root / f"digit_{digit}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, pixels in enumerate(digits.images[digits.target == digit][:per_class]):
            image = Image.fromarray((pixels * 255 / 16).astype(np.uint8), mode="L").resize((32, 32), Image.BILINEAR)
            image.save(folder / f"{i:03d}.png")
    return root


def serving_section(runner: Runner, opts: argparse.Namespace, accuracy: list[dict]) -> dict:
    import pandas as pd

    out: dict = {}
    # The tabular bundle: the default run's bundle of the first tabular classification set, else a tiny fit.
    bundle, source = None, None
    for ds in accuracy:
        row = ds["contenders"][0]
        if ds["kind"] == "tabular" and ds["task"] == "classification" and row.get("status") == "ok":
            bundle, source = Path(row["bundle"]), ROOT / ds["path"]  # absolute paths stay as they are
            out["tabular_bundle"] = f"{ds['data']}: the `autotune` contender's bundle ({row['settings']})"
            break
    if bundle is None:
        source = ROOT / "data" / "penguins.csv"
        bundle = runner.work / "bundles" / "serving-tabular"
        entry = runner.run([*autotune_command(), "fit", str(source), "--target", "species", "-o", str(bundle),
                            "--overwrite", "--quiet", "--no-baseline", "--tuner", "random", "--max-trials", "2",
                            "--epochs", "5"], "serving tabular fit")
        out["tabular_bundle"] = f"penguins: {entry['command']}"
    say(f"serving: tabular bundle, {opts.predict_rows:,} rows")
    frame = pd.read_csv(source)
    big = frame.sample(opts.predict_rows, replace=True, random_state=0).reset_index(drop=True)
    csv = runner.work / "predict.csv"
    big.to_csv(csv, index=False)
    entry, result = runner.worker("serving_tabular", {"bundle": str(bundle), "csv": str(csv)}, "serving tabular")
    out["tabular"] = result if result is not None else {"error": entry.get("error")}
    entry = runner.run([*autotune_command(), "predict", str(bundle), str(csv), "-o", str(runner.work / "predictions.csv")],
                       "autotune predict 100k")
    out["cli_predict"] = {"command": entry["command"], "rows": opts.predict_rows, "seconds": entry["seconds"],
                          "rows_per_s": opts.predict_rows / entry["seconds"], "peak_rss_mb": entry["peak_rss_mb"],
                          "exit_code": entry["exit_code"]}
    if opts.images_per_class:
        say("serving: image bundle")
        folder = make_digit_folder(runner.work / "digits", opts.images_per_class)
        bundle = runner.work / "bundles" / "serving-images"
        entry = runner.run([*autotune_command(), "fit", str(folder), "-o", str(bundle), "--overwrite", "--quiet",
                            "--tuner", "random", "--max-trials", "1", "--epochs", "2"], "serving image fit")
        out["image_bundle"] = f"digits ({10 * opts.images_per_class} PNG files, 32×32): {entry['command']}"
        if entry["exit_code"] == 0:
            entry, result = runner.worker("serving_images", {"bundle": str(bundle), "folder": str(folder),
                                                             "images": opts.predict_images}, "serving images")
            out["images"] = result if result is not None else {"error": entry.get("error")}
            files = 10 * opts.images_per_class
            entry = runner.run([*autotune_command(), "predict", str(bundle), str(folder), "-o",
                                str(runner.work / "image_predictions.csv")], "autotune predict images")
            out["cli_predict_images"] = {"command": entry["command"], "images": files, "seconds": entry["seconds"],
                                         "images_per_s": files / entry["seconds"], "peak_rss_mb": entry["peak_rss_mb"],
                                         "exit_code": entry["exit_code"]}
    return out


# --- targets -----------------------------------------------------------------------------------

def targets(results: dict) -> list[dict]:
    """Issue 6's targets, each with its measured value and status."""
    out = []

    def add(name, goal, value, met, gap, unit=""):
        status = "not measured" if value is None else ("met" if met else f"missed by {gap}{unit}")
        out.append({"target": name, "goal": goal, "value": value, "status": status})

    search = results.get("search") or {}
    if search.get("status") == "ok":
        growth = search["rss_growth_mb"]
        add(f"RSS growth over a {search['trials']}-trial search", f"< {GOALS['rss_growth_mb']:.0f} MB",
            f"{growth:+.1f} MB (first → last trial)", growth < GOALS["rss_growth_mb"],
            f"{growth - GOALS['rss_growth_mb']:.1f}", " MB")
        share = search["outside_fit_share"]
        add("time outside model.fit during the search", f"< {GOALS['outside_fit_share']:.0%}", f"{share:.1%}",
            share < GOALS["outside_fit_share"], f"{(share - GOALS['outside_fit_share']) * 100:.1f}", " points")
    startup = results.get("startup") or {}
    if startup:
        value = startup["help_seconds"]
        add("`autotune --help`", f"< {GOALS['help_seconds']} s", f"{value:.3f} s", value < GOALS["help_seconds"],
            f"{value - GOALS['help_seconds']:.3f}", " s")
    tabular = (results.get("serving") or {}).get("tabular") or {}
    if "saved_model_rows_per_s" in tabular:
        value = tabular["saved_model_rows_per_s"]
        add("SavedModel batch prediction, tabular bundle", f"≥ {GOALS['saved_model_rows_per_s']:,} rows/s",
            f"{value:,.0f} rows/s", value >= GOALS["saved_model_rows_per_s"],
            f"{GOALS['saved_model_rows_per_s'] - value:,.0f}", " rows/s")
    tf_import = results.get("tensorflow_import_s")
    for ds in results.get("accuracy") or []:
        ours = next((c for c in ds["contenders"] if c["contender"] == "autotune"), {})
        if not ds["in_data"] or ours.get("status") != "ok":
            continue
        wall = ours["wall_s"]
        add(f"{ds['data']}: default run's wall time (issue 18)", f"≤ {GOALS['default_wall_s']:.0f} s", f"{wall:.1f} s",
            wall <= GOALS["default_wall_s"], f"{wall - GOALS['default_wall_s']:.1f}", " s")
        if tf_import:
            ratio = wall / tf_import
            add(f"{ds['data']}: default run's wall ÷ `import tensorflow` (issue 18)", f"≤ {GOALS['import_ratio']:.0f}×",
                f"{ratio:.1f}×", ratio <= GOALS["import_ratio"], f"{ratio - GOALS['import_ratio']:.1f}", "×")
        if ours.get("startup_s") is not None:
            add(f"{ds['data']}: per-trial start-up, median (issue 18)", f"≤ {GOALS['startup_s']} s",
                f"{ours['startup_s']:.2f} s", ours["startup_s"] <= GOALS["startup_s"],
                f"{ours['startup_s'] - GOALS['startup_s']:.2f}", " s")
    for ds in results.get("accuracy") or []:
        if ds["task"] != "classification" or not ds["in_data"]:
            continue
        by = {c["contender"]: c for c in ds["contenders"]}
        ours = by["autotune"]
        if ours.get("status") != "ok":
            add(f"{ds['data']}: macro-F1 vs the better scikit-learn baseline", "≥ best − 0.01", None, False, "")
            continue
        baselines = [by[n]["f1_macro"] for n in ("HistGradientBoosting", "Logistic/Ridge") if by[n].get("status") == "ok"]
        if baselines:
            best = max(baselines)
            gap = best - GOALS["f1_margin"] - ours["f1_macro"]
            add(f"{ds['data']}: macro-F1 vs the better scikit-learn baseline", f"≥ {best:.4f} − 0.01",
                f"{ours['f1_macro']:.4f} (best baseline {best:.4f})", gap <= 1e-12, f"{gap:.4f}")
        ak = by["AutoKeras"]
        if ak.get("status") == "ok":
            better = ours["f1_macro"] > ak["f1_macro"]
            faster = ours["wall_s"] <= ak["wall_s"]
            why = []
            if ours["f1_macro"] == ak["f1_macro"]:
                why.append("macro-F1 tied")
            elif not better:
                why.append(f"macro-F1 {ak['f1_macro'] - ours['f1_macro']:.4f} below")
            if not faster:
                why.append(f"{ours['wall_s'] - ak['wall_s']:.1f} s slower")
            out.append({"target": f"{ds['data']}: macro-F1 above AutoKeras at the same or lower wall time",
                        "goal": "F1 > AutoKeras, wall ≤ AutoKeras",
                        "value": f"F1 {ours['f1_macro']:.4f} vs {ak['f1_macro']:.4f}; {ours['wall_s']:.0f} s vs "
                                 f"{ak['wall_s']:.0f} s", "status": "met" if better and faster else "missed: " + ", ".join(why)})
        else:
            out.append({"target": f"{ds['data']}: macro-F1 above AutoKeras at the same or lower wall time",
                        "goal": "F1 > AutoKeras, wall ≤ AutoKeras", "value": None,
                        "status": f"not measured: AutoKeras {ak.get('status')}"})
    out += recorded_targets(BENCH / "results" / "large.json")
    return out


def recorded_targets(large_json: Path) -> list[dict]:
    """Issue 18's targets that need a run of their own, from the file it committed (bench/large.py, from a clean tree:
    its commit is named), and the 4,000 digits, which no harness here runs (bench/README's image sections)."""
    out = []
    try:
        large = json.loads(large_json.read_text())
    except (OSError, ValueError):
        large = None
    where = f" (bench/large.py at {large['git']['commit']}, results/large.json)" if large else ""
    rate = large.get("final_fit_rows_per_second") if large else None
    out.append({"target": f"1,000,000 rows × 50 columns: final fit, rows·epochs/s over every network{where}",
                "goal": f"≥ {GOALS['large_rows_per_s']:,}", "value": None if rate is None else f"{rate:,}",
                "status": "not measured" if rate is None else
                ("met" if rate >= GOALS["large_rows_per_s"] else f"missed by {GOALS['large_rows_per_s'] - rate:,}")})
    rss = large.get("peak_rss_mb") if large else None
    out.append({"target": f"1,000,000 rows × 50 columns: peak RSS of the fit{where}", "goal": f"≤ {GOALS['large_rss_mb']} MB",
                "value": None if rss is None else f"{rss} MB", "status": "not measured" if rss is None else
                ("met" if rss <= GOALS["large_rss_mb"] else f"missed by {rss - GOALS['large_rss_mb']} MB")})
    out.append(digits_target(large_json.with_name("digits.json")))
    return out


def digits_target(digits_json: Path) -> dict:
    """The 4,000 digits from the file bench/digits.py committed (its commit named): the default run's wall over its
    seeds and their test accuracy."""
    try:
        digits = json.loads(digits_json.read_text())
    except (OSError, ValueError):
        return {"target": "4,000 28×28 digits (the suite's mnist_5k): the default run's wall", "goal": "≤ 300 s at ≥ 0.98",
                "value": None, "status": "not measured: run bench/digits.py"}
    s, cpu = digits["summary"], digits["machine"]["cpu"]
    return {"target": f"4,000 28×28 digits (the suite's mnist_5k): the default run's wall, {len(digits['runs'])} seeds "
                      f"(bench/digits.py at {digits['git']['commit']}, results/digits.json; AVX512-BF16 "
                      f"{'yes' if cpu['avx512_bf16'] else 'no'})",
            "goal": f"≤ {digits['goal']['seconds']:.0f} s at ≥ {digits['goal']['accuracy']}",
            "value": f"mean {s['mean_wall_seconds']} s ({s['min_wall_seconds']}–{s['max_wall_seconds']}) at "
                     f"{s['min_accuracy']:.4f}–{s['max_accuracy']:.4f}", "status": digits["status"]}


# --- output ------------------------------------------------------------------------------------

def machine() -> dict:
    info = {"os": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu_model": platform.processor() or platform.machine(), "ram_gb": None}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("autotune", "tensorflow", "keras", "keras-tuner", "scikit-learn", "numpy", "pandas"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def git() -> dict:
    def ask(*args):
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip() if done.returncode == 0 else None

    changed = ask("status", "--porcelain")
    return {"commit": ask("rev-parse", "--short", "HEAD"),
            "uncommitted_files": None if changed is None else len(changed.splitlines())}


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(results: dict) -> str:
    m, v = results["machine"], results["versions"]
    lines = [f"# autotune benchmark — `--{results['mode']}`", "",
             f"`{results['command']}` — {results['started']}, {results['wall_s'] / 60:.1f} min in all "
             f"(git {results['git']['commit']}, "
             + (f"{results['git']['uncommitted_files']} uncommitted file(s))." if results['git']['uncommitted_files']
                else "clean tree)."), "",
             f"Machine: {m['cpu_model']}, {m['usable_cpus']} usable CPU cores, {m['ram_gb']} GB RAM, {m['os']}; "
             f"load average {results['load_average']['start']} at the start, {results['load_average']['end']} at the end "
             "(the machine may be shared: compare figures within this run, not across runs).", "",
             "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) +
             f"; AutoKeras: {results['autokeras']}; AutoGluon: {results.get('autogluon', 'not run')}.", ""]
    if results.get("before"):
        b = results["before"]
        lines += [f"`autotune @{b['revision']}`: the same default command run from commit {b['commit']} (a git worktree, "
                  "as its working directory), in this run beside the rows of the current tree: the before and after "
                  "of a change.", ""]
    if results.get("suite_summary"):
        lines += suite_bench.section(results)
    accuracy = results.get("accuracy")
    if accuracy:
        lines += ["## Accuracy", "",
                  f"Same stratified split for every contender (test {results['settings']['test_size']:.0%}, seed "
                  f"{results['settings']['seed']}); each contender in a fresh process: wall = the whole process "
                  "(imports included), peak RSS from wait4.", ""]
        for task, metric_names in (("classification", ("accuracy", "macro-F1")), ("regression", ("RMSE", "R²"))):
            sets = [d for d in accuracy if d["task"] == task]
            if not sets:
                continue
            keys = ("accuracy", "f1_macro") if task == "classification" else ("rmse", "r2")
            lines += [f"| data ({task}) | contender | {metric_names[0]} | {metric_names[1]} | wall s | peak RSS MB | settings |",
                      "|---|---|---|---|---|---|---|"]
            for d in sets:
                size = f"{d['rows']} {'images' if d['kind'] == 'image' else 'rows'}"
                for c in d["contenders"]:
                    if c.get("status") == "ok":
                        lines.append(f"| {d['data']} ({size}) | {c['contender']} | {fmt(c[keys[0]])} | "
                                     f"{fmt(c[keys[1]])} | {c['wall_s']:.1f} | {c['peak_rss_mb']:.0f} | {c['settings']} |")
                    else:
                        lines.append(f"| {d['data']} ({size}) | {c['contender']} | — | — | "
                                     f"{fmt(c.get('wall_s'), 1)} | — | {c['status']} |")
            lines.append("")
        runs = [(d["data"], c) for d in accuracy for c in d["contenders"]
                if c["contender"].startswith("autotune") and c.get("status") == "ok" and c.get("search_s")]
        if runs:
            tf_import = results.get("tensorflow_import_s")
            lines += ["Where the autotune runs' time went (from each bundle's report.json; the gap between the trials "
                      "is the tuner's own work: the Bayesian oracle's Gaussian process, building each trial's first "
                      "model, bookkeeping; start-up: a trial's time before its first epoch ends less one epoch — "
                      "building and tracing; training: in `model.fit`, or with the folds side by side, their "
                      "training loop"
                      + (f"; × import: the run's wall time over `python -c \"import tensorflow\"`, "
                         f"{tf_import:.2f} s in this run (median of 3)" if tf_import else "") + "):", "",
                      "| data | contender | wall s | × import | trials | trials/min | start-up per trial s (median) "
                      "| search s | training s | in the trials s | outside training |",
                      "|---|---|---|---|---|---|---|---|---|---|---|"]
            lines += [f"| {name} | {c['contender']} | {c['wall_s']:.1f} | "
                      f"{fmt(c['wall_s'] / tf_import if tf_import else None, 1)} | {c['trials']} | "
                      f"{fmt(c.get('trials_per_minute'), 1)} | {fmt(c.get('startup_s'), 2)} | {c['search_s']:.1f} | "
                      f"{c['fit_s']:.1f} | {c['in_trials_s']:.1f} | {c['outside_fit_share']:.1%} |" for name, c in runs]
            lines.append("")
    search = results.get("search")
    if search:
        lines += ["## Search efficiency", ""]
        if search.get("status") == "ok":
            stages = search["stages_s"]
            rss = search["rss_mb"]
            lines += [f"`{search['command']}` ({search['validation']}).", "",
                      "| measure | value |", "|---|---|",
                      f"| trials completed | {search['completed']}/{search['trials']} |",
                      f"| trials per minute (search stage) | {search['trials_per_minute']:.1f} |",
                      f"| search stage | {search['search_s']:.1f} s, of which inside model.fit {search['fit_s']:.1f} s |",
                      f"| **outside model.fit, share of the search stage** | **{search['outside_fit_share']:.1%}** |",
                      "| outside model.fit, share of the trials' own time | "
                      f"{fmt(search['outside_fit_share_in_trials'] * 100, 1)} % |",
                      f"| outside fitting, share of the whole process (final fit counted as fitting) | "
                      f"{search['outside_fit_share_run']:.1%} |",
                      "| stages (s) | " + ", ".join(f"{k} {val:.1f}" for k, val in stages.items()) + " |",
                      f"| RSS after trial 1 → {len(rss)} | {rss[0]:.0f} → {rss[-1]:.0f} MB "
                      f"(growth {search['rss_growth_mb']:+.1f} MB; from trial 2 {search['rss_growth_after_first_mb']:+.1f} MB; "
                      f"slope {fmt(search['rss_slope_mb_per_trial'], 2)} MB/trial) |",
                      "| RSS per trial (MB) | " + " ".join(f"{r:.0f}" for r in rss) + " |",
                      f"| peak RSS of the process | {search['peak_rss_mb']:.0f} MB |", ""]
        else:
            lines += [f"{search['status']}: `{search['command']}`", ""]
    startup = results.get("startup")
    if startup:
        lines += ["## Start-up", "", "| measure | value |", "|---|---|",
                  f"| `{startup['help_command']}` (median of {len(startup['help_runs'])}) | {startup['help_seconds']:.3f} s |"]
        first = startup.get("first_trial")
        if first:
            lines += [f"| fresh process → `fit` imported | {first['autotune_imported_s']:.2f} s |",
                      f"| fresh process → first trial starts ({startup['first_trial_data']}: TensorFlow, load, "
                      f"encode, the tuner's set-up) | {first['first_trial_start_s']:.2f} s |",
                      f"| fresh process → first trial ends | {first['first_trial_end_s']:.2f} s "
                      f"(the trial: {first['trial_seconds']:.2f} s) |"]
        lines.append("")
    serving = results.get("serving")
    if serving:
        t = serving.get("tabular") or {}
        lines += ["## Serving", "", f"Tabular bundle: {serving.get('tabular_bundle')}.", "",
                  "| measure | value |", "|---|---|"]
        if "saved_model_rows_per_s" in t:
            lines += [f"| SavedModel signature, {t['batch']:,}-row batches | {t['saved_model_rows_per_s']:,.0f} rows/s |",
                      f"| .keras model called directly, {t['batch']:,}-row batches | {t['keras_call_rows_per_s']:,.0f} rows/s |",
                      f"| .keras `model.predict` over tf.data (4,096-row batches) | {t['keras_predict_rows_per_s']:,.0f} rows/s |",
                      f"| SavedModel / .keras call · / .keras predict | {t['saved_model_vs_keras_call']:.2f}× · "
                      f"{t['saved_model_vs_keras_predict']:.2f}× |",
                      f"| `bundle.predict` (pandas → raw columns → SavedModel) | {t['bundle_predict_rows_per_s']:,.0f} rows/s |"]
        cli = serving.get("cli_predict") or {}
        if cli:
            lines.append(f"| `autotune predict` on {cli['rows']:,} rows, end to end | {cli['seconds']:.1f} s "
                         f"({cli['rows_per_s']:,.0f} rows/s, peak RSS {cli['peak_rss_mb']:.0f} MB) |")
        images = serving.get("images") or {}
        if "saved_model_images_per_s" in images:
            lines += [f"| images: SavedModel signature on encoded PNG bytes, {images['batch']}-image batches | "
                      f"{images['saved_model_images_per_s']:,.0f} images/s |",
                      "| images: .keras `model.predict` on decoded arrays | "
                      f"{images['keras_predict_arrays_images_per_s']:,.0f} images/s |",
                      "| images: `predict_files` (tf.data decode + .keras) | "
                      f"{images['keras_predict_files_images_per_s']:,.0f} images/s |"]
        cli = serving.get("cli_predict_images") or {}
        if cli:
            lines.append(f"| images: `autotune predict` on {cli['images']} files, end to end | {cli['seconds']:.1f} s "
                         f"({cli['images_per_s']:,.0f} images/s) |")
        if serving.get("image_bundle"):
            lines += ["", f"Image bundle: {serving['image_bundle']}."]
        lines.append("")
    if results.get("targets"):
        lines += ["## Targets (issues 6 and 18)", "", "| target | goal | measured | status |", "|---|---|---|---|"]
        lines += [f"| {t['target']} | {t['goal']} | {fmt(t['value'])} | {t['status']} |" for t in results["targets"]]
        lines.append("")
    lines += ["## Commands", "", "Every process the harness started, in order (wall s, peak RSS MB):", "", "```"]
    lines += [f"{c['command']}    # {c['seconds']:.1f} s, {c['peak_rss_mb']:.0f} MB" +
              ("" if c["exit_code"] == 0 else f", exit {c['exit_code']}") for c in results["commands"]]
    lines += ["```", ""]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--render", type=Path, metavar="RESULTS.json",
                      help="only rewrite the .md beside a results .json (after a change to the tables)")
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode", help="< 10 min: small sets, tiny budgets")
    mode.add_argument("--full", action="store_const", const="full", dest="mode", help="every data/ set at the defaults")
    mode.add_argument("--suite", action="store_const", const="suite", dest="mode",
                      help="the accuracy section over the development suite (bench/suite.py), --seeds seeds a set")
    parser.add_argument("extra", nargs="*", help="more data: CSV (PATH or PATH:TARGET) or image folder")
    parser.add_argument("--sets", help="comma-separated data/ sets (--suite: the suite's) instead of the mode's "
                        "('' for none)")
    parser.add_argument("--sections", default="accuracy,search,startup,serving")
    parser.add_argument("--trials", type=int, help="autotune --max-trials (and AutoKeras max_trials)")
    parser.add_argument("--epochs", type=int, help="autotune --epochs (and AutoKeras epochs)")
    parser.add_argument("--patience", type=int)
    parser.add_argument("--time-budget", type=float, help="seconds, for the `autotune --time-budget` contender")
    parser.add_argument("--search-set", help="data/ set (or CSV) of the search-efficiency run")
    parser.add_argument("--search-trials", type=int)
    parser.add_argument("--search-epochs", type=int)
    parser.add_argument("--first-trial-set")
    parser.add_argument("--predict-rows", type=int)
    parser.add_argument("--images-per-class", type=int, help="digit images per class for image serving (0: skip)")
    parser.add_argument("--predict-images", type=int)
    parser.add_argument("--help-repeat", type=int, default=5)
    parser.add_argument("--before", metavar="REV",
                        help="also run the default autotune from this git revision (a worktree), side by side")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3, help="--suite: seeds (splits and autotune --seed) per set")
    parser.add_argument("--suite-cache", type=Path, help="--suite: the suite's cache (default: bench/suite.py's)")
    parser.add_argument("--journal", type=Path, metavar="PATH.jsonl",
                        help="--suite: append each finished set here, and take the sets it already holds (same "
                        "committed product, seeds, split and contenders) instead of running them again: a suite run "
                        "split over several sittings")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--autokeras-python", help="interpreter with autokeras installed; 'none' to skip AutoKeras")
    parser.add_argument("--autogluon-python",
                        help="interpreter with autogluon.tabular installed (else $AUTOGLUON_PYTHON); 'none' to skip "
                        "AutoGluon")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="where the .md and .json go")
    parser.add_argument("--name", help="file name stem (default: the mode)")
    parser.add_argument("--keep", type=Path, help="keep bundles and logs in this folder (default: a temp folder, removed)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every command")
    opts = parser.parse_args(argv)
    if opts.render:
        return opts
    for key, value in MODES[opts.mode].items():
        if getattr(opts, key, None) is None and key != "sets":
            setattr(opts, key, value)
    opts.set_names = ([s for s in opts.sets.split(",") if s] if opts.sets is not None else MODES[opts.mode]["sets"])
    if opts.mode == "suite" and opts.extra:
        parser.error("--suite runs the suite's sets; name some with --sets, or add your data with --full")
    return opts


def run_suite(runner: Runner, opts: argparse.Namespace, results: dict, ak: tuple[str | None, str],
              ag: tuple[str | None, str] = (None, "not run")) -> None:
    import suite

    results["settings"]["seeds"] = opts.seeds
    results["suite_cache"] = str(opts.suite_cache or suite.default_cache())
    sets, results["suite_missing"] = suite_bench.suite_datasets(opts.set_names, opts.suite_cache, say)
    contenders = {"autotune": autotune_contender, "sklearn": sklearn_contender, "autokeras": autokeras_contender,
                  "autogluon": autogluon_contender}
    journal = None
    if opts.journal:
        product, key = suite_bench.product_fingerprint(ROOT), suite_bench.journal_key(opts, ak, ag)
        journal = {"path": opts.journal, "product": product, "key": key, "commit": results["git"]["commit"],
                   "started": results["started"], "done": suite_bench.read_journal(opts.journal, product, key)}
        results["journal"] = {"path": str(opts.journal), "product": product}
        if product is None:
            say(f"suite: the product files have uncommitted changes: nothing is written to {opts.journal}")
    results["suite"] = suite_bench.suite_section(runner, opts, sets, ak, contenders, load_split, say, ag=ag,
                                                 journal=journal)
    results["suite_summary"] = suite_bench.summarise(results["suite"])


def render(path: Path) -> dict:
    results = json.loads(path.read_text())
    results["targets"] = targets(results)
    if results.get("suite"):
        results["suite_summary"] = suite_bench.summarise(results["suite"])
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    path.with_suffix(".md").write_text(markdown(results))
    return results


def main(argv: list[str] | None = None) -> dict:
    opts = parse(argv)
    if opts.render:
        return render(opts.render)
    started, wall = datetime.now(UTC), time.perf_counter()
    sections = {s.strip() for s in opts.sections.split(",") if s.strip()}
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    work = Path(opts.keep) if opts.keep else Path(tempfile.mkdtemp(prefix="autotune-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runner = Runner(work, opts.verbose)
    shown = shell([sys.executable, str(BENCH / "run.py"), *(argv if argv is not None else sys.argv[1:])])
    results: dict = {"mode": opts.mode, "command": shown, "started": started.isoformat(timespec="seconds"),
                     "machine": machine(), "versions": versions(), "git": git(),
                     "settings": {k: getattr(opts, k) for k in (*MODES["quick"], "seed", "test_size") if k != "sets"}}
    results["settings"]["sets"] = opts.set_names
    try:
        ak = autokeras_python(opts.autokeras_python) if "accuracy" in sections else (None, "not run")
        ag = autogluon_python(opts.autogluon_python) if "accuracy" in sections else (None, "not run")
        results["autokeras"], results["autogluon"] = ak[1], ag[1]
        if opts.mode == "suite":
            try:
                run_suite(runner, opts, results, ak, ag)
            except suite_bench.JournalError as error:
                sys.exit(f"bench/run.py: {error}")
            sections = set()
        if "accuracy" in sections:
            results["tensorflow_import_s"] = tensorflow_import(runner)
            if opts.before:
                opts.before_checkout = checkout(opts.before, work / "before")
                results["before"] = git_describe(opts.before)
            results["accuracy"] = accuracy_section(runner, opts, datasets(opts.set_names, opts.extra), ak, ag)
        if "search" in sections:
            results["search"] = search_section(runner, opts)
        if "startup" in sections:
            results["startup"] = startup_section(runner, opts)
        if "serving" in sections:
            results["serving"] = serving_section(runner, opts, results.get("accuracy") or [])
    finally:
        if getattr(opts, "before_checkout", None):
            subprocess.run(["git", "worktree", "remove", "--force", str(opts.before_checkout)], cwd=ROOT,
                           capture_output=True)
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["targets"] = targets(results)
    results["commands"] = runner.commands
    results["wall_s"] = time.perf_counter() - wall
    load_end = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["load_average"] = {"start": [round(x, 2) for x in load_start] if load_start else None,
                               "end": [round(x, 2) for x in load_end] if load_end else None}
    opts.out.mkdir(parents=True, exist_ok=True)
    stem = opts.name or opts.mode
    (opts.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    (opts.out / f"{stem}.md").write_text(text)
    print(text)
    say(f"done in {results['wall_s'] / 60:.1f} min: {opts.out / (stem + '.md')}")
    return results


if __name__ == "__main__":
    main()
