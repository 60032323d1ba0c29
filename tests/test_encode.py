"""The in-model preprocessing: each layer's arithmetic, and the preprocessor built from real statistics."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from autotune.clean import MISSING_TOKEN, learn_features, raw_inputs
from autotune.profile import profile
from autotune.split import drop_unusable_rows, split

keras = pytest.importorskip("keras")
from autotune import layers  # noqa: E402
from autotune.encode import build_preprocessor, encode  # noqa: E402


def test_impute_clip_fills_nan_then_clips():
    layer = layers.ImputeClip(fill=5.0, low=0.0, high=10.0)
    out = np.asarray(layer(np.array([[np.nan], [-3.0], [4.0], [99.0]], np.float32)))
    np.testing.assert_array_equal(out, [[5.0], [0.0], [4.0], [10.0]])


def test_missing_indicator_marks_nan_only():
    out = np.asarray(layers.MissingIndicator()(np.array([[np.nan], [0.0], [1.5]], np.float32)))
    np.testing.assert_array_equal(out, [[1.0], [0.0], [0.0]])


def test_number_categories_one_hot_with_missing_and_other_slots():
    layer = layers.NumberCategories([2007.0, 2008.0, 2009.0])
    out = np.asarray(layer(np.array([[2008.0], [np.nan], [2031.0]], np.float32)))
    np.testing.assert_array_equal(out, [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]])


@pytest.mark.parametrize("layer", [layers.ImputeClip(1.0, -2.0, 2.0), layers.MissingIndicator(),
                                   layers.NumberCategories([1.0, 2.0])])
def test_custom_layers_round_trip_their_config(layer):
    clone = type(layer).from_config(layer.get_config())
    x = np.array([[np.nan], [1.0], [7.0]], np.float32)
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(layer(x)))


@pytest.fixture(scope="module")
def penguins_features():
    frame = pd.read_csv(DATA / "penguins.csv")
    prof = profile(frame, "species")
    frame, _ = drop_unusable_rows(frame, prof)
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    features, _ = learn_features(parts.train, prof)
    return parts, features


def test_preprocessor_standardises_train_columns_and_one_hots_categories(penguins_features):
    parts, features = penguins_features
    encoded = encode(build_preprocessor(features), raw_inputs(parts.train, features))
    # island (3 + OOV) + 4 numbers with a missing indicator each + sex (female, male, missing + OOV)
    # + year (3 + missing + other) — the train split decides which columns get an indicator.
    expected = sum((len(f.vocabulary) + (2 if f.dtype == "number" else 1)) if f.kind == "categorical"
                   else (2 if f.missing_indicator else 1) for f in features)
    assert encoded.shape == (len(parts.train), expected)
    assert np.isfinite(encoded).all()
    body_mass = [f for f in features if f.name == "body_mass_g"][0]
    column = list(f.name for f in features).index("body_mass_g")
    offset = sum((len(f.vocabulary) + (2 if f.dtype == "number" else 1)) if f.kind == "categorical"
                 else (2 if f.missing_indicator else 1) for f in features[:column])
    values = encoded[:, offset]
    assert values.mean() == pytest.approx(0.0, abs=1e-4) and values.std() == pytest.approx(1.0, abs=1e-3)
    assert body_mass.mean == pytest.approx(parts.train["body_mass_g"].fillna(body_mass.fill).mean(), rel=1e-6)


def test_unseen_and_missing_values_encode_to_finite_rows(penguins_features):
    _, features = penguins_features
    row = pd.DataFrame({"island": ["Atlantis"], "bill_length_mm": [np.nan], "bill_depth_mm": [1e9],
                        "flipper_length_mm": [200.0], "body_mass_g": [4000.0], "sex": [None], "year": [2031]})
    columns = raw_inputs(row, features)
    assert columns["sex"].tolist() == [MISSING_TOKEN]
    encoded = encode(build_preprocessor(features), columns)
    assert np.isfinite(encoded).all()
    island = [f for f in features if f.name == "island"][0]
    assert encoded[0, : len(island.vocabulary) + 1].tolist() == [1.0] + [0.0] * len(island.vocabulary)  # OOV slot
