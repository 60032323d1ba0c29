"""Image datasets: a folder with one subfolder per class, or a CSV with an image-path column.

Every file is opened once with Pillow to profile it (size, channels) and to find the ones that
cannot be used (empty, corrupt, truncated, not an image); those are skipped and listed in the
report, never a crash. No TensorFlow here.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from autotune.data.profile import CLASSIFICATION, IMBALANCE_RATIO, ColumnProfile, Profile
from autotune.errors import InputError

SUPPORTED_FORMATS = {"JPEG", "PNG", "BMP", "GIF"}  # what tf.io.decode_image reads
MIN_IMAGES_PER_CLASS = 5
# Decoding takes ~15 bytes a pixel (uint8, then float32 RGB) before the resize: an image is used only if its
# header promises at most this many pixels — 64 times the training size, and never under 50 megapixels, so a
# phone's 48-megapixel photo passes and a 48 KB PNG that claims 20000×20000 is never decoded.
PIXEL_FLOOR = 50_000_000
PIXEL_MULTIPLE = 64
LABEL, PATH = "label", "path"
# Pillow's modes of a single gray channel (bilevel, 8-bit, with alpha, 32-bit integer, 16-bit, float): a folder of
# these alone trains on one channel (ImageProfile.channels); a palette ("P") may hold colours, so it counts as colour.
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


@dataclass(frozen=True)
class ImageProfile:
    images: int
    classes: dict[str, int]
    width: dict[str, float]
    height: dict[str, float]
    modes: dict[str, int]  # Pillow modes: RGB, L (grayscale), P (palette), RGBA...
    formats: dict[str, int]
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}
    image_size: tuple[int, int] = (64, 64)  # chosen (or given) height, width for the model
    # The channels the model reads: 1 where every usable image is grayscale (GRAYSCALE_MODES) - decoded as RGB, a
    # gray image is three equal channels, which cost the first convolution and the augmentation 3x the work for
    # nothing (mnist_5k's trials 8-15 % of their time, bench/README "Grayscale images on one channel") - else 3.
    channels: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


def is_image_input(path: Path, image_column: str | None) -> bool:
    """Whether the input is an image folder or a CSV of image paths."""
    return Path(path).is_dir() or image_column is not None


def scan_folder(root: Path) -> pd.DataFrame:
    """Every file under one subfolder per class, with its label; a folder without classes is bad input."""
    if not root.is_dir():
        raise InputError(f"{root}: no such directory; pass a folder with one subfolder per class")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"{root}: no class subfolders; put the images in one subfolder per class "
                         "(e.g. photos/cat/*.jpg, photos/dog/*.jpg)")
    rows = [(str(f), c.name) for c in classes for f in sorted(c.rglob("*"))
            if f.is_file() and not f.name.startswith(".")]
    empty = [c.name for c in classes if not any(r[1] == c.name for r in rows)]
    if empty:
        raise InputError(f'{root}: class folder "{empty[0]}" holds no files; add images or remove the folder')
    return pd.DataFrame(rows, columns=[PATH, LABEL])


def scan_csv(csv: Path, frame: pd.DataFrame, image_column: str, target: str,
             allow_outside: bool = False) -> pd.DataFrame:
    """The image files a CSV lists (relative to its folder) and their labels. A path that leads outside
    the CSV's folder once resolved (`../`, an absolute path, a symlink to elsewhere) is refused before any
    file is opened, unless allow_outside: a CSV from someone else must not make autotune read any file."""
    if image_column not in frame.columns:
        raise InputError(f'{csv}: no column "{image_column}"; columns are: {", ".join(frame.columns)}')
    paths = frame[image_column].map(lambda p: str((csv.parent / str(p)).resolve()) if pd.notna(p) else None)
    outside = outside_paths(csv, paths)
    if outside and not allow_outside:
        line = int(outside[0]) + 2  # the header is line 1
        raise InputError(f'{csv}: {len(outside)} image path(s) in column "{image_column}" lead outside the CSV\'s '
                         f"folder, e.g. line {line}: {frame[image_column][outside[0]]}; keep the images under "
                         f"{csv.parent} or pass --allow-outside-paths")
    labels = frame[target].map(lambda v: str(v).strip() if pd.notna(v) else None)
    return pd.DataFrame({PATH: paths, LABEL: labels}).dropna()


def outside_paths(csv: Path, resolved: pd.Series) -> list:
    """The index of every resolved path that is not inside the CSV's (resolved) folder."""
    folder = csv.parent.resolve()
    return [i for i, p in resolved.items() if p is not None and not Path(p).is_relative_to(folder)]


