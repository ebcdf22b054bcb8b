"""The free-choice population on drawn mazes, and the maze bootstrap of the behaviour
regression's whole fit on data with a planted coefficient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from maze_art import embed

from analyses.measure.choice import free_choice, free_choice_mask
from analyses.measure.regression import fit_behaviour
from hooked_impala.maze import TOP_RIGHT_5, Maze, decision_square

# 9x9 inner mazes (top row first); the top-right 5x5 region is rows 4..8, columns 4..8.
# The paths to the cheese and to the top-right cell part at (5, 5), inside the region: the
# only way to the cheese crosses it, so "the cheese first" is impossible.
FORCED = """
# # # # # # # # .
# # # # # # # # .
# # # # # # # # .
# C . . . . . . .
# # # # # . # # #
# # # # # . # # #
# # # # # . # # #
# # # # # . # # #
S . . . . . # # #
"""
# They part at (2, 5), below the region, and the cheese's path never enters it.
FREE = """
# # # # # # # # .
# # # # # # # # .
# # # # # # # # .
# # # # # . . . .
# # # # # . # # #
# # # # # . # # #
# C . . . . # # #
# # # # # . # # #
S . . . . . # # #
"""


@pytest.fixture(scope="module")
def template() -> Maze:
    return Maze.from_seed(0, "easy")


def test_a_maze_whose_only_path_to_the_cheese_crosses_the_region_is_not_a_free_choice(
    template,
) -> None:
    forced, free = embed(FORCED, template), embed(FREE, template)
    region = set(TOP_RIGHT_5.cells(forced))
    # Both qualify for the old population: a decision square, the cheese outside the region.
    for maze in (forced, free):
        assert decision_square(maze) is not None and maze.cheese not in region
    assert decision_square(forced) == forced.to_world((5, 5))
    assert decision_square(free) == free.to_world((2, 5))
    assert not free_choice(forced)
    assert free_choice(free)
    assert free_choice_mask([forced, free, forced]).tolist() == [False, True, False]


def test_no_free_choice_without_a_decision_square_or_with_the_cheese_in_the_region(
    template,
) -> None:
    free = embed(FREE, template)
    w = free.to_world
    in_region = free.with_cheese(w((7, 8)))  # the cheese in the region
    on_the_way = free.with_cheese(w((0, 3)))  # on the path to the top right: no fork
    assert decision_square(on_the_way) is None
    assert not free_choice(in_region) and not free_choice(on_the_way)


def _planted(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    y = rng.random(n) < 1 / (1 + np.exp(-1.5 * x["a"].to_numpy()))  # a's coefficient: 1.5
    return x, y


def test_the_bootstrap_interval_covers_a_planted_coefficient() -> None:
    x, y = _planted()
    fit = fit_behaviour(x, y, splits=2, seed=0, bootstrap=200)
    table = fit.bootstrap_table()
    assert list(table.columns) == ["estimate", "low", "high", "selected", "vif", "identifiable"]
    assert list(table.index) == ["a", "b", "c"]
    assert fit.bootstrap_resamples == 200 and fit.n == 600
    a = table.loc["a"]
    assert a["low"] < 1.5 < a["high"] and a["low"] <= a["estimate"] <= a["high"]
    assert 0.1 < a["high"] - a["low"] < 1.0  # an interval, neither degenerate nor vacuous
    assert a["selected"] == 1.0 and table["identifiable"].all()
    for noise in ("b", "c"):  # no effect: the interval straddles 0
        assert table.loc[noise, "low"] <= 0 <= table.loc[noise, "high"]
    # Reproducible: the resamples are seeded.
    again = fit_behaviour(x, y, splits=2, seed=0, bootstrap=200).bootstrap_table()
    pd.testing.assert_frame_equal(again, table)


def test_a_duplicated_feature_is_not_identifiable_and_zeroes_are_read_by_selection() -> None:
    x, y = _planted()
    fit = fit_behaviour(x.assign(a_copy=x["a"]), y, splits=2, seed=0, bootstrap=50, c=0.01)
    table = fit.bootstrap_table()
    assert np.isinf(table.loc["a", "vif"]) and np.isinf(table.loc["a_copy", "vif"])
    assert table["identifiable"].tolist() == [False, True, True, False]
    # Strong L1 zeroes the noise features in many resamples: the selection frequency says so.
    assert table.loc[["b", "c"], "selected"].max() < 0.9
    assert (table["selected"] >= 0).all() and (table["selected"] <= 1).all()


def test_a_fit_without_bootstrap_says_so() -> None:
    x, y = _planted(200)
    fit = fit_behaviour(x, y, splits=2, seed=0, bootstrap=0)
    assert fit.bootstrap_resamples == 0
    with pytest.raises(ValueError, match="not bootstrapped"):
        fit.bootstrap_table()
    with pytest.raises(ValueError, match="bootstrap must be >= 0"):
        fit_behaviour(x, y, bootstrap=-1)
