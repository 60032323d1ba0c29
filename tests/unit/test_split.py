"""Row cleaning before the split and the stratified train/validation/test split (autotune.data.split)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import load

from autotune.data.profile import label_strings, profile
from autotune.data.split import drop_unusable_rows, split, target_values
from autotune.errors import ColumnError, InputError


def penguins():
    frame = load("penguins.csv")
    return frame, profile(frame, "species")


def labelled(labels: list[str], seed: int = 0) -> tuple[pd.DataFrame, object]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=len(labels)), "y": labels})
    return frame, profile(frame, "y")


# --- drop_unusable_rows --------------------------------------------------------------------------


def test_nothing_dropped_from_clean_data():
    frame, prof = penguins()
    kept, actions = drop_unusable_rows(frame, prof)
    assert actions == []
    assert len(kept) == 344
    pd.testing.assert_frame_equal(kept, frame)


def test_drops_missing_targets_and_duplicates():
    frame = load("penguins.csv")
    frame.loc[[10, 20, 30], "species"] = np.nan
    frame = pd.concat([frame, frame.loc[[0, 1, 2, 100]]], ignore_index=True)  # 4 exact copies
    prof = profile(frame, "species")
    assert prof.target_missing == 3
    kept, actions = drop_unusable_rows(frame, prof)
    assert actions == [
        {"step": "drop_rows", "reason": "missing target", "rows": 3},
        {"step": "drop_rows", "reason": "exact duplicate in the feature columns and the target", "rows": 4},
    ]
    assert len(kept) == 348 - 3 - 4 == 341
    assert kept["species"].notna().all()
    assert not kept.duplicated().any()
    assert list(kept.index) == list(range(341))


def test_rows_differing_only_in_target_are_not_duplicates():
    frame = load("penguins.csv")
    copy = frame.loc[[5]].copy()
    copy["species"] = "Gentoo"
    frame = pd.concat([frame, copy], ignore_index=True)
    kept, actions = drop_unusable_rows(frame, profile(frame, "species"))
    assert actions == []
    assert len(kept) == 345


def test_duplicate_of_row_with_missing_target_counts_once():
    frame = load("penguins.csv")
    frame.loc[7, "species"] = np.nan
    frame = pd.concat([frame, frame.loc[[7]]], ignore_index=True)
    kept, actions = drop_unusable_rows(frame, profile(frame, "species"))
    assert actions == [{"step": "drop_rows", "reason": "missing target", "rows": 2}]
    assert len(kept) == 343


def test_regression_rows_with_unreadable_target_are_dropped():
    frame = load("diabetes.csv")
    frame["progression"] = frame["progression"].astype(object)
    frame.loc[[3, 4], "progression"] = "?"
    prof = profile(frame, "progression", task="regression")
    assert prof.target_summary["min"] == 25.0
    kept, actions = drop_unusable_rows(frame, prof)
    assert actions == [{"step": "drop_rows", "reason": "missing target", "rows": 2}]
    assert len(kept) == 440
    assert "?" not in set(kept["progression"])


def test_target_values():
    frame = pd.DataFrame({"x": range(4), "y": [1.0, 0.0, np.nan, 1.0]})
    prof = profile(pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5], "y": [1.0, 0.0, 0.0, 1.0]}), "y")
    values = target_values(frame, prof)
    assert values.iloc[[0, 1, 3]].tolist() == ["1", "0", "1"]
    assert pd.isna(values.iloc[2])


# --- split ---------------------------------------------------------------------------------------


def test_split_sizes():
    frame, prof = penguins()
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    n_test = math.ceil(0.2 * 344)
    n_val = math.ceil(0.2 * (344 - n_test))
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (344 - n_test - n_val, n_val, n_test)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (220, 55, 69)
    assert len(parts.test) / 344 == pytest.approx(0.2, abs=0.01)
    for x, y in ((parts.train, parts.y_train), (parts.validation, parts.y_validation), (parts.test, parts.y_test)):
        assert len(x) == len(y)
        assert list(x.index) == list(y.index)


def test_split_parts_are_disjoint_and_complete():
    frame, prof = penguins()
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    train, val, test = (set(p.index) for p in (parts.train, parts.validation, parts.test))
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(frame.index)


def test_split_labels_are_strings_matching_the_rows():
    frame, prof = penguins()
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    assert parts.y_train.tolist() == label_strings(parts.train["species"]).tolist()
    assert parts.y_test.tolist() == parts.test["species"].tolist()


def test_stratification_keeps_every_class_in_every_part():
    frame, prof = penguins()
    totals = frame["species"].value_counts()
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    for y in (parts.y_train, parts.y_validation, parts.y_test):
        assert set(y) == {"Adelie", "Gentoo", "Chinstrap"}
    for label, total in totals.items():
        assert abs(int((parts.y_test == label).sum()) - 0.2 * total) <= 1
        rest = total - int((parts.y_test == label).sum())
        assert abs(int((parts.y_validation == label).sum()) - 0.2 * rest) <= 1


def test_wine_split_keeps_all_three_classes():
    frame = load("wine.csv")
    parts = split(frame, profile(frame, "target"), 0.2, 0.2, seed=3)
    for y in (parts.y_train, parts.y_validation, parts.y_test):
        assert set(y) == {"class_0", "class_1", "class_2"}


def test_same_seed_same_split_different_seed_different_split():
    frame, prof = penguins()
    a = split(frame, prof, 0.2, 0.2, seed=7)
    b = split(frame, prof, 0.2, 0.2, seed=7)
    c = split(frame, prof, 0.2, 0.2, seed=8)
    for name in ("train", "validation", "test"):
        assert list(getattr(a, name).index) == list(getattr(b, name).index)
    pd.testing.assert_frame_equal(a.train, b.train)
    assert list(a.test.index) != list(c.test.index)
    assert set(a.test.index) != set(c.test.index)
    assert set(a.validation.index) != set(c.validation.index)


@pytest.mark.parametrize("rare_rows", [1, 2])
def test_class_with_one_or_two_rows(rare_rows):
    frame, prof = labelled(["common"] * 20 + ["other"] * 20 + ["rare"] * rare_rows)
    with pytest.raises(ColumnError) as info:
        split(frame, prof, 0.2, 0.2, seed=0)
    err = info.value
    assert err.column == "y"
    assert err.exit_code == 2
    assert f'class "rare" has only {rare_rows} row(s)' in err.message


@pytest.mark.parametrize("rare_rows", [3, 4])
def test_class_with_few_rows_is_refused_with_its_true_count(rare_rows):
    frame, prof = labelled(["common"] * 40 + ["other"] * 40 + ["rare"] * rare_rows)
    with pytest.raises(ColumnError) as info:
        split(frame, prof, 0.2, 0.2, seed=0)
    assert f'class "rare" has only {rare_rows} row(s)' in info.value.message
    assert "at least 5" in info.value.message


def test_class_with_five_rows_reaches_train_and_test():
    frame, prof = labelled(["common"] * 40 + ["other"] * 40 + ["rare"] * 5)
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    assert "rare" in set(parts.y_train) and "rare" in set(parts.y_test)


def test_fewer_than_ten_rows():
    frame, prof = labelled(["a", "b", "c"] * 3)
    with pytest.raises(InputError) as info:
        split(frame, prof, 0.2, 0.2, seed=0)
    assert info.value.exit_code == 2
    assert "only 9 usable rows" in info.value.message
    assert "at least 10" in info.value.message


def test_too_few_rows_for_the_number_of_classes():
    frame, prof = labelled(["a", "b", "c", "d", "e"] * 5)  # 25 rows, 5 classes: a validation set of 4 rows
    with pytest.raises(InputError) as info:
        split(frame, prof, 0.2, 0.2, seed=0)
    assert not isinstance(info.value, ColumnError)
    assert "25 rows are too few to give each of 5 classes a place in the test set (20%)" in info.value.message


@pytest.mark.parametrize("test_size", [0, 1, 1.5, -0.1])
def test_test_size_out_of_range(test_size):
    frame, prof = penguins()
    with pytest.raises(InputError) as info:
        split(frame, prof, test_size, 0.2, seed=0)
    assert info.value.message == f"--test-size must be between 0 and 1, got {test_size}"


def test_regression_split():
    frame = load("diabetes.csv")
    prof = profile(frame, "progression")
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (282, 71, 89)
    assert parts.y_train.dtype == np.float64
    assert parts.y_test.tolist() == parts.test["progression"].astype(float).tolist()
    again = split(frame, prof, 0.2, 0.2, seed=0)
    assert list(again.test.index) == list(parts.test.index)


def test_regression_with_unique_targets_is_not_stratified():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=20), "y": rng.normal(size=20)})
    prof = profile(frame, "y")
    assert prof.task == "regression"
    parts = split(frame, prof, 0.2, 0.2, seed=0)  # every value is its own "class": fine without strata
    assert (len(parts.train), len(parts.validation), len(parts.test)) == (12, 4, 4)


def test_ten_rows_are_enough_as_the_message_says():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=10), "y": rng.normal(size=10)})
    prof = profile(frame, "y")
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    assert len(parts.train) + len(parts.validation) + len(parts.test) == 10


def test_after_dropping_rows_split_uses_the_clean_frame():
    frame = load("penguins.csv")
    frame.loc[[1, 2], "species"] = np.nan
    prof = profile(frame, "species")
    kept, _ = drop_unusable_rows(frame, prof)
    parts = split(kept, prof, 0.2, 0.2, seed=0)
    assert len(parts.train) + len(parts.validation) + len(parts.test) == 342
    assert not any(pd.isna(v) for v in parts.y_train)


# --- duplicates are judged on what the model reads (issue 14, item 3) ------------------------------


def _re_entered_penguins(copies: int = 100, seed: int = 0) -> pd.DataFrame:
    """penguins with a record_id column, plus `copies` random rows entered again under new ids."""
    frame = load("penguins.csv")
    frame.insert(0, "record_id", [f"R{i:05d}" for i in range(len(frame))])
    again = frame.sample(copies, replace=True, random_state=seed).copy()
    again["record_id"] = [f"R{i:05d}" for i in range(len(frame), len(frame) + copies)]
    return pd.concat([frame, again], ignore_index=True)


def _vectors(part: pd.DataFrame, prof) -> set[tuple]:
    from autotune.data.clean import raw_column

    columns = [raw_column(part[c.name], c.dtype) for c in prof.features] + [target_values(part, prof).to_numpy()]
    return {tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in row) for row in zip(*columns, strict=True)}


def test_re_entered_rows_with_a_new_id_do_not_leak_into_the_test_split():
    frame = _re_entered_penguins()
    prof = profile(frame, "species")
    assert prof.column("record_id").kind == "id"
    kept, actions = drop_unusable_rows(frame, prof)
    assert len(kept) == 344
    [action] = actions
    assert action["rows"] == 100 and action["reason"].startswith("exact duplicate in the feature columns")
    assert '"record_id"' in action["reason"]
    parts = split(kept, prof, 0.2, 0.2, seed=0)
    seen = _vectors(parts.train, prof) | _vectors(parts.validation, prof)
    assert not _vectors(parts.test, prof) & seen


def test_duplicates_are_compared_as_the_model_reads_the_values():
    """" Biscoe " is "Biscoe" to the model (and to `autotune predict`), so a row differing only there is a copy."""
    frame = load("penguins.csv")
    copy = frame.loc[[3]].copy()
    copy["island"] = f" {copy['island'].iloc[0]} "
    frame = pd.concat([frame, copy], ignore_index=True)
    kept, actions = drop_unusable_rows(frame, profile(frame, "species"))
    assert len(kept) == 344 and actions[0]["rows"] == 1


def _tricky_frame(rows: int, seed: int) -> pd.DataFrame:
    """Columns whose equal values have different bits or types: -0.0 and 0.0, NaN and None, 1 and 1.0 and True in
    one object column, pandas' string and nullable dtypes, categoricals, datetimes; few distinct values a column, so
    that many rows repeat, some in every column."""
    rng = np.random.default_rng(seed)
    pick = lambda values: [values[i] for i in rng.integers(0, len(values), rows)]  # noqa: E731
    return pd.DataFrame({
        "zero": pick([0.0, -0.0, 1.5]),
        "nan": pick([np.nan, float("nan"), np.float64(-np.nan), 2.0]),
        "mixed": pd.Series(pick([1, 1.0, True, "1", None, np.nan, -0.0, 0.0]), dtype=object),
        "text": pd.Series(pick(["a", "b", None]), dtype="string"),
        "ints": pd.Series(pick([1, 2, None]), dtype="Int64"),
        "floats": pd.Series(pick([0.0, -0.0, None]), dtype="Float64"),
        "flags": pick([True, False]),
        "category": pd.Categorical(pick(["x", "y", "z"])),
        "when": pd.to_datetime(pick(["2020-01-01", "2021-06-30", None])),
    })


@pytest.mark.parametrize("seed", range(4))
def test_duplicate_rows_equals_pandas_duplicated(seed):
    """drop_unusable_rows and profile find duplicates by a hash of each row first (1,000,000 rows × 50 columns:
    pandas' duplicated factorised every column, 6 s a call, two calls a load); equal rows must hash alike, so the
    answer is pandas' own to the row, -0.0 = 0.0, NaN = NaN = None and 1 = 1.0 = True included."""
    from autotune.data.profile import duplicate_rows

    frame = _tricky_frame(400, seed)
    for columns in (list(frame.columns), ["zero", "nan"], ["mixed"], ["text", "ints", "floats"],
                    ["flags", "category", "when"]):
        part = frame[columns]
        expected = part.duplicated()
        assert 0 < expected.sum() < len(part)
        pd.testing.assert_series_equal(duplicate_rows(part), expected)
    shuffled = frame.sample(frac=1, random_state=seed)  # an index out of order, as after dropping rows
    pd.testing.assert_series_equal(duplicate_rows(shuffled), shuffled.duplicated())
    assert not duplicate_rows(frame.iloc[:0]).any() and len(duplicate_rows(frame.iloc[:, :0])) == len(frame)


def test_floats_are_hashed_by_value_on_any_pandas():
    """pandas 2 (setup.py allows 2.2) hashes a float's bits: duplicate_rows then hashes canonical_floats, where -0.0
    and 0.0, and NaNs of any sign or payload, are one bit pattern each."""
    from autotune.data.profile import _NAN_WITH_PAYLOAD, canonical_floats

    values = pd.Series([0.0, -0.0, np.nan, -np.nan, _NAN_WITH_PAYLOAD, 2.5])
    assert len(set(values.to_numpy().view(np.uint64).tolist())) == 6  # the bits differ...
    bits = canonical_floats(values).to_numpy().view(np.uint64)
    assert bits[0] == bits[1] and bits[2] == bits[3] == bits[4] and bits[5] != bits[0]  # ...and are made one
    masked = canonical_floats(pd.Series([-0.0, None, 1.0], dtype="Float64")).to_numpy()
    assert masked.view(np.uint64)[0] == np.float64(0.0).view(np.uint64) and np.isnan(masked[1])


@pytest.mark.parametrize("seed", [0, 7])
def test_the_split_is_the_one_splitting_the_frame_by_its_labels_gives(seed):
    """split() splits row positions and stratifies on the labels' sorted integer codes (a 1,000,000-row frame was
    taken twice and its string labels sorted twice: 6.1 s); the parts, their rows and order, are those of
    train_test_split on the frame and its labels, for classes and for regression."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(seed)
    labels = rng.choice(["b", "a", "C", "a b", "10", "9"], 600, p=[0.3, 0.3, 0.1, 0.1, 0.1, 0.1])
    frame = pd.DataFrame({"x": rng.normal(size=600), "y": labels}, index=rng.permutation(600) + 1000)
    for data, target in ((frame, "y"), (frame.assign(y=rng.normal(size=600)), "y")):
        prof = profile(data, target)
        parts = split(data, prof, 0.2, 0.25, seed)
        y = target_values(data, prof)
        stratified = prof.task == "classification"
        train, test, y_train, y_test = train_test_split(data, y, test_size=0.2, random_state=seed,
                                                        stratify=y if stratified else None)
        train, val, y_train, y_val = train_test_split(train, y_train, test_size=0.25, random_state=seed,
                                                      stratify=y_train if stratified else None)
        for got, expected in ((parts.train, train), (parts.validation, val), (parts.test, test)):
            pd.testing.assert_frame_equal(got, expected)
        for got, expected in ((parts.y_train, y_train), (parts.y_validation, y_val), (parts.y_test, y_test)):
            pd.testing.assert_series_equal(got, expected)
