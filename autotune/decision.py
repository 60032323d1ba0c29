"""The decision rule of a classifier trained for imbalanced classes, chosen on the search's validation outputs.

A classifier's outputs can carry either prior: balanced classes (every class equally likely a priori) or the class
frequencies of the training rows. The family between them is p_c × w_c^-α, renormalised, w the balanced class weights
(modality.class_weights): α = 0 the balanced prior, α = 1 the frequencies. Where the network was trained is its
`trained_alpha`:
- --balance weights (and images' auto): training weighs each class by w_c, so the network as trained is at α = 0 — its
  arg-max calls far more rows the rare class than the rows hold (lending_club, 5% of rows in the rare class: about
  half of them, macro-F1 0.40-0.52, under the 0.49 of always answering the common class);
- --balance adjust (tables' auto): training sees the rows as they are, so the network as trained is at α = 1, and
  its outputs are shifted toward balanced classes after it, p × w^(1-α) (bench/README "Class weights or the
  outputs shifted": macro-F1 +0.017 on hpc_jobs over 8 splits, +0.026 on portal over 3, against class weights).
α is chosen on held-out rows — the search's validation outputs of the final model's configurations, at the epoch each
was retrained for (out-of-fold outputs in a cross-validated search) — by the run's headline metric; among equal
scores the smallest α; and kept only when it beats α = 0, the balanced prior, there beyond noise (the paired test the
report judges a baseline by). Otherwise the rows cannot tell the two priors apart and the outputs go to the
`reference`: halfway between the network as trained and balanced classes — α ½ for a network trained on the rows as
they are (bench/README "Halfway when the validation rows cannot tell": macro-F1 +0.009 on hpc_jobs, +0.005 on olive
over 8 splits, where α 0 was the fallback), α 0 (as trained) for a class-weighted one. Post-hoc logit adjustment
(Menon et al., 2021); AutoGluon tunes a binary decision threshold on validation data the same way
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
    balanced: float | None  # the validation score at α = 0, the balanced prior (None: no validation outputs)
    chosen: float | None  # ... at the chosen α
    rows: int  # validation rows (out-of-fold rows in a cross-validated search)
    members: int  # configurations averaged
    best_alpha: float = 0.0  # the α that scored best, kept only when its gain is beyond noise (`evidence`)
    evidence: dict | None = None  # evaluate.baseline.compare of the best α's outputs against α = 0's
    trained_alpha: float = 0.0  # where the network as trained is: 0 class-weighted training, 1 the rows as they are

    @property
    def reference(self) -> float:
        """The α taken where no α beats balanced classes beyond noise (decision.reference of trained_alpha)."""
        return reference(self.trained_alpha)

    def to_dict(self) -> dict:
        return asdict(self)


def reference(trained_alpha: float) -> float:
    """The α the outputs take where the validation rows cannot tell the priors apart (no α beats balanced classes
    beyond noise there): halfway between the network as trained and balanced classes — ½ for one trained on the rows
    as they are, 0 (as trained) for a class-weighted one."""
    return trained_alpha / 2


def bias_shift(class_weight: dict[int, float], n_classes: int, alpha: float, trained: float = 0.0) -> np.ndarray:
    """(trained - α) log w_c: what the output biases of a network trained at α = `trained` gain for p_c × w_c^-α."""
    return (trained - alpha) * np.log(weight_vector(class_weight, n_classes)) + 0.0  # + 0.0: no -0.0 in report.json


def shifted(outputs: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Probabilities re-weighted by e^shift and renormalised: the outputs of the network with `shift` added to its
    output biases."""
    p = np.asarray(outputs, np.float64) * np.exp(shift - np.max(shift))
    return p / np.maximum(p.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)