def pixel_limit(image_size: tuple[int, int] | None) -> int:
    """The most pixels an image may have to be decoded, for a model of this (height, width); None: the
    size is not chosen yet, and default_size never goes above 128×128."""
    height, width = image_size or (128, 128)
    return max(PIXEL_FLOOR, PIXEL_MULTIPLE * height * width)


def _inspect(path: str, limit: int = PIXEL_FLOOR) -> tuple[dict | None, str | None]:
    """(facts, None) for a usable image, (None, reason) for one to skip. The size is read from the header
    and checked against `limit` before a single pixel is decoded."""
    import re
    import warnings

    from PIL import Image, UnidentifiedImageError

    file = Path(path)
    if not file.exists():
        return None, "file not found"
    if file.stat().st_size == 0:
        return None, "empty file"

    def too_large(pixels: int) -> tuple[None, str]:
        return None, (f"too large: {pixels / 1e6:.0f} megapixels, over the {limit / 1e6:.0f}-megapixel limit "
                      "(a decompression bomb, or a picture to shrink first)")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is lower
            with Image.open(file) as image:
                facts = {"format": image.format, "mode": image.mode, "width": image.width, "height": image.height}
                if image.width * image.height > limit:
                    return too_large(image.width * image.height)
                image.load()  # decodes the first frame: finds truncated and corrupt data
    except Image.DecompressionBombError as exc:  # Pillow's own check, made while it reads the header
        found = re.search(r"\((\d+) pixels\)", str(exc))
        return too_large(int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0))
    except UnidentifiedImageError:
        return None, "not an image"
    except (OSError, SyntaxError, ValueError) as exc:
        return None, f"corrupt or truncated ({str(exc).splitlines()[0][:80]})"
    if facts["format"] not in SUPPORTED_FORMATS:
        return None, f"unsupported format {facts['format']} (use JPEG, PNG, BMP or GIF)"
    return facts, None


