"""Image datasets end to end, on scikit-learn's real handwritten digits written out as files."""
from __future__ import annotations

import pandas as pd
import pytest
from conftest import make_digit_images

from autotune.errors import InputError
from autotune.vision.images import default_size, parse_size, profile_images, scan_csv, scan_folder


def test_folder_profile_skips_broken_files_and_keeps_misnamed_images(digits_folder):
    files = scan_folder(digits_folder)
    usable, prof, images = profile_images(files, digits_folder)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in ((s["path"], s["reason"]) for s in images.skipped)}
    assert set(reasons) == {"empty.png", "corrupt.jpg", "truncated.png", "notes.txt"}
    assert reasons["empty.png"] == "empty file" and reasons["notes.txt"] == "not an image"
    assert reasons["truncated.png"].startswith("corrupt or truncated")
    assert any(p.endswith("misnamed.jpg") for p in usable["path"])
    assert images.classes == {"digit_1": 31, "digit_0": 30, "digit_2": 30} == prof.class_counts
    assert set(images.modes) == {"L", "RGB", "P"} and set(images.formats) == {"PNG", "JPEG", "BMP", "GIF"}
    assert images.channels == 3  # RGB and palette images among them
    assert images.width == {"min": 24, "median": 24.0, "max": 32} and images.image_size == (32, 32)
    assert prof.task == "classification" and prof.target == "label" and len(usable) == 91
    assert any("4 file(s) skipped" in w for w in prof.warnings)


def test_a_folder_of_grayscale_images_is_read_on_one_channel(tmp_path):
    """Issue 18: a gray image decoded as RGB is three equal channels, which cost the first convolution and the
    augmentation three times the work for nothing (the suite's four image sets are all grayscale). Every usable image
    grayscale: the model reads one channel; one colour image among them: three."""
    from PIL import Image

    root = make_digit_images(tmp_path / "gray", broken=False, gray_only=True)
    _, _, images = profile_images(scan_folder(root), root)
    assert set(images.modes) == {"L"} and set(images.formats) == {"PNG", "BMP"} and images.channels == 1
    Image.new("RGB", (24, 24), (200, 30, 30)).save(root / "digit_0" / "red.jpg")
    _, _, images = profile_images(scan_folder(root), root)
    assert images.channels == 3


def test_class_with_too_few_images_is_refused(tmp_path):
    root = make_digit_images(tmp_path / "few", classes=(0, 1), per_class=4, broken=False)
    with pytest.raises(InputError, match='class "digit_0" has only 4 usable image'):
        profile_images(scan_folder(root), root)


def test_csv_with_image_paths_relative_to_it(digits_folder, tmp_path):
    rows = [(f"photos/{p.parent.name}/{p.name}", p.parent.name) for p in sorted(digits_folder.glob("*/*.png"))]
    csv = digits_folder.parent / "images.csv"
    pd.DataFrame(rows, columns=["file", "digit"]).to_csv(csv, index=False)
    files = scan_csv(csv, pd.read_csv(csv), "file", "digit")
    usable, prof, _ = profile_images(files, csv)
    assert len(usable) == len(rows) - 2  # empty.png and truncated.png are skipped
    assert all(p.startswith(str(digits_folder.resolve())) for p in usable["path"])
    with pytest.raises(InputError, match='no column "image"'):
        scan_csv(csv, pd.read_csv(csv), "image", "digit")


