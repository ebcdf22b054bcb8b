"""A maze from a grid of tiles (drawn by hand, or computed), built on a template level's
procgen state: :meth:`FromGrid.from_grid`, a constructor of
:class:`~hooked_impala.maze.Maze`."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from .cells import WALL, WORLD_SIZES, Cell, MazeEditError, Tile, as_cell
from .render import DEFAULT_MODE, DistributionMode, MazeRenderer, mode_code

#: The maze class built (``Maze``).
M = TypeVar("M", bound="FromGrid")


class FromGrid:
    """``Maze.from_grid``; the class provides its constructor, ``from_seed``, the state
    (``_state``) and the geometry the margin check reads."""

    __slots__ = ()

    @classmethod
    def from_grid(
        cls: type[M],
        grid: Any,
        mouse: Cell | None = None,
        distribution_mode: DistributionMode | None = None,
        *,
        maze_size: int | None = None,
        reflected: bool = False,
        template: M | None = None,
        renderer: MazeRenderer | None = None,
        margin: bool = False,
    ) -> M:
        """A maze with the given world grid, built on a template state.

        Args:
            grid: ``(world_size, world_size)`` array of Tile codes, ``grid[row, col]``,
                row 0 = bottom. At most one CHEESE; cells outside the inner maze must
                be walls unless ``margin=True``.
            mouse: the mouse cell; default the inner maze's bottom-left start cell.
            distribution_mode: "easy" (15x15 world) or "hard" (25x25); default: the mode
                whose world size the grid has.
            maze_size: inner maze side (odd); default the smallest centred odd box
                (at least 3) that holds every non-wall cell.
            reflected: the mouse's is_reflected flag (True = facing right).
            template: a Maze of the same mode supplying everything but grid and mouse
                (background, RNG state, level seed); default the level of seed 0.
            renderer: used to generate the default template.
            margin: allow open cells outside the inner maze (``maze_size`` is then
                required: it cannot be inferred from the open cells).
        """
        arr = np.asarray(grid)
        if distribution_mode is None:
            by_size = {size: mode for mode, size in WORLD_SIZES.items()}
            distribution_mode = by_size.get(arr.shape[0] if arr.ndim == 2 else -1, DEFAULT_MODE)
        code = mode_code(distribution_mode)
        w = WORLD_SIZES[distribution_mode]
        if arr.shape != (w, w):
            raise MazeEditError(
                f"grid shape {arr.shape} does not match the {w}x{w} world of "
                f"distribution_mode {distribution_mode!r}"
            )
        if not np.issubdtype(arr.dtype, np.integer):
            raise MazeEditError(f"grid must hold integer Tile codes, got dtype {arr.dtype}")
        if maze_size is None:
            if margin:
                raise MazeEditError("from_grid(margin=True) needs maze_size")
            maze_size = _infer_maze_size(arr)
        if template is None:
            template = cls.from_seed(0, distribution_mode, renderer)
        elif template._state.distribution_mode != code:
            raise MazeEditError(
                f"template is a {template.distribution_mode!r} maze, not {distribution_mode!r}"
            )
        pad = (w - maze_size) // 2
        mouse = (pad, pad) if mouse is None else as_cell(mouse, "mouse cell")
        state = template._state.replace(
            grid=arr,
            maze_dim=int(maze_size),
            mouse_x=mouse[1] + 0.5,
            mouse_y=mouse[0] + 0.5,
            mouse_is_reflected=int(bool(reflected)),
            reward=0.0,
            done=1,
            level_complete=0,
            cur_time=0,
        )
        maze = cls(state)
        if not margin:
            maze._refuse_open_margin()
        return maze

    def _refuse_open_margin(self) -> None:
        outside = np.ones_like(self.world_grid, dtype=bool)
        outside[self.inner_slices] = False
        opened = outside & (self.world_grid != WALL)
        if opened.any():
            r, c = map(int, np.argwhere(opened)[0])
            k = self.maze_size
            raise MazeEditError(
                f"cell {(r, c)} outside the inner {k}x{k} maze is not a wall "
                "(pass margin=True to open margin cells)"
            )


def _infer_maze_size(grid: np.ndarray) -> int:
    """Smallest odd centred box (>= 3) holding every non-wall cell of an odd square grid."""
    cells = np.argwhere(grid != Tile.WALL)
    if len(cells) == 0:
        raise MazeEditError("grid has no open cell")
    centre = (grid.shape[0] - 1) // 2  # world sizes (15, 25) are odd
    reach = int(np.abs(cells - centre).max())
    return max(3, 2 * reach + 1)
