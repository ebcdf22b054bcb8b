"""Edits of a maze: each returns a new :class:`~hooked_impala.maze.Maze` (mazes are
immutable); an invalid edit raises :class:`MazeEditError` naming the cell.

The *margin* (the wall cells between the inner maze and the world's edge) is walls in every
level procgen generates. Edits refuse margin cells unless asked with ``margin=True``: the
paper's top-right vector opens a path through it (:meth:`MazeEdits.with_top_right_path`), and
procgen renders and plays such states like any other. The cheese stays in the inner maze.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from hooked_impala.maze.cells import Cell, MazeEditError, Tile, as_cell

#: The maze class the edits return (``Maze``).
M = TypeVar("M", bound="MazeEdits")


class MazeEdits:
    """The edit methods of :class:`~hooked_impala.maze.Maze`, which provides the state
    (``_state``), what the edits read (``mouse``, ``cheese``, ``top_right_cell``,
    ``world_size``), the cell checks and ``_edited``, the re-checked copy."""

    __slots__ = ()

    def with_mouse(self: M, cell: Cell, reflected: bool | None = None) -> M:
        """The mouse moved to ``cell`` (an open cell, not the cheese's).

        ``reflected``: the sprite flag (True = facing right); None keeps the current one.
        """
        cell = as_cell(cell, "mouse cell")
        self._check_in_world(cell, "mouse cell")
        flag = self._state.mouse_is_reflected if reflected is None else int(bool(reflected))
        state = self._state.replace(
            mouse_x=cell[1] + 0.5, mouse_y=cell[0] + 0.5, mouse_is_reflected=flag
        )
        return self._edited(self, state, grid_changed=False)

    def with_cheese(self: M, cell: Cell) -> M:
        """The cheese moved to ``cell`` (an open cell of the inner maze, not the mouse's)."""
        cell = as_cell(cell, "cheese cell")
        self._check_in_inner(cell, "cheese cell")
        if self._state.grid[cell] == Tile.WALL:
            raise MazeEditError(f"cheese cell {cell} is a wall")
        if cell == self.mouse:
            raise MazeEditError(f"cheese cell {cell} is the mouse's cell")
        grid = self._state.grid.copy()
        grid[grid == Tile.CHEESE] = Tile.OPEN
        grid[cell] = Tile.CHEESE
        return self._edited(self, self._state.replace(grid=grid), grid_changed=True)

    def without_cheese(self: M) -> M:
        """The cheese removed (its cell becomes open); self if there is none."""
        if self.cheese is None:
            return self
        grid = self._state.grid.copy()
        grid[grid == Tile.CHEESE] = Tile.OPEN
        return self._edited(self, self._state.replace(grid=grid), grid_changed=True)

    def with_tiles(self: M, tiles: Mapping[Cell, Tile | int], *, margin: bool = False) -> M:
        """Cells set to Tile.OPEN or Tile.WALL: cells of the inner maze, or of the whole
        world with ``margin=True``.

        The mouse's cell cannot be walled and the cheese's cell cannot be changed (use
        with_cheese / without_cheese); CHEESE is not accepted here.
        """
        grid = self._state.grid.copy()
        mouse, cheese = self.mouse, self.cheese
        for raw_cell, value in tiles.items():
            cell = as_cell(raw_cell)
            if margin:
                self._check_in_world(cell, "cell")
            else:
                self._check_in_inner(cell, "cell")
            if value not in (Tile.OPEN, Tile.WALL):
                raise MazeEditError(
                    f"cell {cell}: with_tiles sets OPEN or WALL only, got {value!r} "
                    "(use with_cheese for the cheese)"
                )
            if cell == cheese:
                raise MazeEditError(
                    f"cell {cell} holds the cheese; use with_cheese / without_cheese"
                )
            if cell == mouse and value == Tile.WALL:
                raise MazeEditError(f"cell {cell} is the mouse's cell; cannot wall it")
            grid[cell] = int(value)
        return self._edited(self, self._state.replace(grid=grid), grid_changed=True)

    def with_walls(self: M, cells: Iterable[Cell], *, margin: bool = False) -> M:
        """``cells`` (of the inner maze; of the world with ``margin=True``) made walls."""
        return self.with_tiles({as_cell(c): Tile.WALL for c in cells}, margin=margin)

    def with_open(self: M, cells: Iterable[Cell], *, margin: bool = False) -> M:
        """``cells`` (of the inner maze; of the world with ``margin=True``) opened."""
        return self.with_tiles({as_cell(c): Tile.OPEN for c in cells}, margin=margin)

    def with_top_right_path(self: M) -> M:
        """The paper's top-right maze: an L-shaped path opened through the margin, from the
        cell above the inner maze's top-right cell straight up to the world's top row, then
        right along it to the world's top-right corner. Unchanged if there is no margin.

        Activations of this maze minus the maze's are the *top-right vector*.
        """
        top, last = self.top_right_cell[0], self.world_size - 1
        if top == last:
            return self
        up = [(row, top) for row in range(top + 1, last + 1)]
        along = [(last, col) for col in range(top + 1, last + 1)]
        return self.with_open(up + along, margin=True)
