"""The explorer's maze edits as pure functions of plain values, so the page's state is a
little JSON — a level (seed and mode), the edits made since it was loaded (the undo
history) and the edits undone (the redo history) — and every edit is testable without a
browser.

A click on a cell does what the edit mode says: move the cheese, move the mouse, toggle a
wall (margin cells only with margin editing on), or pick the cell the channel clamp
targets. An edit the maze refuses raises :class:`~hooked_impala.maze.MazeEditError` with
the maze layer's own message, which the page shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from hooked_impala import checks
from hooked_impala.maze import DISTRIBUTION_MODES, Cell, DistributionMode, Maze, MazeEditError, Tile

EditMode = Literal["cheese", "mouse", "wall", "target"]
EDIT_MODES: tuple[str, ...] = get_args(EditMode)
#: One edit: (mode, row, col, margin editing on).
Edit = tuple[str, int, int, bool]


@dataclass(frozen=True)
class Session:
    """A level and the edits made to it, oldest first; the maze is the level with the edits
    replayed (:meth:`replay`). Undo moves the last edit to ``redo`` (latest last), redo
    moves it back, and a new edit clears ``redo``."""

    seed: int
    mode: DistributionMode
    edits: tuple[Edit, ...] = ()
    redo: tuple[Edit, ...] = ()

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "mode": self.mode,
            "edits": [list(e) for e in self.edits],
            "redo": [list(e) for e in self.redo],
        }

    @classmethod
    def from_json(cls, data: Any) -> Session:
        """The session in the page's store; ValueError naming the field when the data is not
        one (the store lives in the browser, so anything can come back)."""
        if not isinstance(data, dict) or not {"seed", "mode"} <= set(data):
            raise ValueError(f"the page's session must hold a seed and a mode, got {data!r}")
        seed = checks.integer("the session's level seed", data["seed"], 0, checks.MAX_SEED)
        if data["mode"] not in DISTRIBUTION_MODES:
            modes = ", ".join(DISTRIBUTION_MODES)
            raise ValueError(f"the session's mode must be one of {modes}, got {data['mode']!r}")
        lists = {}
        for field in ("edits", "redo"):
            lists[field] = data.get(field, [])
            if not isinstance(lists[field], list):
                raise ValueError(f"the session's {field} must be a list, got {lists[field]!r}")
        return cls(
            seed,
            data["mode"],
            tuple(_edit(e) for e in lists["edits"]),
            tuple(_edit(e) for e in lists["redo"]),
        )

    def with_edit(self, edit: Edit) -> Session:
        return Session(self.seed, self.mode, (*self.edits, edit))

    def undone(self) -> Session:
        """The session before its last edit (itself if there is none), which redo restores."""
        if not self.edits:
            return self
        return Session(self.seed, self.mode, self.edits[:-1], (*self.redo, self.edits[-1]))

    def redone(self) -> Session:
        """The session with the last undone edit made again (itself if there is none)."""
        if not self.redo:
            return self
        return Session(self.seed, self.mode, (*self.edits, self.redo[-1]), self.redo[:-1])

    def replay(
        self,
        level: Callable[[int, DistributionMode], Maze],
        start: int = 0,
        maze: Maze | None = None,
    ) -> Maze:
        """The maze: ``level(seed, mode)`` with the edits applied, or ``maze`` (the result
        of the first ``start`` edits) with the rest applied."""
        maze = level(self.seed, self.mode) if maze is None else maze
        for mode, row, col, margin in self.edits[start:]:
            maze = apply_click(maze, (row, col), mode, margin)
        return maze


def _edit(edit: Any) -> Edit:
    """One edit of a stored session, checked: ``[mode, row, col, margin]``."""
    if not isinstance(edit, list | tuple) or len(edit) != 4:
        raise ValueError(f"an edit of the session must be [mode, row, col, margin], got {edit!r}")
    mode, row, col, margin = edit
    if mode not in EDIT_MODES or not isinstance(margin, bool):
        raise ValueError(f"an edit of the session must be [mode, row, col, margin], got {edit!r}")
    return (
        mode,
        checks.integer("an edit's row", row),
        checks.integer("an edit's column", col),
        margin,
    )


def clicked_cell(click: Any) -> Cell | None:
    """The world cell ``(row, col)`` of a click on the maze figure, as the page's click
    listener (``explorer/assets/clicks.js``) stores it: ``{"row", "col", "n"}`` (row 0 at the
    bottom; ``n`` numbers the clicks), or None for anything else."""
    if not isinstance(click, dict):
        return None
    row, col = click.get("row"), click.get("col")
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (row, col)):
        return None
    return int(round(row)), int(round(col))


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
