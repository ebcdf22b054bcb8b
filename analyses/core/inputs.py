"""Inputs of the analyses: observations from mazes, the standard maze selection, the
states a policy can be in, every level of a seed range.

An analysis's ``inputs`` are uint8 observations ``(N, 64, 64, 3)`` or ``Maze`` values; each
analysis declares (``Analysis.select``) which inputs it takes from a set of mazes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import UInt8

from hooked_impala import checks
from hooked_impala.maze import (
    DEFAULT_MODE,
    TOP_RIGHT_5,
    DistributionMode,
    Maze,
    MazeRenderer,
    decision_points,
    decision_square,
    mazes_from_seeds,
)
from hooked_impala.policy import vector_field_cells

DEFAULT_LAYER = "embedder.block2.res1.resadd_out"  # the paper's cheese-vector layer


class NotApplicable(ValueError):
    """These inputs give the analysis nothing to measure (e.g. too few mazes with a decision
    square). The report says so and goes on; any other error is a bug and stops it."""


@dataclass(frozen=True)
class Levels:
    """Every level of a range of seeds, in one distribution mode: the input of the analyses
    that study a whole population of mazes (behaviour statistics, probes), not only the
    selected ones. Mazes are generated on demand, a block at a time."""

    mode: DistributionMode
    seeds: range

    def __post_init__(self) -> None:
        if not isinstance(self.seeds, range) or self.seeds.step != 1 or len(self.seeds) == 0:
            raise ValueError(f"Levels takes a non-empty range of seeds, got {self.seeds!r}")
        checks.integer("first seed", self.seeds.start, minimum=0, maximum=checks.MAX_SEED)
        checks.integer("last seed", self.seeds.stop - 1, minimum=0, maximum=checks.MAX_SEED)

    def __len__(self) -> int:
        return len(self.seeds)

    def __str__(self) -> str:
        return f"{len(self)} {self.mode} levels (seeds {self.seeds.start}..{self.seeds.stop - 1})"

    def mazes(self, renderer: MazeRenderer | None = None, block: int = 512) -> Iterator[Maze]:
        """The levels, in seed order."""
        for start in range(0, len(self.seeds), block):
            yield from mazes_from_seeds(self.seeds[start : start + block], self.mode, renderer)


Inputs = Sequence[Maze] | np.ndarray | torch.Tensor | Levels


def observations(
    inputs: Inputs, renderer: MazeRenderer | None = None
) -> UInt8[torch.Tensor, "n 64 64 3"]:
    """uint8 ``(N, 64, 64, 3)`` observations of mazes (rendered by procgen) or passed through."""
    if isinstance(inputs, torch.Tensor):
        return inputs
    if isinstance(inputs, np.ndarray):
        return torch.from_numpy(inputs)
    items = list(inputs)
    if not all(isinstance(m, Maze) for m in items):
        kinds = sorted({type(m).__name__ for m in items})
        raise TypeError(f"inputs must be observations (tensor/array) or Maze values, got {kinds}")
    if renderer is not None:
        return torch.from_numpy(renderer.observe(items))
    with MazeRenderer() as own:
        return torch.from_numpy(own.observe(items))


def at_most(obs: torch.Tensor, max_observations: int | None, seed: int) -> torch.Tensor:
    """``obs`` ``(N, ...)``, or a uniform sample of ``max_observations`` of them drawn with
    ``seed``, in their original order."""
    if max_observations is None:
        return obs
    checks.integer("max_observations", max_observations, minimum=1)
    if len(obs) <= max_observations:
        return obs
    keep = torch.randperm(len(obs), generator=torch.Generator().manual_seed(seed))
    return obs[keep[:max_observations].sort().values.to(obs.device)]


def maze_seeds(inputs: Inputs) -> tuple[int, ...]:
    """The distinct level seeds of maze inputs, in first-seen order (none for observations)."""
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        return ()
    if isinstance(inputs, Levels):
        return tuple(inputs.seeds)
    return tuple(dict.fromkeys(m.seed for m in inputs))


def select_mazes(
    count: int,
    distribution_mode: DistributionMode = DEFAULT_MODE,
    first_seed: int = 0,
    renderer: MazeRenderer | None = None,
    max_seeds: int = 100_000,
) -> list[Maze]:
    """The first ``count`` levels from ``first_seed`` that have a decision square and the
    cheese outside the top-right 5×5 region: the mazes where the two goals disagree, as in
    the behavioural studies."""
    count = checks.integer("count", count, minimum=1)
    first_seed = checks.integer("first_seed", first_seed, minimum=0, maximum=checks.MAX_SEED)
    chosen: list[Maze] = []
    seed = first_seed
    while len(chosen) < count:
        if seed - first_seed > max_seeds:
            raise ValueError(
                f"only {len(chosen)} of {count} mazes qualify among seeds {first_seed}..{seed}"
            )
        batch = mazes_from_seeds(range(seed, seed + 4 * count), distribution_mode, renderer)
        seed += 4 * count
        for maze in batch:
            if decision_square(maze) is None or maze.cheese in set(TOP_RIGHT_5.cells(maze)):
                continue
            chosen.append(maze)
            if len(chosen) == count:
                break
    return chosen


def every_open_cell(mazes: Sequence[Maze]) -> list[Maze]:
    """Each maze with the mouse on each of its vector-field cells: the states a policy can
    be in."""
    return [m.with_mouse(c) for m in mazes for c in vector_field_cells(m)]


def at_decision_squares(mazes: Sequence[Maze]) -> list[Maze]:
    """The mazes that have a decision square, with the mouse on it."""
    return [p.maze for p in decision_points(mazes)]
