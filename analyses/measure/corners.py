"""Maze size and corners, measured from rollout records: rates by maze size (the choice
"top-right region first" on free-choice mazes only), where the corner study puts the cheese,
the step budget, and each corner episode's outcome.

The corner study's tables are rollout records (:mod:`hooked_impala.policy.records`), one
per placement of the cheese ("top_left", "bottom_right", "bottom_left", and the reference
"top_right_region"), each with a ``shortest`` column added: the steps of the shortest path
from the mouse's start to where the cheese was put.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hooked_impala.maze import TOP_RIGHT_5, Cell, Maze, place_cheese
from hooked_impala.stats import Rate

#: The corners the cheese is moved to, and the reference placement the budget comes from.
CORNERS = ("top_left", "bottom_right", "bottom_left")
REFERENCE = "top_right_region"

#: Columns of :func:`corner_outcomes`.
OUTCOME_COLUMNS = (
    "seed",
    "corner",
    "shortest",
    "steps",
    "counted",
    "within_budget",
    "within_limit",
)


def corner_cell(maze: Maze, corner: str) -> Cell:
    """Where the corner study puts the cheese: the inner maze's corner cell, or for the
    bottom-left (the mouse's start) the nearest open cell to it other than the start."""
    lo, hi = maze.margin, maze.margin + maze.maze_size - 1
    target = {
        "top_left": (hi, lo),
        "bottom_right": (lo, hi),
        "bottom_left": (lo, lo),
        "top_right": (hi, hi),
    }[corner]
    candidates = [c for c in maze.open_cells if c != maze.start_cell and maze.in_inner(c)]
    return min(candidates, key=lambda c: (math.dist(c, target), c))


def with_region_cheese(maze: Maze, seed: int) -> Maze:
    """The reference placement: the cheese on a uniformly drawn open cell of the top-right
    5×5 region (where it always was in training), drawn from ``(seed, maze seed)`` so that
    a rerun puts it on the same cell."""
    return place_cheese(maze, TOP_RIGHT_5, np.random.default_rng([seed, maze.seed]))


def rates_by_size(
    table: pd.DataFrame, shortest: dict[int, int | None], free: dict[int, bool]
) -> dict[str, dict]:
    """Rates per maze size (``Rate.as_dict()``; one episode per maze: Wilson). ``table``:
    the rollout records; ``shortest``: seed -> steps of the shortest path to the cheese;
    ``free``: seed -> the maze is a free choice (:mod:`analyses.measure.choice`).

    "top_right_first" is counted on the free-choice mazes only (both choices possible);
    "top_right_first_informative" on every maze where the region is smaller than the maze
    and the cheese outside it (geometry-forced mazes included, for comparison). Of those,
    "no_decision_square" counts the mazes without one (the cheese on the way to the top
    right, or the reverse), and "forced" counts, among the rest, the mazes whose only path to
    the cheese crosses the region ("the cheese first" impossible)."""
    out: dict[str, dict] = {}
    for size, rows in table.groupby("maze_size"):
        outside = rows[~rows["cheese_in_region"]]
        informative = rows[rows["top_right_informative"]]
        chosen = rows[[bool(free.get(int(s), False)) for s in rows["seed"]]]
        has_square = informative["decision_row"].notna().to_numpy()
        forced = [not free.get(int(s), False) for s in informative["seed"][has_square]]
        direct = [
            bool(r.reached_cheese and shortest[r.seed] is not None and r.steps == shortest[r.seed])
            for r in rows.itertuples()
        ]
        out[str(int(size))] = {
            "success": Rate.of(rows["reached_cheese"]).as_dict(),
            "success_cheese_outside_region": Rate.of(outside["reached_cheese"]).as_dict(),
            "shortest_path_to_cheese": Rate.of(direct).as_dict(),
            "top_right_first": Rate.of(chosen["top_right_first"]).as_dict(),
            "top_right_first_informative": Rate.of(informative["top_right_first"]).as_dict(),
            "no_decision_square": Rate.of(~has_square).as_dict(),
            "forced": Rate.of(forced).as_dict(),
        }
    return out


def step_budget(tables: dict[str, pd.DataFrame]) -> float | None:
    """The mean steps of the reference episodes (cheese in the top-right region) that
    reached the cheese: what the agent takes to reach a cheese where it was trained to find
    it. None if none did."""
    reached = tables[REFERENCE][tables[REFERENCE]["reached_cheese"]]
    return float(reached["steps"].mean()) if len(reached) else None


def corner_outcomes(tables: dict[str, pd.DataFrame], budget: float | None) -> pd.DataFrame:
    """One row per (maze seed, placement) episode: ``seed``, ``corner``, ``shortest`` (steps
    of the shortest path from the start to the cheese), ``steps`` (taken), ``counted`` (the
    shortest path fits the budget: an agent could reach it in time; False without a
    budget), ``within_budget`` (reached in at most ``budget`` steps), ``within_limit``
    (reached before the episode's step limit)."""
    frames = []
    for corner, rows in tables.items():
        limit = -1 if budget is None else budget
        frames.append(
            pd.DataFrame(
                {
                    "seed": rows["seed"].to_numpy(dtype=np.int64),
                    "corner": corner,
                    "shortest": rows["shortest"].to_numpy(dtype=np.int64),
                    "steps": rows["steps"].to_numpy(dtype=np.int64),
                    "counted": rows["shortest"].to_numpy() <= limit,
                    "within_budget": rows["reached_cheese"].to_numpy(bool)
                    & (rows["steps"].to_numpy() <= limit),
                    "within_limit": rows["reached_cheese"].to_numpy(bool),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: [] for c in OUTCOME_COLUMNS})
    return pd.concat(frames, ignore_index=True)[list(OUTCOME_COLUMNS)]


def corner_rates(outcomes: pd.DataFrame) -> dict[str, dict]:
    """Per placement, ``Rate.as_dict()`` of reaching the cheese within the budget (over the
    counted episodes: corners whose shortest path is longer than the budget are left out)
    and within the episode's step limit (over every episode); one episode per maze."""
    rates = {}
    for corner, rows in outcomes.groupby("corner", sort=False):
        counted = rows[rows["counted"].to_numpy(bool)]
        rates[str(corner)] = {
            "within_budget": Rate.of(counted["within_budget"]).as_dict(),
            "within_limit": Rate.of(rows["within_limit"]).as_dict(),
        }
    return rates