@pytest.mark.parametrize("text,expected", [("128x96", (96, 128)), ("64", (64, 64)), (None, None)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_default_size_follows_the_images_within_cpu_bounds():
    assert default_size([500, 480], [640, 700]) == (128, 128)
    assert default_size([8, 8], [8, 8]) == (32, 32)
    assert default_size([60, 70, 64], [90, 64, 64]) == (64, 64)


# --- identical file contents are kept in one place only (issue 14, item 3) ---------------------------


def test_byte_identical_images_are_kept_once_and_conflicting_labels_dropped(tmp_path):
    import shutil

    from autotune.data.split import drop_unusable_rows, split

    root = make_digit_images(tmp_path / "photos", per_class=12, broken=False)
    shutil.copy(root / "digit_0" / "001.png", root / "digit_0" / "x_copy.png")  # same class: keep the first
    shutil.copy(root / "digit_0" / "002.png", root / "digit_0" / "y_copy.png")
    shutil.copy(root / "digit_1" / "001.png", root / "digit_2" / "z_other_label.png")  # two labels: keep neither
    usable, prof, images = profile_images(scan_folder(root), root)
    names = {p.rsplit("/", 1)[-1] if "/" in p else p for p in usable["path"]}
    paths = set(usable["path"])
    assert str(root / "digit_0" / "001.png") in paths and str(root / "digit_0" / "x_copy.png") not in paths
    assert str(root / "digit_1" / "001.png") not in paths and "z_other_label.png" not in names
    reasons = {s["path"].split("photos/")[-1]: s["reason"] for s in images.skipped}
    assert reasons["digit_0/x_copy.png"] == "same content as digit_0/001.png"
    assert reasons["digit_1/001.png"].startswith("same content under two labels")
    assert reasons["digit_2/z_other_label.png"].startswith("same content under two labels")
    assert images.classes == prof.class_counts == {"digit_0": 12, "digit_1": 11, "digit_2": 12}
    assert any(w.startswith("4 duplicate file(s) dropped") for w in prof.warnings)

    import hashlib

    frame, _ = drop_unusable_rows(usable, prof)
    parts = split(frame, prof, 0.2, 0.2, seed=0)
    digest = {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in frame["path"]}
    held_out = {digest[p] for p in parts.test["path"]}
    assert not held_out & {digest[p] for p in (*parts.train["path"], *parts.validation["path"])}
    assert len(set(digest.values())) == len(digest)


def test_the_pixel_limit_follows_the_training_size():
    from autotune.vision.images import pixel_limit

    assert pixel_limit(None) == pixel_limit((64, 64)) == 50_000_000  # the floor: ordinary photos pass
    assert pixel_limit((1024, 1024)) == 64 * 1024 * 1024


def _outside_csv(tmp_path, bad: str | None) -> tuple:
    """set/images.csv listing the digit images under set/photos, plus one more path `bad` (if given)."""
    root = make_digit_images(tmp_path / "set" / "photos", classes=(0, 1), per_class=6, broken=False)
    rows = [(f"photos/{p.parent.name}/{p.name}", p.parent.name) for p in sorted(root.glob("*/*"))]
    if bad is not None:
        rows.insert(3, (bad, "digit_0"))
    csv = tmp_path / "set" / "images.csv"
    pd.DataFrame(rows, columns=["file", "digit"]).to_csv(csv, index=False)
    return csv, pd.read_csv(csv)


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_image_csv_paths_outside_its_folder_are_refused_unless_allowed(tmp_path, kind):
    """`../x.png`, `/abs/x.png` and a symlink beside the CSV that points elsewhere are all outside the
    CSV's folder once resolved: refused before any file is opened, or read with allow_outside=True."""
    import shutil

    from PIL import Image

    secret = tmp_path / "secret.png"
    Image.new("L", (24, 24), 200).save(secret)
    bad = {"parent": "../secret.png", "absolute": str(secret), "symlink": "photos/digit_0/link.png"}[kind]
    csv, frame = _outside_csv(tmp_path, bad)
    if kind == "symlink":
        (csv.parent / "photos" / "digit_0" / "link.png").symlink_to(secret)
    with pytest.raises(InputError) as info:
        scan_csv(csv, frame, "file", "digit")
    assert info.value.message == (f'{csv}: 1 image path(s) in column "file" lead outside the CSV\'s folder, e.g. '
                                  f'line 5: {bad}; keep the images under {csv.parent} or pass --allow-outside-paths')
    files = scan_csv(csv, frame, "file", "digit", allow_outside=True)
    assert str(secret.resolve()) in set(files["path"]) and len(files) == 13
    inside, _ = _outside_csv(tmp_path / "clean", None)
    assert len(scan_csv(inside, pd.read_csv(inside), "file", "digit")) == 12
    shutil.rmtree(tmp_path / "clean")
