"""Recipes: shipped configurations load, build real models, are validated, and yield to typed options."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import DATA

from autotune.cli.commands import cli
from autotune.errors import InputError
from autotune.search.recipes import available, load_recipe


def test_the_four_recipes_ship():
    assert {"tabular-fast", "tabular-thorough", "text-thorough", "image-small", "image-thorough"} <= set(available())


def write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,message", [
    ('kind = "tabular"\n[space]\nunitz = [32]\n', "unknown key 'unitz'; valid keys: activation, batch_norm"),
    ('[search]\nmax_trial = 3\n', "unknown key 'max_trial'"),
    ('colour = "red"\n', "unknown key 'colour'"),
    ('[space]\noptimizer = ["adam", "lbfgs"]\n', "'lbfgs' is not one of adagrad, adam, adamw, rmsprop, sgd"),
    ('[space]\nlayers = [1, 2]\n', "layers: give a range like { min = 0, max = 4 }"),
    ('[space]\nunits = []\n', "units: needs at least one value"),
    ('[space]\nunits = ["wide"]\n', "units: values must be non-negative numbers"),
    ('[search]\ntime_budget = "soon"\n', "time_budget: 'soon' is not a duration"),
    ('kind = "audio"\n', "kind must be tabular or image"),
    ('this is = = not toml', "not valid TOML"),
])
def test_bad_recipes_are_refused_with_the_key_named(tmp_path, text, message):
    with pytest.raises(InputError) as info:
        load_recipe(write(tmp_path, text))
    assert message in info.value.message and "mine.toml" in info.value.message


def test_a_recipe_may_name_the_values_the_default_space_leaves_out(tmp_path):
    """TabM's numbers ("embedded") and AdamW are not searched by default (recipes.TABULAR_SPACE) but a recipe's space
    may name them."""
    from autotune.search.recipes import TABULAR_SPACE

    recipe = load_recipe(write(tmp_path, 'kind = "tabular"\n[space]\nnumeric_encoding = ["embedded", "piecewise_linear"]\n'
                                         'optimizer = ["adamw"]\nunits = [512]\n'))
    assert recipe.space["numeric_encoding"] == ["embedded", "piecewise_linear"] and recipe.space["optimizer"] == ["adamw"]
    assert "embedded" not in TABULAR_SPACE["numeric_encoding"] and "adamw" not in TABULAR_SPACE["optimizer"]


def test_recipe_for_the_wrong_kind_of_data_is_refused():
    result = CliRunner().invoke(cli, ["fit", str(DATA / "wine.csv"), "--recipe", "image-small"])
    assert result.exit_code == 2 and "recipe image-small is for image data" in result.stderr


def test_recipes_list_and_show():
    result = CliRunner().invoke(cli, ["recipes", "list"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == sorted(available())
    shown = CliRunner().invoke(cli, ["recipes", "show", "tabular-fast"])
    assert shown.exit_code == 0 and 'tuner = "bayesian"' in shown.output and "[space]" in shown.output
    missing = CliRunner().invoke(cli, ["recipes", "show", "nope"])
    assert missing.exit_code == 2 and "no recipe named 'nope'" in missing.stderr
