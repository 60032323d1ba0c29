"""Profiling (autotune.data.profile): column kinds, the task, the target's distribution and the warnings."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load

from autotune.data.load import read_table
from autotune.data.profile import (
    CATEGORICAL,
    CLASSIFICATION,
    CONSTANT,
    ID,
    NUMERIC,
    REGRESSION,
    TEXT,
    coerce_numeric,
    infer_kind,
    infer_task,
    label_strings,
    profile,
)
from autotune.errors import ColumnError, InputError


def kinds(prof) -> dict[str, tuple[str, str]]:
    return {c.name: (c.kind, c.dtype) for c in prof.columns}


def numbers(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(10.0, 3.0, size=n).round(3)


# --- the shipped data -------------------------------------------------------------------------


def test_penguins_profile():
    prof = profile(load("penguins.csv"), "species")
    assert prof.rows == 344
    assert prof.target == "species"
    assert prof.task == CLASSIFICATION
    assert kinds(prof) == {
        "island": (CATEGORICAL, "string"),
        "bill_length_mm": (NUMERIC, "number"),
        "bill_depth_mm": (NUMERIC, "number"),
        "flipper_length_mm": (NUMERIC, "number"),
        "body_mass_g": (NUMERIC, "number"),
        "sex": (CATEGORICAL, "string"),
        "year": (CATEGORICAL, "number"),
    }
    assert prof.class_counts == {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    assert list(prof.class_counts) == ["Adelie", "Gentoo", "Chinstrap"]  # most frequent first
    assert prof.target_summary is None
    assert prof.target_missing == 0
    assert prof.warnings == ()  # 68 >= 152 / 3: no imbalance warning
    assert prof.column("sex").missing == 11
    assert prof.column("sex").unique == 2
    assert prof.column("year").unique == 3
    assert prof.column("island").unique == 3
    assert prof.column("bill_length_mm").missing == 2
    assert [c.name for c in prof.features] == [c.name for c in prof.columns]
    assert all(c.stray_values == () for c in prof.columns)


def test_profile_to_dict():
    prof = profile(load("penguins.csv"), "species")
    data = prof.to_dict()
    assert data["task"] == "classification"
    assert data["rows"] == 344
    assert data["class_counts"] == {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    sex = next(c for c in data["columns"] if c["name"] == "sex")
    assert sex == {"name": "sex", "kind": "categorical", "dtype": "string", "missing": 11, "unique": 2,
                   "stray_values": (), "thousands": False}


def test_diabetes_is_regression_with_categorical_sex():
    frame = load("diabetes.csv")
    prof = profile(frame, "progression")
    assert prof.task == REGRESSION
    assert prof.class_counts is None
    assert prof.column("sex").kind == CATEGORICAL
    assert prof.column("sex").dtype == "number"
    assert prof.column("sex").unique == 2
    assert {c.name for c in prof.columns if c.kind == NUMERIC} == {
        "age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"}
    assert set(prof.target_summary) == {"mean", "std", "min", "50%", "max"}
    y = frame["progression"]
    assert prof.target_summary["mean"] == pytest.approx(y.mean())
    assert prof.target_summary["std"] == pytest.approx(y.std())
    assert prof.target_summary["min"] == y.min()
    assert prof.target_summary["50%"] == y.median()
    assert prof.target_summary["max"] == y.max()
    assert prof.warnings == ()


@pytest.mark.parametrize(
    "name, counts",
    [("wine.csv", {"class_1": 71, "class_0": 59, "class_2": 48}),
     ("breast_cancer.csv", {"benign": 357, "malignant": 212})],
)
def test_all_numeric_classification_sets(name, counts):
    frame = load(name)
    prof = profile(frame, "target")
    assert prof.task == CLASSIFICATION
    assert prof.class_counts == counts
    assert len(prof.columns) == frame.shape[1] - 1
    assert all((c.kind, c.dtype) == (NUMERIC, "number") for c in prof.columns)
    assert prof.warnings == ()


def test_target_is_not_profiled_as_a_feature():
    prof = profile(load("wine.csv"), "target")
    assert "target" not in [c.name for c in prof.columns]


# --- infer_kind ------------------------------------------------------------------------------


def test_integer_row_number_is_id():
    col = infer_kind("row", pd.Series(range(40)))
    assert (col.kind, col.dtype, col.unique, col.missing) == (ID, "number", 40, 0)


def test_id_by_name_for_sparse_unique_integers():
    values = pd.Series(np.random.default_rng(1).choice(100_000, size=40, replace=False))
    assert infer_kind("customer_id", values).kind == ID
    assert infer_kind("amount", values).kind == NUMERIC


def test_word_ending_in_id_is_not_an_id_name():
    values = pd.Series(np.random.default_rng(1).choice(100_000, size=40, replace=False))
    assert infer_kind("paid", values).kind == NUMERIC


def test_few_unique_integers_are_not_an_id():
    col = infer_kind("n", pd.Series(range(15)))  # unique, contiguous, but fewer than 20 rows
    assert col.kind == NUMERIC


def test_unique_strings_are_id():
    col = infer_kind("code", pd.Series([f"A{i:04d}" for i in range(40)]))
    assert (col.kind, col.dtype, col.unique) == (ID, "string", 40)


def test_unique_free_text_is_text():
    col = infer_kind("comment", pd.Series([f"the customer wrote note number {i}" for i in range(40)]))
    assert (col.kind, col.dtype) == (TEXT, "string")


def test_many_distinct_single_tokens_are_id_like_and_many_worded_strings_are_text():
    values = pd.Series([f"word{i}" for i in range(60)] * 2 + ["word0"] * 10)  # 60 distinct of 130
    assert infer_kind("w", values).kind == CATEGORICAL  # 60 <= 65: still a category
    values = pd.Series([f"word{i}" for i in range(60)] + ["word0"] * 10)  # 60 distinct of 70, one token each
    assert infer_kind("w", values).kind == ID
    titles = pd.Series([f"senior data engineer {i % 55}" for i in range(400)])  # 55 distinct of 400, many-worded
    col = infer_kind("title", titles)
    assert col.kind == TEXT and col.dtype == "string"
    assert col.text["words"] == {"median": 4.0, "p90": 4.0, "max": 4}
    assert col.text["vocabulary"] == 3 + 55 and col.text["chars"]["max"] == len("senior data engineer 54")
    degrees = pd.Series(["bachelor of arts", "master of science", "high school diploma"] * 40)
    assert infer_kind("degree", degrees).kind == CATEGORICAL  # worded, but three values: a category
    notes = pd.Series([f"seen on day {i}" for i in range(25)])  # every value distinct, worded: text
    assert infer_kind("note", notes).kind == TEXT



@pytest.mark.parametrize("dtype", [object, "string"])
def test_the_share_of_worded_values_counts_rows_not_distinct_values(dtype):
    """The worded share is judged once per distinct value (1,000,000 rows of a category: one regex call per row had
    been 1.2 s a column) but weighs each value by its rows: 100 worded values once each and one token in 300 rows is
    a quarter worded (not text), though 100 of its 101 distinct values are."""
    values = pd.Series([f"said thing {i}" for i in range(100)] + ["token"] * 300, dtype=dtype)
    assert infer_kind("said", values).kind != TEXT
    assert infer_kind("said", values.iloc[:200]).kind == TEXT  # 100 worded of 200 rows: half
    mixed = pd.Series([f"said thing {i}" for i in range(100)] + [1, 1.0, True] * 100, dtype=object)
    assert infer_kind("said", mixed).kind != TEXT  # an object column of several types: value by value, the same rule


def test_text_and_categorical_overrides_fix_a_column_kind_and_are_checked():
    frame = pd.DataFrame({"code": [f"c{i % 100}" for i in range(140)], "size": [i % 4 for i in range(140)],
                          "blank": [""] * 139 + ["x"], "y": ["a", "b"] * 70})
    assert {c.name: c.kind for c in profile(frame, "y").columns} == {"code": ID, "size": CATEGORICAL,
                                                                     "blank": CATEGORICAL}
    forced = profile(frame, "y", text_columns=("code",), categorical_columns=("size",))
    assert forced.column("code").kind == TEXT and forced.column("code").text["vocabulary"] == 100
    assert (forced.column("size").kind, forced.column("size").dtype) == (CATEGORICAL, "number")
    empty = profile(frame.assign(blank=np.nan), "y", text_columns=("blank",))
    assert empty.column("blank").kind == CONSTANT
    assert any('"blank" (named by --text-columns) is empty' in w for w in empty.warnings)
    with pytest.raises(ColumnError, match="not in the data") as info:
        profile(frame, "y", text_columns=("cod",))
    assert info.value.column == "cod"
    with pytest.raises(ColumnError, match="both --text-columns and --categorical-columns"):
        profile(frame, "y", text_columns=("code",), categorical_columns=("code",))
    with pytest.raises(ColumnError, match="is the target"):
        profile(frame, "y", text_columns=("y",))


@pytest.mark.parametrize(
    "values",
    [pd.Series([7] * 30), pd.Series(["same"] * 30), pd.Series([np.nan] * 30), pd.Series([1.0] * 20 + [np.nan] * 10)],
    ids=["int", "string", "all-missing", "one-value-and-missing"],
)
def test_constant_column(values):
    col = infer_kind("c", values)
    assert col.kind == CONSTANT
    assert col.missing == int(values.isna().sum())


def test_small_integer_column_is_categorical_number():
    col = infer_kind("rooms", pd.Series([1, 2, 3, 4, 5] * 8))
    assert (col.kind, col.dtype, col.unique) == (CATEGORICAL, "number", 5)
    col = infer_kind("rooms", pd.Series(list(range(11)) * 4))  # 11 values: more than 10
    assert col.kind == NUMERIC


def test_booleans_are_categorical_strings():
    col = infer_kind("flag", pd.Series([True, False] * 15))
    assert (col.kind, col.dtype) == (CATEGORICAL, "string")
    col = infer_kind("flag", pd.Series([True, False, None] * 10, dtype=object))
    assert (col.kind, col.dtype, col.missing) == (CATEGORICAL, "string", 10)


def test_numeric_text_with_stray_values():
    values = pd.Series([str(v) for v in numbers(98)] + ["?", "1,5"])
    col = infer_kind("m", values)
    assert (col.kind, col.dtype) == (NUMERIC, "number")
    assert col.stray_values == ("1,5", "?")


def test_mostly_text_is_not_numeric():
    col = infer_kind("m", pd.Series(["1", "2", "3", "x", "y"] * 10))  # 60% numbers
    assert (col.kind, col.dtype, col.stray_values) == (CATEGORICAL, "string", ())


def test_infinities_are_numeric_with_a_stray_marker():
    values = pd.Series(list(numbers(30)) + [np.inf, -np.inf])
    col = infer_kind("x", values)
    assert (col.kind, col.dtype) == (NUMERIC, "number")
    assert col.stray_values == ("inf",)


def test_stray_values_and_infinity_warnings_in_profile():
    n = 100
    frame = pd.DataFrame({
        "m": [str(v) for v in numbers(n - 2)] + ["?", "1,5"],
        "inf": list(numbers(n - 1, seed=2)) + [np.inf],
        "y": ["a", "b"] * (n // 2),
    })
    prof = profile(frame, "y")
    assert prof.column("m").kind == NUMERIC
    assert prof.column("m").stray_values == ("1,5", "?")
    assert prof.column("inf").kind == NUMERIC
    assert prof.column("inf").stray_values == ("inf",)
    assert prof.warnings == (
        "column \"m\": non-numeric values '1,5', '?' read as missing",
        "column \"inf\": non-numeric values 'inf' read as missing",
    )


def test_stray_values_read_from_csv(tmp_path):
    rows = ["size,label"] + [f"{v},{'ab'[i % 2]}" for i, v in enumerate(numbers(58))] + ["?,a", '"1,5",b']
    path = tmp_path / "stray.csv"
    path.write_text("\n".join(rows) + "\n")
    prof = profile(read_table(path).frame, "label")
    assert prof.column("size").kind == NUMERIC
    assert prof.column("size").stray_values == ("1,5", "?")
    assert any("'1,5', '?' read as missing" in w for w in prof.warnings)


def test_coerce_numeric():
    values, stray = coerce_numeric(pd.Series([" 1", "2.5", "?", None, "", "x", "?"]))
    assert values.dtype == np.float64
    assert values.iloc[:2].tolist() == [1.0, 2.5]
    assert values.iloc[2:].isna().all()
    assert stray == ("?", "x")
    values, stray = coerce_numeric(pd.Series([True, False]))
    assert values.tolist() == [1.0, 0.0] and stray == ()


# --- infer_task and label_strings --------------------------------------------------------------


@pytest.mark.parametrize(
    "values, task",
    [
        (["a", "b", "a"], CLASSIFICATION),
        ([0, 1, 1, 0], CLASSIFICATION),
        ([1.0, 2.0, 3.0], CLASSIFICATION),
        (list(range(20)), CLASSIFICATION),
        (list(range(21)), REGRESSION),
        ([1.5, 2.25, 3.0], REGRESSION),
        (["1.5", "2.5", "3"], REGRESSION),
        (["1", "2", "3"], CLASSIFICATION),
        ([True, False, True], CLASSIFICATION),
    ],
)
def test_infer_task(values, task):
    assert infer_task(pd.Series(values), "y") == task


def test_label_strings():
    assert label_strings(pd.Series([1.0, 2.0, 1.0])).tolist() == ["1", "2", "1"]
    assert label_strings(pd.Series([1, 2, 1])).tolist() == ["1", "2", "1"]
    assert label_strings(pd.Series([1.0, 1])).tolist() == label_strings(pd.Series([1, 1])).tolist() == ["1", "1"]
    mixed = label_strings(pd.Series([1.0, np.nan, 0.0]))
    assert mixed.iloc[0] == "1" and pd.isna(mixed.iloc[1]) and mixed.iloc[2] == "0"
    assert label_strings(pd.Series([" cat", "dog ", None])).iloc[:2].tolist() == ["cat", "dog"]
    assert pd.isna(label_strings(pd.Series([" cat", "dog ", None])).iloc[2])
    assert label_strings(pd.Series([1.5, 2.0])).tolist() == ["1.5", "2.0"]


def test_float_and_int_labels_give_the_same_class_counts():
    x = list(numbers(12))
    as_float = profile(pd.DataFrame({"x": x, "y": [1.0, 0.0] * 6}), "y")
    as_int = profile(pd.DataFrame({"x": x, "y": [1, 0] * 6}), "y")
    assert as_float.class_counts == as_int.class_counts == {"1": 6, "0": 6}


# --- errors and warnings -------------------------------------------------------------------------


def test_single_class_target():
    frame = load("penguins.csv")
    frame = frame[frame["species"] == "Adelie"]
    with pytest.raises(ColumnError) as info:
        profile(frame, "species")
    err = info.value
    assert err.column == "species"
    assert err.exit_code == 2
    assert err.message.startswith('column "species": ')
    assert 'only one class ("Adelie")' in err.message


def test_target_missing_in_every_row():
    frame = pd.DataFrame({"x": numbers(12), "y": [np.nan] * 12})
    with pytest.raises(ColumnError) as info:
        profile(frame, "y")
    assert info.value.column == "y"
    assert info.value.exit_code == 2
    assert "missing in every row" in info.value.message


def test_target_missing_counted():
    frame = load("penguins.csv")
    frame.loc[[0, 5, 9], "species"] = np.nan
    prof = profile(frame, "species")
    assert prof.target_missing == 3
    assert sum(prof.class_counts.values()) == 341


def test_no_usable_features():
    n = 30
    frame = pd.DataFrame({
        "id": range(n),
        "const": [1.0] * n,
        "y": ["a", "b", "c"] * (n // 3),
    })
    with pytest.raises(InputError) as info:
        profile(frame, "y")
    assert not isinstance(info.value, ColumnError)
    frame["note"] = [f"free text entry {i}" for i in range(n)]  # free text is a feature
    assert profile(frame, "y").column("note").kind == TEXT
    assert info.value.exit_code == 2
    assert "no usable feature columns" in info.value.message


def test_imbalance_warning():
    x = list(numbers(39))
    prof = profile(pd.DataFrame({"x": x, "y": ["a"] * 30 + ["b"] * 9}), "y")
    assert prof.warnings == ("strong class imbalance: the smallest class has 9 rows, the largest 30",)
    prof = profile(pd.DataFrame({"x": x + [1.0], "y": ["a"] * 30 + ["b"] * 10}), "y")
    assert prof.warnings == ()  # 10 is exactly a third: no warning


def test_task_override_to_regression():
    frame = pd.DataFrame({"x": numbers(30), "y": [0, 1, 2, 3, 4] * 6})
    assert profile(frame, "y").task == CLASSIFICATION
    prof = profile(frame, "y", task="regression")
    assert prof.task == REGRESSION
    assert prof.class_counts is None
    assert prof.target_summary["min"] == 0.0 and prof.target_summary["max"] == 4.0
    assert prof.target_summary["mean"] == pytest.approx(2.0)


def test_task_override_to_classification():
    frame = load("diabetes.csv")
    frame["grade"] = (frame["progression"] > frame["progression"].median()).map({True: 2.0, False: 1.0})
    frame = frame.drop(columns="progression")
    frame["grade"] = frame["grade"] + frame["age"] / 1000  # no longer integral: inferred as regression
    assert profile(frame, "grade").task == REGRESSION
    prof = profile(frame, "grade", task="classification")
    assert prof.task == CLASSIFICATION
    assert prof.target_summary is None
    assert sum(prof.class_counts.values()) == 442


def test_regression_on_labels_fails():
    frame = pd.DataFrame({"x": numbers(10), "y": ["a", "b"] * 5})
    with pytest.raises(ColumnError) as info:
        profile(frame, "y", task="regression")
    assert info.value.column == "y"
    assert "a regression target needs numbers" in info.value.message


def test_unknown_task():
    with pytest.raises(InputError) as info:
        profile(load("penguins.csv"), "species", task="clustering")
    assert info.value.exit_code == 2
    assert "unknown task 'clustering'" in info.value.message


# --- numbers with thousands separators (issue 15) ----------------------------------------------------


def _amounts(n: int = 40, seed: int = 0) -> list[str]:
    """Money as a spreadsheet writes it: "12,345", "1,234,567.89", and plain "950" below a thousand."""
    rng = np.random.default_rng(seed)
    values = [f"{v:,}" for v in rng.integers(500, 2_000_000, n - 2)]
    return values + ["1,234,567.89", "950"]


def test_numbers_with_thousands_separators_are_numbers_not_an_id():
    """Every value distinct, so once read as text the column looked ID-like and was silently dropped."""
    frame = pd.DataFrame({"amount": _amounts(), "y": ["a", "b"] * 20})
    prof = profile(frame, "y")
    col = prof.column("amount")
    assert (col.kind, col.dtype, col.thousands, col.stray_values) == (NUMERIC, "number", True, ())
    assert prof.warnings == ('column "amount": numbers with a comma thousands separator ("1,234,567.89" read as '
                             "1234567.89); the exported model takes this column as numbers",)
    parsed, stray = coerce_numeric(pd.Series(["12,345", "1,234,567.89", "950", "-1,000", "?"]), thousands=True)
    assert parsed.tolist()[:4] == [12345.0, 1234567.89, 950.0, -1000.0] and stray == ("?",)


@pytest.mark.parametrize("values", [
    ["1,5", "2,25", "1,500", "3,75", "0,5"] * 8,  # decimal commas: "1,500" is one and a half
    ["1,500", "2,250", "3,125", "12,5", "7,25"] * 8,  # three decimals often, but not always
    [f"{v}" for v in range(1000, 1040)] + ["1,234"],  # thousands written without the separator
])
def test_decimal_commas_are_never_read_as_thousands(values):
    col = infer_kind("value", pd.Series(values))
    assert not col.thousands
    parsed, _ = coerce_numeric(pd.Series(values))
    assert 1500.0 not in parsed.tolist() and 1234.0 not in parsed.tolist()


def test_a_thousands_column_is_read_the_same_at_fit_and_at_predict():
    """The flag is learned at fit and kept with the feature: a predict batch of one row reads "1,500" as
    1500 in a thousands column, and as missing in any other number column, whatever else the batch holds."""
    from autotune.data.clean import Feature, raw_column, raw_inputs

    frame = pd.DataFrame({"amount": ["1,500", "abc"], "size": ["1,500", "2"]})
    features = [Feature("amount", NUMERIC, "number", key="amount", thousands=True),
                Feature("size", NUMERIC, "number", key="size")]
    columns = raw_inputs(frame, features)
    assert columns["amount"][0] == 1500.0 and np.isnan(columns["amount"][1])
    assert np.isnan(columns["size"][0]) and columns["size"][1] == 2.0
    assert Feature.from_dict(features[0].to_dict()).thousands and "thousands" not in features[1].to_dict()
    np.testing.assert_array_equal(raw_column(pd.Series(["12,345"]), "number", thousands=True), [12345.0])


def test_a_column_of_decimal_commas_says_why_it_is_not_numbers():
    """"2,5" is not read as a number (nor as 25): the column stays text, and the profile says so and how to
    use it as numbers, instead of dropping it silently."""
    values = [f"{v:.2f}".replace(".", ",") for v in numbers(40, seed=4)]
    prof = profile(pd.DataFrame({"weight": values, "x": numbers(40), "y": ["a", "b"] * 20}), "y")
    assert prof.column("weight").kind == ID
    example = max(values, key=len)
    assert prof.warnings == (f'column "weight": values like "{example}" look like numbers with a decimal comma, '
                             "so it is read as text (dropped as ID-like); write them with a decimal point to use "
                             "the column as numbers",)


@pytest.mark.parametrize("column", [
    pd.Series(["a", " b ", None, "a", np.nan]), pd.Series([1.0, 2.5, np.nan, -0.0, np.inf, 7.0]),
    pd.Series([True, False, None], dtype=object), pd.Series([1, 1.0, True, "1", " 1 ", None], dtype=object),
    pd.Series(["x", "y", None], dtype="str"), pd.Series([1, 2, None], dtype="Int64"), pd.Series([], dtype=object),
    pd.Series([None, None], dtype=object), pd.Series([" \x1c a\x1f ", "b\u3000"]), pd.Series([True, False, True]),
    pd.Series(pd.to_datetime(["2020-01-01", None]))], ids=lambda c: str(c.dtype))
def test_a_columns_text_and_labels_are_those_of_its_values_one_by_one(column):
    """raw_column and label_strings call their function once per distinct value (a million-row category column
    has a handful): the same text as one call per value, including where equal keys differ in kind (1, 1.0, True
    in one object column), missing values, ±inf and the whitespace Python strips."""
    from autotune.data.clean import _as_text, raw_column
    from autotune.data.profile import label_strings

    assert list(raw_column(column, "string")) == list(column.map(_as_text))
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        pd.testing.assert_series_equal(label_strings(column),
                                       column.map(lambda v: str(v).strip() if pd.notna(v) else None))
    numbers = pd.Series([1.0, 2.0, np.nan, np.inf, 1.0])
    labels = label_strings(numbers)
    assert labels[[0, 1, 4]].tolist() == ["1", "2", "1"] and labels[[2, 3]].isna().all()  # ±inf: no label


@pytest.mark.parametrize("thousands", [False, True])
@pytest.mark.parametrize("dtype", [object, "string", "str"])
def test_coerce_numeric_parses_each_distinct_value_once_to_the_same_numbers(dtype, thousands):
    """A text column is parsed once per distinct value and mapped back (a million rows of a few categories took
    ~0.5 s a column one by one): the numbers, their index and name, and the stray tokens are those of the parse
    value by value."""
    from autotune.data.profile import _coerce_text

    cells = [" 1", "1", "2.5", "?", None, "", "x", "?", "12,345", " -1,000 ", "1e3", "inf", "9007199254740993"] * 7
    values = pd.Series(cells, index=np.arange(len(cells)) * 3 + 5, name="col", dtype=dtype)
    numbers, stray = coerce_numeric(values, thousands)
    expected, expected_stray = _coerce_text(values, thousands)
    pd.testing.assert_series_equal(numbers, expected)
    assert stray == expected_stray and numbers.index.equals(values.index) and numbers.name == "col"
