"""Measurements that run in a fresh process of their own, started by bench/run.py:

    python bench/workers.py KIND SPEC.json RESULT.json

so that each contender's peak RSS is its own and nothing it imports (TensorFlow, a warmed-up graph)
leaks into the next measurement. KIND is one of WORKERS below; SPEC.json holds its arguments and
RESULT.json receives its figures. `logistic_or_ridge` is also imported by bench/run.py.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.time()  # before any import of ours: the process's own start, near enough
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # a clean checkout run without `pip install -e .`
    sys.path.insert(0, str(ROOT))

PIXELS = 16  # scikit-learn on images: each image resized to PIXELS × PIXELS RGB, flattened


# --- shared with run.py -------------------------------------------------------------------------

def load_split(data: str, target: str | None, seed: int, test_size: float):
    """autotune's own loading, profiling, cleaning decisions and stratified split, exactly as `fit`
    makes them for the same data, seed and test size (no TensorFlow)."""
    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.modality import modality_of

    config = FitConfig.of(Path(data), target=target, seed=seed, test_size=test_size)
    return modality_of(config).load(config, Reporter())


def logistic_or_ridge(parts, features, task, labels):
    """Standardised one-hot features (and TF-IDF of free text) into LogisticRegression / RidgeCV, on autotune's
    columns and split. Returns the test outputs (class probabilities in the order of `labels`, or values)."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f.name for f in features if f.kind == "numeric"]
    categorical = [f.name for f in features if f.kind == "categorical"]
    text = [f.name for f in features if f.kind == "text"]
    prep = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                       OneHotEncoder(handle_unknown="ignore")), categorical),
        *((TfidfVectorizer(min_df=2), column) for column in text))
    model = make_pipeline(prep, LogisticRegression(max_iter=5000) if task == "classification" else RidgeCV())

    def frame(x):
        x = x.copy()
        for column in categorical:
            x[column] = x[column].astype(str)
        for column in text:
            x[column] = x[column].fillna("").astype(str)
        return x

    model.fit(frame(pd.concat([parts.train, parts.validation])), pd.concat([parts.y_train, parts.y_validation]).to_numpy())
    if task == "classification":
        probabilities = model.predict_proba(frame(parts.test))
        return probabilities[:, [list(model.classes_).index(label) for label in labels]]
    return np.asarray(model.predict(frame(parts.test)))


def boosting_with_text(parts, features, task, labels, seed: int):
    """HistGradientBoosting where some columns are free text, which it cannot read: each text column as the 128
    leading directions of its TF-IDF (scikit-learn's, words in 2+ rows; truncated SVD on the training rows),
    beside the other columns as autotune's own baseline gives them."""
    import numpy as np
    import pandas as pd
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from autotune.evaluate.baseline import _frame
    from autotune.task import task_of

    train = pd.concat([parts.train, parts.validation])
    y = pd.concat([parts.y_train, parts.y_validation]).to_numpy()
    text = [f for f in features if f.kind == "text"]
    lsa = {f.name: make_pipeline(TfidfVectorizer(min_df=2), TruncatedSVD(128, random_state=seed)).fit(
        train[f.name].fillna("").astype(str)) for f in text}

    def frame(x):
        out = _frame(x, features).reset_index(drop=True)
        for name, model in lsa.items():
            values = model.transform(x[name].fillna("").astype(str))
            out = pd.concat([out, pd.DataFrame(values, columns=[f"{name}_{i}" for i in range(values.shape[1])])],
                            axis=1)
        return out

    kind = task_of(task)
    model = kind.boosting_estimator(seed).fit(frame(train), y)
    return np.asarray(kind.estimator_outputs(model, frame(parts.test), labels))


def pixels(paths, size: int = PIXELS):
    """Images as flat float rows: RGB, resized to size × size, in 0..1."""
    import numpy as np
    from PIL import Image

    rows = []
    for path in paths:
        with Image.open(path) as image:
            rows.append(np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), np.float32).reshape(-1))
    return np.stack(rows) / 255.0


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- workers -----------------------------------------------------------------------------------

