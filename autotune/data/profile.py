"""Describe a table: each column's kind, missing values, the task and the target's distribution.

Kinds are a schema decision made on the whole table (they do not use the labels); every statistic
the model learns (medians, vocabularies, means) is computed later on the training split only.
"""
from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from autotune.errors import ColumnError, InputError
from autotune.task import CLASSIFICATION, REGRESSION, TASKS, task_of

NUMERIC = "numeric"
CATEGORICAL = "categorical"
ID = "id"
CONSTANT = "constant"
TEXT = "text"
USABLE_KINDS = (NUMERIC, CATEGORICAL, TEXT)

MAX_INT_CATEGORIES = 10  # integer columns with at most this many values are categories
MAX_INT_CLASSES = 20  # an integer target with at most this many values is a class label
# Free text: a string column where at least TEXT_SPACED of the values hold a space (many-worded) and either every
# value is distinct or there are more distinct values than a category lookup keeps (clean.MAX_VOCABULARY) — a
# review, a description, a ticket or job title. A string column of single tokens with a different value in nearly
# every row (over ID_UNIQUE_RATIO of them, at least ID_MIN_UNIQUE) is ID-like: codes, hashes, names.
# --text-columns and --categorical-columns override the rule.
TEXT_SPACED = 0.5
TEXT_MIN_UNIQUE = 50  # more distinct values than clean.MAX_VOCABULARY keeps
ID_MIN_UNIQUE = 50
ID_UNIQUE_RATIO = 0.5
NUMERIC_PARSE_RATIO = 0.95  # a text column whose values are this numeric is a number column
IMBALANCE_RATIO = 1 / 3
FLOAT32_MAX = 3.0e38  # the model computes in float32: a regression target beyond this is not learnable
MAX_FEATURES = 2000  # one Keras input per column: beyond this, building and exporting the model takes minutes
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index)$|^(id|uuid|guid|index)([_\s.-]|$)", re.I)
_CAMEL_ID_NAME = re.compile(r"[a-z](ID|Id)$")  # customerID, userId; case matters, or "paid" would match
# A number written with a comma between groups of three digits: "12,345", "-1,234,567.89" (and "950", "0.5").
# A decimal comma ("1,5", "2,25") does not match, so a European file's column is never read this way unless
# every value in it has exactly three decimals; such a column is named in a warning.
_GROUPED = r"-?(?:0|[1-9]\d{0,2}(?:,\d{3})*)(?:\.\d+)?"
_DECIMAL_COMMA = r"-?\d+(?:,\d+)?"  # "2,5": a number as a locale with a decimal comma writes it
_DROPPED_AS = {ID: "dropped as ID-like", TEXT: "free text", CATEGORICAL: "a category"}


@dataclass(frozen=True)
class ColumnProfile:
    name: str
    kind: str
    dtype: str  # "number" or "string": what the exported model takes for this column
    missing: int
    unique: int
    stray_values: tuple[str, ...] = ()  # non-numeric tokens in a numeric column, read as missing
    thousands: bool = False  # numbers written with a comma thousands separator ("12,345")
    # text: the cells' length in characters and words (median, 90th percentile, max) and distinct words —
    # the whole table's, a description for the report; the model's vocabulary is learned on the training split
    text: dict | None = None


@dataclass(frozen=True)
class Profile:
    rows: int
    columns: tuple[ColumnProfile, ...]
    target: str
    task: str
    target_missing: int
    class_counts: dict[str, int] | None  # classification only, most frequent first
    target_summary: dict[str, float] | None  # regression only
    warnings: tuple[str, ...] = ()

    def column(self, name: str) -> ColumnProfile:
        return next(c for c in self.columns if c.name == name)

    @property
    def features(self) -> list[ColumnProfile]:
        return [c for c in self.columns if c.kind in USABLE_KINDS]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["columns"] = [{k: v for k, v in asdict(c).items() if k != "text" or v is not None} for c in self.columns]
        return out


