"""A diagnostic (bench/README, "most of hpc_jobs's gap is one column"): autotune's CLI with the named numbers' ramps
removed (NORAMPS=a,b) and the named columns left out of the model (DROP=a,b), in the final model's features and in
every search fold's (the folds learn their features within the training split's). Nothing in the product imports it.

    DROP=hour,day python bench/experiments/feature-screen.py fit data.csv --target class --seed 0 --no-baseline
"""
import os
from dataclasses import replace

import autotune.data.clean as clean
import autotune.tabular.run as tabular_run
from autotune.cli import main

NO_RAMPS = set(filter(None, os.environ.get("NORAMPS", "").split(",")))
DROP = set(filter(None, os.environ.get("DROP", "").split(",")))
_learn_features = clean.learn_features


def learn_features(*args, **kwargs):
    features, actions = _learn_features(*args, **kwargs)
    return [replace(f, knots=()) if f.name in NO_RAMPS else f for f in features if f.name not in DROP], actions


clean.learn_features = tabular_run.learn_features = learn_features

if __name__ == "__main__":
    main()
