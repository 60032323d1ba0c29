"""Image datasets end to end, on scikit-learn's real handwritten digits written out as files."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from conftest import make_digit_images, run_cli

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
    assert images.width == {"min": 24, "median": 24.0, "max": 32} and images.image_size == (32, 32)
    assert prof.task == "classification" and prof.target == "label" and len(usable) == 91
    assert any("4 file(s) skipped" in w for w in prof.warnings)


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


def test_augmentation_acts_in_training_only():
    import keras

    from autotune.vision.pipeline import augmentation

    layers = augmentation("strong", seed=0)
    assert {type(layer).__name__ for layer in layers} >= {"RandomFlip", "RandomRotation", "RandomZoom",
                                                           "RandomTranslation", "RandomContrast"}
    model = keras.Sequential([keras.Input((16, 16, 3)), *layers])
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), x)
    assert not np.allclose(np.asarray(model(x, training=True)), x)
    assert augmentation("none", seed=0) == []


PLAIN_TF = textwrap.dedent("""\
    import json, sys
    import tensorflow as tf
    bundle, files = sys.argv[1], sys.argv[2:]
    serve = tf.saved_model.load(bundle + "/saved_model").signatures["serving_default"]
    out = serve(image=tf.constant([open(f, "rb").read() for f in files]))
    print(json.dumps({"probabilities": out["probabilities"].numpy().tolist(),
                      "label": [v.decode() for v in out["label"].numpy()],
                      "leaked": sorted(m for m in sys.modules if m.split(".")[0] in ("autotune", "keras_tuner"))}))
    """)


def test_image_folder_fit_predict_and_plain_tensorflow_agree(digits_folder, tmp_path):
    bundle = tmp_path / "bundle"
    fit = run_cli("fit", str(digits_folder), "-o", str(bundle), "--tuner", "random", "--max-trials", "2",
                  "--epochs", "3", "--json")
    assert fit.returncode == 0, fit.stderr
    report = json.loads((bundle / "report.json").read_text())
    assert report["kind"] == "image" and report["data"]["images"]["image_size"] == [32, 32]
    skipped = {a["column"].rsplit("/", 1)[-1] for a in report["cleaning"] if a["step"] == "skip_file"}
    assert skipped == {"empty.png", "corrupt.jpg", "truncated.png", "notes.txt"}
    assert report["split"]["test"] == 19 and report["test_metrics"]["rows"] == 19
    assert {"conv_blocks", "filters", "kernel_size", "pooling", "global_pooling"} <= set(
        report["search"]["best_hyperparameters"])

    # A grayscale PNG, an RGB JPEG, a BMP, a GIF, a misnamed PNG and a corrupt file, as users send them.
    picks = [digits_folder / "digit_0" / "001.png", digits_folder / "digit_0" / "000.jpg",
             digits_folder / "digit_1" / "005.bmp", digits_folder / "digit_2" / "007.gif",
             digits_folder / "digit_1" / "misnamed.jpg", digits_folder / "digit_0" / "corrupt.jpg"]
    predict = run_cli("predict", str(bundle), *map(str, picks))
    assert predict.returncode == 0, predict.stderr
    ours = pd.read_csv(io.StringIO(predict.stdout), keep_default_na=False)
    assert list(ours.columns) == ["path", "prediction", "p_digit_0", "p_digit_1", "p_digit_2", "error"]
    assert ours["error"].tolist()[-1].startswith("corrupt or truncated") and ours["prediction"].tolist()[-1] == ""

    script = tmp_path / "plain.py"
    script.write_text(PLAIN_TF)
    plain = subprocess.run([sys.executable, str(script), str(bundle), *map(str, picks[:-1])], capture_output=True,
                           text=True, cwd=tmp_path, timeout=300)
    assert plain.returncode == 0, plain.stderr
    theirs = json.loads(plain.stdout.strip().splitlines()[-1])
    assert theirs["leaked"] == []
    probabilities = ours[["p_digit_0", "p_digit_1", "p_digit_2"]].iloc[:-1].to_numpy(dtype=float)
    np.testing.assert_allclose(theirs["probabilities"], probabilities, atol=1e-5)
    assert theirs["label"] == ours["prediction"].tolist()[:-1]


def test_image_model_keras_loads_in_safe_mode(digits_folder, tmp_path):
    import keras

    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path / "bundle"
    fit(FitConfig(digits_folder, output=out, tuner="random", max_trials=1, epochs=2, augment="strong"))
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.input_shape == (None, 32, 32, 3)
    batch = np.zeros((2, 32, 32, 3), np.float32)
    probabilities = np.asarray(model.predict(batch, verbose=0))
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["kind"] == "image" and meta["augmentation"] == "strong" and len(meta["inputs"][0]["mean"]) == 3


def test_backbone_loads_local_weights_frozen_and_reloads_in_safe_mode(tmp_path):
    import keras
    import keras_tuner as kt

    from autotune.vision.pipeline import ImageHyperModel, backbone_model

    donor = backbone_model("mobilenetv3small", (32, 32), None)
    donor.save_weights(tmp_path / "donor.weights.h5")
    base = backbone_model("mobilenetv3small", (32, 32), str(tmp_path / "donor.weights.h5"))
    for a, b in zip(donor.get_weights(), base.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    hypermodel = ImageHyperModel((32, 32), [0.0] * 3, [1.0] * 3, "light", 3, 60, seed=0,
                                 backbone="mobilenetv3small", weights=str(tmp_path / "donor.weights.h5"))
    model = hypermodel.build(kt.HyperParameters())
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)][0]
    assert not inner.trainable and model.count_params() > 900_000
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-5)


def test_backbone_refuses_missing_weights_and_tiny_images(tmp_path):
    from autotune.vision.pipeline import backbone_model

    with pytest.raises(InputError, match="no such file"):
        backbone_model("mobilenetv3small", (32, 32), str(tmp_path / "nope.h5"))
    with pytest.raises(InputError, match="at least 32×32"):
        backbone_model("efficientnetb0", (16, 16), None)


# --- augmentation acts on raw pixels, before the normalisation (issue 14, item 1) -----------------


def _stripes(per_class: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3 classes of noisy stripes in 0..255: horizontal, vertical, diagonal. Flips, small rotations,
    zooms, shifts and contrast/brightness changes keep every class what it is."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    images, labels = [], []
    for label, coordinate in enumerate((i, j, i + j)):
        for _ in range(per_class):
            period = rng.integers(4, 7)  # wide enough for the resampling of a rotation or zoom to keep
            phase = rng.integers(0, period)
            wave = np.where((coordinate + phase) % period < period / 2, 170.0, 85.0)
            noisy = wave[..., None] + rng.normal(0, 20, (size, size, 3))
            images.append(np.clip(noisy, 0, 255))
            labels.append(label)
    return np.asarray(images, np.float32), np.asarray(labels, np.int32)


def _image_hypermodel(x: np.ndarray, augment: str):
    from autotune.vision.pipeline import ImageHyperModel

    mean = x.reshape(-1, 3).mean(0).tolist()
    variance = x.reshape(-1, 3).var(0).tolist()
    return ImageHyperModel(x.shape[1:3], mean, variance, augment, 3, len(x), seed=0)


@pytest.mark.parametrize("level", ["light", "strong"])
def test_augmentation_in_training_keeps_pixel_statistics_and_clips_nothing(level):
    """The layers in front of the first convolution, in training mode, change the images (that is the
    point) but not their per-channel statistics, and pin no pixel at the ends of the range."""
    import keras
    import keras_tuner as kt

    # Smooth images (resampling by rotation and zoom keeps their variance) in 60..195, so that contrast and
    # brightness changes stay inside 0..255: nothing should reach either end.
    rng = np.random.default_rng(1)
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    x = np.stack([np.stack([127.5 + 45 * np.sin(2 * np.pi * (a * i + b * j) / 16 + phase)
                            for a, b, phase in rng.uniform((0.3, 0.3, 0), (1.2, 1.2, 6.3), (3, 3))], -1)
                  for _ in range(64)]).astype(np.float32)
    hypermodel = _image_hypermodel(x, level)
    network = hypermodel.build(kt.HyperParameters())
    front = keras.Model(network.input, network.get_layer("conv_0").input)
    inference = np.asarray(front(x, training=False))
    training = np.asarray(front(x, training=True))
    assert not np.allclose(training, inference)  # augmentation did act
    ends = (np.array([0.0, 255.0])[:, None] - np.array(hypermodel.mean)) / np.sqrt(hypermodel.variance)
    for c in range(3):
        assert abs(training[..., c].mean() - inference[..., c].mean()) < 0.25
        assert 0.7 < training[..., c].std() / inference[..., c].std() < 1.5  # brightness adds spread
        pinned = np.isclose(training[..., c], ends[0, c], atol=1e-3) | np.isclose(training[..., c], ends[1, c],
                                                                                      atol=1e-3)
        assert pinned.sum() == 0
    for layer in network.layers:
        if hasattr(layer, "value_range"):
            assert tuple(layer.value_range) == (0, 255)
    # the normalisation sees what the augmentation produced, so its input is in raw pixels
    order = [layer.name for layer in network.layers]
    assert order.index("normalize") > max(i for i, name in enumerate(order) if name.startswith("aug_"))


def test_light_augmentation_is_not_worse_than_none_on_stripes():
    """On images whose classes survive every augmentation, training with it must not cost accuracy."""
    import keras
    import keras_tuner as kt
    import tensorflow as tf

    x, y = _stripes(40)
    x_test, y_test = _stripes(20, seed=1)
    scores = {}
    for level in ("none", "light"):
        keras.utils.set_random_seed(0)
        hypermodel = _image_hypermodel(x, level)
        hp = kt.HyperParameters()
        for name, value in {"conv_blocks": 1, "filters": 16, "kernel_size": 3, "batch_size": 16,
                            "global_pooling": "flatten", "dense_units": 0, "dropout": 0.0, "batch_norm": False,
                            "optimizer": "adam", "learning_rate": 1e-3, "lr_schedule": "constant"}.items():
            hp.Fixed(name, value)
        network = hypermodel.build(hp)
        train = hypermodel.train_data(hp, tf.data.Dataset.from_tensor_slices((x, y)))
        network.fit(train, epochs=15, verbose=0)
        scores[level] = float(np.mean(np.argmax(network.predict(x_test, verbose=0), 1) == y_test))
    assert scores["none"] > 0.9, scores  # the task is learnable in this budget
    assert scores["light"] >= scores["none"] - 0.05, scores


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


def noise_images(root, classes=("a", "b", "c"), per_class: int = 20, side: int = 16):
    """Images of seeded random noise: their pixels carry nothing about their class."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            Image.fromarray(pixels, mode="RGB").save(root / name / f"{i:02d}.png")
    return root


