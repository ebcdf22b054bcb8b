"""The training mazes of PPO fine-tuning: level seeds and where each episode's cheese goes.

No stable-baselines3 here (the command line and the model card read these names without
the ``rl`` extra); the env that plays these mazes is ``hooked_impala.train.vec_env``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Literal, get_args

import numpy as np

from hooked_impala.maze import (
    ANYWHERE,
    TOP_RIGHT_5,
    Cell,
    DistributionMode,
    Maze,
    MazeRenderer,
    mazes_from_seeds,
)
from hooked_impala.maze.render import check_seed, mode_code

CheeseOption = Literal["anywhere", "top-right", "outside"]
CHEESE_OPTIONS: tuple[str, ...] = get_args(CheeseOption)
#: The first training level seed: evaluations use seeds below it (as the imitation trainer).
TRAIN_FIRST_SEED = 1_000_000


def check_cheese_option(option: str) -> CheeseOption:
    """``option`` if it is a cheese option; ValueError naming the choices otherwise."""
    if option not in CHEESE_OPTIONS:
        raise ValueError(f"cheese must be one of {', '.join(CHEESE_OPTIONS)}, got {option!r}")
    return option  # type: ignore[return-value]


def cheese_cells(maze: Maze, option: CheeseOption) -> list[Cell]:
    """The cells where ``option`` may put the cheese in ``maze`` (open, not the spawn cell):
    the whole inner maze, the top-right 5×5 region, or the inner maze outside that region."""
    if check_cheese_option(option) == "anywhere":
        return ANYWHERE.cheese_cells(maze)
    if option == "top-right":
        return TOP_RIGHT_5.cheese_cells(maze)
    region = set(TOP_RIGHT_5.cells(maze))
    return [c for c in ANYWHERE.cheese_cells(maze) if c not in region]


class EpisodeMazes(Iterator[Maze]):
    """The start mazes of successive training episodes.

    Level seeds ``first_seed, first_seed + 1, ...`` in order; the cheese on a cell drawn
    uniformly from ``cheese_cells`` by a generator keyed on (run seed, level seed), so a
    level's cheese does not depend on which env played it or when. Levels without such a
    cell (``outside`` in a maze no larger than the region) are skipped. ``next_seed`` is
    the seed of the next maze to hand out: a new ``EpisodeMazes`` started there continues
    the sequence (what a resumed run does).
    """

    def __init__(
        self,
        cheese: CheeseOption,
        distribution_mode: DistributionMode,
        first_seed: int,
        seed: int,
        renderer: MazeRenderer,
        chunk: int = 64,
    ) -> None:
        self.cheese = check_cheese_option(cheese)
        mode_code(distribution_mode)
        self.mode, self.seed = distribution_mode, int(seed)
        self.next_seed = check_seed(first_seed)
        self.renderer, self.chunk = renderer, chunk
        self._buffer: deque[Maze] = deque()  # generated levels, seeds next_seed and up
        self.skipped = 0  # levels without a cell for the cheese option

    def __next__(self) -> Maze:
        while True:
            if not self._buffer:
                seeds = range(self.next_seed, self.next_seed + self.chunk)
                self._buffer.extend(mazes_from_seeds(seeds, self.mode, self.renderer))
            maze = self._buffer.popleft()
            self.next_seed = maze.seed + 1
            cells = cheese_cells(maze, self.cheese)
            if cells:
                rng = np.random.default_rng([self.seed, maze.seed])
                return maze.with_cheese(cells[int(rng.integers(len(cells)))])
            self.skipped += 1
