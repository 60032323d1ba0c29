"""Column statistics learned on the training split (autotune.data.clean)."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autotune.data.clean import (
    MAX_VOCABULARY,
    MISSING_TOKEN,
    NO_BOUND,
    OUTLIER_IQR,
    Feature,
    describe_action,
    input_key,
    learn_features,
    raw_column,
    raw_inputs,
)
from autotune.data.load import read_table
from autotune.data.profile import profile
from autotune.data.split import split
from autotune.errors import ColumnError

DATA = Path(__file__).resolve().parents[2] / "data"
MEASUREMENTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


@cache
def _penguins():
    frame = read_table(DATA / "penguins.csv").frame
    prof = profile(frame, "species")
    return frame, prof


@cache
def _penguin_split(seed: int):
    frame, prof = _penguins()
    return split(frame, prof, 0.2, 0.2, seed)


def penguin_features(seed: int = 0):
    _, prof = _penguins()
    train = _penguin_split(seed).train.copy()
    features, actions = learn_features(train, prof)
    return train, {f.name: f for f in features}, actions


def rng_numbers(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(50.0, 10.0, size=n).round(2)


# --- statistics from the training split ------------------------------------------------------------


def test_penguin_features_in_profile_order():
    _, prof = _penguins()
    _, features, _ = penguin_features()
    assert list(features) == [c.name for c in prof.columns]
    assert {n: (f.kind, f.dtype) for n, f in features.items()} == {
        "island": ("categorical", "string"),
        "bill_length_mm": ("numeric", "number"),
        "bill_depth_mm": ("numeric", "number"),
        "flipper_length_mm": ("numeric", "number"),
        "body_mass_g": ("numeric", "number"),
        "sex": ("categorical", "string"),
        "year": ("categorical", "number"),
    }
    assert all(f.key == f.name for f in features.values())


@pytest.mark.parametrize("column", MEASUREMENTS)
def test_numeric_statistics_match_pandas_on_the_train_split(column):
    train, features, _ = penguin_features()
    feature = features[column]
    values = train[column]
    median = values.median()
    assert feature.fill == pytest.approx(median, rel=1e-6)
    q1, q3 = values.quantile([0.25, 0.75])
    assert feature.clip_low == pytest.approx(q1 - OUTLIER_IQR * (q3 - q1), rel=1e-5, abs=1e-4)
    assert feature.clip_high == pytest.approx(q3 + OUTLIER_IQR * (q3 - q1), rel=1e-5)
    cleaned = values.fillna(median).clip(feature.clip_low, feature.clip_high)
    assert feature.mean == pytest.approx(cleaned.mean(), rel=1e-6)
    assert feature.variance == pytest.approx(cleaned.var(ddof=0), rel=1e-5)
    assert feature.vocabulary == ()


def test_statistics_come_from_train_not_the_whole_table():
    frame, _ = _penguins()
    train, features, _ = penguin_features()
    differs = [c for c in MEASUREMENTS if frame[c].median() != train[c].median()]
    assert differs  # the check below can tell train from full-table statistics
    for column in differs:
        assert features[column].fill == pytest.approx(train[column].median(), rel=1e-6)
        assert features[column].fill != pytest.approx(frame[column].median(), rel=1e-6)


def test_statistics_ignore_validation_and_test_rows():
    _, prof = _penguins()
    parts = _penguin_split(0)
    before, _ = learn_features(parts.train, prof)
    mixed = pd.concat([parts.train, parts.test])
    after, _ = learn_features(mixed, prof)
    assert after != before  # the statistics depend on exactly the rows passed in
    again, _ = learn_features(parts.train.copy(), prof)
    assert again == before


@pytest.mark.parametrize("seed", [0, 5])
def test_missing_indicator_only_where_train_had_missing_values(seed):
    frame, _ = _penguins()
    train, features, actions = penguin_features(seed)
    for name, feature in features.items():
        assert feature.missing_indicator == bool(train[name].isna().any()), name
    imputed = {a["column"]: a["rows"] for a in actions if a["step"] == "impute"}
    assert imputed == {c: int(train[c].isna().sum()) for c in features if train[c].isna().any()}
    assert features["island"].missing_indicator is False
    assert features["year"].missing_indicator is False
    assert features["sex"].missing_indicator is True


def test_missing_in_table_but_not_in_train_gets_no_indicator():
    frame, _ = _penguins()
    train, features, actions = penguin_features(seed=5)
    assert frame["body_mass_g"].isna().sum() == 2 and train["body_mass_g"].isna().sum() == 0
    for column in MEASUREMENTS:
        assert features[column].missing_indicator is False
    assert not any(a["step"] == "impute" and a["column"] in MEASUREMENTS for a in actions)


def test_impute_action_for_numeric_column():
    train, features, actions = penguin_features(seed=0)
    action = next(a for a in actions if a["step"] == "impute" and a["column"] == "body_mass_g")
    assert action["rows"] == int(train["body_mass_g"].isna().sum()) == 1
    assert action["value"] == features["body_mass_g"].fill
    assert action["how"] == "the training median 4000, plus a missing-value indicator"


def test_sex_vocabulary_has_the_missing_token():
    train, features, actions = penguin_features()
    counts = train["sex"].value_counts()
    assert train["sex"].isna().sum() == 6
    assert features["sex"].vocabulary == tuple(counts.index) + (MISSING_TOKEN,) == ("female", "male", "")
    assert {"step": "impute", "column": "sex", "rows": 6, "how": "a 'missing' category of its own"} in actions


def test_island_vocabulary_most_frequent_first():
    train, features, _ = penguin_features()
    assert features["island"].vocabulary == tuple(train["island"].value_counts().index)
    assert features["island"].vocabulary == ("Biscoe", "Dream", "Torgersen")
    assert MISSING_TOKEN not in features["island"].vocabulary


def test_year_vocabulary_is_sorted_floats():
    _, features, _ = penguin_features()
    vocabulary = features["year"].vocabulary
    assert vocabulary == (2007.0, 2008.0, 2009.0)
    assert all(type(v) is float for v in vocabulary)


def test_numeric_category_with_missing_values():
    n = 60
    frame = pd.DataFrame({"rooms": ([1, 2, 3, None] * (n // 4)), "y": ["a", "b"] * (n // 2)})
    prof = profile(frame, "y")
    assert prof.column("rooms").kind == "categorical" and prof.column("rooms").dtype == "number"
    features, actions = learn_features(frame, prof)
    assert features[0].vocabulary == (1.0, 2.0, 3.0)
    assert features[0].missing_indicator is True
    assert {"step": "impute", "column": "rooms", "rows": 15, "how": "a 'missing' category of its own"} in actions


# --- dropped columns, outliers, rare categories -------------------------------------------------------


def test_id_and_constant_columns_are_dropped_with_a_reason_and_text_is_kept():
    frame = read_table(DATA / "penguins.csv").frame
    frame["row_id"] = range(len(frame))
    frame["source"] = "survey"
    frame["note"] = [f"observed by team member {i}" for i in range(len(frame))]
    prof = profile(frame, "species")
    features, actions = learn_features(frame, prof)
    assert {"row_id", "source"}.isdisjoint(f.name for f in features)
    drops = {a["column"]: a["reason"] for a in actions if a["step"] == "drop_column"}
    assert drops == {"row_id": "ID-like (a different value in (nearly) every row)", "source": "constant"}
    note = next(f for f in features if f.name == "note")
    # the row numbers are in one row each: no word of the vocabulary (TEXT_MIN_DOCUMENTS)
    assert (note.kind, note.dtype, note.vocabulary) == ("text", "string", ("by", "member", "observed", "team"))


def test_column_constant_in_training_split_is_dropped():
    rng = np.random.default_rng(0)
    n = 40
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "flag": ["yes"] * (n - 2) + ["no", "no"],
        "level": [3.5] * (n - 2) + [7.25, 8.5],
        "y": ["a", "b"] * (n // 2),
    })
    prof = profile(frame, "y")
    assert prof.column("flag").kind == "categorical" and prof.column("level").kind == "numeric"
    train = frame.iloc[: n - 2]  # the rows that vary are not in the training part
    features, actions = learn_features(train, prof)
    assert [f.name for f in features] == ["x"]
    assert {"step": "drop_column", "column": "flag", "reason": "constant in the training split"} in actions
    assert {"step": "drop_column", "column": "level", "reason": "constant in the training split"} in actions


def test_no_varying_feature_in_train_names_the_target():
    n = 30
    frame = pd.DataFrame({"level": [1.5] * (n - 3) + [2.5, 3.5, 4.5], "y": ["a", "b", "c"] * (n // 3)})
    prof = profile(frame, "y")
    with pytest.raises(ColumnError) as info:
        learn_features(frame.iloc[: n - 3], prof)
    assert info.value.column == "y"
    assert info.value.exit_code == 2
    assert "no feature column varies in the training split" in info.value.message


def test_injected_outlier_is_clipped():
    _, prof = _penguins()
    train = _penguin_split(0).train.copy()
    train.loc[train.index[0], "body_mass_g"] = 1_000_000.0
    features, actions = learn_features(train, prof)
    feature = next(f for f in features if f.name == "body_mass_g")
    q1, q3 = train["body_mass_g"].quantile([0.25, 0.75])
    low, high = q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)
    clip = [a for a in actions if a["step"] == "clip_outliers" and a["column"] == "body_mass_g"]
    assert len(clip) == 1
    assert clip[0]["rows"] == 1
    assert clip[0]["range"] == pytest.approx([low, high])
    assert (feature.clip_low, feature.clip_high) == pytest.approx((low, high))
    assert feature.mean < 5000  # the mean is taken after clipping
    cleaned = train["body_mass_g"].fillna(feature.fill).clip(low, high)
    assert feature.mean == pytest.approx(cleaned.mean(), rel=1e-6)
    assert not any(a["step"] == "clip_outliers" for a in learn_features(_penguin_split(0).train, prof)[1])


def test_zero_iqr_column_is_not_clipped():
    n = 100
    level = [0.0] * 90 + [float(i) for i in range(1, 10)] + [1e9]
    frame = pd.DataFrame({"level": level, "y": ["a", "b"] * (n // 2)})
    prof = profile(frame, "y")
    assert prof.column("level").kind == "numeric"
    features, actions = learn_features(frame, prof)
    assert (features[0].clip_low, features[0].clip_high) == (-NO_BOUND, NO_BOUND)
    assert not any(a["step"] == "clip_outliers" for a in actions)
    assert features[0].fill == 0.0


def test_more_than_fifty_categories_keeps_the_most_frequent():
    # 50 categories with 4 rows each and 10 with a single row; 60 distinct values in 210 rows
    common = [f"c{i:02d}" for i in range(50)]
    rare = [f"r{i}" for i in range(10)]
    values = [c for c in common for _ in range(4)] + rare
    n = len(values)
    frame = pd.DataFrame({"cat": values, "x": rng_numbers(n), "y": ["a", "b"] * (n // 2)})
    prof = profile(frame, "y")
    assert prof.column("cat").kind == "categorical" and prof.column("cat").unique == 60
    features, actions = learn_features(frame, prof)
    cat = next(f for f in features if f.name == "cat")
    assert len(cat.vocabulary) == MAX_VOCABULARY == 50
    assert cat.vocabulary == tuple(common)
    assert {"step": "rare_categories", "column": "cat", "categories": 10,
            "how": "all but the 50 most frequent share one 'other' slot"} in actions


def test_fifty_categories_have_no_rare_action():
    values = [f"c{i:02d}" for i in range(50) for _ in range(3)]
    frame = pd.DataFrame({"cat": values, "y": ["a", "b"] * (len(values) // 2)})
    features, actions = learn_features(frame, profile(frame, "y"))
    assert len(features[0].vocabulary) == 50
    assert not any(a["step"] == "rare_categories" for a in actions)


def test_infinity_becomes_missing_in_training_statistics():
    n = 40
    values = list(rng_numbers(n - 1)) + [np.inf]
    frame = pd.DataFrame({"x": values, "y": ["a", "b"] * (n // 2)})
    features, actions = learn_features(frame, profile(frame, "y"))
    assert features[0].missing_indicator is True
    assert features[0].fill == pytest.approx(np.median(values[:-1]), rel=1e-6)
    assert np.isfinite(features[0].mean)
    assert {a["step"] for a in actions} == {"impute"}


# --- raw inputs ----------------------------------------------------------------------------------


def test_raw_inputs_missing_columns():
    features = [Feature("island", "categorical", "string", key="island"),
                Feature("bill_length_mm", "numeric", "number", key="bill_length_mm"),
                Feature("sex", "categorical", "string", key="sex")]
    frame = pd.DataFrame({"bill_length_mm": [39.1]})
    with pytest.raises(ColumnError) as info:
        raw_inputs(frame, features)
    assert info.value.column == "island"
    assert info.value.exit_code == 2
    assert info.value.message == (
        'column "island": required by the model but not in the data (missing: island, sex)')


def test_raw_inputs_on_penguins():
    _, prof = _penguins()
    parts = _penguin_split(0)
    features, _ = learn_features(parts.train, prof)
    inputs = raw_inputs(parts.test, features)
    assert set(inputs) == {f.key for f in features}
    sex = inputs["sex"]
    assert sex.dtype == object
    assert len(sex) == len(parts.test)
    assert set(sex) <= {"male", "female", ""}
    assert (sex == "").sum() == parts.test["sex"].isna().sum()
    mass = inputs["body_mass_g"]
    assert mass.dtype == np.float32
    assert np.isnan(mass).sum() == parts.test["body_mass_g"].isna().sum()
    assert inputs["year"].dtype == np.float32
    assert set(inputs["year"].tolist()) <= {2007.0, 2008.0, 2009.0}


def test_raw_inputs_converts_missing_strings_and_strips():
    frame = pd.DataFrame({"colour": ["red", None, np.nan, " blue "], "other": [1, 2, 3, 4]})
    inputs = raw_inputs(frame, [Feature("colour", "categorical", "string", key="colour_key")])
    assert list(inputs) == ["colour_key"]
    assert inputs["colour_key"].tolist() == ["red", "", "", "blue"]


def test_raw_column_numbers():
    values = pd.Series(["1.5", "?", None, "inf", "2"])
    out = raw_column(values, "number")
    assert out.dtype == np.float32
    assert out[0] == np.float32(1.5) and out[4] == 2.0
    assert np.isnan(out[1:4]).all()
    out = raw_column(pd.Series([1.0, np.inf, -np.inf, np.nan]), "number")
    assert out[0] == 1.0 and np.isnan(out[1:]).all()


# --- input keys ----------------------------------------------------------------------------------


def test_input_key_sanitises_wine_column():
    frame = read_table(DATA / "wine.csv").frame
    features, _ = learn_features(frame, profile(frame, "target"))
    keys = {f.name: f.key for f in features}
    assert keys["od280/od315_of_diluted_wines"] == "od280_od315_of_diluted_wines"
    assert keys["alcohol"] == "alcohol"
    assert len(set(keys.values())) == len(keys)


def test_input_keys_are_unique():
    taken: set[str] = set()
    assert input_key("a b", taken) == "a_b"
    assert input_key("a_b", taken) == "a_b_2"
    assert input_key("A B", taken) == "A_B_3"  # unique ignoring case
    assert input_key("a_b_2", taken) == "a_b_2_2"
    assert taken == {"a_b", "a_b_2", "a_b_3", "a_b_2_2"}


@pytest.mark.parametrize(
    "name, key",
    [("od280/od315_of_diluted_wines", "od280_od315_of_diluted_wines"), ("mean radius", "mean_radius"),
     ("1st", "c_1st"), ("_x", "c__x"), ("", "column"), ("  ", "column"), ("caf\xe9", "caf_"),
     (" padded ", "padded"), ("rate.%", "rate__"), ("x-y", "x_y"), ("Lot.Area", "Lot_Area"), ("class", "class_"),
     ("from", "from_"), ("None", "None_")],
)
def test_input_key_characters(name, key):
    assert input_key(name, set()) == key


def test_input_keys_are_parameter_names_tensorflow_keeps_as_they_are():
    """A SavedModel signature's input names are tf.function parameter names: an identifier, no keyword, or
    TensorFlow renames it ("a.b" to "a_b", colliding with a column "a_b") or refuses it ("class")."""
    import inspect
    import keyword

    taken: set[str] = set()
    keys = [input_key(name, taken) for name in ("a.b", "a_b", "a-b", "class", "Class", "lambda", "1.5", "x y")]
    assert keys == ["a_b", "a_b_2", "a_b_3", "class_", "Class", "lambda_", "c_1_5", "x_y"]
    for key in keys:
        assert key.isidentifier() and not keyword.iskeyword(key)
        inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY)  # what tf.function builds from it


def test_breast_cancer_keys():
    frame = read_table(DATA / "breast_cancer.csv").frame
    features, _ = learn_features(frame, profile(frame, "target"))
    assert [f.key for f in features][:3] == ["mean_radius", "mean_texture", "mean_perimeter"]
    assert all(" " not in f.key for f in features)


# --- Feature serialisation -------------------------------------------------------------------------


def test_feature_round_trip():
    _, features, _ = penguin_features()
    for feature in features.values():
        data = feature.to_dict()
        assert isinstance(data["vocabulary"], list)
        assert Feature.from_dict(data) == feature
        assert Feature.from_dict(json.loads(json.dumps(data))) == feature


def test_feature_to_dict_omits_unset_fields():
    _, features, _ = penguin_features()
    sex = features["sex"].to_dict()
    assert sex == {"name": "sex", "kind": "categorical", "dtype": "string", "missing_indicator": True,
                   "vocabulary": ["female", "male", ""], "key": "sex"}
    mass = features["body_mass_g"].to_dict()
    assert mass["vocabulary"] == []
    assert set(mass) == {"name", "kind", "dtype", "fill", "clip_low", "clip_high", "mean", "variance",
                         "missing_indicator", "vocabulary", "key", "knots"}


def test_knots_are_the_distinct_training_quantiles():
    from autotune.data.clean import quantile_knots

    values = np.arange(101, dtype=np.float64)
    assert quantile_knots(values, bins=4) == (0.0, 25.0, 50.0, 75.0, 100.0)
    counts = np.array([0.0] * 80 + [1.0, 2.0, 3.0, 5.0, 8.0] * 4)  # 80 % zeros: the quantiles collapse
    knots = quantile_knots(counts, bins=10)
    assert knots[0] == 0.0 and knots[-1] == 8.0 and list(knots) == sorted(set(knots))
    assert quantile_knots(np.array([0.0, 1.0] * 50), bins=16) == ()  # binary: one ramp is the value itself
    _, features, _ = penguin_features()
    mass = features["body_mass_g"]
    train = _penguin_split(0).train["body_mass_g"].dropna()
    assert mass.knots[0] == train.min() and mass.knots[-1] == train.max() and len(mass.knots) == 17
    assert Feature.from_dict(mass.to_dict()) == mass


def test_the_ramps_are_finer_where_the_training_rows_can_place_them():
    """One ramp per 64 training values, between 16 and 64: a number with hundreds of distinct values in thousands of
    rows (gss_wages' occupation code, diamonds' carat) gets ramps as fine as gradient boosting's splits need, a small
    table's stay at 16."""
    from autotune.data.clean import quantile_knots

    rng = np.random.default_rng(0)
    assert len(quantile_knots(rng.lognormal(size=300))) == 17
    assert len(quantile_knots(rng.lognormal(size=2048))) == 33
    assert len(quantile_knots(rng.lognormal(size=30_000))) == 65
    codes = rng.integers(0, 20, size=30_000).astype(np.float64)  # 20 distinct values: no more knots than values
    assert len(quantile_knots(codes)) == 20


