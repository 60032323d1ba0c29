"""The command line's options, each defined once: the ones several commands share (--json, --verbose,
--expect-sha256, the BUNDLE argument), fit's options in groups (search, images, model, compute) as
decorators, and the checks their values get (OutputPath: writable before any work).

Light at import: click and autotune.config only; a check imports what it needs when it runs.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from autotune import interrupt
from autotune.cli.exits import fail
from autotune.config import AUGMENTATIONS, BACKBONES, BALANCE, DEVICES, METRICS, PRECISIONS, ROLES, SELECT_FEATURES, TUNERS
from autotune.errors import InputError
from autotune.task import TASKS

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def group(*decorators: Decorator) -> Decorator:
    """Several option decorators as one, in the order given (that of --help)."""
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


class OutputPath(click.Path):
    """A file (or, with folder=True, a folder) that autotune writes outside a bundle. Every command
    checks its OutputPath options with check_outputs before any work, so a new one is checked too."""

    def __init__(self, what: str, folder: bool = False, append: bool = False):
        super().__init__(path_type=Path)  # no refusal of Click's own: check_outputs says it in one line
        self.what, self.folder, self.append = what, folder, append


def _unwritable(path: Path, folder: bool, append: bool) -> str | None:
    """Why `path` cannot be written, or None: tried as the write will be, with a file created and removed."""
    import tempfile

    path = Path(os.path.realpath(path))  # a link is written through, as files.atomic_write does
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
    with interrupt.deferred():  # a signal between making and removing the probe would leave it there
        try:
            handle, name = tempfile.mkstemp(prefix=".autotune-probe-", dir=parent)
        except OSError as exc:
            return f"{parent}: {exc.strerror or exc}"
        os.close(handle)
        os.unlink(name)
    return None


def check_outputs(ctx: click.Context) -> None:
    """Refuse every OutputPath option that cannot be written before any work: a fit must not search for an
    hour and then fail on its --log-file."""
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param.type, OutputPath) and value is not None:
            problem = _unwritable(Path(value), param.type.folder, param.type.append)
            if problem:
                flag = max(param.opts, key=len)  # --output, not -o: the words a person looks up in --help
                fail(f"{value}: cannot write {param.type.what} ({problem}); choose another {flag}", 2,
                     ctx.params.get("as_json") or False)


def _parsed(parse: Callable[[Any], Any], errors: type[Exception] = ValueError,
            message: Callable[[Exception], str] = str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A Click callback: `parse(value)`, its refusal as Click's "Invalid value for '--option'"."""
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        try:
            return parse(value)
        except errors as exc:
            raise click.BadParameter(message(exc)) from None
    return callback


def _columns(value: str | None) -> tuple[str, ...]:
    """COL[,COL] -> the column names, in order."""
    if value is None:
        return ()
    names = tuple(name.strip() for name in value.split(","))
    if not all(names):
        raise ValueError(f"{value!r}: an empty column name; give COL or COL,COL")
    return names


def _cv(value: str | None):
    from autotune.evaluate.crossval import parse_cv

    return parse_cv(value)


def _duration(value: str | None):
    from autotune.config import parse_duration

    return parse_duration(value)


def _size(value: str | None) -> str | None:
    from autotune.vision.images import parse_size

    parse_size(value)
    return value


def _sha256(value: str | None) -> str | None:
    """--expect-sha256: the 64 hex digits of metadata.json's sha256 (as `autotune schema` prints it)."""
    if value is None:
        return None
    digest = value.strip().lower().removeprefix("sha256:")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{value!r} is not a sha256 (64 hexadecimal digits)")
    return digest


# Shared by several commands.

bundle_argument = click.argument("bundle", type=click.Path(path_type=Path))

expect_sha256_option = click.option(
    "--expect-sha256", metavar="HEX", callback=_parsed(_sha256),
    help="Refuse the bundle unless metadata.json (which holds every file's sha256) has this "
         "sha256, as `autotune schema` prints it: pins a deployment to one bundle.")


def json_option(help: str) -> Decorator:
    """--json: the command's result (or its error) as one JSON document on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def verbose_option(help: str | None = None) -> Decorator:
    """--verbose: TensorFlow's own logs, and the traceback of an internal error on stderr."""
    return click.option("--verbose", "-v", is_flag=True, help=help)


