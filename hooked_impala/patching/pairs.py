"""Clean/corrupted maze pairs, and the metric patching measures on them.

A :class:`MazePair` is two mazes that differ in one declared way (:class:`Corruption`): the
cheese moved, the cheese removed, one wall put on the cheese path, or the mouse moved.
Everything else (layout, seed, mouse facing) is equal. The clean maze has its mouse on its
decision square (the paper's choice point), where the default metric is read::

    metric = log P(first move towards the cheese) - log P(first move towards the top right)

with both moves those of the *clean* maze, so the corrupted run is scored on the same two
moves (the gap clean - corrupted is what patching restores).

The whole-field metric (:attr:`Metric.FIELD`) reads the vector field instead of one square:
each pair gives a row per cell open in both mazes (the mouse placed there in both), scored
by ``log P(first move towards the clean maze's cheese)``. Patching then restores a share of
the field's mean change towards the cheese; a pair's rows share its maze id, so intervals
still resample mazes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch

from hooked_impala.actions import Movement
from hooked_impala.maze import Cell, Maze, MazeRenderer, Tile, decision_points, distance_map
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.model import PolicyOutput


class Corruption(StrEnum):
    """How the corrupted maze differs from the clean one."""

    CHEESE_MOVED = "cheese_moved"
    CHEESE_REMOVED = "cheese_removed"
    WALL_ON_CHEESE_PATH = "wall_on_cheese_path"
    MOUSE_MOVED = "mouse_moved"


class Metric(StrEnum):
    """What a pair's runs are scored on (module docstring)."""

    DECISION = "decision"  # the two first moves at the decision square
    FIELD = "field"  # the cheese-ward move on every cell of the field


#: Cells per pair the whole-field metric reads at most (evenly spread over the open cells):
#: the exact grid's cost grows with the rows.
FIELD_CELLS = 16


@dataclass(frozen=True)
class MazePair:
    """A clean maze (mouse on its decision square ``cell``) and its corrupted twin.

    ``cheese_move`` / ``top_right_move``: the clean maze's first moves from ``cell``
    towards the cheese and towards the top-right cell (they differ: ``cell`` is a fork).
    """

    clean: Maze
    corrupted: Maze
    corruption: Corruption
    cell: Cell
    cheese_move: Movement
    top_right_move: Movement

    def __post_init__(self) -> None:
        if self.clean.seed != self.corrupted.seed or self.clean.world_size != (
            self.corrupted.world_size
        ):
            raise ValueError("a pair's two mazes must come from the same level")
        if self.cheese_move == self.top_right_move:
            raise ValueError(f"cell {self.cell} is no fork: both moves are {self.cheese_move!r}")

    @property
    def seed(self) -> int:
        """The level's seed: the maze, the unit the statistics resample."""
        return self.clean.seed


def _first_move(maze: Maze, start: Cell, goal: Cell) -> Movement | None:
    """The first move of a shortest path from ``start`` to ``goal`` (None: unreachable)."""
    dist = distance_map(maze.world_grid, goal)
    if dist[start] <= 0:
        return None
    for cell in ((start[0] + 1, start[1]), (start[0] - 1, start[1])) + (
        (start[0], start[1] - 1),
        (start[0], start[1] + 1),
    ):
        if 0 <= cell[0] < dist.shape[0] and 0 <= cell[1] < dist.shape[1]:
            if dist[cell] == dist[start] - 1:
                return Movement.between(start, cell)
    return None


def _corrupt(
    maze: Maze, cell: Cell, cheese_move: Movement, corruption: Corruption, rng, target
) -> Maze | None:
    """The corrupted twin of ``maze`` (mouse on ``cell``); ``target`` a chosen cell or None.
    None when this maze admits no such corruption (no path cell between fork and cheese)."""
    cheese = maze.cheese
    if corruption is Corruption.CHEESE_REMOVED:
        return maze.without_cheese()
    inner = [c for c in maze.open_cells if maze.in_inner(c) and c not in (cell, cheese)]
    if corruption is Corruption.CHEESE_MOVED:
        if target is None:
            # Cells the mouse would leave by another move than towards the cheese: the
            # corruption then changes the decision (a cheese moved along its own path
            # changes nothing the metric reads).
            away = [c for c in inner if _first_move(maze, cell, c) not in (None, cheese_move)]
            target = (away or inner)[rng.integers(len(away or inner))]
        return maze.with_cheese(target)
    if corruption is Corruption.MOUSE_MOVED:
        if target is None:
            target = inner[rng.integers(len(inner))]
        return maze.with_mouse(target)
    if corruption is Corruption.WALL_ON_CHEESE_PATH:
        path = _path(maze, cell, cheese)
        between = path[1:-1]  # neither the mouse's cell nor the cheese's can be walled
        if target is None:
            if not between:  # the cheese next to the decision square: skipped
                return None
            target = between[rng.integers(len(between))]
        elif tuple(target) not in between:
            raise ValueError(f"cell {target} is not on the cheese path {between}")
        return maze.with_tiles({tuple(target): Tile.WALL})
    raise ValueError(f"unknown corruption {corruption!r}; one of {[c.value for c in Corruption]}")


