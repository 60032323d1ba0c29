"""metadata.json validation (bundle/verify.py): the fields every bundle has, then its kind's own, checked by its
Modality. What loading a real bundle refuses end to end is tests/system/test_hostile_bundles.py."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from conftest import load

from autotune.bundle.verify import validate_metadata
from autotune.data.clean import learn_features
from autotune.data.profile import profile
from autotune.errors import InputError
from autotune.modality import modalities, modality_named

HASHES = {"model.keras": "sha256:" + "0" * 64}


def tabular_metadata() -> dict:
    """What a tabular bundle's metadata.json holds: penguins' features, as clean.learn_features makes them."""
    frame = load("penguins.csv")
    features, _ = learn_features(frame, profile(frame, "species", None))
    return {"files": dict(HASHES), "kind": "tabular", "task": "classification", "target": "species",
            "labels": sorted(frame["species"].dropna().unique()), "inputs": [f.to_dict() for f in features]}


def image_metadata() -> dict:
    """What an image bundle's metadata.json holds (vision.run.ImageRun.metadata)."""
    return {"files": dict(HASHES), "kind": "image", "task": "classification", "target": "label",
            "labels": ["cat", "dog"], "image_size": [32, 32],
            "inputs": [{"name": "image", "key": "image", "kind": "image", "dtype": "bytes", "image_size": [32, 32],
                        "mean": [120.0, 110.0, 100.0], "variance": [900.0, 850.0, 800.0]}]}


def refusal(metadata: dict) -> str:
    with pytest.raises(InputError) as refused:
        validate_metadata(Path("B/metadata.json"), metadata)
    return refused.value.message


def test_metadata_as_autotune_writes_it_is_valid_for_either_kind():
    for metadata in (tabular_metadata(), image_metadata()):
        validate_metadata(Path("B/metadata.json"), metadata)
    assert all(type(modality_named(m.name)) is type(m) for m in modalities())
    assert modality_named("text") is None and modality_named(["image"]) is None


@pytest.mark.parametrize("kind, change, message", [
    ("tabular", lambda m: m.update(kind="text"), 'field "kind" must be "image" or "tabular", not "text"'),
    ("tabular", lambda m: m["inputs"][0].update(key="1 x"), 'field "inputs[0].key" "1 x" is not an input name'),
    ("tabular", lambda m: m["inputs"][1].update(key=m["inputs"][0]["key"].upper()),
     'field "inputs[1].key" "ISLAND" is used by another input'),
    ("tabular", lambda m: m["inputs"][2].update(fill="x"), 'field "inputs[2].fill" must be a number'),
    ("tabular", lambda m: m["inputs"][0].update(dtype="bytes"), 'field "inputs[0].dtype" must be "number" or "string"'),
    ("tabular", lambda m: m["inputs"][2].update(knots=[1.0, 3.0, 2.0]),
     'field "inputs[2].knots" must be an increasing list of at least 3 numbers'),
    ("image", lambda m: m["inputs"][0].update(dtype="number"), 'field "inputs[0].dtype" must be "bytes" for an image'),
    ("image", lambda m: m.update(image_size=[0, 32]), 'field "image_size" must be [width, height] in pixels'),
    ("image", lambda m: m.pop("image_size"), 'field "image_size" must be [width, height] in pixels'),
], ids=["unknown-kind", "tabular-key", "duplicate-key", "tabular-fill", "tabular-dtype", "tabular-knots", "image-dtype",
        "image-size", "image-size-missing"])
def test_each_kind_refuses_its_own_fields_naming_the_field(kind, change, message):
    metadata = copy.deepcopy(tabular_metadata() if kind == "tabular" else image_metadata())
    change(metadata)
    got = refusal(metadata)
    assert got.startswith(f"B/metadata.json: {message}") and got.endswith("re-export it with `autotune fit`"), got


def test_a_rule_of_one_kind_does_not_apply_to_the_other():
    """An image input's key need not be a column's input name, and a tabular bundle has no image_size to check."""
    image = image_metadata()
    image["inputs"][0]["key"] = "1 image"
    validate_metadata(Path("B/metadata.json"), image)
    tabular = tabular_metadata()
    tabular["image_size"] = "ignored"
    validate_metadata(Path("B/metadata.json"), tabular)
