"""The explorer's maze edits as pure functions of plain values, so the page's state is a
little JSON — a level (seed and mode) and the edits made since it was loaded, which is also
the undo history — and every edit is testable without a browser.

A click on a cell does what the edit mode says: move the cheese, move the mouse, toggle a
wall (margin cells only with margin editing on), or pick the cell the channel clamp
targets. An edit the maze refuses raises :class:`~hooked_impala.maze.MazeEditError` with
the maze layer's own message, which the page shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from hooked_impala.maze import Cell, DistributionMode, Maze, MazeEditError, Tile

EditMode = Literal["cheese", "mouse", "wall", "target"]
EDIT_MODES: tuple[str, ...] = get_args(EditMode)
#: One edit: (mode, row, col, margin editing on).
Edit = tuple[str, int, int, bool]


@dataclass(frozen=True)
class Session:
    """A level and the edits made to it, oldest first; the maze is the level with the edits
    replayed (:meth:`replay`), and undo drops the last edit."""

    seed: int
    mode: DistributionMode
    edits: tuple[Edit, ...] = ()

    def to_json(self) -> dict:
        return {"seed": self.seed, "mode": self.mode, "edits": [list(e) for e in self.edits]}

    @classmethod
    def from_json(cls, data: dict) -> Session:
        edits = tuple((str(m), int(r), int(c), bool(g)) for m, r, c, g in data.get("edits", ()))
        return cls(int(data["seed"]), data["mode"], edits)

    def with_edit(self, edit: Edit) -> Session:
        return Session(self.seed, self.mode, (*self.edits, edit))

    def undone(self) -> Session:
        """The session before its last edit (itself if there is none)."""
        return Session(self.seed, self.mode, self.edits[:-1])

    def replay(self, level: Callable[[int, DistributionMode], Maze], start: int = 0,
               maze: Maze | None = None) -> Maze:  # fmt: skip
        """The maze: ``level(seed, mode)`` with the edits applied, or ``maze`` (the result
        of the first ``start`` edits) with the rest applied."""
        maze = level(self.seed, self.mode) if maze is None else maze
        for mode, row, col, margin in self.edits[start:]:
            maze = apply_click(maze, (row, col), mode, margin)
        return maze


def clicked_cell(click: dict | None) -> Cell | None:
    """The world cell ``(row, col)`` of a plotly click on the maze figure (its x is the
    column, y the row, row 0 at the bottom), or None for a click elsewhere."""
    if not click or not click.get("points"):
        return None
    point = click["points"][0]
    if "x" not in point or "y" not in point:
        return None
    return int(round(point["y"])), int(round(point["x"]))


def apply_click(maze: Maze, cell: Cell, mode: EditMode, margin: bool = False) -> Maze:
    """The maze after a click on ``cell`` in edit ``mode`` ("target" edits nothing)."""
    if mode == "cheese":
        return maze.with_cheese(cell)
    if mode == "mouse":
        if maze.tile(cell) == Tile.WALL:
            raise MazeEditError(f"cell {cell} is a wall: the mouse needs an open cell")
        if cell == maze.cheese:
            raise MazeEditError(f"cell {cell} holds the cheese: move the cheese first")
        return maze.with_mouse(cell)
    if mode == "wall":
        if not margin and not maze.in_inner(cell):
            raise MazeEditError(
                f"cell {cell} is in the margin around the maze: turn on margin editing"
            )
        if maze.tile(cell) == Tile.WALL:
            return maze.with_open([cell], margin=margin)
        return maze.with_walls([cell], margin=margin)
    if mode == "target":
        return maze
    raise ValueError(f"edit mode must be one of {EDIT_MODES}, got {mode!r}")
