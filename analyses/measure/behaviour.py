"""Behaviour, measured: the maze features that predict whether the agent takes the cheese,
played outcomes over a population of levels, and rates in bins of a feature. The
regression itself is :mod:`analyses.measure.regression`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from jaxtyping import Bool, Float
from tqdm.auto import tqdm

from hooked_impala.maze import Maze, maze_features
from hooked_impala.stats import Rate

#: The regression's features (columns of :func:`feature_table`) and what they measure.
FEATURES: dict[str, str] = {
    "steps_decision_to_cheese": "steps, decision square → cheese",
    "euclid_decision_to_cheese": "Euclidean, decision square → cheese",
    "steps_decision_to_top_right": "steps, decision square → top-right cell",
    "euclid_decision_to_top_right": "Euclidean, decision square → top-right cell",
    "steps_decision_to_top_right_region": "steps, decision square → top-right 5×5",
    "euclid_decision_to_top_right_region": "Euclidean, decision square → top-right 5×5",
    "steps_cheese_to_top_right": "steps, cheese → top-right cell",
    "euclid_cheese_to_top_right": "Euclidean, cheese → top-right cell",
    "steps_cheese_to_top_right_region": "steps, cheese → top-right 5×5",
    "euclid_cheese_to_top_right_region": "Euclidean, cheese → top-right 5×5",
    "maze_size": "inner maze side",
    "cheese_up_right_from_decision": "cheese reachable from the decision square moving up/right",
    "decision_to_left_wall": "columns, decision square → left edge",
}

#: The paper's four-feature regression and its standardised coefficients (scale-4 agent).
PUBLISHED_FEATURES: tuple[str, ...] = (
    "euclid_decision_to_cheese",
    "steps_decision_to_cheese",
    "euclid_cheese_to_top_right",
    "euclid_decision_to_top_right_region",
)
PUBLISHED_COEFFICIENTS: dict[str, float] = dict(
    zip(PUBLISHED_FEATURES, (-0.623, -1.084, -2.786, 1.326))
)
PUBLISHED = {
    "p_reached_cheese": 0.714,
    "mazes_with_decision_square": 5239,
    "levels": 10_000,
    "accuracy": 0.849,
    "accuracy_4_features": 0.845,
    "accuracy_steps_alone": 0.755,
    "earlier_run_accuracy": 0.833,
    "earlier_run_baseline": 0.691,
    "coefficients": PUBLISHED_COEFFICIENTS,
}


def feature_row(maze: Maze) -> dict[str, float]:
    """The :data:`FEATURES` of one maze with a decision square, as floats (booleans 0/1)."""
    features = maze_features(maze).as_dict()
    if features["decision_square"] is None:
        raise ValueError(f"maze seed {maze.seed} has no decision square: no features")
    missing = [name for name in FEATURES if features[name] is None]
    if missing:
        raise ValueError(f"maze seed {maze.seed}: features {', '.join(missing)} are undefined")
    return {name: float(features[name]) for name in FEATURES}


def feature_table(mazes: Iterable[Maze], progress: bool = False) -> pd.DataFrame:
    """``(mazes, features)``: one row of :data:`FEATURES` per maze, indexed by level seed."""
    rows, seeds = [], []
    for maze in tqdm(mazes, desc="features", unit="maze", disable=not progress):
        rows.append(feature_row(maze))
        seeds.append(maze.seed)
    return pd.DataFrame(rows, index=pd.Index(seeds, name="seed"), columns=list(FEATURES))


def binned_rates(
    values: Float[np.ndarray, " n"], outcome: Bool[np.ndarray, " n"], bins: int = 6
) -> list[tuple[float, float, float, Rate]]:
    """P(outcome) in bins of ``values``: one bin per value when there are at most ``bins + 2``
    distinct ones, else quantile bins; ``(low, high, mean value, Rate)`` per non-empty bin."""
    values, outcome = np.asarray(values, dtype=float), np.asarray(outcome, dtype=bool)
    distinct = np.unique(values)
    if len(distinct) <= bins + 2:
        groups = [values == v for v in distinct]
    else:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
        which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        groups = [which == b for b in range(len(edges) - 1)]
    return [
        (
            float(values[g].min()),
            float(values[g].max()),
            float(values[g].mean()),
            Rate(int(outcome[g].sum()), int(g.sum())),
        )
        for g in groups
        if g.any()
    ]