def coerce_numeric(values: pd.Series, thousands: bool = False) -> tuple[pd.Series, tuple[str, ...]]:
    """Numbers from a column that is mostly numeric text; the stray tokens become NaN. With thousands (a
    column profiled as uses_thousands), "12,345" is 12345; otherwise it is a stray token."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64"), ()
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), ()
    if _strings_only(values):  # parsed once per distinct value: 1,000,000 rows of a few categories, ~0.5 s a column
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        numbers, stray = _coerce_text(pd.Series(uniques, dtype=object), thousands)
        return pd.Series(np.append(numbers.to_numpy(), np.nan)[codes], index=values.index, name=values.name), stray
    return _coerce_text(values, thousands)


def _coerce_text(values: pd.Series, thousands: bool) -> tuple[pd.Series, tuple[str, ...]]:
    """coerce_numeric of a column's values read as text, one by one."""
    text = values.astype("string").str.strip()
    if thousands:
        grouped = text.str.fullmatch(_GROUPED).fillna(False).astype(bool)
        text = text.where(~grouped, text.str.replace(",", "", regex=False))
    numbers = pd.to_numeric(text, errors="coerce")
    stray = text[numbers.isna() & text.notna() & (text != "")]
    return numbers.astype("float64"), tuple(sorted(stray.unique().tolist()))


def uses_thousands(values: pd.Series) -> bool:
    """Whether a text column writes its numbers with a comma thousands separator: (nearly) every value is
    such a number, and at least one has a comma. Decided once, at fit, on the whole column, and kept with
    the feature, so a predict batch is read the same way whatever values it holds."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    text = values.dropna().astype("string").str.strip()
    text = text[text != ""]
    if not len(text):
        return False
    grouped = text.str.fullmatch(_GROUPED).fillna(False).astype(bool)
    return bool(grouped.mean() >= NUMERIC_PARSE_RATIO and text[grouped].str.contains(",", regex=False).any())


def _decimal_comma_example(values: pd.Series) -> str | None:
    """A value of a text column that (nearly) only holds numbers written with a decimal comma, else None."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    text = values.dropna().astype("string").str.strip()
    text = text[text != ""]
    matches = text.str.fullmatch(_DECIMAL_COMMA).fillna(False).astype(bool)
    commas = text[matches & text.str.contains(",", regex=False)]
    return max(commas, key=len) if len(text) and matches.mean() >= NUMERIC_PARSE_RATIO and len(commas) else None


def _is_integral(values: pd.Series) -> bool:
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and bool(np.all(np.floor(finite) == finite))


def infer_kind(name: str, values: pd.Series) -> ColumnProfile:
    """Kind of one feature column, from its values and, for IDs, its name."""
    missing = int(values.isna().sum())
    present = values.dropna()
    unique = int(present.nunique())
    if unique <= 1:
        return ColumnProfile(name, CONSTANT, "number", missing, unique)
    if pd.api.types.is_bool_dtype(values) or (values.dtype == object and present.map(type).eq(bool).all()):
        return ColumnProfile(name, CATEGORICAL, "string", missing, unique)

    thousands = uses_thousands(present)
    numbers, stray = coerce_numeric(values, thousands)
    parsed = numbers.notna().sum()
    if parsed and parsed >= NUMERIC_PARSE_RATIO * len(present):
        if np.isinf(numbers).any():
            numbers = numbers.replace([np.inf, -np.inf], np.nan)
            stray = stray + ("inf",)
        if _is_integral(numbers.dropna()):
            n = numbers.dropna()
            if unique == len(n) and len(n) >= 20 and (
                _ID_NAME.search(name) or _CAMEL_ID_NAME.search(name) or (n.max() - n.min() + 1) <= 1.1 * len(n)
            ):
                return ColumnProfile(name, ID, "number", missing, unique, thousands=thousands)
            if n.nunique() <= MAX_INT_CATEGORIES:
                return ColumnProfile(name, CATEGORICAL, "number", missing, unique, stray, thousands)
        return ColumnProfile(name, NUMERIC, "number", missing, unique, stray, thousands)

    spaced = map_distinct(present, _spaced, False).mean() >= TEXT_SPACED  # once per distinct value (a category's
    # handful in 1,000,000 rows: 1.2 s a column as a regex over every row)
    if spaced and (unique >= TEXT_MIN_UNIQUE or (unique == len(present) and len(present) >= 20)):
        return text_profile(name, values)
    if (unique == len(present) and len(present) >= 20) or (
            unique >= ID_MIN_UNIQUE and unique > ID_UNIQUE_RATIO * len(present)):
        return ColumnProfile(name, ID, "string", missing, unique)
    return ColumnProfile(name, CATEGORICAL, "string", missing, unique)


