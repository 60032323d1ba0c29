"""One configuration's cross-validated score on a data set, its folds trained side by side in stacked.py's loop and
one after the other in Keras's fit, over a few seeds: does the faster loop learn the same (issue 18)? The side-by-side
folds train in NumPy (numpy_mlp.py) or in the traced TensorFlow loop (stacked.py): --loops picks which.

    python bench/side_by_side.py DATA.csv TARGET [--seeds 3] [--loops numpy,traced,keras] [name=value ...]

name=value fixes a hyperparameter (the others take the space's defaults), e.g. layers=2 batch_norm=True. Prints
each run's objective, best epoch and seconds, then the mean ± sd per loop. The data's 3 folds are cleaned and
encoded as a default small-data `fit` makes them (seed 0).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("target")
    parser.add_argument("fixed", nargs="*", help="name=value")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--loops", default="numpy,traced,keras",
                        help="which loops to run: numpy (numpy_mlp.py), traced (stacked.py's graph), keras (fit)")
    opts = parser.parse_args()

    import keras_tuner as kt

    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.tabular.run import load_table

    run = load_table(FitConfig.of(opts.data, target=opts.target, seed=0), Reporter()).run
    run.prepare()
    hypermodel = run.hypermodel(3, patience=8)
    print(f"{opts.data.name}: fold widths {[f.width for f in hypermodel.fold_data]}, objective {hypermodel.objective}")
    loops = {"numpy": (True, True), "traced": (True, False), "keras": (False, False)}
    for label in opts.loops.split(","):
        side, in_numpy = loops[label]
        scores, seconds = [], []
        for seed in range(opts.seeds):
            hypermodel.seed, hypermodel.side_by_side, hypermodel.numpy_loop = seed, side, in_numpy
            hp = kt.HyperParameters()
            for item in opts.fixed:
                name, text = item.split("=", 1)
                hp.Fixed(name, value(text))
            model = hypermodel.build(hp)
            start = time.perf_counter()
            summary = hypermodel.fit(hp, model, None, None, epochs=opts.epochs)
            seconds.append(time.perf_counter() - start)
            scores.append(summary[hypermodel.objective])
            print(f"  {label:8} seed {seed}: {scores[-1]:.5g} "
                  f"(best epoch {summary['best_epoch']:.0f}), {seconds[-1]:.1f} s", flush=True)
        print(f"{label:8} {np.mean(scores):.5g} ± {np.std(scores):.2g}, "
              f"{np.mean(seconds):.1f} s per trial")


if __name__ == "__main__":
    main()
