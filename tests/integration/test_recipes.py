"""Recipes build real models inside their space and drive real tiny searches. Loading and validating them
(no TensorFlow) is in tests/unit/test_recipes.py."""
from __future__ import annotations

import json

import keras_tuner as kt
import pytest
from click.testing import CliRunner
from conftest import DATA

from autotune.cli.commands import cli
from autotune.search.recipes import default_space, load_recipe


@pytest.mark.parametrize("name", ["tabular-fast", "tabular-thorough", "text-thorough", "image-small",
                                  "image-thorough"])
def test_each_recipe_builds_a_model_inside_its_space(name):
    from autotune.search.space import TabularHyperModel
    from autotune.vision.pipeline import ImageHyperModel

    recipe = load_recipe(name)
    assert recipe.description and recipe.settings["max_trials"] >= 1 and recipe.settings["time_budget"] > 0
    if recipe.kind == "tabular":
        hypermodel = TabularHyperModel(6 + 8, 3, "classification", 200, seed=0, space=recipe.space)
        hypermodel.sequence_blocks = [[6, 8, 50]]  # a text column's word ids: its encoder is searched too
    else:
        level = recipe.settings["augment"]  # "auto" becomes light, with or without flips, once images are seen
        hypermodel = ImageHyperModel((32, 32), [0.0] * 3, [1.0] * 3, "light" if level == "auto" else level, 3, 200,
                                     seed=0, space=recipe.space)
    for seed in range(3):  # a few random points of the space
        hp = kt.HyperParameters()
        hypermodel.build(hp)
        for p in hp.space:
            hp.values[p.name] = p.random_sample(seed)
        model = hypermodel.build(hp)
        assert model.output_shape == (None, 3)
        space = {**default_space(recipe.kind), **recipe.space}  # what a recipe leaves out is the default's
        for key, value in hp.values.items():
            spec = space[key]
            if isinstance(spec, dict):
                assert spec["min"] <= value <= spec["max"]
            else:
                assert value in spec, (key, value, spec)


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


@pytest.mark.parametrize("name", ["tabular-fast", "tabular-thorough", "text-thorough", "image-small",
                                  "image-thorough"])
def test_each_recipe_runs_a_tiny_search(name, tmp_path, digits_folder):
    data = digits_folder if name.startswith("image") else DATA / ("reviews.csv" if name.startswith("text") else "wine.csv")
    out = tmp_path / "out"
    target = ["--target", "score"] if name.startswith("text") else []
    result = CliRunner().invoke(cli, ["fit", str(data), "-o", str(out), "--recipe", name, "--max-trials", "1",
                                      "--epochs", "3", "--no-baseline", *target])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    search = report["search"]
    assert search["recipe"] == name and search["tuner"] == load_recipe(name).settings["tuner"]
    assert search["trials"] and search["trials"][0]["score"] is not None
    if name.startswith("image"):  # the final network is the best trial's own (one Hyperband continued, too)
        member = report["final_model"]["members"][0]
        best = next(t for t in search["trials"] if t["trial"] == member["trial"])
        assert member.get("from_trial") and member["epochs"] == best["best_epoch"], (member, search["trials"])
