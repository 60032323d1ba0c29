"""The command line: a thin Click layer over the Python API.

Only click and the light modules are imported at start-up; TensorFlow is imported by the command
that needs it, after the arguments and the input file have been checked. The options are defined once in
options.py; every failure becomes one line and its exit code in exits.py.
"""
from __future__ import annotations

import json
import logging
import sys
from contextlib import closing
from pathlib import Path

import click

from autotune import __version__
from autotune.cli.exits import Group, fail, wrote
from autotune.cli.options import (
    OutputPath,
    bundle_argument,
    check_outputs,
    cluster_options,
    compute_options,
    expect_sha256_option,
    image_options,
    json_option,
    logging_options,
    model_options,
    run_options,
    search_options,
    verbose_option,
)

__all__ = ["OutputPath", "cli", "main"]


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
    from autotune.events import TeeReporter

    screen = ui.QuietReporter() if quiet else ui.ConsoleReporter(verbose=verbose)
    if log_file is None:
        return screen
    return TeeReporter(screen, ui.ConsoleReporter(ui.make_console(file=_LogFile(log_file), force_terminal=False),
                                                  verbose=True))


def _quiet_tensorflow(verbose: bool) -> None:
    from autotune.tfenv import import_tensorflow

    import_tensorflow(quiet=not verbose)


def _apply_recipe(ctx: click.Context, name: str, data: Path, options: dict) -> dict:
    """Defaults < the recipe < options typed on the command line."""
    from click.core import ParameterSource

    from autotune.search.recipes import recipe_for

    chosen = recipe_for(name, data, options["image_column"])
    typed = {k for k in options if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
    merged = {**options, **{k: v for k, v in chosen.settings.items() if k not in typed}}
    return {**merged, "recipe": chosen.name, "space": chosen.space}


def _read(path: str):
    from autotune.data.load import read_table

    return read_table(path).frame


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="autotune")
def cli():
    """autotune: search, evaluate and export a Keras model for a CSV or Parquet file.

    \b
    autotune fit data.csv --target label       search, evaluate on held-out rows, export a bundle
    autotune predict BUNDLE new.csv -o out.csv  predictions from raw rows
    autotune evaluate BUNDLE labelled.csv       the bundle's metrics on new labelled rows
    autotune report BUNDLE                      the run's headline and trials (-o: its report.html)
    autotune schema BUNDLE                      the inputs the bundle takes: column, key, dtype
    autotune serve BUNDLE [--port 8501]         TensorFlow Serving's REST API over HTTP

    Exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 no usable result, 130 interrupted.
    """


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@run_options
@search_options
@image_options
@model_options
@compute_options
@cluster_options
@logging_options
@click.pass_context
def fit(ctx, data, recipe, no_baseline, as_json, log_file, quiet, verbose, **options):
    """Search and train a model for DATA, evaluate it on held-out rows and export a bundle.

    DATA is a CSV or Parquet file, a folder of images with one subfolder per class, or (with
    --image-column) a CSV listing image paths and their labels.
    """
    from autotune import pipeline
    from autotune.bundle.format import signing_key
    from autotune.config import FitConfig

    _refuse_output(options["output"], data, options["role"], as_json)
    check_outputs(ctx)  # before the recipe, the data, the lock: a refusal costs nothing
    options["baseline"] = not no_baseline
    if recipe:
        options = _apply_recipe(ctx, recipe, data, options)
    config = FitConfig.of(data, **options)
    signing_key()  # an empty key is refused now, not after the run
    reporter = _reporter(quiet, verbose, log_file)
    with closing(reporter):
        result = pipeline.fit(config, reporter)  # input checked before TensorFlow is imported: bad input fails fast
    if as_json and result.report.get("role") == "worker":
        click.echo(json.dumps({"status": "ok", **result.report}))
    elif as_json:
        from autotune.report.write import load_report

        _echo_summary(result.output, load_report(result.output))  # from report.json, as `report --json` reads it


def _refuse_output(output: Path | None, data: Path, role: str | None, as_json: bool) -> None:
    """`-o .`, `-o data.csv`: said as what they are, before the --log-file is checked (so not written to)."""
    if output is None or role == "worker":
        return
    from autotune.bundle.export import resolve_output
    from autotune.errors import InputError

    try:
        resolve_output(output, data)
    except InputError as exc:
        fail(exc.message, exc.exit_code, as_json)


def _echo_summary(bundle: Path, report: dict) -> None:
    """The one JSON document of `fit --json` and `report BUNDLE --json`: the run's summary (see
    report/summary.py), with where the bundle is and the metadata_sha256 that pins it for --expect-sha256."""
    import os

    from autotune.bundle.format import metadata_sha256
    from autotune.report.summary import summary

    document = summary(report)
    # status, output, task, target, metadata_sha256 first, in the order `fit --json` has always printed them
    document = {"status": "ok", "output": os.path.realpath(bundle), "task": document["task"],
                "target": document["target"], "metadata_sha256": metadata_sha256(bundle), **document}
    click.echo(json.dumps(document, default=str))