# fit's option groups, in --help's order.

run_options = group(
    click.option("--target", "-t", help="Column to predict. Default: a column named target, label, class or y."),
    click.option("--task", type=click.Choice(list(TASKS)),
                 help="Default: inferred from the target."),
    click.option("--output", "-o", type=OutputPath("the bundle", folder=True),
                 help="Bundle directory. Default: runs/<data>-<time>/."),
    click.option("--resume", is_flag=True,
                 help="Continue an interrupted run into the same --output: finished trials are kept, not rerun."),
    click.option("--time-budget", metavar="DURATION", callback=_parsed(_duration),
                 help="The whole run, load to published bundle (90s, 10m, 1h30m): the search stops early enough to "
                      "leave the estimated final fit and export their time. A budget too short for one trial plus the "
                      "final fit is refused up front, with the least that would do."),
    click.option("--overwrite", is_flag=True,
                 help="Replace an existing bundle in --output (only once the new one is complete)."),
    click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
                 show_default=True,
                 help="Share of rows held out for the final test; the search never sees them."),
)

search_options = group(
    click.option("--tuner", type=click.Choice(TUNERS), default="bayesian", show_default=True),
    click.option("--max-trials", type=click.IntRange(min=1), default=12, show_default=True,
                 help="Configurations to try (Hyperband plans its own number)."),
    click.option("--epochs", type=click.IntRange(min=1),
                 help="Most epochs per trial. Default: 60 for tables, 16 for images (their trials anneal the "
                      "learning rate over those 16 epochs: a cosine schedule)."),
    click.option("--patience", type=click.IntRange(min=1), default=8, show_default=True,
                 help="Stop a trial after this many epochs without improvement."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed for the split, the search and training."),
    click.option("--search-folds", type=click.IntRange(min=1),
                 help="Score each trial by K-fold cross-validation (1: the validation split). Default: 3 up to 2,000 "
                      "rows, else 1."),
    click.option("--ensemble", type=click.IntRange(min=1),
                 help="The final model averages the N best configurations: for tables each retrained on train + "
                      "validation, for images the trials' own networks. Default: 3 (images: 1 where the networks "
                      "would be retrained: --sample, --role, --search-folds above 1)."),
)

image_options = group(
    click.option("--image-column", help="DATA is a CSV of image paths (relative to it): the column holding them."),
    click.option("--allow-outside-paths", is_flag=True,
                 help="Image CSV: also read image paths that lead outside the CSV's folder (../, absolute paths, "
                      "symlinks elsewhere); refused by default."),
    click.option("--image-size", metavar="WxH",
                 callback=_parsed(_size, InputError, lambda exc: exc.message.split(": ", 1)[-1]),
                 help="Images are resized to this. Default: from the images' sizes (32..128)."),
    click.option("--augment", type=click.Choice(AUGMENTATIONS), default="auto", show_default=True,
                 help="Image augmentation during training only: flips, rotation, zoom, translation, contrast. "
                      "auto: light, with left-right flips only where a mirrored training image keeps its class "
                      "(not for digits or letters)."),
    click.option("--backbone", type=click.Choice(list(BACKBONES)),
                 help="Images: a Keras Applications network under the searched head, instead of searched conv "
                      "blocks."),
    click.option("--weights", type=click.Path(path_type=Path),
                 help="Images: weights for --backbone from a local .weights.h5 file (frozen); never downloaded."),
)

model_options = group(
    click.option("--metric", type=click.Choice(list(METRICS)),
                 help="The search's objective and the report's headline. Default: macro-F1 for imbalanced classes, "
                      "accuracy otherwise, RMSE for regression."),
    click.option("--balance", type=click.Choice(BALANCE), default="auto", show_default=True,
                 help="Class imbalance, when the smallest class is under a third of the largest (auto) or always: "
                      "adjust trains on the rows as they are, then shifts the outputs toward balanced classes by an "
                      "amount chosen on validation rows (auto for tables); weights weighs each class in the loss "
                      "(auto for images); oversample repeats training rows or images of the smaller classes."),
    click.option("--cv", "cv", metavar="K|loo", callback=_parsed(_cv),
                 help="Also cross-validate the exported kind of model (its configurations and epoch counts) over the "
                      "training and validation rows (K folds, stratified; or leave-one-out for small data), mean ± "
                      "std per metric. Optimistic (the search chose on those rows) and labelled so; the test figure "
                      "is the honest one."),
    click.option("--select-features", type=click.Choice(SELECT_FEATURES), default="none", show_default=True,
                 help="corr: drop numeric columns whose training values correlate above 0.95 with a kept one; pca: "
                      "project the standardised numeric columns onto the principal components that explain 95% of "
                      "their training variance, inside the model (tabular; listed in the report)."),
    click.option("--text-columns", metavar="COL[,COL]", callback=_parsed(_columns),
                 help="Read these columns as free text (TF-IDF inside the model), whatever the profile's rule says. "
                      "By default a string column is text when most of its values hold a space and it has over 50 "
                      "distinct values (or a different one in every row)."),
    click.option("--categorical-columns", metavar="COL[,COL]", callback=_parsed(_columns),
                 help="Read these columns as categories (one slot a value), whatever the profile's rule says."),
    click.option("--recipe", help="A ready search configuration by name (see `autotune recipes`) or a .toml path; "
                                  "options given on the command line override it."),
    click.option("--no-baseline", is_flag=True,
                 help="Skip the non-neural baseline (tabular data: gradient boosting; TF-IDF + linear with free text)."),
)

compute_options = group(
    click.option("--mlflow", is_flag=False, flag_value="file:./mlruns", metavar="[URI]",
                 help="Log the run to MLflow (the `mlflow` extra): the test metrics, baselines and settings, each trial "
                      "as a nested run with its per-epoch curves, and the bundle as an artifact. Without URI: the "
                      "local file store ./mlruns."),
    click.option("--tensorboard", type=OutputPath("TensorBoard logs", folder=True), metavar="DIR",
                 help="Write TensorBoard logs of the search here (per-trial scalars and HParams; with cross-validated "
                      "search, each trial's first fold): `tensorboard --logdir DIR`. Never inside the bundle."),
    click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                 help="auto: every visible GPU (several: one trial spans them with MirroredStrategy), else the CPU."),
    click.option("--mixed-precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                 help="auto: float16 on GPUs that support it; on a CPU, bfloat16 for image CNNs where it has "
                      "AVX512-BF16 or AMX, else off. Outputs stay float32."),
    click.option("--sample", type=click.IntRange(min=10), metavar="N",
                 help="Search on N training rows (stratified sample); the final model trains on all of them."),
)


