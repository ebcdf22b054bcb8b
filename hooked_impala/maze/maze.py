"""The :class:`Maze` value object: a procgen maze level you can inspect and edit.

Coordinate convention (used everywhere in ``hooked_impala.maze``)
------------------------------------------------------------------
A *cell* is a tuple ``(row, col)`` of ints in **world** coordinates:

* ``row`` 0 is the **bottom** row of the rendered image (procgen's own grid
  convention; the UP action increases ``row``), ``col`` 0 is the left column;
* grids are numpy arrays indexed ``grid[row, col]`` in that convention, so the image
  shows ``np.flipud(grid)``;
* the world is ``world_size x world_size`` (15 in "easy", 25 in "hard"); the maze
  proper ("inner maze", ``maze_size x maze_size``, odd) is centred in it with
  ``margin = (world_size - maze_size) // 2`` wall cells on every side, so the inner
  maze covers rows and cols ``margin .. margin + maze_size - 1``;
* *inner* coordinates are world coordinates minus ``margin`` (``to_inner`` /
  ``to_world``); ``inner_grid`` is indexed by them.

The mouse entity sits at ``x = col + 0.5, y = row + 0.5``. Its ``is_reflected`` flag
mirrors the sprite: procgen sets it after a RIGHT move (the mouse faces right) and
clears it after a LEFT move (the plain sprite faces left).

Mazes are immutable; every edit returns a new Maze. Invalid edits raise
:class:`MazeEditError` naming the cell.

The *margin* (the wall cells between the inner maze and the world's edge) is walls in every
level procgen generates. Edits refuse margin cells unless asked with ``margin=True``: the
paper's top-right vector opens a path through it (:meth:`Maze.with_top_right_path`), and
procgen renders and plays such states like any other. The cheese stays in the inner maze.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any

import numpy as np

from .render import (
    DEFAULT_MODE,
    DISTRIBUTION_MODES,
    DistributionMode,
    MazeRenderer,
    check_seed,
    mode_code,
)
from .state import MazeState, MazeStateError

__all__ = ["Tile", "Cell", "Maze", "MazeEditError", "mazes_from_seeds", "WORLD_SIZES"]

Cell = tuple[int, int]

#: World side (cells) of each distribution mode.
WORLD_SIZES = {"easy": 15, "hard": 25}
_MODE_NAMES = {code: name for name, code in DISTRIBUTION_MODES.items()}


class Tile(IntEnum):
    """procgen's grid codes for the maze game."""

    OPEN = 100
    WALL = 51
    CHEESE = 2


_TILE_CODES = np.array(sorted(int(t) for t in Tile), dtype=np.int32)
# Plain ints for hot paths: comparing numpy values with an IntEnum member is ~10x slower
# (numpy probes the enum for array protocols on every comparison).
_OPEN, _WALL, _CHEESE = int(Tile.OPEN), int(Tile.WALL), int(Tile.CHEESE)


class MazeEditError(ValueError):
    """An edit (or a grid) that does not describe a valid maze; names the cell or shape."""


def _as_cell(cell: Any, what: str = "cell") -> Cell:
    """``(row, col)`` as Python ints; MazeEditError for anything else."""
    try:
        row, col = cell
        if any(isinstance(v, (bool, np.bool_)) for v in (row, col)):
            raise TypeError
        if not all(isinstance(v, (int, np.integer)) for v in (row, col)):
            raise TypeError
    except (TypeError, ValueError):
        raise MazeEditError(f"{what} must be a (row, col) pair of ints, got {cell!r}") from None
    return int(row), int(col)