_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s")


def _spaced(value) -> bool:
    """Whether a value, as text without its leading and trailing blanks, holds a blank: words, not a token."""
    return _SPACE.search(str(value).strip()) is not None


def text_profile(name: str, values: pd.Series) -> ColumnProfile:
    """A free-text column: its kind, and the length of its cells and the words they use."""
    present = values.dropna()
    cells = present.astype(str)
    chars = cells.str.len()
    words = cells.map(lambda v: _WORD.findall(v.lower()))
    counts = words.map(len)
    vocabulary = len({w for cell in words for w in cell})

    def spread(v: pd.Series) -> dict:
        return {"median": float(v.median()), "p90": float(v.quantile(0.9)), "max": int(v.max())} if len(v) else \
            {"median": 0.0, "p90": 0.0, "max": 0}

    return ColumnProfile(name, TEXT, "string", int(values.isna().sum()), int(present.nunique()),
                         text={"chars": spread(chars), "words": spread(counts), "vocabulary": vocabulary})


def forced_kind(name: str, values: pd.Series, kind: str) -> ColumnProfile:
    """A column's profile under --text-columns or --categorical-columns (constant, whatever it was named, when it
    holds one value or none)."""
    present = values.dropna()
    if present.astype(str).str.strip().replace("", np.nan).nunique() <= 1:
        return ColumnProfile(name, CONSTANT, "string", int(values.isna().sum()), int(present.nunique()))
    if kind == TEXT:
        return text_profile(name, values.map(lambda v: v if pd.isna(v) else str(v)))
    numbers, _ = coerce_numeric(values)
    dtype = "number" if len(present) and numbers.notna().sum() == len(present) else "string"
    return ColumnProfile(name, CATEGORICAL, dtype, int(values.isna().sum()), int(present.nunique()))


def infer_task(target: pd.Series, name: str) -> str:
    """classification or regression from the target's values: text and few distinct integers are classes, other numbers
    regression."""
    values = target.dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        numbers, _ = coerce_numeric(values)
        parsed = numbers.dropna()
        if len(parsed) >= NUMERIC_PARSE_RATIO * len(values) and not _is_integral(parsed):
            return REGRESSION  # numbers written as text, perhaps with a few stray tokens ("?")
        return CLASSIFICATION
    if _is_integral(values.astype("float64")) and values.nunique() <= MAX_INT_CLASSES:
        return CLASSIFICATION
    return REGRESSION


def map_distinct(values: pd.Series, fn, missing) -> np.ndarray:
    """fn of each value of a column, `missing` for a missing one, as an object array — fn called once per distinct
    value where equal values cannot differ in kind (a column of one numeric or boolean dtype, or of strings alone),
    else once per value (an object column may hold 1, 1.0 and True, equal as keys, that fn tells apart). A
    category or label column of a million rows has a handful of distinct values: one Python call per row had
    been ~12 s of the 26 s that a 1,000,000-row table took to load (bench/large.py)."""
    if values.dtype.kind in "biuf" or _strings_only(values):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        table = np.empty(len(uniques) + 1, dtype=object)
        table[:-1] = [fn(u) for u in uniques]
        table[-1] = missing
        return table[codes]
    return np.array([missing if pd.isna(v) else fn(v) for v in values], dtype=object)


def _strings_only(values: pd.Series) -> bool:
    """A column of strings alone (and missing values): equal values are the same text."""
    return values.dtype.kind in "OUT" and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def label_strings(target: pd.Series) -> pd.Series:
    """Class labels as strings: 1.0 and 1 both become "1", so labels read the same everywhere."""
    if pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        numbers = target.astype("float64")
        if _is_integral(numbers.dropna()):
            return pd.Series(map_distinct(numbers, lambda v: str(int(v)) if np.isfinite(v) else None, None),
                             index=target.index)  # ±inf: no label
    return pd.Series(map_distinct(target, lambda v: str(v).strip(), None), index=target.index)