@cli.command()
@bundle_argument
@click.argument("data", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=OutputPath("the predictions"),
              help="Write predictions here (CSV). Default: stdout.")
@click.option("--keep", "--id-column", "keep", multiple=True, metavar="COL[,COL]",
              help="Copy these input columns into the predictions (to join them back to their rows). Default: a "
                   "column the model does not use that looks like an ID, if any.")
@json_option("With -o: one JSON document on stdout at the end (rows predicted, failed, columns kept, every warning).")
@expect_sha256_option
@verbose_option()
@click.pass_context
def predict(ctx, bundle, data, output, keep, as_json, expect_sha256, verbose):
    """Predict with BUNDLE: every row of a CSV/Parquet file (target optional, extra columns ignored), or,
    for an image bundle, every image among the files and folders given."""
    from autotune.bundle.load import load_bundle
    from autotune.errors import InputError

    if as_json and not output:
        raise InputError("--json needs -o FILE: without it the predictions themselves go to stdout")
    check_outputs(ctx)
    loaded = load_bundle(bundle, expect_sha256)
    said: dict[str, list[str]] = {"warning": [], "note": []}

    def say(kind: str, message: str) -> None:
        said[kind].append(message)
        click.echo(f"{kind}: {message}", err=True)

    if loaded.kind == "image":
        if keep:
            raise InputError("--keep: an image bundle's predictions already hold each file's path")
        table, columns = _predict_images(loaded, data, verbose, say), []
        failed = int((table["error"] != "").sum())
    else:
        if len(data) != 1:
            raise InputError(f"{bundle}: a tabular bundle predicts one CSV or Parquet file at a time")
        keep = [c.strip() for k in keep for c in k.split(",") if c.strip()]
        (table, columns), failed = _predict_rows(loaded, data[0], keep, verbose, say), 0
    probabilities = [c for c in table.columns if str(c).startswith("p_")]
    table[probabilities] = table[probabilities].astype("float64").round(PROBABILITY_DECIMALS)
    if not output:
        table.to_csv(sys.stdout, index=False)
        return
    from autotune.files import atomic_write

    with atomic_write(output, "the predictions", newline="") as fh:
        table.to_csv(fh, index=False)
    wrote(output)
    done = len(table) - failed
    click.echo(f"wrote {done} predictions to {output}" + (f"; {failed} file(s) failed" if failed else ""), err=True)
    if as_json:
        click.echo(json.dumps({"status": "ok", "output": str(output), "predicted": done, "failed": failed,
                               "kept_columns": [str(c) for c in columns], "warnings": said["warning"],
                               "notes": said["note"]}))


def _predict_images(loaded, data, verbose: bool, say):
    from autotune.bundle.load import predict_images

    _quiet_tensorflow(verbose)
    table = predict_images(loaded, list(data))
    errors = table[table["error"] != ""]
    if len(errors):
        say("warning", f"{len(errors)} of {len(table)} file(s) not predicted (see the error column), "
                       f"e.g. {errors['path'].iloc[0]}: {errors['error'].iloc[0]}")
    return table


def _predict_rows(loaded, path, keep: list[str], verbose: bool, say):
    """The predictions table of a tabular bundle (the --keep columns first) and the columns kept."""
    from autotune.bundle.load import input_warnings, kept_columns, unseen_values
    from autotune.bundle.load import predict as run_predict
    from autotune.data.clean import raw_inputs

    frame = _read(path)
    raw_inputs(frame.head(0), loaded.features)  # a column the model needs is missing: said before anything else
    columns, note = kept_columns(loaded, frame, keep)
    _quiet_tensorflow(verbose)
    loaded.serve  # noqa: B018  (loads the SavedModel and checks it against metadata.json, before any warning)
    for warning in [*input_warnings(loaded, frame), *unseen_values(loaded, frame)]:
        say("warning", warning)
    if note:
        say("note", note)
    table = run_predict(loaded, frame)
    for i, column in enumerate(columns):
        table.insert(i, column if column not in table.columns else f"input_{column}", frame[column].to_numpy())
    return table, columns


PROBABILITY_DECIMALS = 6  # every probability `predict` writes, tabular or image: one precision


@cli.command()
@bundle_argument
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=OutputPath("the metrics"),
              help="Also write the metrics as JSON here.")
@json_option("Print the metrics as JSON on stdout.")
@click.option("--report", "report_file", type=OutputPath("the report"), metavar="FILE",
              help="Also write an HTML report: the bundle's report.html with these results in place of its test set's.")
