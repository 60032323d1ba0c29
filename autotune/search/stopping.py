"""When a search stops a trial that is plainly losing: a median stopping rule, in NumPy alone (the Keras callback
that applies it is search.callbacks.BehindTheMedian)."""
from __future__ import annotations

import numpy as np

# The median stopping rule of Google Vizier (Golovin et al. 2017, section 3.2.2) stops a trial whose best score so
# far is worse than the median of the finished trials' running *averages* at the same step; here, their running
# *best* at that epoch, as Optuna's MedianPruner compares with other trials' values at the same step. On image
# searches the average let plainly worse trials run on: a batch-normalised network's first validation losses are
# often far above chance (its moving statistics have not settled), so on the suite's digits (seed 0) the median of
# the averages at epoch 4 was 2.2 — chance is 2.30 — and a trial that ended at 0.19 against the best's 0.015 ran
# its 60 epochs. The rule starts once this many trials have finished (a portfolio's worth), and never before
# epoch MEDIAN_GRACE.
MEDIAN_MIN_FINISHED = 3
MEDIAN_GRACE = 4


def median_minimum(lag: int | None) -> int:
    """The finished trials the rule starts from: MEDIAN_MIN_FINISHED — or 1 in a search handed out in order with a
    lag (local workers, tune.InOrder), where trial k compares with trials 0 .. k-1-lag only, so that trials lag+1 and
    lag+2 would run their full epochs unchecked against the one or two portfolio trials before them (mnist_5k: 26-166 s
    each, bench/README "The median rule from the first finished trial under workers")."""
    return 1 if lag else MEDIAN_MIN_FINISHED


def behind_the_median(values: list[float], finished: list[list[float]], higher_is_better: bool,
                      minimum: int = MEDIAN_MIN_FINISHED) -> float | None:
    """The median the trial is behind, or None: `values` are its validation scores so far (one per epoch), each
    of `finished` a finished trial's scores by epoch (None or NaN where an epoch had none), at least `minimum` of them
    with a score. A finished trial that stopped earlier than this one has trained counts with its best over all its
    epochs."""
    epochs = len(values)
    if epochs < MEDIAN_GRACE or len(finished) < minimum:
        return None
    bests = [b for b in (_best(curve[:epochs], higher_is_better) for curve in finished) if b is not None]
    if len(bests) < minimum:
        return None
    median = float(np.median(bests))
    best = _best(values, higher_is_better)
    if best is None:  # no finite score yet: diverged
        return median
    return median if (best < median if higher_is_better else best > median) else None


def _best(scores: list, higher_is_better: bool) -> float | None:
    """The best finite score of a curve (None or NaN where an epoch had none); None if it has none."""
    curve = np.asarray([np.nan if v is None else v for v in scores], dtype=np.float64)
    if not np.isfinite(curve).any():
        return None
    return float(np.nanmax(curve) if higher_is_better else np.nanmin(curve))
