"""AutoGluon on one split prepared by bench/run.py, in whatever interpreter has AutoGluon:

    AUTOGLUON_PYTHON bench/autogluon_worker.py SPEC.json RESULT.json

Self-contained (numpy, pandas and autogluon.tabular only, never autotune): AutoGluon pins its own versions of
scikit-learn, numpy and the boosting libraries, so it lives in a virtualenv of its own (see bench/README.md).
SPEC.json names an .npz with x_train/y_train/x_test (raw columns: strings for categories, NaN for missing
numbers; y as class indices in autotune's label order, or values), the columns, the task, the number of
classes, the eval metric, the time limit in seconds, the seed and the folder for AutoGluon's models. The test
outputs (class probabilities in autotune's label order, or values) go to the spec's .npy; RESULT.json gets
seconds, peak RSS and versions. run.py scores the outputs with the same functions as every other contender.
"""
from __future__ import annotations

import json
import resource
import sys
import time

LABEL = "__autotune_label__"  # a column name no data set uses
PRESETS = "medium_quality"


def frame(x, columns: list[str], column_types: dict[str, str]):
    """The raw columns as AutoGluon reads them: strings stay strings (categories, and free text, which AutoGluon's
    feature generators turn into word n-grams), numbers are float (NaN missing)."""
    import pandas as pd

    data = {}
    for i, name in enumerate(columns):
        values = x[:, i]
        data[name] = values.astype(str) if column_types[name] in ("categorical", "text") else values.astype("float64")
    return pd.DataFrame(data)


def main(spec_path: str, result_path: str) -> None:
    started = time.perf_counter()
    spec = json.loads(open(spec_path).read())
    import random
    from importlib.metadata import version

    import numpy as np
    from autogluon.tabular import TabularPredictor

    random.seed(spec["seed"])
    np.random.seed(spec["seed"])
    data = np.load(spec["npz"], allow_pickle=True)
    columns, types = spec["columns"], spec["column_types"]
    train = frame(data["x_train"], columns, types)
    train[LABEL] = data["y_train"]
    test = frame(data["x_test"], columns, types)
    classes = spec.get("classes")
    problem = "regression" if spec["task"] != "classification" else ("binary" if classes == 2 else "multiclass")
    # The seed picks AutoGluon's own holdout split (the learner's random_state); its models keep their seeds.
    predictor = TabularPredictor(label=LABEL, problem_type=problem, eval_metric=spec["eval_metric"],
                                 path=spec["directory"], verbosity=spec.get("verbosity", 1),
                                 learner_kwargs={"random_state": spec["seed"]})
    fit_start = time.perf_counter()
    predictor.fit(train, presets=PRESETS, time_limit=spec["time_limit"])
    fit_seconds = time.perf_counter() - fit_start
    if problem == "regression":
        outputs = np.asarray(predictor.predict(test), np.float64).reshape(-1)
    else:
        # Columns are the class indices seen in training; a class absent there gets probability 0.
        proba = predictor.predict_proba(test, as_multiclass=True)
        outputs = proba.reindex(columns=list(range(classes)), fill_value=0.0).to_numpy(np.float64)
    np.save(spec["outputs"], outputs)
    board = predictor.leaderboard(silent=True)
    result = {"fit_seconds": fit_seconds, "seconds": time.perf_counter() - started, "problem_type": problem,
              "best_model": predictor.model_best, "models": int(len(board)), "presets": PRESETS,
              "leaderboard": [{"model": r["model"], "score_val": float(r["score_val"]), "fit_time": float(r["fit_time"])}
                              for r in board.to_dict("records")],
              "time_limit": spec["time_limit"], "eval_metric": spec["eval_metric"],
              "autogluon": version("autogluon.tabular"),
              "peak_rss_mb": max(resource.getrusage(who).ru_maxrss for who in
                                 (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024}
    open(result_path, "w").write(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