def folder_fingerprint(paths) -> str:
    """sha256 over every file's relative name and bytes, in a fixed order."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).name.encode())
        digest.update(Path(path).read_bytes())
    return "sha256:" + digest.hexdigest()


def _shown(path: str, source: Path) -> str:
    """A file's name as the user gave it: relative to the image folder (or the CSV's folder)."""
    base = source if source.is_dir() else source.parent
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def duplicate_files(files: pd.DataFrame, source: Path) -> tuple[list[bool], list[dict]]:
    """Keep each distinct file content (sha256 of the bytes) in one place only, before the split, so no
    image can sit in both the training and the test data. Copies under one label: the first file (in
    listing order) is kept. One content under several labels: every copy is dropped, since which label
    is right cannot be known (keeping the first would pick one by folder order). Returns which rows to
    keep and {"path", "reason"} for each dropped file, listed with the skipped ones."""
    import hashlib

    digests = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in files[PATH]]
    groups: dict[str, list[int]] = {}
    for i, digest in enumerate(digests):
        groups.setdefault(digest, []).append(i)
    drop, dropped = set(), []
    for rows in groups.values():
        if len(rows) == 1:
            continue
        labels = sorted(set(files[LABEL].iloc[rows]))
        for i in rows if len(labels) > 1 else rows[1:]:
            others = [_shown(files[PATH].iloc[j], source) for j in rows if j != i]
            reason = (f"same content under two labels ({', '.join(labels)}): also {', '.join(others[:3])}"
                      if len(labels) > 1 else f"same content as {_shown(files[PATH].iloc[rows[0]], source)}")
            drop.add(i)
            dropped.append({"path": files[PATH].iloc[i], "reason": reason})
    return [i not in drop for i in range(len(files))], sorted(dropped, key=lambda d: d["path"])


def _summary(values: list[int]) -> dict[str, float]:
    return {"min": min(values), "median": float(statistics.median(values)), "max": max(values)}


def default_size(heights: list[int], widths: list[int]) -> tuple[int, int]:
    """Square, the median short side rounded to a multiple of 8, kept within 32..128 for CPU budgets."""
    side = statistics.median(min(h, w) for h, w in zip(heights, widths, strict=True))
    side = int(min(128, max(32, round(side / 8) * 8)))
    return side, side


def profile_images(files: pd.DataFrame, source: Path, image_size: tuple[int, int] | None = None
                   ) -> tuple[pd.DataFrame, Profile, ImageProfile]:
    """Keep the usable images, profile them, and check every class has enough."""
    facts, skipped = [], []
    limit = pixel_limit(image_size)
    for path in files[PATH]:
        info, reason = _inspect(path, limit)
        facts.append(info)
        if reason:
            skipped.append({"path": path, "reason": reason})
    usable = files[[f is not None for f in facts]].reset_index(drop=True)
    kept = [f for f in facts if f is not None]
    if not kept:
        raise InputError(f"{source}: none of the {len(files)} files is a readable image "
                         f"(first: {skipped[0]['path']}: {skipped[0]['reason']})")
    unreadable = len(skipped)
    keep, duplicates = duplicate_files(usable, source)
    usable, kept = usable[keep].reset_index(drop=True), [f for f, k in zip(kept, keep, strict=True) if k]
    skipped += duplicates
    counts = usable[LABEL].value_counts()
    class_counts = {str(k): int(v) for k, v in counts.items()}
    if len(class_counts) < 2:
        raise InputError(f"{source}: only one class ({next(iter(class_counts))}) has images; "
                         "a classifier needs at least two")
    few = {k: v for k, v in class_counts.items() if v < MIN_IMAGES_PER_CLASS}
    if few:
        name, n = next(iter(sorted(few.items(), key=lambda kv: kv[1])))
        raise InputError(f'{source}: class "{name}" has only {n} usable image(s); each class needs at least '
                         f"{MIN_IMAGES_PER_CLASS} — add images or remove the class")
    heights, widths = [f["height"] for f in kept], [f["width"] for f in kept]
    warnings = []
    if min(class_counts.values()) < IMBALANCE_RATIO * max(class_counts.values()):
        warnings.append(f"strong class imbalance: the smallest class has {min(class_counts.values())} images, "
                        f"the largest {max(class_counts.values())}")
    if unreadable:
        warnings.append(f"{unreadable} file(s) skipped as unreadable, e.g. {skipped[0]['path']}: "
                        f"{skipped[0]['reason']}")
    if duplicates:
        warnings.append(f"{len(duplicates)} duplicate file(s) dropped (identical bytes), e.g. "
                        f"{duplicates[0]['path']}: {duplicates[0]['reason']}")
    image_profile = ImageProfile(
        images=len(usable), classes=class_counts, width=_summary(widths), height=_summary(heights),
        modes=dict(pd.Series([f["mode"] for f in kept]).value_counts().items()),
        formats=dict(pd.Series([f["format"] for f in kept]).value_counts().items()),
        skipped=skipped, image_size=tuple(image_size or default_size(heights, widths)),
        channels=1 if all(f["mode"] in GRAYSCALE_MODES for f in kept) else 3,
    )
    prof = Profile(rows=len(usable), columns=(ColumnProfile(PATH, "image", "image", 0, len(usable)),),
                   target=LABEL, task=CLASSIFICATION, target_missing=0, class_counts=class_counts,
                   target_summary=None, warnings=tuple(warnings))
    return usable, prof, image_profile


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'128x96' -> (96, 128) as (height, width); '64' -> (64, 64)."""
    if not text:
        return None
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or not all(8 <= p <= 1024 for p in parts):
        raise InputError(f"--image-size {text!r}: use WIDTHxHEIGHT with sides from 8 to 1024, e.g. 128x128")
    return parts[1], parts[0]


def list_image_files(items: list[Path]) -> list[Path]:
    """Files named on the command line, and every file inside folders named there (for predict)."""
    files = []
    for item in items:
        item = Path(item)
        if item.is_dir():
            files += sorted(f for f in item.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif item.exists():
            files.append(item)
        else:
            raise InputError(f"{item}: no such file or directory")
    if not files:
        raise InputError("no image files to predict; pass image files or folders that contain them")
    return files
