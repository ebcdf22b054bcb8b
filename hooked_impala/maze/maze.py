"""The :class:`Maze` value object: a procgen maze level you can inspect and edit.

Cells are world ``(row, col)`` with row 0 at the bottom of the image (the convention of the
whole maze layer: :mod:`hooked_impala.maze.cells`). Mazes are immutable; every edit returns
a new Maze (:mod:`hooked_impala.maze.edits`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .cells import CHEESE, TILE_CODES, WALL, WORLD_SIZES, Cell, MazeEditError, Tile, as_cell
from .edits import MazeEdits
from .from_grid import FromGrid
from .render import (
    DEFAULT_MODE,
    DISTRIBUTION_MODES,
    DistributionMode,
    MazeRenderer,
    check_seed,
)
from .state import MazeState, MazeStateError

__all__ = ["Tile", "Cell", "Maze", "MazeEditError", "mazes_from_seeds", "WORLD_SIZES"]

_MODE_NAMES = {code: name for name, code in DISTRIBUTION_MODES.items()}


class Maze(FromGrid, MazeEdits):
    """A procgen maze level (grid, mouse, cheese) backed by its exact procgen state.

    Build with :meth:`from_seed`, :func:`mazes_from_seeds`, :meth:`from_state` or
    :meth:`from_grid`; serialise with :meth:`to_state`. See the module docstring for
    the ``(row, col)`` world-coordinate convention.
    """

    __slots__ = ("_state", "_mode")

    def __init__(self, state: MazeState) -> None:
        """Wrap a parsed state, validating it (MazeEditError when it is not a maze)."""
        if not isinstance(state, MazeState):
            raise TypeError(f"Maze() takes a MazeState, got {type(state).__name__}")
        mode = _MODE_NAMES.get(state.distribution_mode)
        if mode is None:
            raise MazeEditError(
                f"distribution_mode {state.distribution_mode} is not supported "
                f"(only {sorted(DISTRIBUTION_MODES)})"
            )
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "_mode", mode)
        self._check_grid()
        self._check_mouse()

    @classmethod
    def _edited(cls, base: Maze, state: MazeState, grid_changed: bool) -> Maze:
        """A new Maze from an edited state, re-checking only what the edit touched
        (keeps per-edit cost low for vector fields that move the mouse hundreds of times)."""
        new = cls.__new__(cls)
        object.__setattr__(new, "_state", state)
        object.__setattr__(new, "_mode", base._mode)
        if grid_changed:
            new._check_grid()
        new._check_mouse()
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Maze is immutable; use the with_* methods (tried to set {name!r})")

    # ---------------------------------------------------------------- validation
    def _check_grid(self) -> None:
        s, w = self._state, self._state.world_dim
        if w != WORLD_SIZES[self._mode]:
            raise MazeEditError(
                f"world size {w} does not match distribution_mode {self._mode!r} "
                f"({WORLD_SIZES[self._mode]})"
            )
        k = s.maze_dim
        if not (3 <= k <= w and k % 2 == 1):
            raise MazeEditError(f"maze_size {k} must be odd and in 3..{w}")
        grid = s.grid
        bad = ~np.isin(grid, TILE_CODES)
        if bad.any():
            r, c = map(int, np.argwhere(bad)[0])
            raise MazeEditError(f"cell {(r, c)} holds {int(grid[r, c])}, not a Tile code")
        outside = np.ones_like(grid, dtype=bool)
        outside[self.inner_slices] = False
        margin_cheese = outside & (grid == CHEESE)
        if margin_cheese.any():
            r, c = map(int, np.argwhere(margin_cheese)[0])
            raise MazeEditError(f"cheese cell {(r, c)} is outside the inner {k}x{k} maze")
        if np.count_nonzero(grid == Tile.CHEESE) > 1:
            cells = [tuple(map(int, rc)) for rc in np.argwhere(grid == Tile.CHEESE)]
            raise MazeEditError(f"more than one cheese: cells {cells}")

    def _check_mouse(self) -> None:
        s = self._state
        col, row = float(s.mouse_x) - 0.5, float(s.mouse_y) - 0.5
        if not (col.is_integer() and row.is_integer()):
            raise MazeEditError(f"mouse at x={s.mouse_x}, y={s.mouse_y} is not at a cell centre")
        cell = (int(row), int(col))
        self._check_in_world(cell, "mouse cell")
        tile = int(s.grid[cell])
        if tile == WALL:
            raise MazeEditError(f"mouse cell {cell} is a wall")
        if tile == CHEESE:
            raise MazeEditError(f"mouse cell {cell} holds the cheese")

    def _check_in_world(self, cell: Cell, what: str) -> None:
        w = self.world_size
        if not (0 <= cell[0] < w and 0 <= cell[1] < w):
            raise MazeEditError(f"{what} {cell} is outside the {w}x{w} world")

    def _check_in_inner(self, cell: Cell, what: str) -> None:
        self._check_in_world(cell, what)
        if not self.in_inner(cell):
            lo, hi = self.margin, self.margin + self.maze_size - 1
            raise MazeEditError(
                f"{what} {cell} is outside the inner maze (rows and cols {lo}..{hi})"
            )

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_state(cls, data: bytes) -> Maze:
        """Parse ``get_state`` bytes. MazeStateError if malformed or not a valid maze."""
        state = MazeState.parse(data)
        try:
            return cls(state)
        except MazeEditError as e:
            raise MazeStateError(f"state is not a valid maze: {e}") from None

    @classmethod
    def from_seed(
        cls,
        seed: int,
        distribution_mode: DistributionMode = DEFAULT_MODE,
        renderer: MazeRenderer | None = None,
    ) -> Maze:
        """The level procgen generates for ``seed`` (its first frame, mouse at start).

        Pass a :class:`MazeRenderer` to reuse its env; otherwise a temporary one is made.
        """
        return mazes_from_seeds([seed], distribution_mode, renderer)[0]

    # ---------------------------------------------------------------- serialisation
    @property
    def state(self) -> MazeState:
        """The parsed procgen state behind this maze."""
        return self._state

    def to_state(self) -> bytes:
        """Bytes for procgen's ``set_state`` (byte-identical to the source if unedited)."""
        return self._state.to_bytes()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Maze):
            return NotImplemented
        return self._state == other._state

    def __hash__(self) -> int:
        return hash(self._state)

    def __reduce__(self) -> tuple:
        # Pickle (and copy) as the state bytes: compact, and re-validated on load. Through a
        # module-level function, which cloudpickle (Ray) pickles by reference even when the
        # function is wrapped (the tests' beartype wrapper holds weakrefs, unpicklable).
        return _maze_from_state, (self.to_state(),)

    def __repr__(self) -> str:
        return (
            f"Maze({self._mode}, seed={self.seed}, size={self.maze_size}, "
            f"mouse={self.mouse}, cheese={self.cheese})"
        )

    def to_ascii(self, inner: bool = True) -> str:
        """Text picture, top row first: ``#`` wall, ``.`` open, ``C`` cheese, ``M`` mouse."""
        chars = {int(Tile.WALL): "#", int(Tile.OPEN): ".", int(Tile.CHEESE): "C"}
        rows = [[chars[int(v)] for v in row] for row in self._state.grid]
        r, c = self.mouse
        rows[r][c] = "M"
        if inner:
            sl = self.inner_slices
            rows = [row[sl[1]] for row in rows[sl[0]]]
        return "\n".join("".join(row) for row in reversed(rows))

    # ---------------------------------------------------------------- geometry of the box
    @property
    def distribution_mode(self) -> DistributionMode:
        """ "easy" or "hard"."""
        return self._mode

    @property
    def seed(self) -> int:
        """procgen's level seed (current_level_seed) of the state."""
        return self._state.level_seed

    @property
    def world_size(self) -> int:
        return self._state.world_dim

    @property
    def maze_size(self) -> int:
        """Side of the inner maze (procgen's maze_dim; odd, 3..world_size)."""
        return self._state.maze_dim

    @property
    def margin(self) -> int:
        """Wall cells between the world edge and the inner maze, on each side."""
        return (self.world_size - self.maze_size) // 2

    @property
    def inner_slices(self) -> tuple[slice, slice]:
        """``world_grid[maze.inner_slices]`` is the inner maze."""
        sl = slice(self.margin, self.margin + self.maze_size)
        return sl, sl

    def in_inner(self, cell: Cell) -> bool:
        lo, hi = self.margin, self.margin + self.maze_size
        return lo <= cell[0] < hi and lo <= cell[1] < hi

    def to_inner(self, cell: Cell) -> Cell:
        """World cell -> inner-maze cell (MazeEditError if outside the inner maze)."""
        cell = as_cell(cell)
        self._check_in_inner(cell, "cell")
        return cell[0] - self.margin, cell[1] - self.margin

    def to_world(self, inner_cell: Cell) -> Cell:
        """Inner-maze cell -> world cell."""
        r, c = as_cell(inner_cell, "inner cell")
        if not (0 <= r < self.maze_size and 0 <= c < self.maze_size):
            raise MazeEditError(
                f"inner cell {(r, c)} is outside the {self.maze_size}x{self.maze_size} maze"
            )
        return r + self.margin, c + self.margin

    @property
    def start_cell(self) -> Cell:
        """Where procgen spawns the mouse: the inner maze's bottom-left cell."""
        return self.margin, self.margin

    @property
    def top_right_cell(self) -> Cell:
        """The inner maze's top-right cell."""
        t = self.margin + self.maze_size - 1
        return t, t

    # ---------------------------------------------------------------- contents
    @property
    def world_grid(self) -> np.ndarray:
        """``(world_size, world_size)`` int32 Tile codes, read-only, ``[row, col]``."""
        return self._state.grid

    @property
    def inner_grid(self) -> np.ndarray:
        """``(maze_size, maze_size)`` read-only view of the inner maze, inner coords."""
        return self._state.grid[self.inner_slices]

    @property
    def mouse(self) -> Cell:
        s = self._state
        return int(s.mouse_y), int(s.mouse_x)

    @property
    def is_reflected(self) -> bool:
        """procgen's sprite flag: True after a RIGHT move (mouse faces right)."""
        return bool(self._state.mouse_is_reflected)

    @property
    def mouse_facing(self) -> str:
        """ "right" if the sprite is reflected, else "left"."""
        return "right" if self.is_reflected else "left"

    @property
    def cheese(self) -> Cell | None:
        found = np.argwhere(self._state.grid == CHEESE)
        return None if len(found) == 0 else (int(found[0][0]), int(found[0][1]))

    @property
    def open_cells(self) -> list[Cell]:
        """Every non-wall cell (the cheese cell included), sorted by (row, col)."""
        return [(int(r), int(c)) for r, c in np.argwhere(self._state.grid != WALL)]

    def tile(self, cell: Cell) -> Tile:
        cell = as_cell(cell)
        self._check_in_world(cell, "cell")
        return Tile(int(self._state.grid[cell]))


def mazes_from_seeds(
    seeds: Iterable[int],
    distribution_mode: DistributionMode = DEFAULT_MODE,
    renderer: MazeRenderer | None = None,
) -> list[Maze]:
    """The levels procgen generates for ``seeds`` (fresh, mouse at start), batched.

    All levels are generated in one env (see :meth:`MazeRenderer.generate_states`), so
    thousands of seeds take seconds, not one env creation each.
    """
    seeds = [check_seed(s) for s in seeds]
    if renderer is None:
        with MazeRenderer() as tmp:
            states = tmp.generate_states(seeds, distribution_mode)
    else:
        states = renderer.generate_states(seeds, distribution_mode)
    mazes = [Maze.from_state(s) for s in states]
    for seed, m in zip(seeds, mazes):
        if m.seed != seed or m.distribution_mode != distribution_mode:  # procgen contract
            raise RuntimeError(
                f"procgen generated level {m.seed} ({m.distribution_mode}) for seed {seed} "
                f"({distribution_mode})"
            )
    return mazes


def _maze_from_state(data: bytes) -> Maze:
    """``Maze.from_state`` for unpickling (see ``Maze.__reduce__``)."""
    return Maze.from_state(data)