def test_feature_from_dict_without_vocabulary():
    feature = Feature.from_dict({"name": "x", "kind": "numeric", "dtype": "number", "fill": 1.0, "key": "x"})
    assert feature.vocabulary == ()
    assert feature.fill == 1.0 and feature.mean is None


# --- describe_action ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action, line",
    [
        ({"step": "drop_rows", "reason": "missing target", "rows": 3}, "dropped 3 row(s): missing target"),
        ({"step": "drop_column", "column": "row_id", "reason": "constant"}, 'dropped column "row_id": constant'),
        ({"step": "impute", "column": "sex", "rows": 6, "how": "a 'missing' category of its own"},
         "filled 6 missing value(s) in \"sex\" with a 'missing' category of its own"),
        ({"step": "clip_outliers", "column": "mass", "rows": 2, "range": [-12.345678, 98765.4321]},
         'clipped 2 outlier(s) in "mass" to [-12.35, 9.877e+04]'),
        ({"step": "rare_categories", "column": "cat", "categories": 10,
          "how": "all but the 50 most frequent share one 'other' slot"},
         "\"cat\": 10 rare categories grouped (all but the 50 most frequent share one 'other' slot)"),
    ],
    ids=["drop_rows", "drop_column", "impute", "clip_outliers", "rare_categories"],
)
def test_describe_action(action, line):
    assert describe_action(action) == line