class WorkerCount(click.ParamType):
    """--workers: a count (0: one process) or auto (None: chosen once the data is loaded)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value is None or value == "auto":
            return None
        if isinstance(value, int) and value >= 0:
            return value
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        self.fail(f"{value!r} is neither auto nor a count of processes (0 or more)", param, ctx)


cluster_options = group(
    click.option("--workers", type=WorkerCount(), default="auto", show_default=True,
                 help="Spread the search over N worker processes on this host (keras-tuner chief/worker on "
                      "127.0.0.1); 0: one process. auto: 2 for an image search on a CPU with 2 cores or more, "
                      "else one process."),
    click.option("--role", type=click.Choice(ROLES),
                 help="Several hosts: this process is the search's chief (serves keras-tuner's oracle) or a worker."),
    click.option("--bind", metavar="ADDR:PORT",
                 help="Chief: where keras-tuner's oracle listens (default 127.0.0.1, a free port). It has no "
                      "authentication or TLS: bind beyond loopback only on a trusted network (a warning says so)."),
    click.option("--allow-remote-workers", is_flag=True,
                 help="Chief: allow a wildcard --bind (0.0.0.0 or ::, every interface of this host)."),
    click.option("--oracle", metavar="ADDR:PORT", help="Worker: the chief's address, as it printed it."),
    click.option("--worker-id",
                 help="Worker: its keras-tuner id; restart a dead worker with the same id to rerun its trial."),
)

logging_options = group(
    json_option("Print one JSON document on stdout at the end."),
    click.option("--log-file", type=OutputPath("the log", append=True),
                 help="Also append plain timestamped log lines (and any internal error's traceback) to this file."),
    click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors on stderr."),
    verbose_option("Hyperparameters of every trial; tracebacks of internal errors."),
)