def test_a_chance_level_image_model_does_not_ship_silently(tmp_path):
    """Three classes of pure noise: the CNN cannot beat always predicting one class, and the run says so in
    the --json warnings, report.json and report.md; the pixel baseline is scored beside it."""
    bundle = tmp_path / "bundle"
    fit = run_cli("fit", str(noise_images(tmp_path / "noise")), "-o", str(bundle), "--tuner", "random",
                  "--max-trials", "1", "--epochs", "2", "--image-size", "16", "--augment", "none", "--json")
    assert fit.returncode == 0, fit.stderr
    out = json.loads(fit.stdout)
    chance = [w for w in out["warnings"] if w.startswith("the model is not clearly better than always predicting "
                                                         "the majority class")]
    assert len(chance) == 1 and f"on {out['test_metrics']['rows']} test rows" in chance[0]
    assert f"warning: {chance[0]}" in fit.stderr
    report = json.loads((bundle / "report.json").read_text())
    assert chance[0] in report["warnings"] and chance[0] in (bundle / "report.md").read_text()
    trivial = report["trivial_baseline"]
    assert trivial["comparison"]["decision"] != "better" and trivial["test_metrics"]["rows"] == report["split"]["test"]
    baseline = report["baseline"]
    assert baseline["model"] == "LogisticRegression on 16×16 pixels" and baseline["test_metrics"]["rows"] == 12
    assert baseline["comparison"]["method"] == "exact McNemar test" and baseline["verdict"] in out["baseline"]["verdict"]