class Maze:
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
        bad = ~np.isin(grid, _TILE_CODES)
        if bad.any():
            r, c = map(int, np.argwhere(bad)[0])
            raise MazeEditError(f"cell {(r, c)} holds {int(grid[r, c])}, not a Tile code")
        outside = np.ones_like(grid, dtype=bool)
        outside[self.inner_slices] = False
        margin_cheese = outside & (grid == _CHEESE)
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
        if tile == _WALL:
            raise MazeEditError(f"mouse cell {cell} is a wall")
        if tile == _CHEESE:
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

    @classmethod
    def from_grid(
        cls,
        grid: Any,
        mouse: Cell | None = None,
        distribution_mode: DistributionMode | None = None,
        *,
        maze_size: int | None = None,
        reflected: bool = False,
        template: Maze | None = None,
        renderer: MazeRenderer | None = None,
        margin: bool = False,
    ) -> Maze:
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
        mouse = (pad, pad) if mouse is None else _as_cell(mouse, "mouse cell")
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
        opened = outside & (self.world_grid != _WALL)
        if opened.any():
            r, c = map(int, np.argwhere(opened)[0])
            k = self.maze_size
            raise MazeEditError(
                f"cell {(r, c)} outside the inner {k}x{k} maze is not a wall "
                "(pass margin=True to open margin cells)"
            )

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
        cell = _as_cell(cell)
        self._check_in_inner(cell, "cell")
        return cell[0] - self.margin, cell[1] - self.margin

    def to_world(self, inner_cell: Cell) -> Cell:
        """Inner-maze cell -> world cell."""
        r, c = _as_cell(inner_cell, "inner cell")
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
        found = np.argwhere(self._state.grid == _CHEESE)
        return None if len(found) == 0 else (int(found[0][0]), int(found[0][1]))

    @property
    def open_cells(self) -> list[Cell]:
        """Every non-wall cell (the cheese cell included), sorted by (row, col)."""
        return [(int(r), int(c)) for r, c in np.argwhere(self._state.grid != _WALL)]

    def tile(self, cell: Cell) -> Tile:
        cell = _as_cell(cell)
        self._check_in_world(cell, "cell")
        return Tile(int(self._state.grid[cell]))

    # ---------------------------------------------------------------- edits
    def with_mouse(self, cell: Cell, reflected: bool | None = None) -> Maze:
        """The mouse moved to ``cell`` (an open cell, not the cheese's).

        ``reflected``: the sprite flag (True = facing right); None keeps the current one.
        """
        cell = _as_cell(cell, "mouse cell")
        self._check_in_world(cell, "mouse cell")
        flag = self._state.mouse_is_reflected if reflected is None else int(bool(reflected))
        state = self._state.replace(
            mouse_x=cell[1] + 0.5, mouse_y=cell[0] + 0.5, mouse_is_reflected=flag
        )
        return Maze._edited(self, state, grid_changed=False)

    def with_cheese(self, cell: Cell) -> Maze:
        """The cheese moved to ``cell`` (an open cell of the inner maze, not the mouse's)."""
        cell = _as_cell(cell, "cheese cell")
        self._check_in_inner(cell, "cheese cell")
        if self._state.grid[cell] == Tile.WALL:
            raise MazeEditError(f"cheese cell {cell} is a wall")
        if cell == self.mouse:
            raise MazeEditError(f"cheese cell {cell} is the mouse's cell")
        grid = self._state.grid.copy()
        grid[grid == Tile.CHEESE] = Tile.OPEN
        grid[cell] = Tile.CHEESE
        return Maze._edited(self, self._state.replace(grid=grid), grid_changed=True)

    def without_cheese(self) -> Maze:
        """The cheese removed (its cell becomes open); self if there is none."""
        if self.cheese is None:
            return self
        grid = self._state.grid.copy()
        grid[grid == Tile.CHEESE] = Tile.OPEN
        return Maze._edited(self, self._state.replace(grid=grid), grid_changed=True)

    def with_tiles(self, tiles: Mapping[Cell, Tile | int], *, margin: bool = False) -> Maze:
        """Cells set to Tile.OPEN or Tile.WALL: cells of the inner maze, or of the whole
        world with ``margin=True``.

        The mouse's cell cannot be walled and the cheese's cell cannot be changed (use
        with_cheese / without_cheese); CHEESE is not accepted here.
        """
        grid = self._state.grid.copy()
        mouse, cheese = self.mouse, self.cheese
        for raw_cell, value in tiles.items():
            cell = _as_cell(raw_cell)
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
        return Maze._edited(self, self._state.replace(grid=grid), grid_changed=True)

    def with_walls(self, cells: Iterable[Cell], *, margin: bool = False) -> Maze:
        """``cells`` (of the inner maze; of the world with ``margin=True``) made walls."""
        return self.with_tiles({_as_cell(c): Tile.WALL for c in cells}, margin=margin)

    def with_open(self, cells: Iterable[Cell], *, margin: bool = False) -> Maze:
        """``cells`` (of the inner maze; of the world with ``margin=True``) opened."""
        return self.with_tiles({_as_cell(c): Tile.OPEN for c in cells}, margin=margin)

    def with_top_right_path(self) -> Maze:
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


def _infer_maze_size(grid: np.ndarray) -> int:
    """Smallest odd centred box (>= 3) holding every non-wall cell of an odd square grid."""
    cells = np.argwhere(grid != Tile.WALL)
    if len(cells) == 0:
        raise MazeEditError("grid has no open cell")
    centre = (grid.shape[0] - 1) // 2  # world sizes (15, 25) are odd
    reach = int(np.abs(cells - centre).max())
    return max(3, 2 * reach + 1)


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
