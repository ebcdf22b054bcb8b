"""Normalised path probabilities of retargeting (see the ``retarget`` analysis): for every
target cell of a maze, the geometric mean of the policy's probability of each move along the
shortest path from the start, with no intervention, with channels clamped at the target's
grid square, and with the cheese moved to the target — all as batched forward passes."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float, Int

from analyses.measure.channels import spatial_shape
from hooked_impala.actions import Movement
from hooked_impala.incremental import forward
from hooked_impala.interventions import ClampAt, clamp_channels
from hooked_impala.maze import (
    Cell,
    Maze,
    MazeRenderer,
    distance_map,
    layer_positions,
    path_to_top_right,
    shortest_path,
)
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.model import HookedImpala

# Why a target is left out of the heatmap (a count of each is reported).
SKIP_START = "the mouse starts there"
SKIP_THROUGH_CHEESE = "the path passes the cheese (the episode would end there)"
SKIP_UNREACHABLE = "unreachable from the start"


# --- geometry --------------------------------------------------------------------------------


def target_paths(maze: Maze) -> tuple[dict[Cell, list[Cell]], dict[Cell, str]]:
    """Shortest paths start → T for every open cell T of ``maze`` that can be a target, and
    the reason each other open cell cannot (``SKIP_*``).

    A target whose path runs through the cheese is skipped: the mouse would eat the cheese,
    ending the episode, before it got there. The cheese cell itself is a target."""
    grid, start, cheese = maze.world_grid, maze.start_cell, maze.cheese
    paths: dict[Cell, list[Cell]] = {}
    skipped: dict[Cell, str] = {}
    for cell in maze.open_cells:
        if cell == start:
            skipped[cell] = SKIP_START
            continue
        path = shortest_path(grid, start, cell)
        if path is None:
            skipped[cell] = SKIP_UNREACHABLE
        elif cheese is not None and cheese in path[:-1]:
            skipped[cell] = SKIP_THROUGH_CHEESE
        else:
            paths[cell] = path
    return paths, skipped


def geometric_means(
    move_probs: Float[np.ndarray, " pairs"], segment: Int[np.ndarray, " pairs"], count: int
) -> Float[np.ndarray, " count"]:
    """Per segment ``0..count-1``, the geometric mean of its move probabilities (a zero
    probability gives 0)."""
    with np.errstate(divide="ignore"):
        logs = np.log(np.asarray(move_probs, dtype=np.float64))
    steps = np.bincount(segment, minlength=count)
    sums = np.bincount(segment, weights=logs, minlength=count)
    return np.exp(sums / np.maximum(steps, 1))


# --- the clamp and the forward passes --------------------------------------------------------


def clamp_at_cells(
    layer: str,
    channels: Sequence[int],
    magnitude: float,
    cells: Sequence[Cell],
    world_size: int,
    layer_size: int,
) -> ClampAt:
    """``channels`` at ``layer`` set to ``magnitude`` at the grid square of each cell: one
    cell per observation (``(N, 2)`` positions), or one cell for all."""
    positions = layer_positions(list(cells), world_size, layer_size)
    return clamp_channels(layer, channels, magnitude, at=torch.from_numpy(positions))


def _movement_probs(
    model: HookedImpala,
    obs: np.ndarray,
    batch_size: int,
    clamp: tuple[str, Sequence[int], float, np.ndarray] | None = None,
    one_maze: bool = True,
) -> np.ndarray:
    """``(N, 5)`` movement probabilities of uint8 observations, in chunks; ``clamp`` =
    (layer, channels, magnitude, (N, 2) positions) clamps each observation at its position.
    ``one_maze``: the observations differ only in the mouse's cell, so the forward pass may
    be incremental (``hooked_impala.incremental``)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(obs), batch_size):
            batch = torch.from_numpy(obs[start : start + batch_size]).to(model.device)
            hooks = []
            if clamp is not None:
                layer, channels, magnitude, positions = clamp
                at = torch.from_numpy(positions[start : start + batch_size])
                hooks = clamp_channels(layer, channels, magnitude, at=at).hooks()
            with model.hooks(fwd_hooks=hooks):
                probs = forward(model, batch, "auto" if one_maze else "full").movement_probs
            out.append(probs.cpu())
    if not out:
        return np.zeros((0, len(Movement)))
    return torch.cat(out).double().numpy()


