"""Where a maze cell lands in the observation and in a layer's spatial grid.

procgen draws the whole ``world_size × world_size`` world onto the 64×64 observation, so a
cell is ``64 / world_size`` pixels wide (4.27 in easy mode, 2.56 in hard). A convolutional
layer's ``size × size`` grid covers the same 64×64 image (32, 16 and 8 after the three
max-pools), image row 0 at the top. A cell's position in a layer is the grid square that
holds the cell's centre pixel: in hard mode the 25×25 world maps onto block 2's 16×16 grid,
so some grid squares hold two cells' centres and some none.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .maze import Cell
from .render import OBS_SHAPE

__all__ = ["layer_position", "layer_positions"]


def layer_positions(cells: Sequence[Cell], world_size: int, layer_size: int) -> np.ndarray:
    """``(n, 2)`` int64 ``(i, j)`` grid squares of a ``layer_size``-square layer holding the
    centres of world ``cells`` (``(row, col)``, row 0 at the bottom); ``i`` counts from the
    image's top, as activations do."""
    if not (isinstance(world_size, int) and world_size >= 1):
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    if not (isinstance(layer_size, int) and 1 <= layer_size <= OBS_SHAPE[0]):
        raise ValueError(f"layer_size must be an int in 1..{OBS_SHAPE[0]}, got {layer_size!r}")
    rc = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    outside = (rc < 0) | (rc >= world_size)
    if outside.any():
        bad = tuple(int(v) for v in rc[np.argwhere(outside)[0][0]])
        raise ValueError(f"cell {bad} is outside the {world_size}x{world_size} world")
    # Centre of the cell in pixels (image row 0 at the top), then the grid square under it.
    # Exact integer arithmetic: floor(((w-1-row) + 1/2) * 64/w * size/64).
    image_row = world_size - 1 - rc[:, 0]
    i = ((2 * image_row + 1) * layer_size) // (2 * world_size)
    j = ((2 * rc[:, 1] + 1) * layer_size) // (2 * world_size)
    return np.stack([i, j], axis=1)


def layer_position(cell: Cell, world_size: int, layer_size: int) -> tuple[int, int]:
    """The ``(i, j)`` grid square of a ``layer_size``-square layer under ``cell``'s centre."""
    i, j = layer_positions([cell], world_size, layer_size)[0]
    return int(i), int(j)