def _path(maze: Maze, start: Cell, goal: Cell) -> list[Cell]:
    dist = distance_map(maze.world_grid, goal)
    path = [start]
    while path[-1] != goal:
        r, c = path[-1]
        for nxt in ((r + 1, c), (r - 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nxt[0] < dist.shape[0] and 0 <= nxt[1] < dist.shape[1]:
                if dist[nxt] == dist[path[-1]] - 1 and dist[nxt] >= 0:
                    path.append(nxt)
                    break
    return path


def make_pairs(
    mazes: Sequence[Maze],
    corruption: Corruption | str = Corruption.CHEESE_MOVED,
    *,
    seed: int = 0,
    target: Cell | None = None,
) -> list[MazePair]:
    """One pair per maze that has a decision square (the others are skipped).

    Args:
        mazes: the levels; each clean maze is the level with its mouse on the decision square.
        corruption: what differs (a :class:`Corruption` or its value).
        seed: draws the random cells (a moved cheese, a moved mouse, a walled path cell).
        target: the cell to use instead of a random one (the same for every maze).

    Mazes without a decision square, or (wall corruption) with the cheese next to it, are
    skipped; ValueError when none is left, naming how many were tried.
    """
    try:
        corruption = Corruption(corruption)
    except ValueError:
        raise ValueError(
            f"unknown corruption {corruption!r}; one of {[c.value for c in Corruption]}"
        ) from None
    rng = np.random.default_rng(seed)
    pairs = []
    for point in decision_points(mazes):
        corrupted = _corrupt(point.maze, point.cell, point.cheese_move, corruption, rng, target)
        if corrupted is None:
            continue
        pairs.append(
            MazePair(
                point.maze,
                corrupted,
                corruption,
                point.cell,
                point.cheese_move,
                point.top_right_move,
            )
        )
    if not pairs:
        raise ValueError(
            f"none of the {len(mazes)} mazes gives a {corruption.value} pair (a decision "
            "square, and for a wall a path cell between it and the cheese)"
        )
    return pairs


@contextlib.contextmanager
def _rendering(pairs: Sequence[MazePair], renderer: MazeRenderer | None) -> Iterator[MazeRenderer]:
    """``renderer``, or one of our own closed afterwards; ValueError for no pairs."""
    if not pairs:
        raise ValueError("no pairs to render (an empty list)")
    if renderer is not None:
        yield renderer
        return
    with MazeRenderer() as own:
        yield own


def pair_observations(
    pairs: Sequence[MazePair], renderer: MazeRenderer | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clean, corrupted)``: uint8 ``(P, 64, 64, 3)`` observations, procgen-rendered."""
    with _rendering(pairs, renderer) as r:
        obs = r.observe([p.clean for p in pairs] + [p.corrupted for p in pairs])
    obs = torch.from_numpy(obs)
    return obs[: len(pairs)], obs[len(pairs) :]


#: ``metric(output, rows) -> (B,)``: a scalar per forward row; ``rows`` ``(B,)`` names the
#: pair each row belongs to (patching runs many variants of each pair in one batch).
PairMetric = Callable[[PolicyOutput, torch.Tensor], torch.Tensor]


def move_metric(towards: Sequence[Movement], away: Sequence[Movement] | None = None) -> PairMetric:
    """Row i scored by log P(``towards[i]``), minus log P(``away[i]``) when given; movements
    summed over the actions that make them."""
    plus = torch.tensor([int(m) for m in towards])
    minus = None if away is None else torch.tensor([int(m) for m in away])

    def metric(output: PolicyOutput, rows: torch.Tensor) -> torch.Tensor:
        log_probs = output.movement_log_probs
        rows = rows.to(log_probs.device)
        at = torch.arange(len(rows), device=log_probs.device)
        score = log_probs[at, plus.to(log_probs.device)[rows]]
        if minus is not None:
            score = score - log_probs[at, minus.to(log_probs.device)[rows]]
        return score

    return metric


def decision_metric(pairs: Sequence[MazePair]) -> PairMetric:
    """log P(clean cheese move) - log P(clean top-right move), movements summed over actions."""
    return move_metric([p.cheese_move for p in pairs], [p.top_right_move for p in pairs])


def check_metric(metric: Metric | str, corruption: Corruption | str) -> Metric:
    """``metric`` as a :class:`Metric`; ValueError naming it when unknown, or when it cannot
    read ``corruption`` (the field metric places the mouse everywhere, undoing a moved mouse)."""
    if metric not in [m.value for m in Metric]:
        raise ValueError(f"unknown metric {metric!r}; one of {[m.value for m in Metric]}")
    if metric == Metric.FIELD and corruption == Corruption.MOUSE_MOVED:
        raise ValueError(
            "the field metric places the mouse on every cell of both mazes, which undoes a "
            "mouse_moved corruption; use the decision metric"
        )
    return Metric(metric)


def field_cells(pair: MazePair, max_cells: int = FIELD_CELLS) -> list[tuple[Cell, Movement]]:
    """The cells the whole-field metric reads in ``pair`` with each one's first move towards
    the clean maze's cheese: open in both mazes, the cheese on neither, the cheese reachable;
    at most ``max_cells``, evenly spread over them in row-major order."""
    check_metric(Metric.FIELD, pair.corruption)
    if not isinstance(max_cells, int) or max_cells < 1:
        raise ValueError(f"max_cells must be an integer >= 1, got {max_cells!r}")
    clean, corrupted = pair.clean, pair.corrupted
    open_there = set(corrupted.open_cells)
    dist = distance_map(clean.world_grid, clean.cheese)
    cells = sorted(
        c
        for c in clean.open_cells
        if c in open_there and c not in (clean.cheese, corrupted.cheese) and dist[c] > 0
    )
    if len(cells) > max_cells:
        cells = [cells[i] for i in np.linspace(0, len(cells) - 1, max_cells).round().astype(int)]
    return [(c, _first_move(clean, c, clean.cheese)) for c in cells]


def field_observations(
    pairs: Sequence[MazePair],
    renderer: MazeRenderer | None = None,
    max_cells: int = FIELD_CELLS,
) -> tuple[torch.Tensor, torch.Tensor, list[Movement], list[int]]:
    """``(clean, corrupted, cheese_moves, mazes)`` of the whole-field rows: uint8
    ``(R, 64, 64, 3)`` observations with the mouse on each pair's :func:`field_cells`, each
    row's cheese-ward move and its pair's maze id."""
    clean, corrupted, moves, mazes = [], [], [], []
    with _rendering(pairs, renderer) as r:
        for pair in pairs:
            rows = field_cells(pair, max_cells)
            cells = [cell for cell, _ in rows]
            clean.append(observe_mouse_on_cells(pair.clean.to_state(), cells, r))
            corrupted.append(observe_mouse_on_cells(pair.corrupted.to_state(), cells, r))
            moves += [move for _, move in rows]
            mazes += [pair.seed] * len(rows)
    as_tensor = lambda parts: torch.from_numpy(np.concatenate(parts))  # noqa: E731
    return as_tensor(clean), as_tensor(corrupted), moves, mazes


@dataclass(frozen=True, eq=False)
class PairBatch:
    """What the patching functions run on: ``P`` pairs as observations, the metric, and each
    pair's maze id (the unit the intervals resample).

    ``clean``, ``corrupted``: observations ``(P, 64, 64, 3)`` uint8 or ``(P, 3, 64, 64)``
    float; ``metric``: a :data:`PairMetric`; ``mazes``: ``(P,)`` ids (default 0..P-1).
    """

    clean: torch.Tensor
    corrupted: torch.Tensor
    metric: PairMetric
    mazes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.clean) == 0:
            raise ValueError("no pairs: the clean observations are empty")
        if self.clean.shape != self.corrupted.shape:
            raise ValueError(
                f"clean {tuple(self.clean.shape)} and corrupted {tuple(self.corrupted.shape)} "
                "observations differ in shape; one corrupted observation per clean one"
            )
        for name, obs in (("clean", self.clean), ("corrupted", self.corrupted)):
            if obs.dtype.is_floating_point and not torch.isfinite(obs).all():
                raise ValueError(f"the {name} observations hold NaN or infinite values")
        if not self.mazes:
            object.__setattr__(self, "mazes", tuple(range(len(self.clean))))
        if len(self.mazes) != len(self.clean):
            raise ValueError(f"{len(self.mazes)} maze ids for {len(self.clean)} pairs")

    def __len__(self) -> int:
        return len(self.clean)

    @classmethod
    def of(
        cls,
        pairs: Sequence[MazePair],
        renderer: MazeRenderer | None = None,
        metric: Metric | str = Metric.DECISION,
        max_cells: int = FIELD_CELLS,
    ) -> PairBatch:
        """Rendered pairs scored by ``metric``: one row per pair at its decision square
        (:func:`decision_metric`), or up to ``max_cells`` rows per pair over its field."""
        if Metric(metric) is Metric.DECISION:
            clean, corrupted = pair_observations(pairs, renderer)
            return cls(clean, corrupted, decision_metric(pairs), tuple(p.seed for p in pairs))
        clean, corrupted, moves, mazes = field_observations(pairs, renderer, max_cells)
        return cls(clean, corrupted, move_metric(moves), tuple(mazes))

    def of_mazes(self, mazes: Sequence[int]) -> PairBatch:
        """The rows of the mazes ``mazes`` (every row of a maze goes with it)."""
        wanted = set(mazes)
        return self.subset([i for i, m in enumerate(self.mazes) if m in wanted])

    def subset(self, index: Sequence[int]) -> PairBatch:
        """The pairs at ``index`` (the metric re-indexed to them)."""
        index = torch.as_tensor(list(index), dtype=torch.long)
        metric = self.metric

        def sub_metric(output: PolicyOutput, rows: torch.Tensor) -> torch.Tensor:
            return metric(output, index.to(rows.device)[rows])

        return PairBatch(
            self.clean[index],
            self.corrupted[index],
            sub_metric,
            tuple(self.mazes[i] for i in index.tolist()),
        )
