"""What a --time-budget holds (search/prepare.py: fit_budget), before any training: the run as asked when it fits,
else one network instead of the ensemble, else shorter trials — a short budget gives a bundle (issue 18's "anytime":
--time-budget 15s on portal's 27,000 training rows was refused, "use at least 25s"), and one that cannot hold even a
short trial and one network's final fit is refused with what it would need."""
from __future__ import annotations

import pytest

from autotune.errors import InputError
from autotune.search.prepare import ANYTIME_EPOCHS, _check_budget_fits, fit_budget


def reserve(networks: int, epochs: int) -> float:
    """A final fit of `networks` networks, each 0.05 s to start and 0.1 s an epoch, + 3 s after it."""
    return networks * (0.05 + 0.1 * epochs) + 3.0


def test_a_budget_that_holds_the_run_as_asked_changes_nothing():
    plan = fit_budget(60.0, 4.0, 0.05, 0.1, 3, 40, reserve)
    assert (plan.members, plan.epochs) == (3, 40)
    assert plan.need == pytest.approx(4.0 + 0.05 + 0.1 * 40 + 3 * (0.05 + 4.0) + 3.0)


def test_a_shorter_budget_gives_up_the_ensemble_first_then_epochs():
    # 3 networks of 40 epochs need ~23.2 s; one ~15.1 s
    plan = fit_budget(16.0, 4.0, 0.05, 0.1, 3, 40, reserve)
    assert (plan.members, plan.epochs) == (1, 40) and plan.need <= 16.0
    plan = fit_budget(12.0, 4.0, 0.05, 0.1, 3, 40, reserve)
    # 4 + 0.05 + 0.1 e + 0.05 + 0.1 e + 3 <= 12: e <= 24.5
    assert (plan.members, plan.epochs) == (1, 24) and plan.need <= 12.0
    assert fit_budget(12.0, 4.0, 0.05, 0.1, 3, 40, reserve).note(3, 40, 12.0) == (
        "--time-budget 12 s cannot hold trials of 40 epochs and the final fit of 3 networks: the final model is 1 "
        "network, not an average of 3 and trials train for at most 24 epochs, not 40 (~12 s with loading, on this "
        "machine)")


def test_a_budget_below_the_shortest_plan_is_refused_with_what_that_plan_needs():
    plan = fit_budget(7.5, 4.0, 0.05, 0.1, 3, 40, reserve)
    assert (plan.members, plan.epochs) == (1, ANYTIME_EPOCHS) and plan.need > 7.5
    with pytest.raises(InputError, match=r"--time-budget 7\.5 s is too short .* \(~8 s with loading, on this "
                                         r"machine\); use at least 10s"):
        _check_budget_fits(7.5, plan.need)
    _check_budget_fits(12.0, fit_budget(12.0, 4.0, 0.05, 0.1, 3, 40, reserve).need)  # fits: no error