def test_describe_unknown_action_falls_back_to_the_dict():
    assert describe_action({"step": "something_new", "column": "x"}) == "{'step': 'something_new', 'column': 'x'}"


def test_every_action_learned_on_real_data_is_described():
    frame = read_table(DATA / "breast_cancer.csv").frame
    _, actions = learn_features(frame, profile(frame, "target"))
    _, _, penguin_actions = penguin_features()
    steps = set()
    for action in actions + penguin_actions:
        line = describe_action(action)
        steps.add(action["step"])
        assert line != str(action)
        assert f'"{action["column"]}"' in line
    assert steps == {"clip_outliers", "impute"}


def test_select_features_corr_drops_the_later_of_correlated_columns():
    """breast-cancer's radius, perimeter and area are near-duplicates of each other."""
    from autotune.data.clean import drop_correlated

    frame = read_table(DATA / "breast_cancer.csv").frame
    prof = profile(frame, "target")
    features, actions = learn_features(frame, prof)
    kept = drop_correlated(frame, features, actions)
    names = {f.name for f in kept}
    assert "mean radius" in names and "mean perimeter" not in names and "mean area" not in names
    reasons = {a["column"]: a["reason"] for a in actions if a["step"] == "drop_column"}
    assert reasons["mean perimeter"].startswith('correlated with "mean radius" (|r| = 0.99')
    corr = frame[[f.name for f in kept]].corr().abs().to_numpy()
    assert (corr[np.triu_indices(len(kept), 1)] <= 0.95).all()
    assert learn_features(frame, prof, "corr")[0] == kept


