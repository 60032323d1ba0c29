"""Column-level cleaning learned on the training split: which columns to keep and the fixed
statistics (fill values, clip fences, vocabularies, means) that the model's own layers apply.

Nothing here transforms data for training only: every step is carried out by layers inside the
exported model (see encode.py), so training and serving see the same transformation.
"""
from __future__ import annotations

import keyword
import re
import string
from collections import Counter
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from autotune.data.profile import CATEGORICAL, NUMERIC, TEXT, Profile, coerce_numeric, map_distinct
from autotune.errors import ColumnError

MAX_VOCABULARY = 50
OUTLIER_IQR = 3.0
NO_BOUND = 3.0e38  # stands in for infinity: JSON and float32 both hold it
# Piecewise-linear encoding of numbers (Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular
# Deep Learning"): each numeric column also enters the network as ramps between its training quantiles, so a skewed or
# non-monotone column is not squeezed into one standardised value: one ramp per ROWS_PER_BIN training values, at least
# MIN_QUANTILE_BINS and at most QUANTILE_BINS (fewer where the quantiles repeat). Finer ramps on larger tables (16 -> 64)
# gained R² 0.03 on gss_wages (a 538-value occupation code) and 0.001 on diamonds; 32 ramps gained 0.009 on ames, 64
# nothing, hence one ramp per 64 rows (bench/README, "the ensemble and the ramps"). QUANTILE_BINS 0 turns them off.
QUANTILE_BINS = 64
MIN_QUANTILE_BINS = 16
ROWS_PER_BIN = 64
# ... and the ramps of all the numbers together stay within RAMP_CELLS numbers (float32: 256 MB) over the training
# rows: fewer ramps a number where rows × numbers is large, none where fewer than two fit. Without it 1,000,000 rows
# × 45 numbers made a matrix of ~2,900 columns and the final fit was killed for memory at 24 GB (bench/large.py);
# the suite's largest (flights, ~51M) keeps its 64.
RAMP_CELLS = 64_000_000
MISSING_TOKEN = ""  # a missing string category, as the model receives it
# Free text enters the network as TF-IDF over a vocabulary of the training split's most frequent words (lowercased,
# punctuation a word boundary: text_words), each row scaled to unit length: at most TEXT_TOKENS words a column, fewer
# on large data so that the encoded matrix stays within TEXT_CELLS numbers a column.
TEXT_TOKENS = 5000
TEXT_MIN_TOKENS = 200
TEXT_CELLS = 20_000_000
TEXT_MIN_DOCUMENTS = 2  # a word in fewer training rows than this tells nothing about the next row
# ... and the unit-length TF-IDF rows are then projected onto their TEXT_DIMENSIONS leading singular directions on
# the training rows (latent semantic analysis), each standardised: the network's first layer takes 128 numbers
# instead of thousands, for about the same signal (fine_foods, seeds 0 and 1: logistic regression on the 5,000
# words 0.778 / 0.812, on the 128 directions 0.791 / 0.804; /work/dev/textrep.py in the issue 20 note).
TEXT_DIMENSIONS = 128
# ... and, for the search's sequence encoders (an embedding with pooling, a 1-D convolution, a bidirectional GRU:
# search.space's text_encoder), as the ids of its first words: as many as nine rows in ten of the training split have
# (TEXT_SEQUENCE_QUANTILE), at least TEXT_SEQUENCE_MIN and at most TEXT_SEQUENCE_MAX — a longer cell's further words
# reach the network through its TF-IDF alone.
TEXT_SEQUENCE_QUANTILE = 0.9
TEXT_SEQUENCE_MIN = 4
TEXT_SEQUENCE_MAX = 128