@expect_sha256_option
@verbose_option()
@click.pass_context
def evaluate(ctx, bundle, data, output, as_json, report_file, expect_sha256, verbose):
    """The metrics of BUNDLE on DATA, a labelled file with the bundle's target column."""
    from autotune.bundle.load import evaluate as run_evaluate
    from autotune.bundle.load import evaluate_with_curves, load_bundle
    from autotune.files import atomic_write

    check_outputs(ctx)
    loaded = load_bundle(bundle, expect_sha256)
    frame = _read(data)
    _quiet_tensorflow(verbose)
    if not report_file:
        metrics = run_evaluate(loaded, frame)
    else:
        from autotune.report.build import evaluation_report
        from autotune.report.html import write_html
        from autotune.report.write import load_report

        original = load_report(bundle)
        metrics, curves = evaluate_with_curves(loaded, frame)
        write_html(evaluation_report(original, metrics, curves, Path(data).name), bundle, report_file)
        wrote(report_file)
        click.echo(f"wrote the report to {report_file}", err=True)
    if output:
        with atomic_write(output, "the metrics") as fh:
            fh.write(json.dumps(metrics, indent=2) + "\n")
        wrote(output)
    if as_json:
        click.echo(json.dumps(metrics))
        return
    from autotune.cli import ui

    # The result on stdout, as every command's: rich tables on a terminal, plain text otherwise.
    ui.print_evaluation(ui.make_console(file=sys.stdout), loaded.task, metrics, Path(data).name)


@cli.command()
@bundle_argument
@click.option("--output", "-o", type=OutputPath("the report"),
              help="Rebuild the HTML report from the bundle's report.json and write it here.")
@json_option("Print the run's summary as JSON on stdout: the document `fit --json` printed.")
@expect_sha256_option
@click.pass_context
def report(ctx, bundle, output, as_json, expect_sha256):
    """BUNDLE's report: without options, the headline and the trials (a table on a terminal, plain text
    otherwise); -o report.html rebuilds the self-contained HTML page, exactly as `autotune fit` wrote it."""
    from autotune.bundle.load import load_bundle
    from autotune.report.html import write_html
    from autotune.report.write import load_report

    check_outputs(ctx)
    load_bundle(bundle, expect_sha256)  # every file as metadata.json hashed it, as predict checks
    loaded = load_report(bundle)
    if output:
        write_html(loaded, bundle, output)
        wrote(output)
        click.echo(f"wrote {output}", err=True)
    if as_json:
        _echo_summary(bundle, loaded)
    elif not output:
        from autotune.cli import ui
        from autotune.report.terminal import print_summary

        print_summary(loaded, ui.make_console(file=sys.stdout))


@cli.command()
@bundle_argument
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback: this host only). Another address is reachable from other hosts.")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535),
              help="Port (TensorFlow Serving's REST port is 8501).")
@click.option("--name", help="The model name in the URLs (/v1/models/NAME). Default: the bundle folder's name.")
@click.option("--max-batch", default=10_000, show_default=True, type=click.IntRange(1), help="Rows a request may hold.")
@click.option("--max-request-bytes", default=32 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Largest request body.")
@click.option("--allow-remote", is_flag=True, help="Allow a wildcard --host (0.0.0.0 or ::, every interface).")
@expect_sha256_option
@verbose_option()
def serve(bundle, host, port, name, max_batch, max_request_bytes, allow_remote, expect_sha256, verbose):
    """Serve BUNDLE over HTTP with TensorFlow Serving's REST API: POST /v1/models/NAME:predict with
    {"instances": [rows]} or {"inputs": {columns}}; GET /v1/models/NAME, /v1/models/NAME/metadata, /healthz."""
    from autotune.bundle.load import load_bundle
    from autotune.serve import check_host
    from autotune.serve import serve as run_server

    warning = check_host(host, port, allow_remote)  # before the bundle loads: a wrong address costs nothing
    loaded = load_bundle(bundle, expect_sha256)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    _quiet_tensorflow(verbose)
    run_server(loaded, host, port, name or loaded.path.resolve().name, max_batch, max_request_bytes,
               announce=lambda line: click.echo(line, err=True))


@cli.command()
@bundle_argument
@json_option("Print the schema as JSON on stdout.")
@expect_sha256_option
def schema(bundle, as_json, expect_sha256):
    """The inputs BUNDLE takes: each column, the key of its SavedModel input and its dtype (a table on a
    terminal, plain text otherwise), its outputs and labels, and metadata.json's sha256 for --expect-sha256.

    From metadata.json, the contract, once the bundle is verified as predict verifies it (hashes, signature,
    schema) and checked against the SavedModel's own signature."""
    from autotune.bundle.load import bundle_schema, load_bundle

    loaded = load_bundle(bundle, expect_sha256)
    _quiet_tensorflow(False)
    loaded.serve  # noqa: B018  (loading checks every key and dtype against the SavedModel's signature)
    document = bundle_schema(loaded)
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
        recipe = load_recipe(str(path))
        click.echo(f"{name:18} {recipe.kind:8} {recipe.description}")


@recipes_group.command("show")
@click.argument("name")
def recipes_show(name):
    """A recipe's file: its tuner, budgets, augmentation and search space."""
    from autotune.search.recipes import available, load_recipe

    recipe = load_recipe(name)
    path = available().get(recipe.name, Path(name))
    click.echo(f"# {path}")
    click.echo(path.read_text(encoding="utf-8").rstrip())


def main() -> None:
    """`autotune`: the CLI, with SIGTERM handled as Ctrl-C."""
    from autotune import interrupt

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    interrupt.install()  # `kill` from cron or a supervisor stops as cleanly as Ctrl-C
    cli(prog_name="autotune")


if __name__ == "__main__":
    main()