def class_summary(y: pd.Series, target: str) -> tuple[dict, None, list[str]]:
    """A class target's counts by label, and the imbalance warning; refused with fewer than two classes."""
    warnings = []
    counts = label_strings(y).value_counts()
    class_counts = {str(k): int(v) for k, v in counts.items()}
    if len(class_counts) < 2:
        only = next(iter(class_counts))
        raise ColumnError(target, f'only one class ("{only}") in the data; a classifier needs at least two')
    smallest, largest = min(class_counts.values()), max(class_counts.values())
    if smallest < IMBALANCE_RATIO * largest:
        warnings.append(
            f"strong class imbalance: the smallest class has {smallest} rows, the largest {largest}"
        )
    return class_counts, None, warnings


def value_summary(y: pd.Series, target: str) -> tuple[None, dict, list[str]]:
    """A numeric target's mean, spread and range, and a warning naming values that are not float32 numbers."""
    warnings = []
    numbers, stray = coerce_numeric(y)
    usable = numbers.abs() <= FLOAT32_MAX  # what split.target_values keeps
    odd = [*stray[:5], *(["inf"] if np.isinf(numbers).any() else []),
           *(f"{v:g}" for v in numbers[np.isfinite(numbers) & ~usable].unique()[:2])]
    numbers = numbers[usable]
    if len(numbers) < 2:
        raise ColumnError(target, "a regression target needs numbers; use --task classification for labels")
    if odd:
        shown = ", ".join(repr(v) for v in odd)
        warnings.append(f'target "{target}": values {shown} are not finite float32 numbers; those rows are '
                        "dropped")
    target_summary = {
        k: float(v) for k, v in numbers.describe()[["mean", "std", "min", "50%", "max"]].items()
    }
    return None, target_summary, warnings


def _overrides(frame: pd.DataFrame, target: str, text: tuple[str, ...], categorical: tuple[str, ...]) -> dict:
    """{column: kind} from --text-columns and --categorical-columns, each column checked."""
    both = sorted(set(text) & set(categorical))
    if both:
        raise ColumnError(both[0], "named by both --text-columns and --categorical-columns; pick one")
    out = {}
    for kind, names in ((TEXT, text), (CATEGORICAL, categorical)):
        for name in names:
            if name == target:
                raise ColumnError(name, "is the target; --text-columns and --categorical-columns name features")
            if name not in frame.columns:
                raise ColumnError(name, f"not in the data (columns: {', '.join(map(str, frame.columns[:8]))}"
                                  f"{', …' if len(frame.columns) > 8 else ''}); check its spelling")
            out[name] = kind
    return out


def duplicate_rows(frame: pd.DataFrame) -> pd.Series:
    """`frame.duplicated()` — each row that equals an earlier one — found through a hash of each row: only rows
    whose hash repeats are compared value by value. pandas' duplicated factorises every column (1,000,000 rows × 50
    columns: 6 s, where the hashes take 1.5). Equal rows must hash alike: object columns hash through the same
    factorisation as duplicated (1, 1.0 and True one value), and floats by value — -0.0 as 0.0, every NaN as one,
    which pandas 3 does itself (GH#28363) and pandas 2 (setup.py allows 2.2) does not: there they are made so first.
    A hash shared by unequal rows only costs their comparison."""
    if not frame.shape[1] or not len(frame):
        return frame.duplicated()
    columns = {}
    for i, (_, values) in enumerate(frame.items()):  # by position: column names may repeat
        columns[i] = canonical_floats(values) if values.dtype.kind == "f" and not hashes_floats_by_value() else values
    hashes = pd.util.hash_pandas_object(pd.DataFrame(columns), index=False)
    shared = hashes.duplicated(keep=False).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    if shared.any():
        out[shared] = frame[shared].duplicated().to_numpy()
    return pd.Series(out, index=frame.index)


