"""bench/portfolio.py's greedy choice of the configurations the Bayesian search tries first, and the shipped file."""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import portfolio  # noqa: E402  (bench/ is not a package)
import suite  # noqa: E402

from autotune.search.recipes import IMAGE_SPACE, TABULAR_SPACE  # noqa: E402
from autotune.search.recipes import portfolio as shipped  # noqa: E402


def test_greedy_portfolio_covers_the_sets_one_after_another():
    losses = {"a": {"x": 1.0, "y": 2.0, "z": 1.1},  # x best; z close
              "b": {"x": 3.0, "y": 1.0, "z": 1.2},  # y best; z close
              "c": {"x": 1.0, "y": 1.0, "z": 1.0}}
    chosen = portfolio.greedy_portfolio(losses, 3)
    # z alone: regrets 0.1, 0.2, 0 (mean 0.1) beats x (0, 2, 0) and y (1, 0, 0); then y (b's 0.2 to 0) before x
    assert [c for c, _ in chosen] == ["z", "y", "x"]
    assert [round(s, 6) for _, s in chosen] == [0.1, round(0.1 / 3, 6), 0.0]
    assert portfolio.regrets({"s": {"p": -2.0, "q": -1.0}}) == {"s": {"p": 0.0, "q": 0.5}}  # a negative loss: |best|


def test_a_failed_candidate_helps_no_set_and_ties_go_to_the_best_alone():
    losses = {"a": {"x": 1.0, "y": 1.0}, "b": {"x": 1.0}}  # y failed on b
    assert [c for c, _ in portfolio.greedy_portfolio(losses, 2)] == ["x", "y"]
    assert portfolio.greedy_portfolio(losses, 5)[-1] == ("y", 0.0)


def test_the_tool_never_reads_a_held_out_set():
    with pytest.raises(SystemExit):
        portfolio.main(["--sets", "hmda"])


def test_the_shipped_portfolio_is_the_candidates_it_names_and_fits_the_default_space():
    """Each entry of recipes/portfolios/tabular.toml is one of bench/portfolio.py's candidates, with every value in
    the default space, so a default run tries all of them."""
    for kind, size, candidates, space in (("tabular", 4, portfolio.CANDIDATES, TABULAR_SPACE),
                                          ("image", 3, portfolio.IMAGE_CANDIDATES, IMAGE_SPACE)):
        entries = shipped(kind)
        assert len(entries) == size
        text = tomllib.loads((ROOT / "recipes" / "portfolios" / f"{kind}.toml").read_text())
        assert text["config"] == entries
        for entry in entries:
            assert any(all(c.get(k) == v for k, v in entry.items()) for c in candidates.values()), entry
            for key, value in entry.items():
                spec = space[key]
                assert (spec["min"] <= value <= spec["max"]) if isinstance(spec, dict) else value in spec, (key, value)


def test_the_image_portfolio_never_reads_the_image_check_set():
    """mnist_5k is the image sets' own check: the default --kind image sets leave it out."""
    assert "mnist_5k" not in portfolio.IMAGE_TUNING_SETS and set(portfolio.IMAGE_TUNING_SETS) <= {
        s.name for s in suite.SETS if s.kind == "image"}
