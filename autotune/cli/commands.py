"""The command line: a thin Click layer over the Python API.

Only click and the light modules are imported at start-up; TensorFlow is imported by the command
that needs it, after the arguments and the input file have been checked.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path

import click

from autotune import __version__
from autotune.config import AUGMENTATIONS, BACKBONES, BALANCE, DEVICES, METRICS, PRECISIONS, ROLES, SELECT_FEATURES, TUNERS
from autotune.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, AutotuneError


def _append(log_file: Path | None, text: str) -> bool:
    """Add `text` to the --log-file; False where there is none or it cannot be written (a full disk: the
    caller has the message on stderr, or another place for it)."""
    if log_file is None:
        return False
    try:
        with open(log_file, "a", encoding="utf-8") as log:
            log.write(text)
        return True
    except OSError:
        return False


def _fail(message: str, code: int, as_json: bool = False, log_file: Path | None = None) -> None:
    click.echo(f"error: {message}", err=True)
    _append(log_file, f"{datetime.now():%Y-%m-%d %H:%M:%S} error: {message}\n")
    if as_json:  # a script reading stdout gets a document even when the run fails
        click.echo(json.dumps({"status": "error", "exit_code": code, "error": message}))
    sys.exit(code)


def _traceback_file(log_file: Path | None) -> Path:
    """Where an internal error's traceback goes: the --log-file, else a new file in the temp directory."""
    text = f"{datetime.now():%Y-%m-%d %H:%M:%S} internal error\n{traceback.format_exc()}"
    if _append(log_file, text):
        return Path(log_file)
    import tempfile

    handle, name = tempfile.mkstemp(prefix="autotune-error-", suffix=".log")
    with os.fdopen(handle, "w", encoding="utf-8") as log:
        log.write(text)
    return Path(name)


def _run(action, verbose: bool, reporter=None, as_json: bool = False, log_file: Path | None = None,
         written: list[Path] | None = None):
    """Run a command body, turning every failure into one line on stderr and an exit code. `written`: the
    files the body has put in place so far (each whole: see export.atomic_write), for an interruption."""
    try:
        return action()
    except AutotuneError as exc:
        _fail(exc.message, exc.exit_code, as_json, log_file)
    except KeyboardInterrupt:
        done = f"wrote only {', '.join(map(str, written))}" if written else "nothing was written"
        _fail(f"interrupted; {done}", EXIT_INTERRUPTED, as_json, log_file)
    except BrokenPipeError:  # `autotune predict … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - the edge of the program: never a bare traceback
        if verbose:
            traceback.print_exc()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        where = _traceback_file(log_file)
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", []))  # e.g. how to resume the run
        _fail(f"internal error: {type(exc).__name__}: {detail} (traceback in {where}){notes}", EXIT_INTERNAL, as_json)
    finally:
        if reporter is not None:
            reporter.close()


class OutputPath(click.Path):
    """A file (or, with folder=True, a folder) that autotune writes outside a bundle. Every command
    checks its OutputPath options with _check_outputs before any work, so a new one is checked too."""

    def __init__(self, what: str, folder: bool = False, append: bool = False):
        super().__init__(path_type=Path)  # no refusal of Click's own: _check_outputs says it in one line
        self.what, self.folder, self.append = what, folder, append


def _unwritable(path: Path, folder: bool, append: bool) -> str | None:
    """Why `path` cannot be written, or None: tried as the write will be, with a file created and removed."""
    import tempfile

    path = Path(os.path.realpath(path))  # a link is written through, as export.atomic_write does
    if path.is_dir() and not folder:
        return "it is a directory"
    if path.exists() and folder and not path.is_dir():
        return "it is not a directory"
    if path.exists() and not path.is_file() and not path.is_dir() or append and path.is_file():
        # a device or a pipe (/dev/null, /dev/stdout), or the log, appended to: written in place
        try:
            open(path, "a", encoding="utf-8").close()
        except OSError as exc:
            return exc.strerror or str(exc)
        return None
    parent = path if folder and path.is_dir() else path.parent
    if folder:  # a folder is made where it is missing: the nearest that exists must take it
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.exists():
        return f"{parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    try:
        handle, name = tempfile.mkstemp(prefix=".autotune-probe-", dir=parent)
    except OSError as exc:
        return f"{parent}: {exc.strerror or exc}"
    os.close(handle)
    os.unlink(name)
    return None