_NAN_WITH_PAYLOAD = np.array([0x7FF8000000000001], dtype=np.int64).view(np.float64)[0]


def canonical_floats(values: pd.Series) -> pd.Series:
    """A float column as float64 with one bit pattern per value: -0.0 as 0.0, every NaN (and missing) as NaN."""
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(np.where(np.isnan(numbers), np.nan, numbers + 0.0), index=values.index)


@functools.cache
def hashes_floats_by_value() -> bool:
    """Whether this pandas hashes -0.0 as 0.0 and a NaN of any bits as NaN (pandas 3; not 2.2)."""
    probe = pd.Series([0.0, -0.0, np.nan, -np.nan, _NAN_WITH_PAYLOAD])
    return pd.util.hash_pandas_object(probe, index=False).nunique() == 2


def profile(frame: pd.DataFrame, target: str, task: str | None = None, text_columns: tuple[str, ...] = (),
            categorical_columns: tuple[str, ...] = ()) -> Profile:
    """Profile every column; raise InputError when the target cannot be learned at all. `text_columns` and
    `categorical_columns` (the --text-columns and --categorical-columns overrides) fix those columns' kinds."""
    if task not in (None, *TASKS):
        raise InputError(f"unknown task {task!r}; use classification or regression")
    forced = _overrides(frame, target, tuple(text_columns), tuple(categorical_columns))
    y = frame[target]
    target_missing = int(y.isna().sum())
    if target_missing == len(frame):
        raise ColumnError(target, "the target is missing in every row; pick the column that holds the labels")
    task = task or infer_task(y, target)
    class_counts, target_summary, warnings = task_of(task).describe_target(y, target)
    # Kinds are judged on distinct rows: exact duplicates are dropped before the split, and a repeated row
    # must not keep a row-number column from looking ID-like.
    repeated = duplicate_rows(frame)
    distinct = frame[~repeated] if repeated.any() else frame
    columns = tuple(forced_kind(c, distinct[c], forced[c]) if c in forced else infer_kind(c, distinct[c])
                    for c in frame.columns if c != target)
    for col in columns:
        if col.name in forced and col.kind == CONSTANT:
            flag = "--text-columns" if forced[col.name] == TEXT else "--categorical-columns"
            warnings.append(f'column "{col.name}" (named by {flag}) is empty or holds one value in every row; '
                            "it is dropped")
        if col.thousands and col.kind in USABLE_KINDS:
            written = distinct[col.name].dropna().astype(str).str.strip()
            example = max(written[written.str.contains(",", regex=False)], key=len)
            value = f"{coerce_numeric(pd.Series([example]), True)[0][0]:f}".rstrip("0").rstrip(".")
            warnings.append(f'column "{col.name}": numbers with a comma thousands separator ("{example}" read as '
                            f"{value}); the exported model takes this column as numbers")
        if col.kind in _DROPPED_AS and (example := _decimal_comma_example(distinct[col.name])):
            warnings.append(f'column "{col.name}": values like "{example}" look like numbers with a decimal comma, '
                            f"so it is read as text ({_DROPPED_AS[col.kind]}); write them with a decimal point to "
                            "use the column as numbers")
        if col.stray_values:
            shown = ", ".join(repr(v) for v in col.stray_values[:5])
            warnings.append(f'column "{col.name}": non-numeric values {shown} read as missing')
    if not any(c.kind in USABLE_KINDS for c in columns):
        raise InputError(
            "no usable feature columns: every column is constant or ID-like; add informative columns (or name "
            "a column to use with --text-columns or --categorical-columns)"
        )
    usable = sum(c.kind in USABLE_KINDS for c in columns)
    if usable > MAX_FEATURES:
        raise InputError(
            f"{usable:,} usable feature columns; autotune gives each column its own model input and handles at "
            f"most {MAX_FEATURES:,} (1,000 already take over a minute to encode and export) — keep the columns "
            "that matter, or reduce them first (e.g. PCA)"
        )
    return Profile(len(frame), columns, target, task, target_missing, class_counts, target_summary, tuple(warnings))
