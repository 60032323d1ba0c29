"""The decision rule of a class-weighted classifier, chosen on the search's validation outputs.

Training that weighs each class by the inverse of its frequency (--balance) teaches a network the classes' odds as
if they were equally frequent: its arg-max calls far more rows the rare class than the rows hold (lending_club, 5% of
rows in the rare class: the network called about half of them that, macro-F1 0.40-0.52, under the 0.49 of always
answering the common class). The frequencies come back in by re-weighting the outputs, p_c × w_c^-α, renormalised:
α = 0 is the network as trained (every class equally likely a priori), α = 1 the class frequencies of the training
rows (the weights undone). α is chosen on held-out rows — the search's validation outputs of the final model's
configurations, at the epoch each was retrained for (out-of-fold outputs in a cross-validated search) — by the
run's headline metric; among equal scores the smallest α; and kept only when it beats α = 0 there beyond noise (the
paired test the report judges a baseline by). Post-hoc logit adjustment (Menon et al., 2021), in the
family between the two priors; AutoGluon tunes a binary decision threshold on validation data the same way
(calibrate_decision_threshold).

The re-weighting is a constant added to the output layer's biases (softmax(z + b) ∝ p × e^b), so the exported model,
its SavedModel and model.keras carry it with no new layer, and every prediction, evaluation and report agrees."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from autotune.modality import weight_vector

ALPHAS = tuple(i / 10 for i in range(11))
OUTPUT_LAYER = "probabilities"  # the classifier's softmax layer (task.Classification.head)


@dataclass(frozen=True)
class Decision:
    """The chosen α, the constants it adds to the output biases (one per class), and the validation scores."""

    alpha: float
    bias_shift: list[float]
    metric: str
    as_trained: float  # the validation score at α = 0
    chosen: float  # ... at the chosen α
    rows: int  # validation rows (out-of-fold rows in a cross-validated search)
    members: int  # configurations averaged
    best_alpha: float = 0.0  # the α that scored best, kept only when its gain is beyond noise (`evidence`)
    evidence: dict | None = None  # evaluate.baseline.compare of the best α's outputs against the model as trained

    def to_dict(self) -> dict:
        return asdict(self)


def bias_shift(class_weight: dict[int, float], n_classes: int, alpha: float) -> np.ndarray:
    """-α log w_c: what the output biases gain for p_c × w_c^-α."""
    return -alpha * np.log(weight_vector(class_weight, n_classes)) + 0.0  # + 0.0: no -0.0 in report.json at α 0


def shifted(outputs: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Probabilities re-weighted by e^shift and renormalised: the outputs of the network with `shift` added to its
    output biases."""
    p = np.asarray(outputs, np.float64) * np.exp(shift - np.max(shift))
    return p / np.maximum(p.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)


def choose(metric: str, truth: np.ndarray, members: list[np.ndarray], class_weight: dict[int, float],
           seed: int = 0) -> Decision | None:
    """The α of ALPHAS whose re-weighted outputs (each member's, then averaged, as the exported ensemble averages its
    networks) score best on `metric` against `truth` (ties: the smaller α) — kept only when it beats the model as
    trained beyond noise on these rows (the report's paired test of a model against its baseline, seeded), else α 0:
    a re-weighting chosen on a few hundred rows by a gain of a row or two is as likely to lose as to win on new rows.
    None if the metric has no value on these rows (ROC AUC with one class present)."""
    from autotune.config import METRICS
    from autotune.evaluate.baseline import compare
    from autotune.evaluate.metrics import score

    n_classes = members[0].shape[1]
    outputs, scores = [], []
    for alpha in ALPHAS:
        shift = bias_shift(class_weight, n_classes, alpha)
        outputs.append(np.mean([shifted(m, shift) for m in members], axis=0))
        value = score(metric, truth, outputs[-1])
        scores.append(np.nan if value is None else float(value))
    if not np.isfinite(scores[0]):
        return None
    higher = METRICS[metric][1]
    signed = np.where(np.isfinite(scores), scores, -np.inf if higher else np.inf)
    best = int(np.argmax(signed) if higher else np.argmin(signed))  # the first best: the smallest α
    evidence = None
    chosen = best
    if best:
        test = compare("classification", metric, truth, outputs[best], outputs[0], seed)
        evidence = {k: test.get(k) for k in ("method", "difference", "interval", "decision")}
        chosen = best if test["decision"] == "better" else 0
    return Decision(ALPHAS[chosen], [float(v) for v in bias_shift(class_weight, n_classes, ALPHAS[chosen])], metric,
                    scores[0], scores[chosen], int(len(truth)), len(members), ALPHAS[best], evidence)


def apply(networks: list, shift: list[float]) -> None:
    """Add `shift` to each network's output biases (the exported model, built from these networks, follows)."""
    for network in networks:
        layer = network.get_layer(OUTPUT_LAYER)
        layer.bias.assign(layer.bias.numpy() + np.asarray(shift, np.float32))