def _check_outputs(ctx: click.Context, as_json: bool = False) -> None:
    """Refuse every OutputPath option that cannot be written before any work: a fit must not search for an
    hour and then fail on its --log-file."""
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param.type, OutputPath) and value is not None:
            problem = _unwritable(Path(value), param.type.folder, param.type.append)
            if problem:
                flag = max(param.opts, key=len)  # --output, not -o: the words a person looks up in --help
                _fail(f"{value}: cannot write {param.type.what} ({problem}); choose another {flag}", 2, as_json)


class _LogFile:
    """The --log-file, appended to line by line: a write that fails (a full disk) ends the run with one line
    naming the file instead of a traceback, and is not tried again."""

    def __init__(self, path: Path):
        self.path, self.handle, self.failed = path, open(path, "a", encoding="utf-8"), False

    def write(self, text: str) -> int:
        if self.failed:
            return len(text)
        try:
            count = self.handle.write(text)
            self.handle.flush()
            return count
        except OSError as exc:
            self.failed = True
            from autotune.errors import InputError

            raise InputError(f"{self.path}: cannot write the log ({exc.strerror or exc})") from None

    def flush(self) -> None:
        pass  # every write is flushed

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        try:
            self.handle.close()
        except OSError:
            pass


def _reporter(quiet: bool, verbose: bool, log_file: Path | None = None):
    from autotune.cli import ui

    screen = ui.QuietReporter() if quiet else ui.ConsoleReporter(verbose=verbose)
    if log_file is None:
        return screen
    return ui.TeeReporter(screen, ui.ConsoleReporter(ui.make_console(file=_LogFile(log_file), force_terminal=False),
                                                     verbose=True))


def _quiet_tensorflow(verbose: bool) -> None:
    from autotune.tfenv import import_tensorflow

    import_tensorflow(quiet=not verbose)


def _apply_recipe(ctx, name: str, data, image_column, options: dict) -> dict:
    """Defaults < the recipe < options typed on the command line."""
    from click.core import ParameterSource

    from autotune.errors import InputError
    from autotune.search.recipes import load_recipe
    from autotune.vision.images import is_image_input

    as_json, log_file = ctx.params.get("as_json", False), ctx.params.get("log_file")  # a refusal is still JSON
    chosen = _run(lambda: load_recipe(name), verbose=False, as_json=as_json, log_file=log_file)
    if chosen.kind != ("image" if is_image_input(Path(data), image_column) else "tabular"):
        _fail(InputError(f"recipe {chosen.name} is for {chosen.kind} data, and {data} is not").message, 2, as_json,
              log_file)
    typed = {k for k in options if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
    merged = {**options, **{k: v for k, v in chosen.settings.items() if k not in typed}}
    return {**merged, "recipe": chosen.name, "space": chosen.space}


def _check_cv(value):
    from autotune.evaluate.crossval import parse_cv

    try:
        return parse_cv(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_duration(value):
    from autotune.config import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_size(value):
    from autotune.errors import InputError
    from autotune.vision.images import parse_size

    try:
        parse_size(value)
    except InputError as exc:
        raise click.BadParameter(exc.message.split(": ", 1)[-1]) from None
    return value


def _check_sha256(value):
    """--expect-sha256: the 64 hex digits of metadata.json's sha256 (as `autotune schema` prints it)."""
    if value is None:
        return None
    digest = value.strip().lower().removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise click.BadParameter(f"{value!r} is not a sha256 (64 hexadecimal digits)")
    return digest


def _expect_sha256(command):
    return click.option("--expect-sha256", metavar="HEX", callback=lambda ctx, param, value: _check_sha256(value),
                        help="Refuse the bundle unless metadata.json (which holds every file's sha256) has this "
                             "sha256, as `autotune schema` prints it: pins a deployment to one bundle.")(command)


def _read(path: str):
    from autotune.data.load import read_table

    return read_table(path).frame


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="autotune")
def cli():
    """autotune: search, evaluate and export a Keras model for a CSV or Parquet file.

    \b
    autotune fit data.csv --target label       search, evaluate on held-out rows, export a bundle
    autotune predict BUNDLE new.csv -o out.csv  predictions from raw rows
    autotune evaluate BUNDLE labelled.csv       the bundle's metrics on new labelled rows
    autotune report BUNDLE                      the run's headline and trials (-o: its report.html)
    autotune schema BUNDLE                      the inputs the bundle takes: column, key, dtype

    Exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 no usable result, 130 interrupted.
    """


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", "-t", help="Column to predict. Default: a column named target, label, class or y.")
@click.option("--task", type=click.Choice(["classification", "regression"]), help="Default: inferred from the target.")
@click.option("--output", "-o", type=OutputPath("the bundle", folder=True),
              help="Bundle directory. Default: runs/<data>-<time>/.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run into the same --output: finished trials are kept, not rerun.")
@click.option("--time-budget", metavar="DURATION", callback=lambda ctx, param, value: _check_duration(value),
              help="The whole run, load to published bundle (90s, 10m, 1h30m): the search stops early enough to "
                   "leave the estimated final fit and export their time. A budget too short for one trial plus the "
                   "final fit is refused up front, with the least that would do.")
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle in --output (only once the new one is complete).")
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True,
              help="Share of rows held out for the final test; the search never sees them.")
