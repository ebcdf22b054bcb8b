"""Where a choice can be measured: the "free choice" population.

A choice metric (the cheese first, or the top-right region first) says something about the
agent only in a maze where both choices are possible. In some mazes the only path to the
cheese crosses the top-right 5×5 region, so "the cheese before the region" cannot happen
whatever the agent prefers; counting those mazes mistakes geometry for choice (issue 28
found 65 of 221 eligible easy mazes forced, 0 of them "cheese first").

A maze is a **free choice** when

* it has a decision square (the paths to the cheese and to the top-right cell part),
* the cheese lies outside the top-right region, and
* the shortest path from the mouse's start (its spawn cell) to the cheese enters no cell
  of the region. (In procgen's tree mazes this path runs through the decision square, so
  it is the path from the start to the decision square followed by the one from the
  decision square to the cheese: neither part may enter the region.)

Every analysis that reports a choice (behaviour, generalisation) uses this one predicate.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from jaxtyping import Bool

from hooked_impala.maze import TOP_RIGHT_5, Maze, Region, decision_square, path_to_cheese

__all__ = ["FREE_CHOICE", "free_choice", "free_choice_mask"]

#: What the population is, in one sentence, for summaries and claims.
FREE_CHOICE = (
    "free-choice mazes: a decision square, the cheese outside the top-right 5x5 region, and "
    "the shortest path from the start to the cheese not entering the region"
)


def free_choice(maze: Maze, region: Region = TOP_RIGHT_5) -> bool:
    """Whether both "the cheese first" and "the region first" are possible in ``maze``
    (see the module docstring). ``region`` is the top-right square (default 5×5)."""
    if region.corner is None:
        raise ValueError("a free choice needs a corner region, not the whole maze")
    cheese = maze.cheese
    if cheese is None or decision_square(maze) is None:
        return False
    cells = set(region.cells(maze))
    if cheese in cells:
        return False
    path = path_to_cheese(maze)  # from the spawn cell: the layout, not the mouse's place
    return path is not None and not cells.intersection(path)


def free_choice_mask(mazes: Iterable[Maze], region: Region = TOP_RIGHT_5) -> Bool[np.ndarray, " n"]:
    """``(n,)`` :func:`free_choice` of each maze, in order."""
    return np.array([free_choice(m, region) for m in mazes], dtype=bool)