@dataclass(frozen=True)
class Feature:
    """One input column of the model and the statistics learned for it on the training split."""

    name: str
    kind: str  # numeric | categorical | text
    dtype: str  # number | string: the raw input the exported model takes
    fill: float | None = None  # numeric: the training median, used for missing values
    clip_low: float | None = None
    clip_high: float | None = None
    mean: float | None = None
    variance: float | None = None
    missing_indicator: bool = False
    vocabulary: tuple = ()  # categorical: known values, most frequent first; text: its words, most frequent first
    key: str = ""  # the model's input name for this column (Keras and TF restrict the characters)
    # --select-features pca: this column's loadings on each kept (whitened) principal component; the
    # model projects the standardised numeric columns with them (layers.Projection). Empty otherwise.
    components: tuple = ()
    thousands: bool = False  # the file writes this number column as "12,345": autotune reads it so at predict
    # numeric: the distinct training quantiles between which the model encodes the number piecewise-linearly
    # (layers.PiecewiseLinear); empty: the standardised value only
    knots: tuple = ()
    idf: tuple = ()  # text: each word's inverse document frequency in the training split (unknown words: their mean)
    dimensions: int = 0  # text: the TF-IDF's projection's width (TEXT_DIMENSIONS or fewer)
    sequence_length: int = 0  # text: the word ids the sequence encoders read (padded or cut to this); 0: none
    # text: the projection, [unknown-words slot + words, dimensions] and its bias (standardising each dimension on
    # the training rows). Too large for metadata.json: the model holds it (model.keras's weights, the SavedModel's
    # variables); a Feature read back from metadata has none.
    projection: object = field(default=None, repr=False, compare=False)
    projection_bias: object = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("projection", "projection_bias")}
        out["vocabulary"] = list(self.vocabulary)
        for name in ("components", "knots", "idf"):
            if getattr(self, name):
                out[name] = list(getattr(self, name))
            else:
                del out[name]
        if not self.thousands:
            del out["thousands"]
        if not self.dimensions:
            del out["dimensions"]
        if not self.sequence_length:
            del out["sequence_length"]
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict) -> Feature:
        data = dict(data)
        data["vocabulary"] = tuple(data.get("vocabulary", ()))
        data["components"] = tuple(float(v) for v in data.get("components", ()))
        data["knots"] = tuple(float(v) for v in data.get("knots", ()))
        data["idf"] = tuple(float(v) for v in data.get("idf", ()))
        return cls(**data)


def raw_column(values: pd.Series, dtype: str, thousands: bool = False) -> np.ndarray:
    """A raw column as the model takes it: float32 with NaN for missing, or strings with "" for missing.
    thousands: "12,345" is the number 12345 (a column profiled so at fit; the SavedModel takes the number)."""
    if dtype == "number":
        numbers, _ = coerce_numeric(values, thousands)
        with np.errstate(over="ignore"):
            out = numbers.to_numpy(np.float32)
        out[~np.isfinite(out)] = np.nan  # ±inf, and numbers beyond float32's range, are missing
        return out
    return map_distinct(values, _as_text, MISSING_TOKEN)


def _as_text(value) -> str:
    """A category as text. Numbers in a column read as numbers (at predict time, say) look as they would
    in the file: 7.0 is "7", so it matches the "7" learned from a text column."""
    if pd.isna(value):
        return MISSING_TOKEN
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def raw_inputs(frame: pd.DataFrame, features: list[Feature]) -> dict[str, np.ndarray]:
    """The model's raw inputs from a frame, one array per feature key; a missing column is a ColumnError."""
    missing = [f.name for f in features if f.name not in frame.columns]
    if missing:
        raise ColumnError(missing[0], f"required by the model but not in the data (missing: {', '.join(missing)})")
    return {f.key: raw_column(frame[f.name], f.dtype, f.thousands) for f in features}


def input_key(name: str, taken: set[str]) -> str:
    """A model input name for a column: an identifier (letters, digits and _, a letter first) and no Python keyword,
    unique among the inputs ignoring case. The SavedModel signature's input names are tf.function parameter names:
    TensorFlow renames any other name inside the signature ("a.b" to "a_b", with a notice on stderr at each export
    and call), colliding with a column "a_b", and refuses a keyword ("class") — so the key is the name TensorFlow
    keeps, the one TF Serving's requests use."""
    key = re.sub(r"[^A-Za-z0-9_]", "_", name.strip()) or "column"
    if not key[0].isalpha():
        key = "c_" + key
    if keyword.iskeyword(key):
        key += "_"
    candidate, n = key, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{key}_{n}"
    taken.add(candidate.lower())
    return candidate