@click.option("--tuner", type=click.Choice(TUNERS), default="bayesian", show_default=True)
@click.option("--max-trials", type=click.IntRange(min=1), default=12, show_default=True,
              help="Configurations to try (Hyperband plans its own number).")
@click.option("--epochs", type=click.IntRange(min=1), default=60, show_default=True, help="Most epochs per trial.")
@click.option("--patience", type=click.IntRange(min=1), default=8, show_default=True,
              help="Stop a trial after this many epochs without improvement.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the split, the search and training.")
@click.option("--search-folds", type=click.IntRange(min=1),
              help="Score each trial by K-fold cross-validation (1: the validation split). Default: 3 up to 2,000 rows, else 1.")
@click.option("--ensemble", type=click.IntRange(min=1),
              help="The final model averages the N best configurations, each retrained on train + validation. "
                   "Default: 3 up to 2,000 rows, else 1 (the best configuration alone).")
@click.option("--image-column", help="DATA is a CSV of image paths (relative to it): the column holding them.")
@click.option("--allow-outside-paths", is_flag=True,
              help="Image CSV: also read image paths that lead outside the CSV's folder (../, absolute paths, "
                   "symlinks elsewhere); refused by default.")
@click.option("--image-size", metavar="WxH", callback=lambda ctx, param, value: _check_size(value),
              help="Images are resized to this. Default: from the images' sizes (32..128).")
@click.option("--augment", type=click.Choice(AUGMENTATIONS), default="light", show_default=True,
              help="Image augmentation during training only: flips, rotation, zoom, translation, contrast.")
@click.option("--backbone", type=click.Choice(list(BACKBONES)),
              help="Images: a Keras Applications network under the searched head, instead of searched conv blocks.")
@click.option("--weights", type=click.Path(path_type=Path),
              help="Images: weights for --backbone from a local .weights.h5 file (frozen); never downloaded.")
@click.option("--metric", type=click.Choice(list(METRICS)),
              help="The search's objective and the report's headline. Default: macro-F1 for imbalanced classes, "
                   "accuracy otherwise, RMSE for regression.")
@click.option("--balance", type=click.Choice(BALANCE), default="auto",
              show_default=True, help="Class imbalance: auto = class weights when the smallest class is under a "
                                      "third of the largest; oversample repeats training rows or images of the smaller classes.")
@click.option("--cv", "cv", metavar="K|loo", callback=lambda ctx, param, value: _check_cv(value),
              help="Also cross-validate the exported kind of model (its configurations and epoch counts) over the "
                   "training and validation rows (K folds, stratified; or leave-one-out for small data), mean ± std "
                   "per metric. Optimistic (the search chose on those rows) and labelled so; the test figure is the "
                   "honest one.")
@click.option("--select-features", type=click.Choice(SELECT_FEATURES), default="none", show_default=True,
              help="corr: drop numeric columns whose training values correlate above 0.95 with a kept one; pca: "
                   "project the standardised numeric columns onto the principal components that explain 95% of "
                   "their training variance, inside the model (tabular; listed in the report).")
