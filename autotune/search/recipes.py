"""Recipes: ready search configurations users pick by name (`--recipe tabular-fast`) or by path.

A recipe is a TOML file in recipes/ that fixes the tuner, the budgets, the augmentation and the
search space (the range or choices of every hyperparameter). Keys are checked: a typo is an error
that names the key and lists the valid ones, never a silently ignored setting. No TensorFlow here.
"""
from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autotune.errors import InputError

TEXT_ENCODERS = ("tfidf", "embedding", "conv1d", "bigru")  # space.text_encoder
COMMON_SPACE = {
    "batch_size": [16, 32, 64, 128],
    "dropout": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
    "batch_norm": [False, True],
    "optimizer": ["adam", "sgd", "rmsprop", "adagrad"],
    "learning_rate": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
    "lr_schedule": ["constant", "step", "exponential"],
}
TABULAR_SPACE = {
    **COMMON_SPACE,
    # Not searched by default, a recipe may name them (ALLOWED_VALUES): numeric_encoding "embedded" (each number
    # quantile-normalised and embedded with its ramps, TabM's way: layers.NumberEmbeddings) and the optimizer "adamw".
    # TabM's configuration as a fifth portfolio entry, with them and 512 units in this space, cost 1.3-2.3x the wall
    # for +0.009 macro-F1 on hpc_jobs and nothing beyond noise elsewhere (Keras's fit trains embedded networks; the
    # search drew them at random too): bench/README, "One TabM member in the portfolio".
    "numeric_encoding": ["piecewise_linear", "standardized"],
    "layers": {"min": 0, "max": 4},
    "units": [32, 64, 128, 256],
    "activation": ["relu", "tanh", "selu", "gelu"],
    "l1": [0.0, 1e-5, 1e-4, 1e-3],
    "l2": [0.0, 1e-5, 1e-4, 1e-3],
    # How the network reads a text column: its TF-IDF directions alone, or beside them its words through a sequence
    # encoder (space.text_sequence). Only the directions by default: on both text sets of the suite the sequence
    # encoders searched too gave the same test accuracy at 2.6-6.8x the wall time (fine_foods 0.786 vs 0.786,
    # trump_tweets 0.858 vs 0.860, 3 seeds; bench/README "Sequence encoders"); recipes/text-thorough.toml searches them.
    "text_encoder": ["tfidf"],
}
IMAGE_SPACE = {
    **COMMON_SPACE,
    "batch_size": [16, 32, 64],
    "conv_blocks": {"min": 1, "max": 4},
    "filters": [16, 32, 64],
    "kernel_size": [3, 5],
    "pooling": ["max", "avg"],
    "global_pooling": ["avg", "flatten"],
    "dense_units": [0, 64, 128],
    # Image trials train at most 16 epochs by default (modality.IMAGE_EPOCHS): cosine annealing over them first
    "lr_schedule": ["cosine", "constant", "step", "exponential"],
}
ALLOWED_VALUES = {
    "numeric_encoding": {"piecewise_linear", "standardized", "embedded"},
    "text_encoder": set(TEXT_ENCODERS),
    "optimizer": {"adam", "adamw", "sgd", "rmsprop", "adagrad"},
    "activation": {"relu", "tanh", "selu", "gelu", "sigmoid", "elu", "swish"},
    "lr_schedule": {"constant", "step", "exponential", "cosine"},
    "pooling": {"max", "avg"},
    "global_pooling": {"avg", "flatten"},
}
RANGE_LOWEST = {"layers": 0}  # 0 hidden layers: the linear (logistic / least-squares) model on the features
SEARCH_KEYS = {"tuner", "max_trials", "epochs", "patience", "time_budget", "search_folds", "ensemble"}
DATA_KEYS = {"augment", "image_size", "test_size"}
TOP_KEYS = {"description", "kind", "search", "space", "data"}


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str  # tabular | image
    description: str = ""
    settings: dict = field(default_factory=dict)  # FitConfig fields: tuner, budgets, augment, ...
    space: dict = field(default_factory=dict)  # hyperparameter -> list of choices or {min, max}


def default_space(kind: str) -> dict:
    """The built-in search space of a kind of data ("image" or "tabular")."""
    return dict(IMAGE_SPACE if kind == "image" else TABULAR_SPACE)


def reads_word_ids(space: dict | None) -> bool:
    """Whether a search over `space` (a recipe's, over the default) may give a network a sequence encoder of its text:
    then the encoded rows carry each text column's word ids (clean.Feature.sequence_length)."""
    return any(e != "tfidf" for e in {**default_space("tabular"), **(space or {})}["text_encoder"])


def portfolio(kind: str) -> list[dict]:
    """The configurations a Bayesian search tries first, best first (recipes/portfolios/<kind>.toml, one
    [[config]] table each): each is a dict of hyperparameter values; a search uses those its space allows."""
    for folder in recipe_dirs():
        path = folder / "portfolios" / f"{kind}.toml"
        if path.is_file():
            return [dict(entry) for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("config", [])]
    return []


def recipe_dirs() -> list[Path]:
    """Where recipes are looked for: the checkout's recipes/, then the installed share/autotune/recipes."""
    root = Path(__file__).resolve().parents[2]  # the checkout's recipes/ beside the autotune package
    return [root / "recipes", Path(sys.prefix) / "share" / "autotune" / "recipes"]


