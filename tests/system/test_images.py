"""Image datasets through the CLI and plain TensorFlow in subprocesses, and decompression bombs under a
memory limit. In-process image tests are in tests/unit/test_images.py and tests/integration/test_images.py."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pandas as pd
from conftest import make_digit_images, run_cli

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
    assert report["data"]["images"]["channels"] == 3  # colour (RGB JPEG, palette GIF) among the files
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
    written = run_cli("predict", str(bundle), *map(str, picks), "-o", str(tmp_path / "p.csv"))
    assert f"wrote 5 predictions to {tmp_path / 'p.csv'}; 1 file(s) failed" in written.stderr  # the count: predicted

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


def test_grayscale_images_train_and_serve_on_one_channel(tmp_path):
    """Issue 18: a folder of grayscale images trains on one channel (decoded as RGB they were three equal ones: 8-15 %
    of mnist_5k's trial time); the bundle says so, its SavedModel serves grayscale PNG and BMP files and a colour JPEG
    (as its luminance) with the probabilities autotune's own predict gives, in plain TensorFlow."""
    from PIL import Image

    folder = make_digit_images(tmp_path / "gray", broken=False, gray_only=True)
    bundle = tmp_path / "bundle"
    fit = run_cli("fit", str(folder), "-o", str(bundle), "--tuner", "random", "--max-trials", "1", "--epochs", "2")
    assert fit.returncode == 0, fit.stderr
    report = json.loads((bundle / "report.json").read_text())
    metadata = json.loads((bundle / "metadata.json").read_text())
    assert report["data"]["images"]["channels"] == 1 and metadata["channels"] == 1
    assert metadata["inputs"][0]["channels"] == 1 and len(metadata["inputs"][0]["mean"]) == 1
    with zipfile.ZipFile(bundle / "model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, 32, 32, 1]

    colour = tmp_path / "colour.jpg"  # a digit in red on a dark background: a colour file sent to the gray model
    with Image.open(folder / "digit_1" / "001.png") as gray:
        Image.merge("RGB", (gray.convert("L"), gray.convert("L").point(lambda v: v // 4), Image.new("L", gray.size))
                    ).save(colour, quality=95)
    picks = [folder / "digit_0" / "001.png", folder / "digit_1" / "000.bmp", colour]
    predict = run_cli("predict", str(bundle), *map(str, picks))
    assert predict.returncode == 0, predict.stderr
    ours = pd.read_csv(io.StringIO(predict.stdout), keep_default_na=False)
    assert ours["error"].tolist() == ["", "", ""]
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_TF)
    plain = subprocess.run([sys.executable, str(script), str(bundle), *map(str, picks)], capture_output=True,
                           text=True, cwd=tmp_path, timeout=300)
    assert plain.returncode == 0, plain.stderr
    theirs = json.loads(plain.stdout.strip().splitlines()[-1])
    assert theirs["leaked"] == []
    probabilities = ours[["p_digit_0", "p_digit_1", "p_digit_2"]].to_numpy(dtype=float)
    np.testing.assert_allclose(theirs["probabilities"], probabilities, atol=1e-5)


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