def test_text_words_split_as_the_models_text_layer_does():
    from autotune.data.clean import text_words

    # ASCII letters lowercased (TensorFlow's tf.strings.lower), punctuation a word boundary (inside words too), split
    # on ASCII whitespace only: a non-breaking space joins, a non-ASCII capital stays
    assert text_words("Don't STOP-me,\tnow!\n") == ["don", "t", "stop", "me", "now"]
    assert text_words("Émile\u00a0Zola  café") == ["Émile\u00a0zola", "café"]
    assert text_words("") == [] and text_words(" ... ") == []


def test_a_link_or_a_hyphenated_word_gives_words_that_other_rows_share():
    """Punctuation deleted made each link one word of its own ("httpstcoa1b2"), seen in one row and so never in the
    vocabulary: on trump_tweets (which phone sent the tweet) the links are much of the signal — logistic regression
    on the words 0.797 with punctuation deleted, 0.847 with punctuation a boundary (bench/README, issue 20)."""
    from autotune.data.clean import text_words

    assert text_words("Watch: https://t.co/A1b2C3") == ["watch", "https", "t", "co", "a1b2c3"]
    assert text_words("well-known e.g. A&B") == ["well", "known", "e", "g", "a", "b"]


def test_a_text_columns_vocabulary_and_idf_come_from_the_training_rows_only():
    from autotune.data.clean import TEXT_MIN_DOCUMENTS

    reviews = ["good dog food", "good taste", "bad smell", "good good good", "bad food", "stale biscuits"] * 10
    train = pd.DataFrame({"review": reviews, "y": ["a", "b"] * 30})
    prof = profile(pd.concat([train, pd.DataFrame({"review": ["unheardof words here"] * 3, "y": ["a"] * 3})]), "y",
                   text_columns=("review",))  # six distinct reviews: a category, unless named
    features, actions = learn_features(train, prof)
    text = features[0]
    counts = {w: sum(r.split().count(w) for r in reviews) for w in ("good", "food", "bad")}
    assert text.vocabulary[:3] == ("good", "bad", "food") and counts["good"] > counts["bad"] == counts["food"]
    assert "unheardof" not in text.vocabulary  # only in rows the model did not learn from
    documents = sum("good" in r.split() for r in reviews)
    assert text.idf[0] == pytest.approx(np.log1p(len(reviews) / (1 + documents)))
    rare = pd.DataFrame({"review": ["alpha beta", "gamma delta", "alpha gamma"] * 1 + ["x y"] * 2, "y": list("ababa")})
    words, _ = learn_features(rare, profile(rare, "y", text_columns=("review",)))
    assert TEXT_MIN_DOCUMENTS == 2 and words[0].vocabulary == ("alpha", "gamma", "x", "y")  # beta, delta: one row
    assert Feature.from_dict(text.to_dict()) == text
    assert [a for a in actions if a["step"] == "text"][0]["words"] == len(text.vocabulary)


