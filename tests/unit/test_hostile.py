"""Hostile input refused or cleaned before TensorFlow loads: the bad-input matrix's rows listed in
BEFORE_TENSORFLOW, and infinities and values beyond float32 in targets and features. The matrix, its doc and
its other rows are in tests/system/test_hostile.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from system.test_hostile import BEFORE_TENSORFLOW, CASES, _table, run_case

# --- the fixes behind some rows, one level down ----------------------------------------------------


def test_infinity_in_integer_class_codes_is_a_missing_label():
    """Found by the property test (tests/system/test_hostile.py): `1, 2, inf` as class codes crashed turning
    labels into text."""
    from autotune.data.profile import profile
    from autotune.data.split import drop_unusable_rows

    frame = _table(40).assign(label=[1, 2] * 19 + [np.inf, 2])
    prof = profile(frame, "label")
    assert prof.task == "classification" and prof.class_counts == {"2": 20, "1": 19}
    rows, actions = drop_unusable_rows(frame, prof)
    assert len(rows) == 39 and actions == [{"step": "drop_rows", "reason": "missing target", "rows": 1}]


def test_numbers_beyond_float32_are_missing_values():
    """The model computes in float32: 1e39 would become inf there, so it is missing, like inf itself."""
    from autotune.data.clean import raw_column

    out = raw_column(pd.Series([1e39, -1e300, 5.0, np.inf, 3.0e38]), "number")
    assert np.isnan(out[:2]).all() and out[2] == 5.0 and np.isnan(out[3]) and np.isfinite(out[4])


def test_regression_target_beyond_float32_is_dropped():
    from autotune.data.profile import profile
    from autotune.data.split import drop_unusable_rows

    frame = _table(40).drop(columns="label").assign(y=[1.5, 2.5] * 18 + [np.inf, -np.inf, 1e300, 4.0])
    prof = profile(frame, "y")
    assert prof.task == "regression" and prof.warnings == (
        "target \"y\": values 'inf', '1e+300' are not finite float32 numbers; those rows are dropped",)
    rows, _ = drop_unusable_rows(frame, prof)
    assert len(rows) == 37


FAST = [c for c in CASES if c.id in BEFORE_TENSORFLOW]


@pytest.mark.parametrize("case", FAST, ids=[c.id for c in FAST])
def test_bad_input_matrix(case, tmp_path, tmp_path_factory):
    run_case(case, tmp_path, tmp_path_factory)