def sklearn_contender(spec: dict) -> dict:
    """HistGradientBoosting (autotune's own baseline code) or the linear model, on the same split.
    Image folders: both on flattened pixels."""
    from autotune.evaluate.metrics import evaluate

    loaded = load_split(spec["data"], spec.get("target"), spec["seed"], spec["test_size"])
    run, parts = loaded.run, loaded.parts
    start = time.perf_counter()
    if run.kind == "image":
        import pandas as pd
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = pixels(pd.concat([parts.train, parts.validation])["path"])
        y = pd.concat([parts.y_train, parts.y_validation]).to_numpy()
        model = (HistGradientBoostingClassifier(random_state=spec["seed"]) if spec["model"] == "hgb"
                 else make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)))
        model.fit(x, y)
        probabilities = model.predict_proba(pixels(parts.test["path"]))
        outputs = probabilities[:, [list(model.classes_).index(label) for label in run.labels]]
        metrics = evaluate(run.task, parts.y_test.to_numpy(), outputs, run.labels)
    elif spec["model"] == "hgb" and any(f.kind == "text" for f in run.features):
        outputs = boosting_with_text(parts, run.features, run.task, run.labels, spec["seed"])
        metrics = evaluate(run.task, parts.y_test.to_numpy(), outputs, run.labels)
    elif spec["model"] == "hgb":
        from autotune.evaluate.baseline import gradient_boosting

        metrics = gradient_boosting(parts, run.features, run.task, run.labels, spec["seed"],
                                    "accuracy" if run.task == "classification" else "rmse")[0]["test_metrics"]
    else:
        outputs = logistic_or_ridge(parts, run.features, run.task, run.labels)
        metrics = evaluate(run.task, parts.y_test.to_numpy(), outputs, run.labels)
    return {"metrics": metrics, "fit_predict_seconds": time.perf_counter() - start, "test_rows": len(parts.test),
            "task": run.task, "peak_rss_mb": peak_rss_mb()}


class _Clock:
    """A Reporter that stamps the wall-clock time of each stage and of the first trial's start and end (its start: its
    end less its own seconds; the estimate line, once the last event before it, now follows the first trial)."""

    def __init__(self):
        from autotune.events import Reporter

        class Clock(Reporter):
            def __init__(self):
                self.times = {}

            def stage(self, name):
                self.times.setdefault(f"stage:{name}", time.time())

            def trial_finished(self, trial, number, score, best, epochs, seconds, *args, **kwargs):
                if number == 1:  # the trial's own seconds run from its start (before it, keras-tuner's set-up)
                    now = time.time()
                    self.times.setdefault("first_trial_end", now)
                    self.times.setdefault("first_trial_start", now - seconds)

        self.reporter = Clock()


def first_trial(spec: dict) -> dict:
    """`fit` on a small CSV in a fresh process: seconds from process start to the first trial's start
    (imports, load, profile, clean, TensorFlow, encoding, the cost estimate) and to its end."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    imported = time.time()

    clock = _Clock().reporter
    with tempfile.TemporaryDirectory() as tmp:
        report = fit(FitConfig.of(Path(spec["data"]), target=spec.get("target"), output=Path(tmp) / "bundle",
                               tuner="random", max_trials=1, epochs=spec["epochs"], baseline=False), clock).report
    launched = spec.get("launched", STARTED)
    return {"launched": launched, "process_start": STARTED, "python_started_s": STARTED - launched,
            "autotune_imported_s": imported - launched,
            **{f"{k}_s": v - launched for k, v in clock.times.items()},
            "trial_seconds": report["search"]["trials"][0]["seconds"], "timings": report["timings"]}


def _rate(call, rows: int, repeat: int = 3) -> float:
    """Rows (or images) per second: the best of `repeat` timed calls after a warm-up."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return rows / min(times)


