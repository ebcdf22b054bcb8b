"""Cheese regions: where a training or evaluation distribution puts the cheese.

A region is written as a short string:

* ``"top-right:5"`` — the inner maze's top-right 5×5 square (Langosco et al.'s
  ``rand_region=5``); likewise ``top-left:k``, ``bottom-right:k``, ``bottom-left:k``;
* ``"anywhere"`` — every open cell of the inner maze.

Squares are clipped to the inner maze when it is smaller than k. The mouse's spawn cell
(bottom-left) is never a cheese cell: the episode would be over before it began.
"""

from __future__ import annotations

import re
import numpy as np

from hooked_impala.maze.maze import Cell, Maze, Tile

CORNERS = ("top-right", "top-left", "bottom-right", "bottom-left")
_SPEC = re.compile(r"^(top-right|top-left|bottom-right|bottom-left):([1-9][0-9]*)$")


def check_region(region: str) -> str:
    """``region`` itself if it is a valid spec; ValueError naming it otherwise."""
    if region == "anywhere" or _SPEC.match(region):
        return region
    raise ValueError(
        f"unknown cheese region {region!r}: use 'anywhere' or '<corner>:<k>' with corner one "
        f"of {', '.join(CORNERS)} (e.g. 'top-right:5')"
    )


def region_cells(maze: Maze, region: str) -> list[Cell]:
    """Open world cells of ``region`` in ``maze`` where the cheese may go, sorted."""
    check_region(region)
    lo, hi = maze.margin, maze.margin + maze.maze_size - 1
    if region == "anywhere":
        rows = cols = range(lo, hi + 1)
    else:
        corner, k = region.split(":")
        size = min(int(k), maze.maze_size)
        rows = range(hi - size + 1, hi + 1) if corner.startswith("top") else range(lo, lo + size)
        cols = range(hi - size + 1, hi + 1) if corner.endswith("right") else range(lo, lo + size)
    grid = maze.world_grid
    return [
        (r, c) for r in rows for c in cols if grid[r, c] != Tile.WALL and (r, c) != maze.start_cell
    ]


def place_cheese(maze: Maze, region: str, rng: np.random.Generator) -> Maze:
    """``maze`` with the cheese on a uniformly drawn cell of ``region`` (mouse at its spawn).

    Raises ValueError naming the maze's seed and size if the region has no open cell
    (possible only for tiny mazes with a one-cell region).
    """
    cells = region_cells(maze, region)
    if not cells:
        raise ValueError(f"cheese region {region!r} has no open cell in maze seed {maze.seed} (size {maze.maze_size})")
    cell = cells[int(rng.integers(len(cells)))]
    return maze.with_mouse(maze.start_cell).with_cheese(cell)