@dataclass(frozen=True)
class MazeRetarget:
    """Normalised path probabilities of every target of one maze.

    Attributes:
        maze: the maze, mouse at its start cell.
        targets: ``T`` target cells (world ``(row, col)``).
        path_steps: ``(T,)`` steps start → target.
        steps_to_top_right_path: ``(T,)`` steps from the target to the nearest cell of the
            path start → top-right cell (0 = on it).
        original, clamped, moved_cheese: ``(T,)`` normalised path probabilities without
            intervention, with the channels clamped at the target, with the cheese moved
            to the target.
        skipped: open cells that are no target, with the reason.
        forwards: forward passes (observations) the three computations took.
    """

    maze: Maze
    targets: tuple[Cell, ...]
    path_steps: np.ndarray
    steps_to_top_right_path: np.ndarray
    original: np.ndarray
    clamped: np.ndarray
    moved_cheese: np.ndarray
    skipped: dict[Cell, str]
    forwards: int

    @property
    def success_ratio(self) -> np.ndarray:
        """``(T,)`` clamped / moved cheese (NaN where the moved-cheese probability is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.moved_cheese > 0, self.clamped / self.moved_cheese, np.nan)

    def on_grid(self, values: np.ndarray) -> np.ndarray:
        """``(world, world)`` array with ``values`` at the targets, NaN elsewhere."""
        size = self.maze.world_size
        grid = np.full((size, size), np.nan)
        for (r, c), v in zip(self.targets, values):
            grid[r, c] = v
        return grid


def retarget_maze(
    model: HookedImpala,
    maze: Maze,
    *,
    layer: str,
    channels: Sequence[int],
    magnitude: float,
    targets: Sequence[Cell] | None = None,
    batch_size: int = 256,
    renderer: MazeRenderer | None = None,
) -> MazeRetarget:
    """Normalised path probabilities of ``targets`` (default: every cell ``target_paths``
    allows) in ``maze`` (mouse placed at its start): without intervention, with
    ``channels`` clamped to ``magnitude`` at the target's grid square, with the cheese moved
    to the target."""
    layer = model.resolve_hook_name(layer)
    _, layer_size, _ = spatial_shape(model, layer)
    maze = maze.with_mouse(maze.start_cell)
    paths, skipped = target_paths(maze)
    if targets is None:
        targets = list(paths)
    else:
        targets = [tuple(t) for t in targets]
        bad = {t: skipped.get(t, "not an open cell") for t in targets if t not in paths}
        if bad:
            raise ValueError(f"cells {bad} cannot be targets")
    pairs = _Pairs.of([paths[t] for t in targets])
    with contextlib.ExitStack() as stack:
        if renderer is None:
            renderer = stack.enter_context(MazeRenderer())
        obs = observe_mouse_on_cells(maze.to_state(), pairs.mouse_cells, renderer)
        base = _movement_probs(model, obs, batch_size)[pairs.cell, pairs.move]
        positions = layer_positions(targets, maze.world_size, layer_size)
        clamped, clamped_forwards = _clamped_move_probs(
            model, obs, pairs, positions, (layer, channels, magnitude), batch_size
        )
        moved = _moved_cheese_move_probs(model, maze, targets, paths, pairs, batch_size, renderer)
    dist = distance_map(maze.world_grid, path_to_top_right(maze) or [])
    n = len(targets)
    return MazeRetarget(
        maze=maze,
        targets=tuple(targets),
        path_steps=np.array([len(paths[t]) - 1 for t in targets], dtype=np.int64),
        steps_to_top_right_path=np.array([dist[t] for t in targets], dtype=np.int64),
        original=geometric_means(base, pairs.target, n),
        clamped=geometric_means(clamped, pairs.target, n),
        moved_cheese=geometric_means(moved, pairs.target, n),
        skipped=skipped,
        forwards=len(obs) + clamped_forwards + len(pairs.target),
    )


@dataclass(frozen=True)
class _Pairs:
    """Every (target, path cell) pair of a maze's targets, grouped by target in order:
    ``target`` (index into the targets), ``cell`` (index into ``mouse_cells``, the distinct
    cells the mouse stands on) and ``move`` (the Movement along the path), each ``(P,)``."""

    mouse_cells: list[Cell]
    target: np.ndarray
    cell: np.ndarray
    move: np.ndarray

    @classmethod
    def of(cls, paths: Sequence[list[Cell]]) -> _Pairs:
        mouse_cells = sorted({c for path in paths for c in path[:-1]})
        row_of = {c: i for i, c in enumerate(mouse_cells)}
        rows = [
            (t, row_of[a], int(Movement.between(a, b)))
            for t, path in enumerate(paths)
            for a, b in zip(path[:-1], path[1:])
        ]
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        target, cell, move = (table[:, k].copy() for k in range(3))
        return cls(mouse_cells, target, cell, move)


def _clamped_move_probs(
    model: HookedImpala,
    obs: np.ndarray,
    pairs: _Pairs,
    positions: np.ndarray,
    clamp: tuple[str, Sequence[int], float],
    batch_size: int,
) -> tuple[np.ndarray, int]:
    """``(P,)`` move probabilities with the clamp at each pair's target square, and the
    forward passes taken: one per distinct (grid square, mouse cell), as in hard mode two
    cells can share a square."""
    squares, square_of_target = np.unique(positions.reshape(-1, 2), axis=0, return_inverse=True)
    cells = max(len(pairs.mouse_cells), 1)
    key = square_of_target.reshape(-1)[pairs.target] * cells + pairs.cell
    unique_keys, pair_to_unique = np.unique(key, return_inverse=True)
    u_square, u_cell = np.divmod(unique_keys, cells)
    probs = _movement_probs(model, obs[u_cell], batch_size, (*clamp, squares[u_square]))
    return probs[pair_to_unique.reshape(-1), pairs.move], len(unique_keys)


def _moved_cheese_move_probs(
    model: HookedImpala,
    maze: Maze,
    targets: Sequence[Cell],
    paths: dict[Cell, list[Cell]],
    pairs: _Pairs,
    batch_size: int,
    renderer: MazeRenderer,
) -> np.ndarray:
    """``(P,)`` move probabilities with the cheese moved to each pair's target: each target
    is its own maze, rendered and run about ``batch_size`` pairs at a time."""
    out = np.zeros(len(pairs.target))
    done = 0
    start = 0
    while start < len(targets):
        stop, size = start, 0
        while stop < len(targets) and (size == 0 or size < batch_size):
            size += len(paths[targets[stop]]) - 1
            stop += 1
        frames = np.concatenate(
            [
                observe_mouse_on_cells(maze.with_cheese(t).to_state(), paths[t][:-1], renderer)
                for t in targets[start:stop]
            ]
        )
        # Frames of several targets differ in the cheese as well: full forward passes.
        probs = _movement_probs(model, frames, batch_size, one_maze=False)
        rows = slice(done, done + len(frames))
        out[rows] = probs[np.arange(len(frames)), pairs.move[rows]]
        done += len(frames)
        start = stop
    return out