def available() -> dict[str, Path]:
    """Recipe name -> file, the checkout's recipes taking precedence over installed ones."""
    found = {}
    for folder in reversed(recipe_dirs()):
        for path in sorted(folder.glob("*.toml")):
            found[path.stem] = path
    return found


def _unknown(where: str, keys, valid) -> None:
    bad = sorted(set(keys) - set(valid))
    if bad:
        raise InputError(f"{where}: unknown key {bad[0]!r}; valid keys: {', '.join(sorted(valid))}")


def _check_space(where: str, kind: str, space: dict) -> dict:
    valid = default_space(kind)
    _unknown(f"{where} [space]", space, valid)
    for name, spec in space.items():
        if isinstance(valid[name], dict):
            if not (isinstance(spec, dict) and set(spec) <= {"min", "max", "step"} and {"min", "max"} <= set(spec)
                    and all(isinstance(v, int) for v in spec.values())
                    and RANGE_LOWEST.get(name, 1) <= spec["min"] <= spec["max"]):
                low = RANGE_LOWEST.get(name, 1)
                raise InputError(f"{where} [space] {name}: give a range like {{ min = {low}, max = 4 }} "
                                 f"(min at least {low})")
            continue
        values = spec if isinstance(spec, list) else [spec]
        if not values:
            raise InputError(f"{where} [space] {name}: needs at least one value")
        allowed = ALLOWED_VALUES.get(name)
        if allowed and not set(values) <= allowed:
            raise InputError(f"{where} [space] {name}: {sorted(set(values) - allowed)[0]!r} is not one of "
                             f"{', '.join(sorted(allowed))}")
        numeric = name not in ALLOWED_VALUES and name != "batch_norm"
        if numeric and not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
            raise InputError(f"{where} [space] {name}: values must be non-negative numbers")
        space[name] = values
    return space


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe by name or path, checked: unknown keys or bad values are bad input naming the key."""
    path = Path(name_or_path)
    if not path.suffix:
        known = available()
        if name_or_path not in known:
            raise InputError(f"no recipe named {name_or_path!r}; available: {', '.join(known) or 'none'} "
                             "(or pass a path to a .toml file)")
        path = known[name_or_path]
    if not path.is_file():
        raise InputError(f"{path}: no such recipe file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    where = f"recipe {path.name}"
    _unknown(where, data, TOP_KEYS)
    kind = data.get("kind", "tabular")
    if kind not in ("tabular", "image"):
        raise InputError(f"{where}: kind must be tabular or image, not {kind!r}")
    search, extra = dict(data.get("search", {})), dict(data.get("data", {}))
    _unknown(f"{where} [search]", search, SEARCH_KEYS)
    _unknown(f"{where} [data]", extra, DATA_KEYS)
    if "time_budget" in search:
        from autotune.config import parse_duration

        try:
            search["time_budget"] = parse_duration(search["time_budget"])
        except ValueError as exc:
            raise InputError(f"{where} [search] time_budget: {exc}") from None
    _check_settings(where, {**search, **extra})
    space = _check_space(where, kind, dict(data.get("space", {})))
    return Recipe(path.stem, kind, data.get("description", ""), {**search, **extra}, space)


def _check_settings(where: str, settings: dict) -> None:
    """The [search] and [data] values, checked as the command line checks the same options: a recipe
    typo must not reach the search (or TensorFlow) as a string where a number belongs."""
    from autotune.config import AUGMENTATIONS, TUNERS

    def bad(key: str, wanted: str) -> InputError:
        section = "search" if key in SEARCH_KEYS else "data"
        return InputError(f"{where} [{section}] {key}: {settings[key]!r} is not {wanted}")

    for key in ("max_trials", "epochs", "patience", "search_folds", "ensemble"):
        value = settings.get(key)
        if key in settings and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise bad(key, "a whole number of at least 1")
    if "tuner" in settings and settings["tuner"] not in TUNERS:
        raise bad("tuner", f"one of {', '.join(TUNERS)}")
    if "augment" in settings and settings["augment"] not in AUGMENTATIONS:
        raise bad("augment", f"one of {', '.join(AUGMENTATIONS)}")
    value = settings.get("test_size")
    if "test_size" in settings and (not isinstance(value, int | float) or isinstance(value, bool)
                                    or not 0 < value < 1):
        raise bad("test_size", "a number between 0 and 1")
    if "image_size" in settings:
        from autotune.vision.images import parse_size

        if not isinstance(settings["image_size"], str):
            raise bad("image_size", 'a size like "128x128"')
        parse_size(settings["image_size"])


def recipe_for(name_or_path: str, data: Path, image_column: str | None = None) -> Recipe:
    """load_recipe, refused when the recipe is for the other kind of data (the CLI's --recipe and autotune.fit)."""
    from autotune.errors import InputError
    from autotune.vision.images import is_image_input

    chosen = load_recipe(name_or_path)
    if chosen.kind != ("image" if is_image_input(Path(data), image_column) else "tabular"):
        raise InputError(f"recipe {chosen.name} is for {chosen.kind} data, and {data} is not")
    return chosen
