"""Imitation data: observations of mazes with the mouse on many cells, oracle labels.

A sample is fully described by six integers (its *spec*): level seed, cheese row and
column, mouse row and column, sprite flag. Specs are what a resumable checkpoint stores;
the pixels are re-rendered from them (exactly, by procgen) when needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Int64, UInt8

from hooked_impala.maze.maze import Cell, Maze, mazes_from_seeds
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.maze.render import MazeRenderer
from hooked_impala.train.oracle import oracle_label_array

SPEC_COLUMNS = ("seed", "cheese_row", "cheese_col", "mouse_row", "mouse_col", "reflected")


@dataclass
class Samples:
    """``obs`` uint8 (N, 64, 64, 3), ``labels`` int64 (N,) ``Movement`` values, ``specs``
    int64 (N, 6) in ``SPEC_COLUMNS`` order."""

    obs: UInt8[torch.Tensor, "n 64 64 3"]
    labels: Int64[torch.Tensor, " n"]
    specs: Int64[np.ndarray, "n 6"]

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def empty(cls) -> Samples:
        return cls(
            torch.zeros(0, 64, 64, 3, dtype=torch.uint8),
            torch.zeros(0, dtype=torch.int64),
            np.zeros((0, len(SPEC_COLUMNS)), dtype=np.int64),
        )


def samples_for_maze(
    maze: Maze, cells: Sequence[Cell], reflected: Sequence[bool], renderer: MazeRenderer
) -> Samples:
    """Samples of ``maze`` (cheese placed) with the mouse on each cell, facing as given."""
    if len(cells) != len(reflected):
        raise ValueError(f"{len(cells)} cells but {len(reflected)} sprite flags")
    order: list[int] = []
    frames = []
    for flag in (False, True):
        idx = [i for i, f in enumerate(reflected) if bool(f) == flag]
        if idx:
            frames.append(
                observe_mouse_on_cells(
                    maze.to_state(), [cells[i] for i in idx], renderer, reflected=flag
                )
            )
            order += idx
    obs = np.empty((len(cells), 64, 64, 3), dtype=np.uint8)
    if order:
        obs[order] = np.concatenate(frames)
    cheese = maze.cheese
    specs = np.asarray(
        [
            (maze.seed, cheese[0], cheese[1], r, c, int(bool(f)))
            for (r, c), f in zip(cells, reflected)
        ],
        dtype=np.int64,
    ).reshape(-1, len(SPEC_COLUMNS))
    return Samples(torch.from_numpy(obs), torch.from_numpy(oracle_label_array(maze, cells)), specs)


def all_cell_samples(
    mazes: Sequence[Maze], renderer: MazeRenderer, rng: np.random.Generator, progress=None
) -> Samples:
    """Every open cell (but the cheese's) of every maze, each with a random sprite flag."""
    parts = []
    for maze in mazes:
        cells = [c for c in maze.open_cells if c != maze.cheese]
        flags = rng.integers(0, 2, size=len(cells)).astype(bool).tolist()
        parts.append(samples_for_maze(maze, cells, flags, renderer))
        if progress is not None:
            progress.update(1)
    return concat(parts)


def concat(parts: Sequence[Samples]) -> Samples:
    if not parts:
        return Samples.empty()
    return Samples(
        torch.cat([p.obs for p in parts]),
        torch.cat([p.labels for p in parts]),
        np.concatenate([p.specs for p in parts]),
    )


def samples_from_specs(
    specs: np.ndarray, distribution_mode: str, renderer: MazeRenderer
) -> Samples:
    """Re-render samples from their specs (e.g. when resuming training)."""
    specs = np.asarray(specs, dtype=np.int64).reshape(-1, len(SPEC_COLUMNS))
    keys = sorted({(int(s[0]), int(s[1]), int(s[2])) for s in specs})
    seeds = sorted({k[0] for k in keys})
    bases = dict(zip(seeds, mazes_from_seeds(seeds, distribution_mode, renderer)))
    parts = []
    for seed, cheese_row, cheese_col in keys:
        rows = specs[
            (specs[:, 0] == seed) & (specs[:, 1] == cheese_row) & (specs[:, 2] == cheese_col)
        ]
        maze = bases[seed].with_cheese((cheese_row, cheese_col))
        cells = [(int(r), int(c)) for r, c in rows[:, 3:5]]
        parts.append(samples_for_maze(maze, cells, rows[:, 5].astype(bool).tolist(), renderer))
    return concat(parts)