def _numeric(name: str, values: np.ndarray, actions: list[dict], most_ramps: int | None = None) -> Feature | None:
    present = values[~np.isnan(values)]
    if len(present) == 0 or np.all(present == present[0]):
        actions.append({"step": "drop_column", "column": name, "reason": "constant in the training split"})
        return None
    median = float(np.median(present))
    q1, q3 = np.percentile(present, [25, 75])
    iqr = q3 - q1
    low, high = (q1 - OUTLIER_IQR * iqr, q3 + OUTLIER_IQR * iqr) if iqr > 0 else (-NO_BOUND, NO_BOUND)
    clipped = int(((present < low) | (present > high)).sum())
    if clipped:
        actions.append({"step": "clip_outliers", "column": name, "rows": clipped,
                        "range": [float(low), float(high)]})
    n_missing = int(len(values) - len(present))
    if n_missing:
        actions.append({"step": "impute", "column": name, "rows": n_missing, "value": median,
                        "how": f"the training median {median:.4g}, plus a missing-value indicator"})
    cleaned = np.clip(np.where(np.isnan(values), median, values), low, high)
    return Feature(name, NUMERIC, "number", fill=median, clip_low=float(low), clip_high=float(high),
                   mean=float(cleaned.mean()), variance=float(cleaned.var()),
                   missing_indicator=bool(n_missing), knots=quantile_knots(present, most=most_ramps))


def ramp_rule(rows: int) -> int:
    """The ramps a number gets from `rows` training values: one per ROWS_PER_BIN, MIN_QUANTILE_BINS to QUANTILE_BINS."""
    return min(QUANTILE_BINS, max(MIN_QUANTILE_BINS, rows // ROWS_PER_BIN))


def ramp_budget(rows: int, numbers: int) -> int:
    """The most ramps a number gets so that all `numbers` numbers' ramps over `rows` rows fit in RAMP_CELLS."""
    return RAMP_CELLS // max(rows * numbers, 1)


def quantile_knots(values: np.ndarray, bins: int | None = None, most: int | None = None) -> tuple:
    """The distinct training quantiles (0 %, 1/bins, …, 100 %: observed values, float32) that bound the
    piecewise-linear encoding's ramps (at most `most` of them); () where they make fewer than two ramps (a binary
    column: its standardised value says it all)."""
    if bins is None:
        bins = ramp_rule(len(values))
    if most is not None:
        bins = min(bins, most)
    if bins <= 0:
        return ()
    knots = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1), method="inverted_cdf").astype(np.float32))
    return tuple(float(v) for v in knots) if len(knots) >= 3 else ()


def _categorical(name: str, dtype: str, values: np.ndarray, actions: list[dict]) -> Feature | None:
    series = pd.Series(values)
    missing = series.isna() | (series == MISSING_TOKEN) if dtype == "string" else series.isna()
    counts = series[~missing].value_counts()
    if len(counts) <= 1:
        actions.append({"step": "drop_column", "column": name, "reason": "constant in the training split"})
        return None
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    vocabulary = [k for k, _ in ordered[:MAX_VOCABULARY]]
    if len(ordered) > MAX_VOCABULARY:
        actions.append({"step": "rare_categories", "column": name, "categories": len(ordered) - MAX_VOCABULARY,
                        "how": f"all but the {MAX_VOCABULARY} most frequent share one 'other' slot"})
    if missing.any():
        actions.append({"step": "impute", "column": name, "rows": int(missing.sum()),
                        "how": "a 'missing' category of its own"})
    if dtype == "number":
        vocabulary = sorted(float(v) for v in vocabulary)
    else:
        vocabulary = [str(v) for v in vocabulary]
        if missing.any():
            vocabulary.append(MISSING_TOKEN)
    return Feature(name, CATEGORICAL, dtype, missing_indicator=bool(missing.any()), vocabulary=tuple(vocabulary))


