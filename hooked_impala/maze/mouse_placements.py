"""Observations of one maze with the mouse on many cells, exact and ~10x cheaper.

A vector field needs the same maze rendered with the mouse on every open cell: 336 procgen
renders for a 25×25 maze. Those frames differ only inside the mouse's cell (plus a pixel
of antialiasing around it), so this module renders

* one *background* frame, with the mouse outside the world (procgen requires an agent
  entity, but clips what lies outside the view), and
* a few *multi-mouse* frames: procgen draws every entity of a state, so a state whose
  entity list holds the mouse at many cells at once draws them all in one render. Cells in
  one frame are ≥ 3 rows or columns apart (grouped by ``(row % 3, col % 3)``), so no
  mouse's pixels reach another's patch,

and assembles each observation as the background with that cell's patch taken from its
multi-mouse frame. ``tests/test_mouse_placements.py`` checks the result against one procgen render
per cell, pixel for pixel, in both modes and with both sprite orientations.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np
from jaxtyping import UInt8

from hooked_impala.maze.maze import Maze
from hooked_impala.maze.render import OBS_SHAPE, MazeRenderer
from hooked_impala.maze.state import state_fields

Cell = tuple[int, int]

_ENTITY_BYTES = 31 * 4  # 31 four-byte fields per entity
_SPACING = 3  # cells sharing a frame differ by a multiple of this in row and column
_OFF_WORLD = -8.0  # a mouse centre this far outside the world is not drawn


class _EntityLayout:
    """Byte layout around the entity list of one state: prefix, mouse record, suffix."""

    def __init__(self, state: bytes) -> None:
        fields = {f.name: f for f in state_fields(state)}
        count = fields["entities.count"]
        first = fields["entities[0].x"].offset
        end = first + _ENTITY_BYTES * count.value
        players = [e for e in range(count.value) if fields[f"entities[{e}].type"].value == 0]
        mouse = fields[f"entities[{players[0]}].x"].offset
        self.prefix = state[: count.offset]
        self.others = state[first:mouse] + state[mouse + _ENTITY_BYTES : end]
        self.mouse_tail = state[mouse + 8 : mouse + _ENTITY_BYTES]  # all but x, y
        self.reflected_at = fields[f"entities[{players[0]}].is_reflected"].offset - mouse - 8
        self.suffix = state[end:]
        self.others_count = count.value - 1
        self.world_dim = int(fields["world_dim"].value)

    def with_mice(self, centres: Sequence[tuple[float, float]], reflected: int | None) -> bytes:
        tail = self.mouse_tail
        if reflected is not None:
            at = self.reflected_at
            tail = tail[:at] + struct.pack("<i", reflected) + tail[at + 4 :]
        mice = b"".join(struct.pack("<ff", x, y) + tail for x, y in centres)
        count = struct.pack("<i", len(centres) + self.others_count)
        return self.prefix + count + mice + self.others + self.suffix


def _patch(cell: Cell, world_dim: int) -> tuple[slice, slice]:
    """Image rows and columns a mouse on ``cell`` can touch (its cell ± 1 pixel)."""
    row, col = cell
    size = OBS_SHAPE[0] / world_dim
    top = (world_dim - 1 - row) * size  # image row 0 is the top; grid row 0 the bottom
    left = col * size
    rows = slice(max(math.floor(top) - 1, 0), min(math.ceil(top + size) + 1, OBS_SHAPE[0]))
    cols = slice(max(math.floor(left) - 1, 0), min(math.ceil(left + size) + 1, OBS_SHAPE[1]))
    return rows, cols


def observe_mouse_on_cells(
    state: bytes,
    cells: Sequence[Cell],
    renderer: MazeRenderer,
    reflected: bool | None = None,
) -> UInt8[np.ndarray, "n 64 64 3"]:
    """Observations of the maze in ``state`` with the mouse on each of ``cells``.

    Args:
        state: procgen maze state bytes (``Maze.to_state()``).
        cells: ``(row, col)`` world cells, row 0 at the bottom; the caller checks they
            are open.
        renderer: the procgen renderer to use (reused across calls).
        reflected: the mouse sprite's orientation; None keeps the state's.

    Returns:
        ``(len(cells), 64, 64, 3)`` uint8, equal to procgen's render of each placement.
    """
    layout = _EntityLayout(state)
    flag = None if reflected is None else int(reflected)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (row, col) in enumerate(cells):
        groups.setdefault((row % _SPACING, col % _SPACING), []).append(i)
    frames = [layout.with_mice([(_OFF_WORLD, _OFF_WORLD)], flag)]
    frames += [
        layout.with_mice([(cells[i][1] + 0.5, cells[i][0] + 0.5) for i in members], flag)
        for members in groups.values()
    ]
    # Built from a parsed state, so well-formed; MazeState.parse would refuse the extra mice.
    rendered = renderer.observe_states_unchecked(frames)
    background, multi = rendered[0], rendered[1:]
    out = np.broadcast_to(background, (len(cells), *OBS_SHAPE)).copy()
    for frame, members in zip(multi, groups.values()):
        for i in members:
            rows, cols = _patch(cells[i], layout.world_dim)
            out[i, rows, cols] = frame[rows, cols]
    return out


def maze_background(
    maze: Maze, renderer: MazeRenderer | None = None
) -> UInt8[np.ndarray, "64 64 3"]:
    """procgen's 64x64 rendering of ``maze`` without the mouse (cheese and walls as seen).

    The same frame ``observe_mouse_on_cells`` builds every observation on: the mouse is
    moved outside the world, where procgen clips it (it needs an agent entity to render).
    """
    state = _EntityLayout(maze.to_state()).with_mice([(_OFF_WORLD, _OFF_WORLD)], None)
    if renderer is not None:
        return renderer.observe_states_unchecked([state])[0]
    with MazeRenderer() as tmp:
        return tmp.observe_states_unchecked([state])[0]
