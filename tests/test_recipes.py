"""Recipes: shipped configurations load, build real models, are validated, and yield to typed options."""
from __future__ import annotations

import json

import keras_tuner as kt
import pytest
from click.testing import CliRunner
from conftest import DATA

from autotune.cli.commands import cli
from autotune.errors import InputError
from autotune.search.recipes import available, load_recipe


def test_the_four_recipes_ship():
    assert {"tabular-fast", "tabular-thorough", "image-small", "image-thorough"} <= set(available())


@pytest.mark.parametrize("name", ["tabular-fast", "tabular-thorough", "image-small", "image-thorough"])
def test_each_recipe_builds_a_model_inside_its_space(name):
    from autotune.search.space import TabularHyperModel
    from autotune.vision.pipeline import ImageHyperModel

    recipe = load_recipe(name)
    assert recipe.description and recipe.settings["max_trials"] >= 1 and recipe.settings["time_budget"] > 0
    if recipe.kind == "tabular":
        hypermodel = TabularHyperModel(6, 3, "classification", 200, seed=0, space=recipe.space)
    else:
        hypermodel = ImageHyperModel((32, 32), [0.0] * 3, [1.0] * 3, recipe.settings["augment"], 3, 200, seed=0,
                                     space=recipe.space)
    for seed in range(3):  # a few random points of the space
        hp = kt.HyperParameters()
        hypermodel.build(hp)
        for p in hp.space:
            hp.values[p.name] = p.random_sample(seed)
        model = hypermodel.build(hp)
        assert model.output_shape == (None, 3)
        for key, value in hp.values.items():
            spec = recipe.space[key]
            if isinstance(spec, dict):
                assert spec["min"] <= value <= spec["max"]
            else:
                assert value in spec, (key, value, spec)


def write(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,message", [
    ('kind = "tabular"\n[space]\nunitz = [32]\n', "unknown key 'unitz'; valid keys: activation, batch_norm"),
    ('[search]\nmax_trial = 3\n', "unknown key 'max_trial'"),
    ('colour = "red"\n', "unknown key 'colour'"),
    ('[space]\noptimizer = ["adam", "lbfgs"]\n', "'lbfgs' is not one of adagrad, adam, rmsprop, sgd"),
    ('[space]\nlayers = [1, 2]\n', "layers: give a range like { min = 1, max = 4 }"),
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


def test_cli_options_override_the_recipe_and_trials_stay_in_its_space(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["fit", str(DATA / "wine.csv"), "-o", str(out), "--recipe", "tabular-fast",
                                      "--max-trials", "2", "--epochs", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    search = report["search"]
    assert search["recipe"] == "tabular-fast" and search["tuner"] == "bayesian"
    assert search["max_trials"] == 2 and search["epochs"] == 3 and search["patience"] == 6  # typed < recipe
    assert search["time_budget"] == 300.0
    fast = load_recipe("tabular-fast").space
    for trial in search["trials"]:
        hp = trial["hyperparameters"]
        assert hp["optimizer"] in fast["optimizer"] and hp["units"] in fast["units"] and hp["l1"] == 0.0
        assert hp["activation"] in ("relu", "gelu") and 1 <= hp["layers"] <= 3


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


@pytest.mark.parametrize("name", ["tabular-fast", "tabular-thorough", "image-small", "image-thorough"])
def test_each_recipe_runs_a_tiny_search(name, tmp_path, digits_folder):
    data = digits_folder if name.startswith("image") else DATA / "wine.csv"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["fit", str(data), "-o", str(out), "--recipe", name, "--max-trials", "1",
                                      "--epochs", "3", "--no-baseline"])
    assert result.exit_code == 0, result.output
    search = json.loads((out / "report.json").read_text())["search"]
    assert search["recipe"] == name and search["tuner"] == load_recipe(name).settings["tuner"]
    assert search["trials"] and search["trials"][0]["score"] is not None
