"""Loading tables (autotune.data.load): sniffing, every unusable-input error, Parquet, target resolution."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autotune.data.load import read_table, resolve_target
from autotune.errors import EXIT_BAD_INPUT, InputError

DATA = Path(__file__).resolve().parents[2] / "data"


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def raises_input_error(path: Path, fragment: str) -> InputError:
    with pytest.raises(InputError) as info:
        read_table(path)
    err = info.value
    assert err.exit_code == EXIT_BAD_INPUT == 2
    assert err.message.startswith(f"{path}:"), err.message
    assert fragment in err.message, err.message
    assert str(err) == err.message
    return err


# --- the shipped data -------------------------------------------------------------------------


def test_reads_penguins_csv():
    loaded = read_table(DATA / "penguins.csv")
    frame = loaded.frame
    assert frame.shape == (344, 8)
    assert list(frame.columns) == ["species", "island", "bill_length_mm", "bill_depth_mm",
                                   "flipper_length_mm", "body_mass_g", "sex", "year"]
    assert loaded.delimiter == ","
    assert loaded.encoding in ("utf-8", "utf-8-sig")
    assert loaded.notes == ()
    assert int(frame["sex"].isna().sum()) == 11
    assert int(frame["bill_length_mm"].isna().sum()) == 2
    assert sorted(frame["year"].unique().tolist()) == [2007, 2008, 2009]
    assert loaded.path == DATA / "penguins.csv"


def test_fingerprint_is_sha256_of_the_file_bytes():
    path = DATA / "wine.csv"
    loaded = read_table(path)
    assert loaded.fingerprint == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.frame.shape == (178, 14)
    assert "od280/od315_of_diluted_wines" in loaded.frame.columns


def test_fingerprint_changes_with_content(tmp_path):
    a = write(tmp_path, "a.csv", b"x,y\n1,2\n")
    b = write(tmp_path, "b.csv", b"x,y\n1,3\n")
    assert read_table(a).fingerprint != read_table(b).fingerprint


# --- delimiter and encoding sniffing ---------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    rows = [["a", "b", "c"], ["1", "2.5", "x"], ["3", "4.5", "y"], ["5", "6.5", "z"]]
    path = write(tmp_path, "data.csv", "\n".join(delimiter.join(r) for r in rows).encode() + b"\n")
    loaded = read_table(path)
    assert loaded.delimiter == delimiter
    assert list(loaded.frame.columns) == ["a", "b", "c"]
    assert loaded.frame["a"].tolist() == [1, 3, 5]
    assert loaded.frame["b"].tolist() == [2.5, 4.5, 6.5]
    assert loaded.frame["c"].tolist() == ["x", "y", "z"]


def test_semicolon_file_keeps_decimal_commas_as_text(tmp_path):
    path = write(tmp_path, "eu.csv", b"name;value\nfoo;1,5\nbar;2,5\nbaz;3,5\n")
    loaded = read_table(path)
    assert loaded.delimiter == ";"
    assert list(loaded.frame.columns) == ["name", "value"]
    assert loaded.frame["value"].tolist() == ["1,5", "2,5", "3,5"]


def test_latin1_file_loads_with_a_note(tmp_path):
    text = "name,city,score\nJos\xe9,Montr\xe9al,1\nAnna,K\xf6ln,2\nBob,Bonn,3\n"
    path = write(tmp_path, "latin.csv", text.encode("latin-1"))
    loaded = read_table(path)
    assert loaded.encoding == "latin-1"
    assert loaded.notes == ("latin.csv is not UTF-8; read it as Latin-1",)
    assert loaded.frame["name"].tolist() == ["Jos\xe9", "Anna", "Bob"]
    assert loaded.frame["city"].tolist() == ["Montr\xe9al", "K\xf6ln", "Bonn"]


def test_latin1_file_with_accent_in_last_bytes_loads(tmp_path):
    path = write(tmp_path, "tail.csv", "name,city\nAnna,Bonn\nBob,Caf\xe9\n".encode("latin-1"))
    loaded = read_table(path)
    assert loaded.encoding == "latin-1"
    assert loaded.frame["city"].tolist() == ["Bonn", "Caf\xe9"]


def test_utf8_with_bom_reads_clean_header(tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeffa,b\n1,\xe9t\xe9\n2,x\n".encode("utf-8"))
    loaded = read_table(path)
    assert list(loaded.frame.columns) == ["a", "b"]
    assert loaded.frame["b"].tolist() == ["\xe9t\xe9", "x"]
    assert loaded.notes == ()


def test_spaces_after_delimiter_are_skipped(tmp_path):
    path = write(tmp_path, "sp.csv", b"a, b\n1, x\n2, y\n")
    frame = read_table(path).frame
    assert list(frame.columns) == ["a", "b"]
    assert frame["b"].tolist() == ["x", "y"]


# --- unusable inputs: each an InputError naming the file ---------------------------------------


def test_missing_file(tmp_path):
    raises_input_error(tmp_path / "nope.csv", "no such file")


def test_directory(tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    raises_input_error(folder, "is a directory")


@pytest.mark.parametrize("content", [b"", b"   \n\n  \n"], ids=["empty", "blank-lines"])
def test_empty_file(tmp_path, content):
    raises_input_error(write(tmp_path, "empty.csv", content), "the file is empty")


def test_header_only(tmp_path):
    raises_input_error(write(tmp_path, "header.csv", b"a,b,c\n"), "has a header but no data rows")


def test_binary_file(tmp_path):
    content = bytes(range(256)) * 4
    raises_input_error(write(tmp_path, "blob.csv", content), "looks like a binary file")


def test_utf16_text_is_reported_as_binary(tmp_path):
    path = write(tmp_path, "wide.csv", "a,b\n1,2\n".encode("utf-16"))
    raises_input_error(path, "binary file")


@pytest.mark.parametrize("content", [b'{"a": 1, "b": 2}\n', b'  [{"a": 1}, {"a": 2}]\n'], ids=["object", "array"])
def test_json_file(tmp_path, content):
    raises_input_error(write(tmp_path, "data.json", content), "looks like JSON")


@pytest.mark.parametrize(
    "content, dupes",
    [(b"a,b,a\n1,2,3\n4,5,6\n", "['a']"), (b"x, y,x ,y\n1,2,3,4\n", "['x', 'y']")],
    ids=["plain", "padded"],
)
def test_duplicate_column_names(tmp_path, content, dupes):
    err = raises_input_error(write(tmp_path, "dup.csv", content), "duplicate column names")
    assert f"duplicate column names {dupes}" in err.message


def test_ragged_row(tmp_path):
    path = write(tmp_path, "ragged.csv", b"a,b\n1,2\n3,4,5\n6,7\n")
    err = raises_input_error(path, "cannot parse as CSV")
    assert "ragged rows" in err.message
    assert "line 3" in err.message


def test_trailing_delimiter_on_every_row_does_not_shift_columns(tmp_path):
    path = write(tmp_path, "trailing.csv", b"a,b\n1,2,\n3,4,\n")
    try:
        frame = read_table(path).frame
    except InputError as err:  # rejecting the file is acceptable too
        assert str(path) in err.message
        return
    assert frame["a"].tolist() == [1, 3]
    assert frame["b"].tolist() == [2, 4]


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_round_trip(tmp_path):
    frame = pd.DataFrame({
        "length": [1.5, np.nan, 3.25, 4.0],
        "colour": ["red", None, "blue", "red"],
        "count": [1, 2, 3, 4],
        "label": ["a", "b", "a", "b"],
    })
    path = tmp_path / "table.parquet"
    frame.to_parquet(path)
    loaded = read_table(path)
    assert loaded.encoding is None and loaded.delimiter is None and loaded.notes == ()
    assert loaded.fingerprint == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    pd.testing.assert_frame_equal(loaded.frame, frame)


def test_parquet_detected_by_magic_bytes_without_suffix(tmp_path):
    frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    source = tmp_path / "t.parquet"
    frame.to_parquet(source)
    path = write(tmp_path, "export.dat", source.read_bytes())
    loaded = read_table(path)
    assert loaded.delimiter is None
    assert loaded.frame["x"].tolist() == [1, 2, 3]
    assert loaded.frame["y"].tolist() == ["a", "b", "c"]


def test_parquet_column_names_become_strings(tmp_path):
    path = tmp_path / "ints.parquet"
    pd.DataFrame({0: [1, 2], 1: [3, 4]}).to_parquet(path)
    assert list(read_table(path).frame.columns) == ["0", "1"]


def test_parquet_without_rows(tmp_path):
    path = tmp_path / "none.parquet"
    pd.DataFrame({"x": pd.Series([], dtype="float64")}).to_parquet(path)
    raises_input_error(path, "has a header but no data rows")


def test_corrupt_parquet(tmp_path):
    raises_input_error(write(tmp_path, "broken.parquet", b"this is not parquet"), "cannot read as Parquet")


# --- resolve_target --------------------------------------------------------------------------


def frame_with(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: [1, 2] for c in columns})


@pytest.mark.parametrize("name", ["label", "Label", "target", "TARGET", "class", "Class", "y", "Y"])
def test_conventional_target_found_case_insensitively(name):
    frame = frame_with("feature_a", name, "feature_b")
    assert resolve_target(frame, None, Path("t.csv")) == name


@pytest.mark.parametrize(
    "columns, expected",
    [(("y", "class", "label", "target"), "target"), (("y", "Class", "Label"), "Label"), (("Y", "class"), "class")],
)
def test_conventional_names_in_priority_order(columns, expected):
    assert resolve_target(frame_with(*columns), None, Path("t.csv")) == expected


def test_named_target_returned():
    frame = read_table(DATA / "penguins.csv").frame
    assert resolve_target(frame, "species", Path("penguins.csv")) == "species"


def test_wine_target_found_without_a_name():
    loaded = read_table(DATA / "wine.csv")
    assert resolve_target(loaded.frame, None, loaded.path) == "target"


def test_no_conventional_target_lists_columns():
    loaded = read_table(DATA / "penguins.csv")
    with pytest.raises(InputError) as info:
        resolve_target(loaded.frame, None, loaded.path)
    msg = info.value.message
    assert info.value.exit_code == 2
    assert msg.startswith(f"{loaded.path}:")
    assert "no target column named target/label/class/y" in msg
    assert "--target" in msg
    assert "species, island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year" in msg


def test_wrong_case_target_suggests_the_right_one():
    loaded = read_table(DATA / "penguins.csv")
    with pytest.raises(InputError) as info:
        resolve_target(loaded.frame, "Species", loaded.path)
    msg = info.value.message
    assert info.value.exit_code == 2
    assert 'no column "Species"' in msg
    assert '(did you mean "species"?)' in msg
    assert "columns are: species, island," in msg


def test_unknown_target_lists_columns_without_a_hint():
    with pytest.raises(InputError) as info:
        resolve_target(frame_with("alpha", "beta"), "gamma", Path("t.csv"))
    msg = info.value.message
    assert msg == 't.csv: no column "gamma"; columns are: alpha, beta'
    assert "did you mean" not in msg