@click.option("--recipe", help="A ready search configuration by name (see `autotune recipes`) or a .toml path; "
                                "options given on the command line override it.")
@click.option("--no-baseline", is_flag=True, help="Skip the gradient-boosting baseline (tabular data).")
@click.option("--tensorboard", type=OutputPath("TensorBoard logs", folder=True), metavar="DIR",
              help="Write TensorBoard logs of the search here (per-trial scalars and HParams; with cross-validated "
                   "search, each trial's first fold): `tensorboard --logdir DIR`. Never inside the bundle.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: every visible GPU (several: one trial spans them with MirroredStrategy), else the CPU.")
@click.option("--mixed-precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="auto: float16 on GPUs that support it, off on the CPU. Outputs stay float32.")
@click.option("--sample", type=click.IntRange(min=10), metavar="N",
              help="Search on N training rows (stratified sample); the final model trains on all of them.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Spread the search over N worker processes on this host (keras-tuner chief/worker on 127.0.0.1).")
@click.option("--role", type=click.Choice(ROLES),
              help="Several hosts: this process is the search's chief (serves keras-tuner's oracle) or a worker.")
@click.option("--bind", metavar="ADDR:PORT",
              help="Chief: where keras-tuner's oracle listens (default 127.0.0.1, a free port). It has no "
                   "authentication or TLS: bind beyond loopback only on a trusted network (a warning says so).")
@click.option("--allow-remote-workers", is_flag=True,
              help="Chief: allow a wildcard --bind (0.0.0.0 or ::, every interface of this host).")
@click.option("--oracle", metavar="ADDR:PORT", help="Worker: the chief's address, as it printed it.")
@click.option("--worker-id", help="Worker: its keras-tuner id; restart a dead worker with the same id to rerun its trial.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout at the end.")
@click.option("--log-file", type=OutputPath("the log", append=True),
              help="Also append plain timestamped log lines (and any internal error's traceback) to this file.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Hyperparameters of every trial; tracebacks of internal errors.")
@click.pass_context
def fit(ctx, data, target, task, output, resume, time_budget, overwrite, test_size, tuner, max_trials, epochs, patience,
        seed, search_folds, ensemble, image_column, allow_outside_paths, image_size, augment, backbone, weights, metric,
        balance, cv, select_features, recipe, no_baseline, as_json, log_file, quiet, verbose, **scale):
    """Search and train a model for DATA, evaluate it on held-out rows and export a bundle.

    DATA is a CSV or Parquet file, a folder of images with one subfolder per class, or (with
    --image-column) a CSV listing image paths and their labels.
    """
    from autotune.config import FitConfig

    if output is not None and scale.get("role") != "worker":  # `-o .`, `-o data.csv`: said as what they are
        from autotune.bundle.export import resolve_output
        from autotune.errors import InputError

        try:
            resolve_output(output, data)
        except InputError as exc:
            _fail(exc.message, exc.exit_code, as_json)
    _check_outputs(ctx, as_json)  # before the recipe, the data, the lock: a refusal costs nothing
    options = dict(target=target, task=task, output=output, overwrite=overwrite, test_size=test_size, tuner=tuner,
                   max_trials=max_trials, epochs=epochs, patience=patience, seed=seed, search_folds=search_folds,
                   ensemble=ensemble, image_column=image_column, allow_outside_paths=allow_outside_paths,
                   image_size=image_size, augment=augment,
                   resume=resume, time_budget=time_budget, baseline=not no_baseline, backbone=backbone, weights=weights,
                   metric=metric, balance=balance, cv=cv, select_features=select_features, **scale)
    if recipe:
        options = _apply_recipe(ctx, recipe, data, image_column, options)
    config = FitConfig(data=data, **options)
    from autotune.bundle.export import signing_key

    _run(signing_key, verbose, as_json=as_json, log_file=log_file)  # an empty key is refused now, not after the run

    reporter = _reporter(quiet, verbose, log_file)

    def action():
        from autotune import pipeline

        # The pipeline checks the input before it imports TensorFlow, so bad input fails in a second.
        return pipeline.fit(config, reporter)

    result = _run(action, verbose, reporter, as_json, log_file)
    if as_json and result.report.get("role") == "worker":
        click.echo(json.dumps({"status": "ok", **result.report}))
    elif as_json:
        from autotune.bundle.export import metadata_sha256
        from autotune.report.html import cv_headline

        report = result.report
        click.echo(json.dumps({
            "status": "ok", "output": str(result.output), "task": report["task"], "target": report["target"],
            "metadata_sha256": metadata_sha256(result.output),
            "headline": report["headline"], "test_metrics": {
                k: v for k, v in report["test_metrics"].items() if k not in ("per_class", "confusion_matrix")},
            "best_hyperparameters": report["search"]["best_hyperparameters"],
            "best_trial": report["search"]["trials"][0]["trial"],  # the leaderboard's id, as in the log
            "trials": len(report["search"]["trials"]), "timings": report["timings"],
            "baseline": None if not report.get("baseline") else {
                k: report["baseline"][k] for k in ("model", "metric", "value", "verdict")},
            "cross_validation": cv_headline(report.get("cross_validation")),
            "trivial_baseline": None if not report.get("trivial_baseline") else {
                k: report["trivial_baseline"][k] for k in ("model", "metric", "value", "verdict")},
            "warnings": list(getattr(reporter, "warnings", [])),
        }, default=str))


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=OutputPath("the predictions"),
              help="Write predictions here (CSV). Default: stdout.")
