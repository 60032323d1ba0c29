"""Row sampling for --sample (pure pandas). Devices and workers are in tests/system/test_scale.py,
the sampled fit in tests/integration/test_scale.py."""
from __future__ import annotations

import numpy as np


def test_a_sample_of_all_but_a_few_rows_is_drawn():
    """--sample just under the training rows left fewer rows out than there are classes, which stratified
    splitting cannot do (`ValueError: test_size`): such a sample is drawn at random; others stay stratified."""

    from autotune.modality import sample_rows

    y = np.repeat([0, 1, 2], [40, 30, 30])
    keep = sample_rows(y, 99, seed=0, classes=True)
    assert len(keep) == len(set(keep)) == 99
    keep = sample_rows(y, 10, seed=0, classes=True)
    assert sorted(np.bincount(y[keep])) == [3, 3, 4]  # stratified: each class in proportion