def test_a_text_columns_sequence_length_covers_nine_training_cells_in_ten_within_bounds():
    """The sequence encoders read a text's first words: as many as nine training cells in ten have, at least
    TEXT_SEQUENCE_MIN and at most TEXT_SEQUENCE_MAX; the cleaning note says how many cells are longer."""
    from autotune.data.clean import TEXT_SEQUENCE_MAX, TEXT_SEQUENCE_MIN, sequence_length

    assert sequence_length(list(range(1, 101))) == (91, 9)  # 1..100 words: the 0.9 quantile 90.1, up to 91
    assert sequence_length([1, 2, 2, 1]) == (TEXT_SEQUENCE_MIN, 0)
    assert sequence_length([500] * 10) == (TEXT_SEQUENCE_MAX, 10)
    words = [f"w{i}" for i in range(40)]
    rows = [" ".join(words[: 3 + i % 20]) for i in range(60)]  # 3..22 words
    train = pd.DataFrame({"review": rows, "y": ["a", "b"] * 30})
    features, actions = learn_features(train, profile(train, "y", text_columns=("review",)), word_ids=True)
    lengths = [3 + i % 20 for i in range(60)]
    assert features[0].sequence_length == int(np.ceil(np.quantile(lengths, 0.9)))
    [note] = [describe_action(a) for a in actions if a["step"] == "text"]
    longer = sum(n > features[0].sequence_length for n in lengths)
    assert f"first {features[0].sequence_length} words ({longer} training cell(s) are longer" in note
    assert Feature.from_dict(features[0].to_dict()) == features[0]
    # a search without sequence encoders (the default space) has no word ids to read: none are made
    plain, actions = learn_features(train, profile(train, "y", text_columns=("review",)))
    assert plain[0].sequence_length == 0 and "sequence" not in describe_action(
        next(a for a in actions if a["step"] == "text"))


