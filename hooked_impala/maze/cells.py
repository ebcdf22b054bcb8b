"""Cells and tiles: the vocabulary of the maze layer.

Coordinate convention (used everywhere in ``hooked_impala.maze``)
------------------------------------------------------------------
A *cell* is a tuple ``(row, col)`` of ints in **world** coordinates:

* ``row`` 0 is the **bottom** row of the rendered image (procgen's own grid
  convention; the UP action increases ``row``), ``col`` 0 is the left column;
* grids are numpy arrays indexed ``grid[row, col]`` in that convention, so the image
  shows ``np.flipud(grid)``;
* the world is ``world_size x world_size`` (15 in "easy", 25 in "hard"); the maze
  proper ("inner maze", ``maze_size x maze_size``, odd) is centred in it with
  ``margin = (world_size - maze_size) // 2`` wall cells on every side, so the inner
  maze covers rows and cols ``margin .. margin + maze_size - 1``;
* *inner* coordinates are world coordinates minus ``margin`` (``to_inner`` /
  ``to_world``); ``inner_grid`` is indexed by them.

The mouse entity sits at ``x = col + 0.5, y = row + 0.5``. Its ``is_reflected`` flag
mirrors the sprite: procgen sets it after a RIGHT move (the mouse faces right) and
clears it after a LEFT move (the plain sprite faces left).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np

__all__ = ["WORLD_SIZES", "Cell", "MazeEditError", "Tile", "as_cell"]

Cell = tuple[int, int]

#: World side (cells) of each distribution mode.
WORLD_SIZES = {"easy": 15, "hard": 25}


class Tile(IntEnum):
    """procgen's grid codes for the maze game."""

    OPEN = 100
    WALL = 51
    CHEESE = 2


TILE_CODES = np.array(sorted(int(t) for t in Tile), dtype=np.int32)
# Plain ints for hot paths: comparing numpy values with an IntEnum member is ~10x slower
# (numpy probes the enum for array protocols on every comparison).
OPEN, WALL, CHEESE = int(Tile.OPEN), int(Tile.WALL), int(Tile.CHEESE)


class MazeEditError(ValueError):
    """An edit (or a grid) that does not describe a valid maze; names the cell or shape."""


def as_cell(cell: Any, what: str = "cell") -> Cell:
    """``(row, col)`` as Python ints; MazeEditError for anything else."""
    try:
        row, col = cell
        if any(isinstance(v, (bool, np.bool_)) for v in (row, col)):
            raise TypeError
        if not all(isinstance(v, (int, np.integer)) for v in (row, col)):
            raise TypeError
    except (TypeError, ValueError):
        raise MazeEditError(f"{what} must be a (row, col) pair of ints, got {cell!r}") from None
    return int(row), int(col)