def serving_tabular(spec: dict) -> dict:
    """Batch prediction of a tabular bundle: its SavedModel signature against the .keras model."""
    import numpy as np
    import pandas as pd

    from autotune.bundle.load import load_bundle, predict
    from autotune.data.clean import raw_inputs
    from autotune.tfenv import import_tensorflow

    tf = import_tensorflow()
    batch = spec.get("batch", 10_000)
    frame = pd.read_csv(spec["csv"])
    rows = len(frame)
    bundle = load_bundle(spec["bundle"])
    columns = raw_inputs(frame, bundle.features)
    out: dict = {"rows": rows, "batch": batch, "inputs": len(columns)}

    serve = bundle.serve
    tensors = {k: tf.constant(v) for k, v in columns.items()}

    def saved_model():
        for i in range(0, rows, batch):
            serve(**{k: v[i:i + batch] for k, v in tensors.items()})

    out["saved_model_rows_per_s"] = _rate(saved_model, rows)

    model = bundle.model
    shaped = {k: tf.constant(v.reshape(-1, 1)) for k, v in columns.items()}

    def keras_call():
        for i in range(0, rows, batch):
            model({k: v[i:i + batch] for k, v in shaped.items()}, training=False)

    out["keras_call_rows_per_s"] = _rate(keras_call, rows)

    from autotune.train import predict_raw

    out["keras_predict_rows_per_s"] = _rate(lambda: predict_raw(model, columns), rows)
    out["bundle_predict_rows_per_s"] = _rate(lambda: predict(bundle, frame), rows)
    out["saved_model_vs_keras_predict"] = out["saved_model_rows_per_s"] / out["keras_predict_rows_per_s"]
    out["saved_model_vs_keras_call"] = out["saved_model_rows_per_s"] / out["keras_call_rows_per_s"]
    # The two paths agree (the .keras model is the SavedModel's model).
    first = {k: v[:1000] for k, v in tensors.items()}
    name = "probabilities" if bundle.task == "classification" else "value"
    a = serve(**first)[name].numpy().reshape(-1)
    b = np.asarray(model({k: v[:1000] for k, v in shaped.items()}, training=False)).reshape(-1)
    out["max_abs_difference"] = float(np.max(np.abs(a - b)))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def serving_images(spec: dict) -> dict:
    """Batch prediction of an image bundle: encoded files through the SavedModel, decoded arrays
    through the .keras model, and the bundle's own predict path (tf.data decode + .keras)."""
    import numpy as np

    from autotune.bundle.load import load_bundle
    from autotune.tfenv import import_tensorflow

    tf = import_tensorflow()
    from autotune.vision.pipeline import decode, predict_files

    bundle = load_bundle(spec["bundle"])
    size, channels = tuple(bundle.metadata["image_size"]), bundle.channels
    files = [str(p) for p in sorted(Path(spec["folder"]).rglob("*")) if p.is_file()]
    count = spec["images"]
    files = (files * (count // len(files) + 1))[:count]
    encoded = [Path(f).read_bytes() for f in files]
    batch = spec.get("batch", 256)
    serve = bundle.serve
    tensors = [tf.constant(encoded[i:i + batch]) for i in range(0, count, batch)]

    def saved_model():
        for t in tensors:
            serve(image=t)

    out: dict = {"images": count, "batch": batch, "image_size": list(size)}
    out["saved_model_images_per_s"] = _rate(saved_model, count)
    arrays = np.stack([decode(tf.constant(e), size, channels).numpy() for e in encoded[:batch]])
    arrays = np.concatenate([arrays] * (count // len(arrays) + 1))[:count]
    model = bundle.model
    out["keras_predict_arrays_images_per_s"] = _rate(lambda: model.predict(arrays, batch_size=batch, verbose=0), count)
    out["keras_predict_files_images_per_s"] = _rate(lambda: predict_files(model, files, size, channels), count, repeat=1)
    out["saved_model_vs_keras_arrays"] = out["saved_model_images_per_s"] / out["keras_predict_arrays_images_per_s"]
    out["peak_rss_mb"] = peak_rss_mb()
    return out


WORKERS = {"sklearn": sklearn_contender, "first_trial": first_trial, "serving_tabular": serving_tabular,
           "serving_images": serving_images}


def main(argv: list[str]) -> None:
    kind, spec_path, result_path = argv
    spec = json.loads(Path(spec_path).read_text())
    result = WORKERS[kind](spec)
    Path(result_path).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
