"""A diagnostic (bench/README, "TabM on the suite's splits"): one AutoGluon model family alone (TABM, REALMLP,
NN_TORCH, GBM, ...) with given hyperparameters, on autotune's split of a suite set (the rows the harness gives every
contender: training + validation to fit, autotune's test rows to score); it early-stops on AutoGluon's own holdout
of those rows by the suite's headline metric. Nothing in the product imports it.

    python bench/experiments/autogluon-models.py split hpc_jobs,credit_data 0,1,2 DIR         # autotune's venv
    AG/bin/python bench/experiments/autogluon-models.py fit DIR/hpc_jobs-0.json TABM '{"tabm_k": 1}'  # AutoGluon's

(AutoGluon's venv as bench/README says, plus `pip install "torch==2.13.0+cpu"` for the torch models.) `fit` prints
one line: set, seed, model, hyperparameters, macro-F1 and accuracy (or R²), seconds.
"""
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))


def split(sets: str, seeds: str, folder: str) -> None:
    import numpy as np
    import suite
    from run import AUTOGLUON_METRICS, _split_arrays
    from suite_bench import headline
    from workers import load_split

    Path(folder).mkdir(parents=True, exist_ok=True)
    for name in sets.split(","):
        ds = suite.BY_NAME[name]
        for seed in (int(v) for v in seeds.split(",")):
            loaded = load_split(str(suite.output_path(suite.default_cache(), ds)), ds.target, seed, 0.2)
            run, test = loaded.run, loaded.parts.y_test
            path = Path(folder) / f"{name}-{seed}.npz"
            spec = _split_arrays(loaded, path)
            y_test = (np.array([run.labels.index(str(v)) for v in test]) if run.task == "classification"
                      else test.astype(float).to_numpy())
            metric = AUTOGLUON_METRICS[headline({"suite_task": ds.task, "exercises": ds.exercises})[0]]
            np.save(path.with_suffix(".ytest.npy"), y_test)
            path.with_suffix(".json").write_text(json.dumps({**spec, "npz": str(path), "seed": seed, "set": name,
                                                             "metric": metric}))


def fit(spec_path: str, model: str, hyperparameters: str = "{}") -> None:
    import shutil
    import tempfile

    import numpy as np
    from autogluon.tabular import TabularPredictor
    from autogluon_worker import LABEL, frame
    from sklearn.metrics import accuracy_score, f1_score, r2_score

    spec, hps = json.loads(Path(spec_path).read_text()), json.loads(hyperparameters)
    data = np.load(spec["npz"], allow_pickle=True)
    train = frame(data["x_train"], spec["columns"], spec["column_types"])
    train[LABEL] = data["y_train"]
    test = frame(data["x_test"], spec["columns"], spec["column_types"])
    y_test = np.load(Path(spec["npz"]).with_suffix(".ytest.npy"))
    classes = spec.get("classes")
    problem = "regression" if spec["task"] != "classification" else ("binary" if classes == 2 else "multiclass")
    directory = tempfile.mkdtemp(prefix="ag-model-")
    started = time.perf_counter()
    predictor = TabularPredictor(label=LABEL, problem_type=problem, eval_metric=spec["metric"], path=directory,
                                 verbosity=0, learner_kwargs={"random_state": spec["seed"]})
    predictor.fit(train, hyperparameters={model: hps}, fit_weighted_ensemble=False)
    predicted = predictor.predict(test).to_numpy()
    seconds = time.perf_counter() - started
    shutil.rmtree(directory, ignore_errors=True)
    if problem == "regression":
        scores = f"R2 {r2_score(y_test, predicted):.4f}"
    else:
        predicted = predicted.astype(int)
        scores = f"F1 {f1_score(y_test, predicted, average='macro'):.4f} acc {accuracy_score(y_test, predicted):.4f}"
    print(f"{spec['set']} {spec['seed']} {model} {json.dumps(hps)} {scores} {seconds:.0f}s", flush=True)


if __name__ == "__main__":
    {"split": split, "fit": fit}[sys.argv[1]](*sys.argv[2:])
