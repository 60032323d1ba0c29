"""Shared fixtures: small real runs of the whole pipeline, made once per test session."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autotune.events import Reporter

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@functools.cache
def _load(name: str):
    from autotune.data.load import read_table

    return read_table(DATA / name).frame


def load(name: str):
    """A data/ file as a DataFrame (read once per session; each caller gets its own copy)."""
    return _load(name).copy()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`autotune ARGS` in a fresh process, exactly as a user (or cron) runs it."""
    return subprocess.run([sys.executable, "-m", "autotune", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout)


def wait_for(condition: Callable[[], object], timeout: float, process: subprocess.Popen | None = None,
             what: str = "the condition", interval: float = 0.01):
    """Poll `condition` until it holds and return its value: a race test waits for the event itself, not a
    guessed time. Fails after `timeout` seconds, or at once (with its stderr) if `process` has exited."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if process is not None:
            assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(interval)
    return value


PLAIN_TF = textwrap.dedent("""\
    import json, sys
    import numpy as np, pandas as pd, tensorflow as tf
    bundle, rows = sys.argv[1], sys.argv[2]
    meta = json.load(open(bundle + "/metadata.json"))
    frame = pd.read_csv(rows, na_values=["?"])
    columns = {}
    for f in meta["inputs"]:
        values = frame[f["name"]]
        if f["dtype"] == "number":
            columns[f["key"]] = tf.constant(pd.to_numeric(values, errors="coerce").to_numpy(np.float32))
        else:
            columns[f["key"]] = tf.constant(values.fillna("").astype(str).to_numpy())
    serve = tf.saved_model.load(bundle + "/saved_model").signatures["serving_default"]
    out = serve(**columns)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("autotune", "keras_tuner"))
    print(json.dumps({"probabilities": out["probabilities"].numpy().tolist(),
                      "label": [v.decode() for v in out["label"].numpy()], "leaked": leaked}))
    """)


def serve_with_plain_tensorflow(bundle: Path, rows: Path, tmp_path: Path) -> dict:
    """The bundle's SavedModel on raw CSV rows in a process that imports only TensorFlow (and pandas):
    {"probabilities", "label", "leaked": modules of autotune or keras-tuner that got imported}."""
    script = tmp_path / "plain_tf.py"
    script.write_text(PLAIN_TF)
    plain = subprocess.run([sys.executable, str(script), str(bundle), str(rows)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=300)
    assert plain.returncode == 0, plain.stderr
    return json.loads(plain.stdout.strip().splitlines()[-1])


def fake_image_folder(tmp_path: Path, classes: dict[str, list[str]]) -> Path:
    """photos/<class>/<file> for each class, every file holding text instead of an image."""
    root = tmp_path / "photos"
    root.mkdir()
    for name, files in classes.items():
        (root / name).mkdir()
        for file in files:
            (root / name / file).write_text("not an image")
    return root


class StopAtSearch(Reporter):
    """Records notes, and stops the run (as Ctrl-C does) when the search is about to start."""

    def __init__(self):
        self.notes = []

    def note(self, message):
        self.notes.append(message)

    def search_started(self, *args):
        raise KeyboardInterrupt


TINY = dict(tuner="random", max_trials=2, epochs=6, patience=3, seed=0)


@pytest.fixture(scope="session")
def penguins_run(tmp_path_factory):
    """A real, tiny fit on the penguins data (missing values, string categories, string labels)."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path_factory.mktemp("penguins") / "bundle"
    return fit(FitConfig.of(DATA / "penguins.csv", target="species", output=out, **TINY))


@pytest.fixture(scope="session")
def diabetes_run(tmp_path_factory):
    """A real, tiny regression fit on scikit-learn's diabetes data."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path_factory.mktemp("diabetes") / "bundle"
    return fit(FitConfig.of(DATA / "diabetes.csv", target="progression", output=out, **TINY))


def make_digit_images(root: Path, classes=(0, 1, 2), per_class: int = 30, broken: bool = True,
                      gray_only: bool = False) -> Path:
    """scikit-learn's handwritten digits (real 8×8 scans) written out as image files: PNG in
    grayscale, JPEG in RGB and a few BMP/GIF, at mixed sizes, plus broken files when asked; `gray_only`: every file a
    grayscale PNG or BMP (Pillow's mode L)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root.mkdir(parents=True, exist_ok=True)
    for digit in classes:
        folder = root / f"digit_{digit}"
        folder.mkdir(exist_ok=True)
        images = digits.images[digits.target == digit][:per_class]
        for i, pixels in enumerate(images):
            gray = Image.fromarray((pixels * 255 / 16).astype(np.uint8), mode="L")
            size = 24 if i % 3 else 32
            gray = gray.resize((size, size), Image.BILINEAR)
            if gray_only and i % 4 == 0:
                gray.save(folder / f"{i:03d}.bmp")
            elif gray_only:
                gray.save(folder / f"{i:03d}.png")
            elif i % 4 == 0:
                gray.convert("RGB").save(folder / f"{i:03d}.jpg", quality=95)
            elif i % 11 == 5:
                gray.save(folder / f"{i:03d}.bmp")
            elif i % 13 == 7:
                gray.save(folder / f"{i:03d}.gif")
            else:
                gray.save(folder / f"{i:03d}.png")
    if broken:
        first = root / f"digit_{classes[0]}"
        (first / "empty.png").write_bytes(b"")
        (first / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a real jpeg" * 3)
        data = (first / "001.png").read_bytes()
        (first / "truncated.png").write_bytes(data[: len(data) // 2])
        (first / "notes.txt").write_text("not an image")
        # A real PNG with the wrong extension is still an image and is used (a mirrored digit: a byte copy
        # of another file would be dropped as a duplicate).
        with Image.open(root / f"digit_{classes[1]}" / "001.png") as source:
            source.transpose(Image.FLIP_LEFT_RIGHT).save(root / f"digit_{classes[1]}" / "misnamed.jpg", format="PNG")
    return root


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory):
    return make_digit_images(tmp_path_factory.mktemp("digits") / "photos")


def bomb_png(path: Path, side: int, bits: int = 1) -> Path:
    """A square grayscale PNG of side×side black pixels: a few dozen KB on disk (zlib packs the zeros), up to
    hundreds of MB once decoded — a decompression bomb, written by hand so no big file ships."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (side * bits + 7) // 8)  # filter byte 0, then the packed pixels
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, bits, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def report_reaching_out(bundle: Path, secret: Path) -> None:
    """Tamper a bundle as an attacker would: report.json's misclassified images name `secret` outside the
    bundle (absolute, and through report_images/../..), and metadata.json's hashes are recomputed."""
    from autotune.bundle.export import seal

    secret.write_bytes(b"\x89PNG top secret")
    report = json.loads((bundle / "report.json").read_text())
    report["misclassified"] = {"total": 2, "shown": [
        {"file": str(secret), "source": "x", "true": "a", "predicted": "b", "confidence": 0.9},
        {"file": f"report_images/../../{secret.name}", "source": "y", "true": "a", "predicted": "b",
         "confidence": 0.9}]}
    (bundle / "report.json").write_text(json.dumps(report))
    seal(bundle)


@pytest.fixture(scope="session")
def digits_run(digits_folder, tmp_path_factory):
    """One tiny image fit: barely trained, so some test images are misclassified (the report tests of the
    integration and system layers both read it)."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path_factory.mktemp("digits-report") / "bundle"
    return fit(FitConfig.of(digits_folder, output=out, tuner="random", max_trials=1, epochs=2, seed=0))
