"""Diagnostic (issue 18, images): the final network as its trial trained it, against the retrain on train +
validation, for one configuration on one (set, seed) of the development suite's image sets:

    for seed in 0 1 2; do for s in mnist_5k digits textures lfw_faces; do
        python bench/final_network.py $s $seed 0 2>/dev/null | grep '^{' >> final_network.jsonl; done; done

The configuration is the image portfolio's entry ENTRY (recipes/portfolios/image.toml). It trains as a trial does
(the run's own split, hypermodel and augmentation; the training split, early stopping on the validation split, up
to the image default's epochs, over which its schedule anneals), its weights are kept at the epoch its summary
scores it at (the search's objective, ties by the loss), and those are scored on the test images; then it is
retrained as the final fit retrained it (train + validation, for that epoch count) and scored on the same test
images. Prints one JSON line. (The run that chose
autotune's image final fit, bench/README "The final image network", kept the weights with a callback of its own
written as search.callbacks.BestEpochWeights now is; seed 0 of mnist_5k and digits ranked epochs by validation
accuracy rather than the loss; and trials then trained up to 60 epochs, this entry under an exponential schedule —
run from 5b9d018 to repeat it.)"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent)]


def main(set_name: str, seed: int, entry: int) -> dict:
    import keras
    import keras_tuner as kt
    import numpy as np

    from autotune.config import FitConfig
    from autotune.events import Reporter
    from autotune.search import recipes
    from autotune.search.tune import allowed_values
    from autotune.task import task_of
    from autotune.train import train_final
    from autotune.vision.pipeline import predict_files
    from autotune.vision.run import Images

    config = FitConfig.of(Path.home() / ".cache/autotune-suite" / set_name, seed=seed)
    run = Images().load(config, Reporter()).run
    run.prepare(Path(tempfile.mkdtemp(prefix="final-network-")))
    hypermodel = run.hypermodel(1, 8, metric=task_of(run.task).search_metric)
    hypermodel.epoch_cap = run.default_epochs()
    hp = kt.HyperParameters()
    hypermodel.build(hp)  # registers the space
    values = allowed_values(hp, recipes.portfolio("image")[entry])
    hp = kt.HyperParameters()
    hypermodel.build(hp)
    hp.values.update(values)
    hypermodel.kept_trials, hypermodel.trial_id = 1, "trial"

    x, y, validation = run.search_data()
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    summary = hypermodel.fit(hp, hypermodel.build(hp), x, y, validation_data=validation,
                               epochs=hypermodel.epoch_cap)
    trial_seconds = time.perf_counter() - start
    epochs = int(summary["best_epoch"])
    paths, truth = run.parts.test["path"].tolist(), np.asarray(run.parts.y_test)
    labels = np.asarray(run.labels)

    def accuracy(model) -> float:
        return float(np.mean(labels[predict_files(model, paths, run.image_size).argmax(1)] == truth))

    kept = train_final(hypermodel, [(hp, epochs)], None, None, seed, run.assemble,
                       trial_weights=[hypermodel.trial_weights["trial"][1]])
    start = time.perf_counter()
    retrained = train_final(hypermodel, [(hp, epochs)], *run.final_data(), seed, run.assemble)
    return {"set": set_name, "seed": seed, "entry": entry, "objective_name": hypermodel.objective,
            "best_epoch": epochs, "epochs": summary["epochs"], "objective": summary[hypermodel.objective],
            "trial_s": round(trial_seconds, 1), "final_s": round(time.perf_counter() - start, 1),
            "acc_reuse": accuracy(kept.model), "acc_retrain": accuracy(retrained.model), "test": len(truth)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))), flush=True)
