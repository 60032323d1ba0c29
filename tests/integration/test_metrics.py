"""The gradient-boosting baseline trained with the network's class weights (a real fit). The metrics
themselves, from numpy arrays, are in tests/unit/test_metrics.py."""
from __future__ import annotations

import numpy as np
import pandas as pd


def rare_class_split(rows: int, share: float, x_shift: float, z_shift: float, seed: int, validation: float):
    """Two overlapping classes, one rare: the run's split (30 % test), features and balanced class weights."""
    from autotune.data.clean import learn_features
    from autotune.data.profile import profile
    from autotune.data.split import split
    from autotune.modality import class_weights

    rng = np.random.default_rng(seed)
    rare = rng.random(rows) < share
    frame = pd.DataFrame({"x": rng.normal(size=rows) + x_shift * rare, "z": rng.normal(size=rows) + z_shift * rare,
                          "label": np.where(rare, "rare", "common")})
    prof = profile(frame, "label")
    parts = split(frame, prof, 0.3, validation, 0)
    features, _ = learn_features(parts.train, prof, "none")
    labels = ["common", "rare"]
    return parts, features, labels, class_weights(np.array([labels.index(v) for v in parts.y_train]), 2, "weights")


def test_the_baseline_gets_the_networks_class_weights():
    """Two overlapping classes, one rare (10 %): with the network's balanced weights (or its oversampling)
    the gradient-boosting baseline finds more of the rare class than without them."""
    from autotune.evaluate.baseline import gradient_boosting

    parts, features, labels, weights = rare_class_split(1000, 0.1, 1.2, 1.2, 0, validation=0.2)

    def recall(entry):
        return entry["test_metrics"]["per_class"]["rare"]["recall"]

    plain, _ = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro")
    weighted, _ = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro", class_weight=weights)
    oversampled, _ = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro", oversample=True)
    assert weighted["class_weight"] == weights and plain["class_weight"] is None and oversampled["oversample"]
    assert recall(weighted) > recall(plain) + 0.15 and recall(oversampled) > recall(plain) + 0.15


def test_a_class_weighted_baseline_is_reweighted_toward_the_class_frequencies_as_the_network_is():
    """The network's class-weighted outputs are re-weighted by an α chosen on validation outputs (decision.py); the
    baseline gets the same rule: α chosen on the validation rows by a copy fitted on the training rows alone, then
    applied to the outputs of the model fitted on train + validation. Unweighted, nothing is re-weighted."""
    from autotune.decision import choose, shifted
    from autotune.evaluate.baseline import _frame, gradient_boosting, row_weights
    from autotune.task import task_of

    parts, features, labels, weights = rare_class_split(10000, 0.06, 0.7, 0.56, 1, validation=0.3)
    entry, outputs = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro", class_weight=weights)
    decision = entry["decision"]
    assert decision["alpha"] > 0 and decision["evidence"]["decision"] == "better"
    assert decision["rows"] == len(parts.validation)

    kind = task_of("classification")
    alone = kind.boosting_estimator(0).fit(_frame(parts.train, features), parts.y_train.to_numpy(),
                                           sample_weight=row_weights(parts.y_train.to_numpy(), labels, weights))
    truth = np.array([labels.index(v) for v in parts.y_validation])
    expected = choose("f1_macro", truth, [kind.estimator_outputs(alone, _frame(parts.validation, features), labels)],
                      weights)
    assert decision == expected.to_dict()
    x_all, y_all = pd.concat([parts.train, parts.validation]), pd.concat([parts.y_train, parts.y_validation]).to_numpy()
    both = kind.boosting_estimator(0).fit(_frame(x_all, features), y_all, sample_weight=row_weights(y_all, labels, weights))
    raw = kind.estimator_outputs(both, _frame(parts.test, features), labels)
    np.testing.assert_allclose(outputs, shifted(raw, np.array(decision["bias_shift"])), rtol=1e-9)
    assert (outputs.argmax(axis=1) == 1).sum() < (raw.argmax(axis=1) == 1).sum()
    plain, _ = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro")
    assert plain["decision"] is None
