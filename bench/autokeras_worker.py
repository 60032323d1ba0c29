"""AutoKeras on one split prepared by bench/run.py, in whatever interpreter has AutoKeras:

    AUTOKERAS_PYTHON bench/autokeras_worker.py SPEC.json RESULT.json

Self-contained (numpy and autokeras only, never autotune): AutoKeras 3.0.0 needs keras==3.12.0 and so
usually lives in a virtualenv of its own (see bench/README.md). SPEC.json names an .npz with
x_train/y_train/x_test (y as class indices in autotune's label order, or values), the task, the kind
(tabular: raw columns, strings for categories and NaN for missing numbers; image: uint8 arrays),
and the budget. RESULT.json gets the test outputs (class probabilities in the same order, or values),
seconds and peak RSS; run.py scores them with the same functions as every other contender.
"""
from __future__ import annotations

import json
import resource
import sys
import time


def probabilities(model, x, classes: int):
    """Class probabilities, in the order of the class indices the model was trained on.

    AutoKeras's own `predict` returns decoded labels only; this runs the same steps it does (adapt,
    the best pipeline's transform, the best model) without the final decoding, and checks the column
    order against the decoded labels. Falls back to one-hot labels when they disagree."""
    import numpy as np

    labels = np.asarray(model.predict(x, verbose=0)).reshape(-1).astype(float).astype(int)
    try:
        dataset = model._adapt(x, model.inputs)
        pipeline = model.tuner.get_best_pipeline()
        network = model.tuner.get_best_model()
        raw = np.asarray(network.predict(pipeline.transform_x(dataset), verbose=0), dtype=np.float64)
        if raw.ndim == 1 or raw.shape[1] == 1:  # binary head: P(class 1)
            raw = np.stack([1 - raw.reshape(-1), raw.reshape(-1)], axis=1)
        if raw.shape[1] == classes and np.array_equal(raw.argmax(axis=1), labels):
            return raw, True
    except Exception as exc:  # noqa: BLE001 - private API: fall back to the labels
        print(f"probabilities unavailable ({type(exc).__name__}: {exc}); using one-hot labels", file=sys.stderr)
    return np.eye(classes)[labels], False


def main(spec_path: str, result_path: str) -> None:
    started = time.perf_counter()
    spec = json.loads(open(spec_path).read())
    import autokeras as ak
    import keras
    import numpy as np

    data = np.load(spec["npz"], allow_pickle=True)
    x_train, y_train, x_test = data["x_train"], data["y_train"], data["x_test"]
    classification = spec["task"] == "classification"
    common = dict(max_trials=spec["max_trials"], directory=spec["directory"], overwrite=True, seed=spec["seed"])
    # StructuredData blocks know numbers and categories: a text column goes in as a category
    spec["column_types"] = {k: "categorical" if v == "text" else v for k, v in spec.get("column_types", {}).items()}
    if spec["kind"] == "image":
        model = ak.ImageClassifier(num_classes=spec["classes"], **common)
    elif classification:
        model = ak.StructuredDataClassifier(column_names=spec["columns"], column_types=spec["column_types"],
                                            num_classes=spec["classes"], **common)
    else:
        model = ak.StructuredDataRegressor(column_names=spec["columns"], column_types=spec["column_types"], **common)
    keras.utils.set_random_seed(spec["seed"])
    # The same trial budget as autotune: max_trials trials of up to `epochs` epochs with early stopping.
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec["patience"], restore_best_weights=True)
    fit_start = time.perf_counter()
    model.fit(x_train, y_train, epochs=spec["epochs"], callbacks=[stop], verbose=0)
    fit_seconds = time.perf_counter() - fit_start
    if classification:
        outputs, has_probabilities = probabilities(model, x_test, spec["classes"])
    else:
        outputs, has_probabilities = np.asarray(model.predict(x_test, verbose=0), np.float64).reshape(-1), None
    np.save(spec["outputs"], outputs)
    trials = len(model.tuner.oracle.trials)
    result = {"fit_seconds": fit_seconds, "seconds": time.perf_counter() - started, "trials": trials,
              "probabilities": has_probabilities, "autokeras": ak.__version__, "keras": keras.__version__,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    open(result_path, "w").write(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
