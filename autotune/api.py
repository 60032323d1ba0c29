"""autotune from Python: the same job as `autotune fit`, and bundles as objects that answer in DataFrames.

    >>> import pandas as pd
    >>> import autotune
    >>> frame = pd.read_csv("data/penguins.csv")
    >>> bundle = autotune.fit(frame, target="species", output="runs/penguins", max_trials=3, epochs=20)
    >>> bundle.predict(frame.head(3))            # a DataFrame on frame's index: the predicted species
    >>> bundle.predict_proba(frame.head(3))      # one column per class
    >>> bundle.evaluate(frame)["accuracy"]
    >>> bundle.leaderboard()                     # the search's trials, best first
    >>> autotune.load("runs/penguins").report["headline"]

`fit` takes the command line's options by their Python names (`max_trials=3`, `tuner="random"`,
`time_budget=60`, `recipe="tabular-fast"` …) with the same defaults, and writes the same bundle; the CLI is a thin
layer over the same pipeline. Bad input raises autotune.errors.InputError (its message is the CLI's one-line
error); nothing here prints unless `verbose=True`.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from autotune.bundle.load import Bundle

__all__ = ["Bundle", "fit", "load"]


def fit(data, target: str | None = None, *, output: str | Path | None = None, recipe: str | None = None,
        baseline: bool = True, verbose: bool = False, **options) -> Bundle:
    """Search, train, evaluate and export a model for `data`; return the published bundle.

    data: a pandas DataFrame, or a path (CSV or Parquet file, image folder) as `autotune fit` takes. A DataFrame
    is written to a temporary Parquet file for the run (pyarrow: the `parquet` extra; its index is not a feature)
    and published, without `output`, to runs/dataframe-<time>, as a file would be to runs/<name>-<time>.
    options: the CLI's `fit` options by their Python names, e.g. max_trials=5, epochs=30, tuner="random",
    seed=1, overwrite=True; `recipe` names one of recipes/ (options given here win over it)."""
    import pandas as pd

    from autotune import pipeline
    from autotune.config import FitConfig
    from autotune.events import Reporter

    options = {"target": target, "output": None if output is None else Path(output), **options,
               "baseline": baseline}
    with tempfile.TemporaryDirectory(prefix="autotune-frame-") as scratch:
        if isinstance(data, pd.DataFrame):
            path = Path(scratch) / "dataframe.parquet"
            _to_parquet(data, path)
            if options["output"] is None:
                options["output"] = pipeline.default_output(Path("dataframe"))
        else:
            path = Path(data)
        if recipe:
            options = _with_recipe(recipe, path, options)
        reporter = Reporter()
        if verbose:
            from autotune.cli.ui import ConsoleReporter

            reporter = ConsoleReporter(verbose=True)
        result = pipeline.fit(FitConfig.of(path, **options), reporter)
    return load(result.output)


def _to_parquet(frame, path: Path) -> None:
    """Parquet keeps every column's type (a CSV would turn a string column of codes like "007" into numbers)."""
    from autotune.errors import InputError

    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError("fitting a DataFrame needs pyarrow (pip install 'autotune[parquet]'), or pass the path "
                         "of a CSV or Parquet file") from None
    frame.to_parquet(path, index=False)


def _with_recipe(name: str, data: Path, options: dict) -> dict:
    """Defaults < the recipe < the options given (None counts as not given), as on the command line."""
    from autotune.search.recipes import recipe_for

    chosen = recipe_for(name, data, options.get("image_column"))
    given = {k: v for k, v in options.items() if v is not None}
    return {**chosen.settings, **given, "recipe": chosen.name, "space": chosen.space}


def load(path: str | Path, expect_sha256: str | None = None) -> Bundle:
    """Open a bundle written by `fit` (verified as `autotune predict` verifies it: hashes, schema, signature
    when AUTOTUNE_SIGNING_KEY is set, `expect_sha256` when given)."""
    from autotune.bundle.load import load_bundle

    return load_bundle(path, expect_sha256)