@_expect_sha256
@click.option("--verbose", "-v", is_flag=True)
@click.pass_context
def predict(ctx, bundle, data, output, expect_sha256, verbose):
    """Predict with BUNDLE: every row of a CSV/Parquet file (target optional, extra columns ignored), or,
    for an image bundle, every image among the files and folders given."""
    _check_outputs(ctx)

    def action():
        from autotune.bundle.load import input_warnings, load_bundle, predict_images
        from autotune.bundle.load import predict as run_predict
        from autotune.errors import InputError

        loaded = load_bundle(bundle, expect_sha256)
        if loaded.kind == "image":
            _quiet_tensorflow(verbose)
            table = predict_images(loaded, list(data))
            failed = table[table["error"] != ""]
            if len(failed):
                click.echo(f"warning: {len(failed)} of {len(table)} file(s) not predicted (see the error column), "
                           f"e.g. {failed['path'].iloc[0]}: {failed['error'].iloc[0]}", err=True)
        else:
            if len(data) != 1:
                raise InputError(f"{bundle}: a tabular bundle predicts one CSV or Parquet file at a time")
            frame = _read(data[0])
            for warning in input_warnings(loaded, frame):
                click.echo(f"warning: {warning}", err=True)
            _quiet_tensorflow(verbose)
            table = run_predict(loaded, frame)
        if output:
            from autotune.bundle.export import atomic_write

            with atomic_write(output, "the predictions", newline="") as fh:
                table.to_csv(fh, index=False)
            written.append(output)
            click.echo(f"wrote {len(table)} predictions to {output}", err=True)
        else:
            table.to_csv(sys.stdout, index=False)

    written: list[Path] = []
    _run(action, verbose, written=written)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=OutputPath("the metrics"),
              help="Also write the metrics as JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON on stdout.")
@click.option("--report", "report_file", type=OutputPath("the report"), metavar="FILE",
              help="Also write an HTML report: the bundle's report.html with these results in place of its test set's.")
@_expect_sha256
@click.option("--verbose", "-v", is_flag=True)
@click.pass_context
def evaluate(ctx, bundle, data, output, as_json, report_file, expect_sha256, verbose):
    """The metrics of BUNDLE on DATA, a labelled file with the bundle's target column."""
    _check_outputs(ctx, as_json)

    def action():
        from autotune.bundle.export import atomic_write
        from autotune.bundle.load import evaluate as run_evaluate
        from autotune.bundle.load import evaluate_with_curves, load_bundle

        loaded = load_bundle(bundle, expect_sha256)
        frame = _read(data)
        _quiet_tensorflow(verbose)
        if not report_file:
            metrics = run_evaluate(loaded, frame)
        else:
            from autotune.report.html import evaluation_report, load_report, write_html

            original = load_report(bundle)
            metrics, curves = evaluate_with_curves(loaded, frame)
            write_html(evaluation_report(original, metrics, curves, Path(data).name), bundle, report_file)
            written.append(report_file)
            click.echo(f"wrote the report to {report_file}", err=True)
        if output:
            with atomic_write(output, "the metrics") as fh:
                fh.write(json.dumps(metrics, indent=2) + "\n")
            written.append(output)
        return loaded, metrics

    written: list[Path] = []
    loaded, metrics = _run(action, verbose, as_json=as_json, written=written)
    if as_json:
        click.echo(json.dumps(metrics))
        return
    from autotune.cli import ui

    # The result on stdout, as every command's: rich tables on a terminal, plain text otherwise.
    ui.print_evaluation(ui.make_console(file=sys.stdout), loaded.task, metrics, Path(data).name)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=OutputPath("the report"),
              help="Rebuild the HTML report from the bundle's report.json and write it here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's headline as JSON on stdout.")
