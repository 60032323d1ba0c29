"""The median stopping rule that ends a plainly losing trial early (search/stopping.py)."""
from __future__ import annotations

from autotune.search.stopping import MEDIAN_GRACE, MEDIAN_MIN_FINISHED, behind_the_median, median_minimum

# Three finished trials' validation log loss by epoch, as a portfolio's configurations learn; the second starts far
# above chance, as a batch-normalised network's first epochs often do.
FINISHED = [[1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1],
            [6.0, 3.0, 0.35, 0.25, 0.2],
            [0.9, 0.4, 0.2, 0.1, 0.08, 0.07, 0.06, 0.06]]


def test_a_trial_stuck_at_chance_is_stopped_at_the_grace_epoch_and_not_before():
    chance = [2.30] * 10
    assert all(behind_the_median(chance[:n], FINISHED, False) is None for n in range(1, MEDIAN_GRACE))
    # best by epoch 4: 0.2, 0.25, 0.1 -> median 0.2 (their running averages, 0.5 / 2.4 / 0.4, would median 0.5)
    assert behind_the_median(chance[:MEDIAN_GRACE], FINISHED, False) == 0.2


def test_a_trial_as_good_as_the_finished_ones_runs_on_a_trial_well_behind_them_does_not():
    for n in range(1, 9):
        assert behind_the_median(FINISHED[2][:n], FINISHED, False) is None
    # worse than the best finished trial, ahead of the median of the finished ones' best so far: kept
    kept = [1.1, 0.7, 0.3, 0.19, 0.14, 0.11]
    assert all(behind_the_median(kept[:n], FINISHED, False) is None for n in range(1, 7))
    # still learning but far behind: 0.6 at epoch 4 against a median of 0.2
    assert behind_the_median([1.1, 0.9, 0.7, 0.6], FINISHED, False) == 0.2


def test_a_finished_trial_shorter_than_the_running_one_counts_with_its_best():
    # at 8 epochs: bests 0.1 (7 epochs), 0.2 (its 5), 0.06 -> median 0.1
    assert behind_the_median([1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.11, 0.09], FINISHED, False) is None
    assert behind_the_median([1.0, 0.5, 0.3, 0.2, 0.15, 0.12, 0.11, 0.105], FINISHED, False) == 0.1


def test_higher_is_better_scores_are_compared_the_other_way():
    accuracy = [[0.5, 0.8, 0.9, 0.95], [0.4, 0.7, 0.85, 0.9], [0.6, 0.85, 0.92, 0.96]]
    assert behind_the_median([0.1, 0.1, 0.12, 0.1], accuracy, True) == 0.95
    assert behind_the_median([0.5, 0.8, 0.9, 0.95], accuracy, True) is None


def test_too_few_finished_trials_or_curves_without_scores_stop_nothing_a_diverged_trial_is_stopped():
    assert behind_the_median([2.3] * 6, FINISHED[:2], False) is None
    assert behind_the_median([2.3] * 6, [*FINISHED[:2], [None, float("nan")]], False) is None
    assert behind_the_median([float("nan")] * 4, FINISHED, False) == 0.2


def test_under_workers_in_order_the_rule_starts_from_the_first_finished_trial():
    """Issue 18: with local workers (lag 3) trial k compares with trials 0 .. k-4 only, so trials 4 and 5 had one and
    two curves to compare with and, under the rule's three, ran every epoch (mnist_5k: 40-170 s each). There the rule
    starts from one finished trial; one process (lag 0) and workers on other hosts (lag None) keep three."""
    assert median_minimum(0) == median_minimum(None) == MEDIAN_MIN_FINISHED == 3
    assert median_minimum(3) == median_minimum(1) == 1
    behind, ahead = [2.0, 1.5, 1.2, 1.0], [1.0, 0.5, 0.3, 0.2]
    assert behind_the_median(behind, FINISHED[:1], False) is None  # three needed by default
    assert behind_the_median(behind, FINISHED[:1], False, median_minimum(3)) == 0.2  # the one curve's best by epoch 4
    assert behind_the_median(behind, FINISHED[:2], False, median_minimum(3)) == 0.225  # two: their median
    assert behind_the_median(ahead, FINISHED[:1], False, median_minimum(3)) is None
    assert behind_the_median(behind, [[None] * 6], False, median_minimum(3)) is None  # a curve without a score
