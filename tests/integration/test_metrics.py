"""The gradient-boosting baseline trained with the network's class weights (a real fit). The metrics
themselves, from numpy arrays, are in tests/unit/test_metrics.py."""
from __future__ import annotations

import numpy as np
import pandas as pd


def test_the_baseline_gets_the_networks_class_weights():
    """Two overlapping classes, one rare (10 %): with the network's balanced weights (or its oversampling)
    the gradient-boosting baseline finds more of the rare class than without them."""
    from autotune.data.clean import learn_features
    from autotune.data.profile import profile
    from autotune.data.split import split
    from autotune.evaluate.baseline import gradient_boosting
    from autotune.modality import class_weights

    rng = np.random.default_rng(0)
    rare = rng.random(1000) < 0.1
    frame = pd.DataFrame({"x": rng.normal(size=1000) + 1.2 * rare, "z": rng.normal(size=1000) + 1.2 * rare,
                          "label": np.where(rare, "rare", "common")})
    prof = profile(frame, "label")
    parts = split(frame, prof, 0.3, 0.2, 0)
    features, _ = learn_features(parts.train, prof, "none")
    labels = ["common", "rare"]
    weights = class_weights(np.array([labels.index(v) for v in parts.y_train]), 2, "weights")

    def recall(entry):
        return entry["test_metrics"]["per_class"]["rare"]["recall"]

    plain, _ = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro")
    weighted, _ = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro", class_weight=weights)
    oversampled, _ = gradient_boosting(parts, features, "classification", labels, 0, "f1_macro", oversample=True)
    assert weighted["class_weight"] == weights and plain["class_weight"] is None and oversampled["oversample"]
    assert recall(weighted) > recall(plain) + 0.15 and recall(oversampled) > recall(plain) + 0.15
