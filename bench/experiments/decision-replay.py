"""A diagnostic (bench/README, "Halfway when the validation rows cannot tell"): decision rules replayed on bundles
written by decision-inputs.py (BUNDLE and BUNDLE.npz) — each rule's α from the validation inputs, its test macro-F1
from the bundle's SavedModel outputs on the suite's test rows (bench/workers.load_split: the split every contender of
that seed sees), re-weighted from the exported α to each α. Approximate away from the exported α: the averaged
output is re-weighted, where the product re-weights each member's before averaging (the adopted rule was rerun end to
end for its figures).

    python bench/experiments/decision-replay.py DATA.csv TARGET SEED BUNDLE [SEED BUNDLE ...]
"""
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from workers import load_split  # noqa: E402

from autotune.bundle.load import load_bundle, predict_outputs  # noqa: E402
from autotune.decision import ALPHAS, bias_shift, choose, shifted  # noqa: E402
from autotune.evaluate.baseline import compare  # noqa: E402
from autotune.evaluate.metrics import score  # noqa: E402


def rules(npz: Path, seed: int) -> dict[str, int]:
    """Each rule's α (an index into ALPHAS) on the run's validation inputs."""
    d = np.load(npz)
    weights, trained, metric = dict(enumerate(d["weights"])), float(d["trained_alpha"]), str(d["metric"])
    outputs = [np.mean([shifted(m, bias_shift(weights, len(weights), a, trained)) for m in d["members"]], axis=0)
               for a in ALPHAS]
    scores = np.array([score(metric, d["truth"], o) for o in outputs])
    best = int(np.argmax(scores))

    def beats(i: int, ref: int) -> bool:
        return compare("classification", metric, d["truth"], outputs[i], outputs[ref], seed)["decision"] == "better"

    half = ALPHAS.index(0.5)
    found = {"before (else α 0)": best if best and beats(best, 0) else 0, "the best, always": best,
             "else α ½ (adopted: decision.choose)": ALPHAS.index(choose(metric, d["truth"], list(d["members"]),
                                                                         weights, seed, trained).alpha),
             "beyond noise of α ½, else α ½": best if best != half and beats(best, half) else half}
    found.update({f"α {ALPHAS[i]:g} always": i for i in range(len(ALPHAS))})
    return found


def main(data: str, target: str, runs: list[str]) -> None:
    table: dict[str, list[float]] = {}
    for seed, path in zip(runs[::2], runs[1::2], strict=True):
        seed = int(seed)
        parts = load_split(data, target, seed, 0.2).parts
        bundle = load_bundle(path)
        exported = json.loads((Path(path) / "report.json").read_text())["final_model"]["decision"]
        log_w = -np.log(parts.y_train.value_counts(normalize=True).reindex(bundle.labels).to_numpy())
        as_trained = shifted(predict_outputs(bundle, parts.test), -np.array(exported["bias_shift"]))
        truth = np.array([bundle.labels.index(v) for v in parts.y_test])
        test = [f1_score(truth, shifted(as_trained, (exported["trained_alpha"] - a) * log_w).argmax(axis=1),
                         average="macro") for a in ALPHAS]
        for name, i in rules(Path(f"{path}.npz"), seed).items():
            table.setdefault(name, []).append(test[i])
    for name, values in table.items():
        print(f"{name:38s} {np.mean(values):.4f}  ({' '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
