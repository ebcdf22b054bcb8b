"""The oracle: the shortest-path movement toward the cheese from any open cell.

One breadth-first search from the cheese gives every cell's distance; the oracle's move
from a cell is to the neighbour one step closer. procgen's mazes are trees, so that
neighbour is unique; after edits that open loops, ties are broken in the fixed order UP,
DOWN, LEFT, RIGHT (``geometry.NEIGHBOUR_ORDER``), so labels never flicker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hooked_impala.actions import Movement
from hooked_impala.maze.geometry import NEIGHBOUR_ORDER, distance_map
from hooked_impala.maze.maze import Cell, Maze


def oracle_movements(maze: Maze, cells: Sequence[Cell]) -> list[Movement]:
    """The movement toward ``maze.cheese`` from each cell (open cells, not the cheese's).

    Raises ValueError naming the cell when there is no cheese, a cell is the cheese's, a
    wall, or cut off from the cheese.
    """
    if maze.cheese is None:
        raise ValueError(f"maze seed {maze.seed} has no cheese: no oracle labels")
    dist = distance_map(maze.world_grid, maze.cheese)
    labels = []
    for cell in cells:
        row, col = cell
        here = dist[row, col]
        if here <= 0:
            why = "the cheese's cell" if here == 0 else "a wall or cut off from the cheese"
            raise ValueError(
                f"no oracle move from cell {tuple(cell)} in maze seed {maze.seed}: {why}"
            )
        for d_row, d_col in NEIGHBOUR_ORDER:
            r, c = row + d_row, col + d_col
            if 0 <= r < dist.shape[0] and 0 <= c < dist.shape[1] and dist[r, c] == here - 1:
                labels.append(Movement.between((row, col), (r, c)))
                break
    return labels


def oracle_label_array(maze: Maze, cells: Sequence[Cell]) -> np.ndarray:
    """``oracle_movements`` as an int64 array of ``Movement`` values."""
    return np.asarray([int(m) for m in oracle_movements(maze, cells)], dtype=np.int64)
