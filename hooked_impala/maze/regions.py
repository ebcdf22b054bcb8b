"""Regions of the inner maze: where a training or evaluation distribution puts the cheese,
and where "the top right" is.

A ``Region`` is a value: a corner square (``Region("top-right", 5)``, Langosco et al.'s
``rand_region=5``) or the whole inner maze (``ANYWHERE``). Its command-line form is
``"top-right:5"`` / ``"anywhere"`` (``Region.parse`` and ``str(region)`` convert).
Squares are clipped to the inner maze when it is smaller than k.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from hooked_impala.maze.maze import Cell, Maze, Tile, mazes_from_seeds
from hooked_impala.maze.render import DistributionMode, MazeRenderer

Corner = Literal["top-right", "top-left", "bottom-right", "bottom-left"]
CORNERS: tuple[str, ...] = get_args(Corner)


@dataclass(frozen=True)
class Region:
    """A ``size`` × ``size`` corner square of the inner maze, or (``corner=None``) all of it."""

    corner: Corner | None
    size: int | None = None

    def __post_init__(self) -> None:
        if self.corner is None:
            if self.size is not None:
                raise ValueError(f"the whole-maze region takes no size, got {self.size!r}")
            return
        if self.corner not in CORNERS:
            raise ValueError(f"unknown corner {self.corner!r}; corners: {', '.join(CORNERS)}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"a corner region needs a size >= 1, got {self.size!r}")

    @classmethod
    def parse(cls, text: str) -> Region:
        """``"top-right:5"`` or ``"anywhere"``; ValueError naming the text otherwise."""
        corner, _, size = text.partition(":")
        if text == "anywhere":
            return ANYWHERE
        if corner in CORNERS and size.isdigit() and int(size) >= 1:
            return cls(corner, int(size))  # type: ignore[arg-type]
        raise ValueError(
            f"unknown region {text!r}: use 'anywhere' or '<corner>:<k>' with corner one of "
            f"{', '.join(CORNERS)} and k >= 1 (e.g. 'top-right:5')"
        )

    def __str__(self) -> str:
        return "anywhere" if self.corner is None else f"{self.corner}:{self.size}"

    def cells(self, maze: Maze) -> list[Cell]:
        """Every world cell of the region (walls included), sorted by (row, col)."""
        lo, hi = maze.margin, maze.margin + maze.maze_size - 1
        if self.corner is None:
            rows = cols = range(lo, hi + 1)
        else:
            size = min(self.size, maze.maze_size)
            rows = (
                range(hi - size + 1, hi + 1)
                if self.corner.startswith("top")
                else range(lo, lo + size)
            )
            cols = (
                range(hi - size + 1, hi + 1)
                if self.corner.endswith("right")
                else range(lo, lo + size)
            )
        return [(r, c) for r in rows for c in cols]

    def covers_maze(self, maze: Maze) -> bool:
        """True when the region is the whole inner maze (a small maze, or ``ANYWHERE``):
        then "entered the region" says nothing about where the mouse went."""
        return self.corner is None or self.size >= maze.maze_size

    def cheese_cells(self, maze: Maze) -> list[Cell]:
        """Open cells of the region where the cheese may go: not walls, not the mouse's
        spawn cell (the episode would be over before it began)."""
        grid = maze.world_grid
        return [c for c in self.cells(maze) if grid[c] != Tile.WALL and c != maze.start_cell]


ANYWHERE = Region(None)
TOP_RIGHT_5 = Region("top-right", 5)  # the training region of the paper's network


def place_cheese(maze: Maze, region: Region, rng: np.random.Generator) -> Maze:
    """``maze`` with the cheese on a uniformly drawn cell of ``region`` (mouse at its spawn).

    Raises ValueError naming the maze's seed and size if the region has no open cell
    (possible only for tiny mazes with a one-cell region).
    """
    cells = region.cheese_cells(maze)
    if not cells:
        raise ValueError(
            f"cheese region {str(region)!r} has no open cell in maze seed {maze.seed} "
            f"(size {maze.maze_size})"
        )
    cell = cells[int(rng.integers(len(cells)))]
    return maze.with_mouse(maze.start_cell).with_cheese(cell)


def heldout_mazes(
    distribution_mode: DistributionMode,
    region: Region,
    n_mazes: int,
    first_seed: int = 0,
    seed: int = 0,
    renderer: MazeRenderer | None = None,
) -> list[Maze]:
    """Levels ``first_seed .. first_seed + n_mazes - 1`` with the cheese placed in ``region``
    (a seeded draw per maze, :func:`place_cheese`): the evaluation sets of held-out mazes."""
    for name, value, least in (("n_mazes", n_mazes, 1), ("first_seed", first_seed, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be >= {least} (a whole number), got {value!r}")
    rng = np.random.default_rng([seed, first_seed, n_mazes])
    seeds = range(first_seed, first_seed + n_mazes)
    return [
        place_cheese(m, region, rng) for m in mazes_from_seeds(seeds, distribution_mode, renderer)
    ]