@_expect_sha256
@click.pass_context
def report(ctx, bundle, output, as_json, expect_sha256):
    """BUNDLE's report: without options, the headline and the trials (a table on a terminal, plain text
    otherwise); -o report.html rebuilds the self-contained HTML page, exactly as `autotune fit` wrote it."""
    _check_outputs(ctx, as_json)

    def action():
        from autotune.bundle.load import load_bundle
        from autotune.report.html import headline, load_report, print_summary, write_html

        load_bundle(bundle, expect_sha256)  # every file as metadata.json hashed it, as predict checks
        loaded = load_report(bundle)
        if output:
            write_html(loaded, bundle, output)
            written.append(output)
            click.echo(f"wrote {output}", err=True)
        if as_json:
            click.echo(json.dumps(headline(loaded)))
        elif not output:
            from autotune.cli import ui

            print_summary(loaded, ui.make_console(file=sys.stdout))

    written: list[Path] = []
    _run(action, verbose=False, as_json=as_json, written=written)


@cli.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the schema as JSON on stdout.")
@_expect_sha256
def schema(bundle, as_json, expect_sha256):
    """The inputs BUNDLE takes: each column, the key of its SavedModel input and its dtype (a table on a
    terminal, plain text otherwise), its outputs and labels, and metadata.json's sha256 for --expect-sha256.

    From metadata.json, the contract, once the bundle is verified as predict verifies it (hashes, signature,
    schema) and checked against the SavedModel's own signature."""

    def action():
        from autotune.bundle.load import bundle_schema, load_bundle

        loaded = load_bundle(bundle, expect_sha256)
        _quiet_tensorflow(False)
        loaded.serve  # noqa: B018  (loading checks every key and dtype against the SavedModel's signature)
        return bundle_schema(loaded)

    document = _run(action, verbose=False, as_json=as_json)
    if as_json:
        click.echo(json.dumps(document))
        return
    from autotune.cli import ui

    ui.print_schema(ui.make_console(file=sys.stdout), document)


@cli.group("recipes")
def recipes_group():
    """Ready search configurations (recipes/*.toml)."""


@recipes_group.command("list")
def recipes_list():
    """The recipes, by name, with what each is for."""
    from autotune.search.recipes import available, load_recipe

    for name, path in available().items():
        recipe = _run(lambda p=path: load_recipe(str(p)), verbose=False)
        click.echo(f"{name:18} {recipe.kind:8} {recipe.description}")


@recipes_group.command("show")
@click.argument("name")
def recipes_show(name):
    """A recipe's file: its tuner, budgets, augmentation and search space."""
    from autotune.search.recipes import available, load_recipe

    recipe = _run(lambda: load_recipe(name), verbose=False)
    path = available().get(recipe.name, Path(name))
    click.echo(f"# {path}")
    click.echo(path.read_text(encoding="utf-8").rstrip())


def _terminate(signum, frame):
    raise KeyboardInterrupt  # `kill` from cron or a supervisor: stop as cleanly as Ctrl-C


def main() -> None:
    import signal

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    if "--json" not in sys.argv[1:]:
        cli(prog_name="autotune")
        return
    # A script that asked for --json gets its document even when Click refuses the command line itself.
    try:
        cli.main(prog_name="autotune", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        click.echo(json.dumps({"status": "error", "exit_code": exc.exit_code, "error": exc.format_message()}))
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail("interrupted", EXIT_INTERRUPTED, as_json=True)


if __name__ == "__main__":
    main()
