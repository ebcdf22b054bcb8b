"""What lies under each grid square of a layer in an observation — the maze features a
latent is labelled by — and how well a map (a latent's codes, or a channel) locates the
cheese.

A layer's grid square ``(i, j)`` (row 0 at the image's top) stands for the world cell under
its centre (walls, open cells, paths); an object (cheese, mouse, decision square) is at the
square under the object's centre (``hooked_impala.maze.layer_positions``), as the
retargeting clamps place it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from jaxtyping import Bool, Float, Int

from hooked_impala.maze import (
    Cell,
    Maze,
    Tile,
    decision_square,
    layer_positions,
    path_to_cheese,
    path_to_top_right,
)

#: The features, in the order of the feature axis.
FEATURES = (
    "cheese_here",
    "cheese_nearby",
    "wall",
    "open",
    "on_path_to_cheese",
    "on_path_to_top_right",
    "mouse_here",
    "decision_square",
)
#: "Nearby" and "located": within this many squares (Chebyshev distance) of the cheese's
#: square. A threshold of ours: one square is the slack of the cell → square mapping (a
#: cell can straddle two squares at 16x16, and the 25-cell world maps onto 8 to 32 squares).
NEAR_SQUARES = 1


def centre_cells(world_size: int, layer_size: int) -> Int[np.ndarray, "l l 2"]:
    """The world cell ``(row, col)`` under the centre of each square of a ``layer_size``
    grid (``[i, j]`` indexed as activations are: ``i`` from the image's top)."""
    centre = (2 * np.arange(layer_size) + 1) * world_size // (2 * layer_size)
    rows = world_size - 1 - centre  # image row -> world row (0 at the bottom)
    return np.stack(np.meshgrid(rows, centre, indexing="ij"), axis=-1)


def _square_mask(cells: Sequence[Cell], world: int, size: int, near: int = 0) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    for i, j in layer_positions(list(cells), world, size) if cells else []:
        mask[max(i - near, 0) : i + near + 1, max(j - near, 0) : j + near + 1] = True
    return mask


def position_features(maze: Maze, layer_size: int) -> Bool[np.ndarray, "f l l"]:
    """``FEATURES`` at every square of a ``layer_size`` grid for ``maze`` with the mouse
    where it stands (paths and the decision square from the mouse's cell)."""
    world = maze.world_size
    centres = centre_cells(world, layer_size)
    grid = maze.world_grid
    tiles = grid[centres[..., 0], centres[..., 1]]
    cheese = [] if maze.cheese is None else [maze.cheese]
    to_cheese = set(path_to_cheese(maze, maze.mouse) or [])
    to_top = set(path_to_top_right(maze, maze.mouse) or [])
    square = decision_square(maze, maze.mouse)

    def on(cells: set[Cell]) -> np.ndarray:
        return np.array(
            [[(int(r), int(c)) in cells for r, c in row] for row in centres], dtype=bool
        )

    return np.stack(
        [
            _square_mask(cheese, world, layer_size),
            _square_mask(cheese, world, layer_size, NEAR_SQUARES),
            tiles == Tile.WALL,
            tiles != Tile.WALL,
            on(to_cheese),
            on(to_top),
            _square_mask([maze.mouse], world, layer_size),
            _square_mask([] if square is None else [square], world, layer_size),
        ]
    )


def cheese_squares(mazes: Sequence[Maze], layer_size: int) -> Int[np.ndarray, "n 2"]:
    """The cheese's square in each maze."""
    return np.stack([layer_positions([m.cheese], m.world_size, layer_size)[0] for m in mazes])


def located(
    maps: Float[np.ndarray, "n k l l"], cheese: Int[np.ndarray, "n 2"]
) -> Bool[np.ndarray, "n k"]:
    """Whether each of ``k`` maps of each observation peaks within ``NEAR_SQUARES`` of the
    cheese's square. A map that is nowhere positive locates nothing."""
    n, k, h, w = maps.shape
    flat = maps.reshape(n, k, h * w)
    peak = flat.argmax(-1)
    i, j = np.divmod(peak, w)
    near = (np.abs(i - cheese[:, :1]) <= NEAR_SQUARES) & (np.abs(j - cheese[:, 1:]) <= NEAR_SQUARES)
    return near & (flat.max(-1) > 0)


def cheese_rank(
    maps: Float[np.ndarray, "n k l l"], cheese: Int[np.ndarray, "n 2"]
) -> Float[np.ndarray, "n k"]:
    """How well each map singles out the cheese's square: the fraction of the other squares
    whose value lies below the value at the cheese's square (ties count half). 1: the map
    peaks there alone; 0.5: no better than chance (a map that is constant, e.g. silent)."""
    n, k, h, w = maps.shape
    flat = maps.reshape(n, k, h * w)
    at = flat[np.arange(n), :, cheese[:, 0] * w + cheese[:, 1]][..., None]  # (n, k, 1)
    below = (flat < at).sum(-1)
    ties = (flat == at).sum(-1) - 1  # the cheese's square itself is not another square
    return (below + 0.5 * ties) / (h * w - 1)


class Correlations:
    """Pearson correlations of ``k`` maps with the ``FEATURES``, over every square of every
    observation added (sums accumulated, so observations can come in chunks)."""

    def __init__(self, k: int) -> None:
        f = len(FEATURES)
        self.n = 0
        self.sx, self.sxx = np.zeros(k), np.zeros(k)
        self.sf, self.sff = np.zeros(f), np.zeros(f)
        self.sxf = np.zeros((k, f))

    def add(self, maps: Float[np.ndarray, "n k l l"], features: Bool[np.ndarray, "n f l l"]):
        x = maps.transpose(1, 0, 2, 3).reshape(maps.shape[1], -1).astype(np.float64)
        f = features.transpose(1, 0, 2, 3).reshape(features.shape[1], -1).astype(np.float64)
        self.n += x.shape[1]
        self.sx += x.sum(1)
        self.sxx += (x * x).sum(1)
        self.sf += f.sum(1)
        self.sff += (f * f).sum(1)
        self.sxf += x @ f.T

    def values(self) -> Float[np.ndarray, "k f"]:
        """``(k, F)``; 0 where a map or a feature is constant."""
        n = max(self.n, 1)
        cov = self.sxf / n - np.outer(self.sx / n, self.sf / n)
        sd_x = np.sqrt(np.maximum(self.sxx / n - (self.sx / n) ** 2, 0))
        sd_f = np.sqrt(np.maximum(self.sff / n - (self.sf / n) ** 2, 0))
        denom = np.outer(sd_x, sd_f)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(denom > 1e-12, cov / denom, 0.0)