def text_tokens(rows: int) -> int:
    """The most words a text column's vocabulary keeps, for a training split of `rows` rows."""
    return int(min(TEXT_TOKENS, max(TEXT_MIN_TOKENS, TEXT_CELLS // max(rows, 1))))


# What the model's TextVectorization does to a cell (its standardize is layers.split_punctuation, its split Keras's
# default): ASCII letters lowercased (tf.strings.lower), every punctuation character (Keras's own pattern for
# "lower_and_strip_punctuation") replaced by a space, split on ASCII whitespace. Keras's "lower_and_strip_punctuation"
# deletes the punctuation instead, which glues "https://t.co/a1b2" into one word no other row has, and "don't" into
# "dont": on trump_tweets, logistic regression on the words 0.797 deleting, 0.847 splitting (bench/README, issue
# 20). The vocabulary is counted here with the same rules, so that training learns the words the exported model
# will see, without TensorFlow.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
TEXT_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_PUNCTUATION = re.compile(TEXT_PUNCTUATION)
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")


def text_words(cell: str) -> list[str]:
    """The words of a cell as the model's TextVectorization layer splits them."""
    return [w for w in _WHITESPACE.split(_PUNCTUATION.sub(" ", cell.translate(_ASCII_LOWER))) if w]


def _text(name: str, values: np.ndarray, actions: list[dict], word_ids: bool = False) -> Feature | None:
    """A free-text column: the training split's most frequent words that appear in TEXT_MIN_DOCUMENTS rows or more,
    and each one's inverse document frequency as Keras computes it, log(1 + rows / (1 + rows with the word))."""
    counts, documents, cells = Counter(), Counter(), []
    for cell in values:
        words = text_words(cell)
        counts.update(words)
        documents.update(set(words))
        cells.append(words)
    kept = sorted((w for w in counts if documents[w] >= TEXT_MIN_DOCUMENTS), key=lambda w: (-counts[w], w))
    vocabulary = kept[:text_tokens(len(values))]
    if len(vocabulary) < 2:
        actions.append({"step": "drop_column", "column": name, "reason": f"fewer than two words in "
                        f"{TEXT_MIN_DOCUMENTS} or more rows of the training split"})
        return None
    idf = tuple(float(np.log1p(len(values) / (1 + documents[w]))) for w in vocabulary)
    projection, bias = _text_projection(cells, vocabulary, idf)
    empty = int(sum(not words for words in cells))
    length, cut = sequence_length([len(words) for words in cells]) if word_ids else (0, 0)
    actions.append({"step": "text", "column": name, "words": len(vocabulary), "rows": len(values),
                    "dimensions": projection.shape[1], **({"sequence_length": length} if length else {}),
                    "how": "TF-IDF over the training split's most frequent words, each row scaled to unit length, "
                    f"projected onto its {projection.shape[1]} leading directions"
                    + (f"; the sequence encoders read the first {length} words" if length else "")
                    + (f" ({cut} training cell(s) are longer: their further words count in the TF-IDF alone)"
                       if cut else "")
                    + (f"; {empty} cell(s) without a word" if empty else "")})
    return Feature(name, TEXT, "string", vocabulary=tuple(vocabulary), idf=idf, dimensions=projection.shape[1],
                   sequence_length=length, projection=projection, projection_bias=bias)


def sequence_length(words: list[int]) -> tuple[int, int]:
    """The word ids a text column's sequence encoders read, from its training cells' word counts (TEXT_SEQUENCE_*),
    and how many of those cells have more words than that."""
    counts = np.asarray(words, np.int64)
    wanted = int(np.ceil(np.quantile(counts, TEXT_SEQUENCE_QUANTILE))) if len(counts) else 0
    length = int(min(TEXT_SEQUENCE_MAX, max(TEXT_SEQUENCE_MIN, wanted)))
    return length, int((counts > length).sum())


def tfidf_rows(cells: list[list[str]], vocabulary: list[str], idf) -> object:
    """The unit-length TF-IDF rows (a scipy CSR matrix, the unknown words' slot first) that the model's
    TextVectorization + UnitNormalization compute for these cells (words split by text_words)."""
    from scipy import sparse

    index = {w: i + 1 for i, w in enumerate(vocabulary)}
    weights = np.concatenate([[np.mean(idf)], idf])  # Keras: the unknown words' idf is the mean
    rows, columns = [], []
    for r, words in enumerate(cells):
        for w in words:
            rows.append(r)
            columns.append(index.get(w, 0))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(cells), len(vocabulary) + 1))
    matrix.sum_duplicates()
    matrix = matrix.multiply(weights[None, :]).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(1 / np.where(norms > 0, norms, 1.0)) @ matrix


def _text_projection(cells: list[list[str]], vocabulary: list[str], idf) -> tuple[np.ndarray, np.ndarray]:
    """The training rows' TF-IDF onto its leading singular directions (truncated SVD, seeded), then standardised:
    (kernel [words + 1, dimensions], bias [dimensions]), float32."""
    from sklearn.decomposition import TruncatedSVD

    x = tfidf_rows(cells, vocabulary, idf)
    dimensions = int(min(TEXT_DIMENSIONS, x.shape[1] - 1, x.shape[0] - 1))
    with np.errstate(divide="ignore", invalid="ignore"):  # its explained-variance ratio, when every row is alike
        svd = TruncatedSVD(dimensions, algorithm="randomized", n_iter=5, random_state=0).fit(x)
    kernel = svd.components_.T.astype(np.float64)  # [words + 1, dimensions]
    projected = np.asarray(x @ kernel)
    mean, std = projected.mean(axis=0), projected.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return (kernel / std).astype(np.float32), (-mean / std).astype(np.float32)


CORRELATION_LIMIT = 0.95


def drop_correlated(train: pd.DataFrame, features: list[Feature], actions: list[dict],
                    limit: float = CORRELATION_LIMIT) -> list[Feature]:
    """--select-features corr: of two numeric columns whose training values correlate above the limit
    (|Pearson r|, after imputation and clipping), keep the first and drop the second."""
    numeric = [f for f in features if f.kind == NUMERIC]
    if len(numeric) < 2:
        return features
    cleaned = pd.DataFrame({
        f.name: np.clip(np.nan_to_num(raw_column(train[f.name], "number", f.thousands).astype(np.float64), nan=f.fill),
                        f.clip_low, f.clip_high) for f in numeric})
    corr = cleaned.corr().abs().to_numpy()
    dropped: set[str] = set()
    for i, kept in enumerate(numeric):
        if kept.name in dropped:
            continue
        for j in range(i + 1, len(numeric)):
            other = numeric[j].name
            if other not in dropped and corr[i, j] > limit:
                dropped.add(other)
                actions.append({"step": "drop_column", "column": other, "reason":
                                f'correlated with "{kept.name}" (|r| = {corr[i, j]:.3f} > {limit}) in the training split'})
    return [f for f in features if f.name not in dropped]


PCA_VARIANCE = 0.95


def standardised(train: pd.DataFrame, features: list[Feature]) -> np.ndarray:
    """The numeric features' training values as the model's first layers see them: missing values
    filled, clipped, then standardised (what ImputeClip and Normalization compute)."""
    columns = []
    for f in features:
        values = np.clip(np.nan_to_num(raw_column(train[f.name], "number", f.thousands).astype(np.float64), nan=f.fill),
                         f.clip_low, f.clip_high)
        columns.append((values - f.mean) / max(np.sqrt(f.variance), 1e-7))
    return np.stack(columns, axis=1)


def project_pca(train: pd.DataFrame, features: list[Feature], actions: list[dict],
                variance: float = PCA_VARIANCE) -> list[Feature]:
    """--select-features pca: the principal components of the standardised numeric features that
    together explain `variance` of their training variance, learned on the training split alone.

    Each component is whitened (unit variance on the training rows, like every other input of the
    network). The projection is stored as each numeric feature's loadings and applied by a fixed
    layer inside the model, so the exported model still takes the raw columns. Missing-value
    indicators and categories are not projected. The training values are centred already (the
    standardisation subtracts their mean), so the projection is a plain matrix product."""
    from sklearn.decomposition import PCA

    numeric = [f for f in features if f.kind == NUMERIC]
    if len(numeric) < 2:
        actions.append({"step": "pca", "columns": len(numeric), "components": None,
                        "reason": "fewer than 2 numeric columns: nothing to project"})
        return features
    x = standardised(train, numeric)
    pca = PCA(n_components=variance, svd_solver="full").fit(x)
    loadings = pca.components_.T / np.sqrt(np.maximum(pca.explained_variance_, 1e-12))  # [columns, components]
    kept = len(pca.explained_variance_)
    actions.append({"step": "pca", "columns": len(numeric), "components": kept, "variance": variance,
                    "explained": float(pca.explained_variance_ratio_.sum())})
    rows = {f.name: tuple(float(v) for v in loadings[i]) for i, f in enumerate(numeric)}
    # a projected number enters the network through the components alone: no ramps of its own
    return [replace(f, components=rows[f.name], knots=()) if f.name in rows else f for f in features]


def _ramp_note(rows: int, numbers: int, most_ramps: int) -> list[dict]:
    """The cleaning note when the budget gives the numbers fewer ramps than the rule would (none otherwise)."""
    if not numbers or not QUANTILE_BINS or most_ramps >= ramp_rule(rows):
        return []
    return [{"step": "ramps", "ramps": most_ramps if most_ramps >= 2 else 0, "rows": rows, "numbers": numbers,
             "budget": RAMP_CELLS}]


def learn_features(train: pd.DataFrame, prof: Profile, select: str = "none", word_ids: bool = False,
                   within: list[Feature] | None = None) -> tuple[list[Feature], list[dict]]:
    """The model's features and the statistics of each, from the training split alone; word_ids: each text column's
    words as ids too, for a search with sequence encoders (recipes.reads_word_ids). within: learn only these
    features' columns, each under its input key (a search fold's, within the training split's: a column the split
    drops is one the final model cannot read, so no fold network reads it either; the rule is label-free)."""
    actions: list[dict] = []
    for col in prof.columns:
        if col.kind not in (NUMERIC, CATEGORICAL, TEXT):
            actions.append({"step": "drop_column", "column": col.name, "reason": {
                "id": "ID-like (a different value in (nearly) every row)", "constant": "constant"}[col.kind]})
    keys = None if within is None else {f.name: f.key for f in within}
    columns = [col for col in prof.features if keys is None or col.name in keys]
    features = []
    taken: set[str] = set()
    numbers = sum(col.kind == NUMERIC for col in columns)
    most_ramps = ramp_budget(len(train), numbers)
    actions.extend(_ramp_note(len(train), numbers, most_ramps))
    for col in columns:
        values = raw_column(train[col.name], col.dtype, col.thousands)
        values = values.astype(np.float64) if col.dtype == "number" else values
        if col.kind == NUMERIC:
            feature = _numeric(col.name, values, actions, most_ramps)
        elif col.kind == TEXT:
            feature = _text(col.name, values, actions, word_ids)
        else:
            feature = _categorical(col.name, col.dtype, values, actions)
        if feature is not None:
            key = input_key(col.name, taken) if keys is None else keys[col.name]
            features.append(replace(feature, key=key, thousands=col.thousands))
    if select == "corr":
        features = drop_correlated(train, features, actions)
    elif select == "pca" and features:
        features = project_pca(train, features, actions)
    if not features:
        raise ColumnError(prof.target, "no feature column varies in the training split; add informative columns")
    return features, actions


def describe_action(action: dict) -> str:
    """One readable line per cleaning action, for the report and the terminal."""
    step, col = action["step"], action.get("column")
    if step == "drop_rows":
        return f"dropped {action['rows']} row(s): {action['reason']}"
    if step == "drop_column":
        return f'dropped column "{col}": {action["reason"]}'
    if step == "impute":
        return f'filled {action["rows"]} missing value(s) in "{col}" with {action["how"]}'
    if step == "clip_outliers":
        low, high = action["range"]
        return f'clipped {action["rows"]} outlier(s) in "{col}" to [{low:.4g}, {high:.4g}]'
    if step == "skip_file":
        return f"skipped {col}: {action['reason']}"
    if step == "pca":
        return _describe_pca(action)
    if step == "text":
        return f'"{col}": free text, {action["words"]:,} words kept ({action["how"]})'
    if step == "ramps":
        return _describe_ramps(action)
    if step == "rare_categories":
        return f'"{col}": {action["categories"]} rare categories grouped ({action["how"]})'
    return str(action)


def _describe_pca(action: dict) -> str:
    if not action.get("components"):
        return f"pca: skipped, {action['reason']}"
    return (f"pca: {action['columns']} numeric features → {action['components']} components, "
            f"{action['variance']:.0%} variance ({action['explained']:.1%} of the training variance kept), "
            "projected inside the model")


def _describe_ramps(action: dict) -> str:
    size = f'{action["rows"]:,} rows × {action["numbers"]} numbers, within the budget of {action["budget"]:,} cells'
    if not action["ramps"]:
        return f"numbers: standardised only, no piecewise-linear ramps ({size})"
    return f'numbers: at most {action["ramps"]} piecewise-linear ramps each ({size})'