def test_the_numbers_ramps_stay_within_a_budget_of_cells_on_large_tables():
    """One ramp per 64 rows (up to 64) for every number made 1,000,000 rows x 45 numbers a matrix of 2,900 columns:
    the final fit was killed for memory at 24 GB (bench/large.py). The ramps of all the numbers together stay within
    RAMP_CELLS numbers; below that nothing changes (the suite's largest, flights, ~51M)."""
    from autotune.data.clean import RAMP_CELLS

    rng = np.random.default_rng(0)
    rows, numbers = 100_000, 24  # 2.4M cells a ramp: the budget gives fewer than the rule's 64
    frame = pd.DataFrame(rng.normal(size=(rows, numbers)), columns=[f"x{i}" for i in range(numbers)])
    frame["y"] = rng.choice(["a", "b"], rows)
    features, actions = learn_features(frame, profile(frame, "y"))
    ramps = [len(f.knots) - 1 for f in features]
    assert max(ramps) == RAMP_CELLS // (rows * numbers) < 64
    assert sum(ramps) * rows <= RAMP_CELLS
    [note] = [a for a in actions if a["step"] == "ramps"]
    assert "budget" in describe_action(note) and f"{max(ramps)}" in describe_action(note)

    small = frame.iloc[:20_000, :4].assign(y=frame.y[:20_000])  # 4 numbers: the rule's 64 ramps a number
    features, actions = learn_features(small, profile(small, "y"))
    assert [len(f.knots) - 1 for f in features] == [64] * 4
    assert not [a for a in actions if a["step"] == "ramps"]