# --- hostile image inputs (issue 15): decompression bombs, paths outside an image CSV's folder ----------

_BOMB_SCRIPT = """
import json, resource, sys
from pathlib import Path
from autotune.vision.images import profile_images, scan_folder
root = Path(sys.argv[1])
files = scan_folder(root)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
usable, prof, images = profile_images(files, root)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"skipped": {Path(s["path"]).name: s["reason"] for s in images.skipped}, "images": len(usable),
                  "extra_mb": (after - before) / 1024, "warnings": list(prof.warnings)}))
"""


def test_decompression_bombs_are_skipped_from_their_header_without_decoding(tmp_path):
    """A 20000×20000 PNG (Pillow's DecompressionBombError once ended the run) and a 13000×13000 one (under
    Pillow's own limit: it was decoded, 169 MB here) are skipped from the size in their header, listed like
    other unreadable files; a 12-megapixel photo still passes. Peak memory, measured in a fresh process,
    stays far below what decoding them takes."""
    from conftest import bomb_png

    root = make_digit_images(tmp_path / "photos", classes=(0, 1), per_class=6, broken=False)
    bomb_png(root / "digit_0" / "bomb.png", 20_000)
    bomb_png(root / "digit_1" / "big.png", 13_000, bits=8)
    bomb_png(root / "digit_1" / "photo.png", 3_500, bits=8)  # 12.25 megapixels
    assert max(p.stat().st_size for p in root.rglob("*.png")) < 200_000
    done = subprocess.run([sys.executable, "-c", _BOMB_SCRIPT, str(root)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    limit = "over the 50-megapixel limit (a decompression bomb, or a picture to shrink first)"
    assert result["skipped"] == {"bomb.png": f"too large: 400 megapixels, {limit}",
                                 "big.png": f"too large: 169 megapixels, {limit}"}
    assert result["images"] == 13 and result["extra_mb"] < 100, result
    assert "2 file(s) skipped as unreadable, e.g." in result["warnings"][-1]


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
