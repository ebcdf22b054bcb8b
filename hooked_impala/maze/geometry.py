"""Shortest paths, the decision square and the behavioural maze features.

Pure functions. The grid-level ones take any ``(rows, cols)`` array of Tile codes
indexed ``[row, col]`` (row 0 = bottom, see :mod:`hooked_impala.maze.maze`); cells are
indices into that array. The maze-level ones take a :class:`Maze` and use world cells.

Passable cells are every non-WALL cell (OPEN and CHEESE). Moves are the 4 grid
neighbours. Tie-breaking (only matters in mazes with loops, e.g. after edits; procgen's
own mazes are trees with unique paths): breadth-first search expands neighbours in the
order UP (row + 1), DOWN (row - 1), LEFT (col - 1), RIGHT (col + 1), and each cell keeps
the first cell that reached it as its parent; the returned path follows those parents.

Paths start, by default, at the mouse's *spawn* cell (bottom-left of the inner maze),
not its current cell: the decision square is a property of the maze layout, and stays
put while an analysis moves the mouse around (vector fields). Pass ``start=`` to use
another cell, e.g. ``maze.mouse``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from beartype import beartype
from jaxtyping import Int, jaxtyped

from hooked_impala.actions import Movement

from .maze import Cell, Maze, Tile
from .regions import Region

__all__ = [
    "NEIGHBOUR_ORDER",
    "distance_map",
    "shortest_path",
    "fork_cell",
    "path_to_cheese",
    "path_to_top_right",
    "decision_square",
    "DecisionPoint",
    "decision_points",
    "MazeFeatures",
    "maze_features",
]

#: (d_row, d_col) in BFS expansion order: UP, DOWN, LEFT, RIGHT.
NEIGHBOUR_ORDER = ((1, 0), (-1, 0), (0, -1), (0, 1))


def _check_cell(grid: np.ndarray, cell: Any, what: str) -> Cell:
    r, c = int(cell[0]), int(cell[1])
    if not (0 <= r < grid.shape[0] and 0 <= c < grid.shape[1]):
        raise ValueError(f"{what} {(r, c)} is outside the {grid.shape[0]}x{grid.shape[1]} grid")
    return r, c


def _bfs(
    grid: np.ndarray, sources: Sequence[Cell], goal: Cell | None = None
) -> tuple[np.ndarray, dict]:
    """Distances from the nearest of ``sources`` (-1 = wall or unreachable) and parents,
    stopping at ``goal``: one breadth-first search from all sources at once."""
    rows, cols = grid.shape
    passable = grid != Tile.WALL
    dist = np.full(grid.shape, -1, dtype=np.int64)
    parent: dict[Cell, Cell] = {}
    queue: deque[Cell] = deque()
    for source in sources:
        if passable[source] and dist[source] < 0:
            dist[source] = 0
            queue.append(source)
    while queue:
        cur = queue.popleft()
        if cur == goal:
            break
        d = dist[cur] + 1
        for dr, dc in NEIGHBOUR_ORDER:
            r, c = cur[0] + dr, cur[1] + dc
            if 0 <= r < rows and 0 <= c < cols and passable[r, c] and dist[r, c] < 0:
                dist[r, c] = d
                parent[(r, c)] = cur
                queue.append((r, c))
    return dist, parent


@jaxtyped(typechecker=beartype)
def distance_map(
    grid: Int[np.ndarray, "rows cols"], source: Cell | Sequence[Cell]
) -> Int[np.ndarray, "rows cols"]:
    """Steps from ``source`` — one cell, or the nearest of several cells — to every cell:
    ``(rows, cols)`` int64, -1 for walls and cells no source reaches (an empty list of
    sources reaches nothing)."""
    single = len(source) == 2 and all(isinstance(v, (int, np.integer)) for v in source)
    sources = [source] if single else list(source)
    checked = [_check_cell(grid, cell, "source") for cell in sources]
    return _bfs(grid, checked)[0]


@jaxtyped(typechecker=beartype)
def shortest_path(grid: Int[np.ndarray, "rows cols"], start: Cell, goal: Cell) -> list[Cell] | None:
    """Cells from ``start`` to ``goal`` inclusive (tie-breaking: module docstring).

    None when either end is a wall or ``goal`` is unreachable.
    """
    start = _check_cell(grid, start, "start")
    goal = _check_cell(grid, goal, "goal")
    if grid[goal] == Tile.WALL:
        return None
    dist, parent = _bfs(grid, [start], goal)
    if dist[goal] < 0:
        return None
    path = [goal]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return path[::-1]


def fork_cell(path_a: list[Cell] | None, path_b: list[Cell] | None) -> Cell | None:
    """Last cell of the common prefix of two paths from the same start.

    None if a path is missing, or one path contains the other's end (no real fork:
    going to one target passes the other, or the targets coincide).
    """
    if not path_a or not path_b or path_a[0] != path_b[0]:
        return None
    if path_a[-1] in path_b or path_b[-1] in path_a:
        return None
    i = 0
    while i + 1 < min(len(path_a), len(path_b)) and path_a[i + 1] == path_b[i + 1]:
        i += 1
    return path_a[i]


def _start(maze: Maze, start: Cell | None) -> Cell:
    return maze.start_cell if start is None else _check_cell(maze.world_grid, start, "start")


def path_to_cheese(maze: Maze, start: Cell | None = None) -> list[Cell] | None:
    """World cells from ``start`` (default: the spawn cell) to the cheese; None if no
    cheese or unreachable."""
    cheese = maze.cheese
    if cheese is None:
        return None
    return shortest_path(maze.world_grid, _start(maze, start), cheese)


def path_to_top_right(maze: Maze, start: Cell | None = None) -> list[Cell] | None:
    """World cells from ``start`` (default: the spawn cell) to the inner maze's
    top-right cell; None if unreachable (or walled by an edit)."""
    return shortest_path(maze.world_grid, _start(maze, start), maze.top_right_cell)


def decision_square(maze: Maze, start: Cell | None = None) -> Cell | None:
    """The last cell shared by the paths to the cheese and to the top-right cell.

    None when there is no real fork (see :func:`fork_cell`) or no cheese.
    """
    return fork_cell(path_to_cheese(maze, start), path_to_top_right(maze, start))


@dataclasses.dataclass(frozen=True)
class DecisionPoint:
    """A maze with the mouse on its decision square, and the two competing moves."""

    maze: Maze
    cell: Cell
    cheese_move: Movement
    top_right_move: Movement


def decision_points(mazes: Sequence[Maze]) -> list[DecisionPoint]:
    """The decision point of each maze that has one (mazes without one are skipped)."""
    points = []
    for maze in mazes:
        ds = decision_square(maze)
        if ds is None:
            continue
        to_cheese, to_top = path_to_cheese(maze), path_to_top_right(maze)
        i = to_cheese.index(ds)
        points.append(
            DecisionPoint(
                maze.with_mouse(ds),
                ds,
                Movement.between(ds, to_cheese[i + 1]),
                Movement.between(ds, to_top[i + 1]),
            )
        )
    return points


def _euclid(a: Cell, b: Cell) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


@dataclasses.dataclass(frozen=True)
class MazeFeatures:
    """Maze features used by the behavioural studies (distances in cells, world coords).

    ``steps_*`` are shortest-path lengths through open cells, ``euclid_*`` straight-line
    distances between cell centres. ``*_region`` distances are to the nearest non-wall cell
    of the top-right ``k x k`` region of the inner maze; ``top_right`` is the inner maze's
    top-right cell. Fields are None when undefined (no cheese, no decision square).

    ``cheese_up_right_from_decision``: the cheese can be reached from the decision square
    moving only up and right through open cells. ``decision_to_left_wall``: columns between
    the decision square and the inner maze's left edge (the mouse itself always starts at
    that edge, so its own distance says nothing).
    """

    maze_size: int
    start: Cell
    cheese: Cell | None
    top_right: Cell
    decision_square: Cell | None
    steps_to_cheese: int | None
    steps_to_top_right: int | None
    steps_decision_to_cheese: int | None
    euclid_decision_to_cheese: float | None
    steps_decision_to_top_right: int | None = None
    euclid_decision_to_top_right: float | None = None
    steps_decision_to_top_right_region: int | None = None
    euclid_decision_to_top_right_region: float | None = None
    steps_cheese_to_top_right: int | None = None
    euclid_cheese_to_top_right: float | None = None
    steps_cheese_to_top_right_region: int | None = None
    euclid_cheese_to_top_right_region: float | None = None
    cheese_up_right_from_decision: bool | None = None
    decision_to_left_wall: int | None = None
    cheese_in_top_right_region: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _reachable_up_right(grid: np.ndarray, source: Cell, goal: Cell) -> bool:
    """A path from ``source`` to ``goal`` of UP and RIGHT moves only, through open cells."""
    if goal[0] < source[0] or goal[1] < source[1]:
        return False
    reach = np.zeros((goal[0] - source[0] + 1, goal[1] - source[1] + 1), dtype=bool)
    for i in range(reach.shape[0]):
        for j in range(reach.shape[1]):
            if grid[source[0] + i, source[1] + j] == Tile.WALL:
                continue
            reach[i, j] = (
                (i, j) == (0, 0) or (i > 0 and reach[i - 1, j]) or (j > 0 and reach[i, j - 1])
            )
    return bool(reach[-1, -1])


def maze_features(maze: Maze, start: Cell | None = None, k: int = 5) -> MazeFeatures:
    """The decision square and the distances the behavioural literature regresses on."""
    start = _start(maze, start)
    grid = maze.world_grid
    cheese, top_right = maze.cheese, maze.top_right_cell
    p_cheese = path_to_cheese(maze, start)
    p_top = path_to_top_right(maze, start)
    ds = fork_cell(p_cheese, p_top)
    region = Region("top-right", k).cells(maze)
    region_open = [c for c in region if grid[c] != Tile.WALL]

    def steps_to_region(dist: np.ndarray) -> int | None:
        # A fresh BFS rather than the tails of paths from the start: equal in procgen's tree
        # mazes, but only the BFS is a shortest path once edits add loops.
        reached = [int(dist[c]) for c in region_open if dist[c] >= 0]
        return min(reached) if reached else None

    def euclid_to_region(cell: Cell) -> float | None:
        return min(_euclid(cell, c) for c in region_open) if region_open else None

    def steps(dist: np.ndarray, cell: Cell) -> int | None:
        return int(dist[cell]) if dist[cell] >= 0 else None

    from_ds: dict[str, Any] = {}
    if ds is not None and cheese is not None:
        dist = _bfs(grid, [ds])[0]
        from_ds = {
            "steps_decision_to_cheese": steps(dist, cheese),
            "euclid_decision_to_cheese": _euclid(ds, cheese),
            "steps_decision_to_top_right": steps(dist, top_right),
            "euclid_decision_to_top_right": _euclid(ds, top_right),
            "steps_decision_to_top_right_region": steps_to_region(dist),
            "euclid_decision_to_top_right_region": euclid_to_region(ds),
            "cheese_up_right_from_decision": _reachable_up_right(grid, ds, cheese),
            "decision_to_left_wall": ds[1] - maze.margin,
        }
    from_cheese: dict[str, Any] = {}
    if cheese is not None:
        dist = _bfs(grid, [cheese])[0]
        from_cheese = {
            "steps_cheese_to_top_right": steps(dist, top_right),
            "euclid_cheese_to_top_right": _euclid(cheese, top_right),
            "steps_cheese_to_top_right_region": steps_to_region(dist),
            "euclid_cheese_to_top_right_region": euclid_to_region(cheese),
            "cheese_in_top_right_region": cheese in region,
        }
    return MazeFeatures(
        maze_size=maze.maze_size,
        start=start,
        cheese=cheese,
        top_right=top_right,
        decision_square=ds,
        steps_to_cheese=None if p_cheese is None else len(p_cheese) - 1,
        steps_to_top_right=None if p_top is None else len(p_top) - 1,
        **{"steps_decision_to_cheese": None, "euclid_decision_to_cheese": None, **from_ds},
        **from_cheese,
    )