def test_a_search_folds_features_are_learned_within_the_training_splits_under_its_input_keys():
    """A search fold learns its own statistics on its own rows, but only for the columns the training split keeps
    (`within`): a column constant in the split's rows and varying in the fold's (a validation row's value) is one the
    exported model does not take, so the fold leaves it out; a column the split keeps but the fold finds constant is
    dropped by the fold; and each kept column keeps the split's input key - here "a b" and "a_b" both make "a_b", so
    the split names the second "a_b_2", which it stays in a fold that drops the first."""
    n = 60
    frame = pd.DataFrame({"a b": np.r_[np.zeros(n - 1), 1.0], "a_b": rng_numbers(n), "late": np.r_[np.zeros(n // 2),
                          rng_numbers(n // 2, 1)], "y": rng_numbers(n, 2)})
    prof = profile(frame, "y")
    outer, _ = learn_features(frame.iloc[20:], prof)
    assert [(f.name, f.key) for f in outer] == [("a b", "a_b"), ("a_b", "a_b_2"), ("late", "late")]
    fold_rows = frame.iloc[10:25]  # "a b" and "late" are constant (0) in these rows
    assert [(f.name, f.key) for f in learn_features(fold_rows, prof, within=outer)[0]] == [("a_b", "a_b_2")]
    assert [(f.name, f.key) for f in learn_features(fold_rows, prof)[0]] == [("a_b", "a_b")]
    varying = frame.iloc[:40]  # "late" varies in these rows: a fold within a split that drops it leaves it out too
    narrow = [f for f in outer if f.name != "late"]
    assert [f.name for f in learn_features(varying, prof, within=narrow)[0]] == ["a_b"]
    assert [f.name for f in learn_features(varying, prof)[0]] == ["a_b", "late"]