def choose(metric: str, truth: np.ndarray, members: list[np.ndarray], class_weight: dict[int, float],
           seed: int = 0, trained_alpha: float = 0.0) -> Decision | None:
    """The α of ALPHAS whose re-weighted outputs (each member's, then averaged, as the exported ensemble averages its
    networks; the members trained at `trained_alpha`) score best on `metric` against `truth` (ties: the smaller α) —
    kept only when it beats α 0, the balanced prior, beyond noise on these rows (the report's paired test of a model
    against its baseline, seeded), else the reference α (halfway between the network as trained and balanced
    classes): a re-weighting chosen on a few hundred rows by a gain of a row or two is as likely to lose as to win on
    new rows. None if the metric has no value on these rows (ROC AUC with one class present)."""
    from autotune.config import METRICS
    from autotune.evaluate.baseline import compare
    from autotune.evaluate.metrics import score

    n_classes = members[0].shape[1]
    outputs, scores = [], []
    for alpha in ALPHAS:
        shift = bias_shift(class_weight, n_classes, alpha, trained_alpha)
        outputs.append(np.mean([shifted(m, shift) for m in members], axis=0))
        value = score(metric, truth, outputs[-1])
        scores.append(np.nan if value is None else float(value))
    if not np.isfinite(scores[0]):
        return None
    higher = METRICS[metric][1]
    signed = np.where(np.isfinite(scores), scores, -np.inf if higher else np.inf)
    best = int(np.argmax(signed) if higher else np.argmin(signed))  # the first best: the smallest α
    evidence = None
    chosen = ALPHAS.index(reference(trained_alpha))
    if best:
        test = compare("classification", metric, truth, outputs[best], outputs[0], seed)
        evidence = {k: test.get(k) for k in ("method", "difference", "interval", "decision")}
        if test["decision"] == "better":
            chosen = best
    return Decision(ALPHAS[chosen], [float(v) for v in bias_shift(class_weight, n_classes, ALPHAS[chosen],
                                                                  trained_alpha)],
                    metric, scores[0], scores[chosen], int(len(truth)), len(members), ALPHAS[best], evidence,
                    trained_alpha)


def untested(metric: str, class_weight: dict[int, float], n_classes: int, members: int,
             trained_alpha: float) -> Decision | None:
    """The reference α with no validation outputs to choose on (trained on another worker or in an earlier run):
    halfway to balanced classes, which a network trained on the rows as they are reaches by the shift ½ log w; None
    for a class-weighted one, at balanced classes as trained (nothing to shift)."""
    alpha = reference(trained_alpha)
    if alpha == trained_alpha:
        return None
    return Decision(alpha, [float(v) for v in bias_shift(class_weight, n_classes, alpha, trained_alpha)], metric,
                    None, None, 0, members, trained_alpha=trained_alpha)


def describe(d: dict | None) -> str | None:
    """The decision rule of a report's `decision` entry in words (the run's log and report.md), or None where there
    is nothing to say: a class-weighted network kept as trained, its best α 0."""
    if not d:
        return None
    trained = d.get("trained_alpha", 0.0)
    outputs = "the class-weighted outputs" if not trained else "the outputs (trained on the rows as they are)"
    where = f"on the search's validation outputs ({d['rows']:,} rows)"
    if d["alpha"] == 0:
        end = f"{'kept as trained, at' if not trained else 'shifted to'} balanced classes (α 0)"
    else:
        end = f"shifted halfway to balanced classes (α {d['alpha']:g}, between balanced classes and the frequencies)"
    if d["balanced"] is None:
        return f"{outputs} are {end}: no validation outputs were kept to choose α on"
    if d["best_alpha"] != d["alpha"]:
        if d["evidence"] is None:  # the best was balanced classes themselves: nothing beat them, nothing to go on
            return f"{outputs} are {end}: no re-weighting beat balanced classes (α 0) {where}"
        return (f"{outputs} are {end}: the best re-weighting toward the class frequencies, α {d['best_alpha']:g}, "
                f"changed validation {d['metric']} by {d['evidence']['difference']:+.4f} over balanced classes {where}, "
                f"within noise")
    if d["alpha"] == trained == 0:
        return None
    return (f"{outputs} are re-weighted to α {d['alpha']:g} between balanced classes (0) and the class frequencies "
            f"(1), p × w^-α with w the class weights, chosen {where}: {d['metric']} {d['balanced']:.4f} at balanced "
            f"classes, {d['chosen']:.4f} at α {d['alpha']:g}")


def apply(networks: list, shift: list[float]) -> None:
    """Add `shift` to each network's output biases (the exported model, built from these networks, follows)."""
    for network in networks:
        layer = network.get_layer(OUTPUT_LAYER)
        layer.bias.assign(layer.bias.numpy() + np.asarray(shift, np.float32))
