"""A diagnostic (bench/README, "Halfway when the validation rows cannot tell"): autotune's CLI with the inputs of the
decision rule (decision.choose: the validation truth, each final member's validation outputs, the class weights and
where the networks were trained) saved to $DUMP (.npz), so that other rules can be replayed on them
(decision-replay.py). Nothing in the product imports it; the run itself is unchanged.

    DUMP=out.npz python bench/experiments/decision-inputs.py fit hpc_jobs.csv --target class --seed 0 -o out --no-baseline
"""
import os

import numpy as np

import autotune.decision as decision
from autotune.cli import main

_choose = decision.choose


def choose(metric, truth, members, class_weight, seed=0, trained_alpha=0.0):
    np.savez(os.environ["DUMP"], truth=truth, members=np.stack(members), trained_alpha=trained_alpha,
             weights=np.array([class_weight[k] for k in sorted(class_weight)]), metric=metric)
    return _choose(metric, truth, members, class_weight, seed, trained_alpha)


decision.choose = choose

if __name__ == "__main__":
    main()
