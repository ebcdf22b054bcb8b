"""Hand-drawn mazes for tests: ASCII art (top row first, as on screen) to grids and Mazes."""

from __future__ import annotations

import numpy as np

from hooked_impala.maze import Maze, Tile


def inner_grid(art: str) -> np.ndarray:
    """ASCII art (top row first) -> grid[row, col] with row 0 at the bottom.
    ``.``/``S`` open, ``#`` wall, ``C`` cheese."""
    codes = {".": Tile.OPEN, "S": Tile.OPEN, "#": Tile.WALL, "C": Tile.CHEESE}
    rows = [[int(codes[ch]) for ch in line.split()] for line in art.strip().splitlines()]
    return np.array(rows[::-1], dtype=np.int32)


def embed(art: str, template: Maze) -> Maze:
    """The drawn inner maze centred in ``template``'s world, walls around it."""
    inner = inner_grid(art)
    w = template.world_size
    m = (w - inner.shape[0]) // 2
    world = np.full((w, w), int(Tile.WALL), dtype=np.int32)
    world[m : m + inner.shape[0], m : m + inner.shape[0]] = inner
    return Maze.from_grid(world, distribution_mode=template.distribution_mode, template=template)
