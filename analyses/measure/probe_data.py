"""The probes' data (see :mod:`analyses.probes`): levels split by maze, each maze with the
mouse placed on a few cells (and sometimes without its cheese), rendered by procgen, with
every label the probes predict.

``probe_dataset`` makes it as a sweep (:mod:`hooked_impala.sweep`), one chunk per block of
``LEVEL_BLOCK`` levels: in this process, or as Ray tasks. A block's observations and labels
depend only on its level seeds and the run seed, so they are the same wherever it is made.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from jaxtyping import Bool, Int, UInt8

from hooked_impala import checks
from hooked_impala.maze import (
    WORLD_SIZES,
    Cell,
    DistributionMode,
    Maze,
    MazeRenderer,
    Tile,
    mazes_from_seeds,
)
from hooked_impala.model import HookedImpala
from hooked_impala.sweep import Backend, chunked, run_sweep

VALIDATION_FRACTION = 0.1
OPEN_PROBE_RADIUS = 2  # cell_open: the (2r+1)² cells around the world's centre
LEVEL_BLOCK = 128  # levels generated and rendered at a time (a sweep's chunk)
RENDER_SLOTS = 32  # procgen env slots of a block's renderer
SPLITS = ("train", "validation", "test")


def fraction(name: str, value: float, *, closed_low: bool, upper: float = 1.0) -> float:
    """``value`` in [0, upper) (``closed_low``) or (0, upper); ValueError naming ``name``."""
    value = checks.real(name, value)
    if not ((0.0 <= value if closed_low else 0.0 < value) and value < upper):
        raise ValueError(
            f"{name} must be in {'[' if closed_low else '('}0, {upper:g}), got {value}"
        )
    return value


# --- data ------------------------------------------------------------------------------------


def split_levels(seeds: Sequence[int], test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """``{"train", "validation", "test"}`` -> sorted level seeds: a seeded permutation of
    ``seeds`` cut into ``test_fraction`` test, ``VALIDATION_FRACTION`` validation (each at
    least one maze) and the rest training mazes. Splits are by maze: each seed is in one."""
    test_fraction = fraction(
        "test_fraction", test_fraction, closed_low=False, upper=1 - VALIDATION_FRACTION
    )
    seeds = np.asarray(list(seeds), dtype=np.int64)
    if len(np.unique(seeds)) != len(seeds):
        raise ValueError("the level seeds of a probe split must be distinct")
    n = len(seeds)
    n_test = max(1, round(test_fraction * n))
    n_val = max(1, round(VALIDATION_FRACTION * n))
    if n - n_test - n_val < 1:
        raise ValueError(
            f"probes need at least 3 levels (train, validation and test mazes), got {n}"
        )
    order = np.random.default_rng([seed, 0x9B0BE5]).permutation(n)
    test, val, train = np.split(seeds[order], [n_test, n_test + n_val])
    return {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}


def open_probe_cells(world_size: int) -> list[Cell]:
    """The world cells ``cell_open`` probes: the (2r+1)² block around the world's centre
    (r = ``OPEN_PROBE_RADIUS``), row-major from the bottom-left."""
    centre, r = (world_size - 1) // 2, OPEN_PROBE_RADIUS
    return [
        (row, col)
        for row in range(centre - r, centre + r + 1)
        for col in range(centre - r, centre + r + 1)
    ]


def placements(maze: Maze, positions: int, without_cheese: float, seed: int) -> list[Maze]:
    """``maze`` with the mouse on up to ``positions`` distinct open inner cells other than
    the cheese's (each facing left or right at random), each with its cheese removed with
    probability ``without_cheese``. The draw depends only on ``seed`` and the level seed."""
    cheese = maze.cheese
    candidates = [c for c in maze.open_cells if maze.in_inner(c) and c != cheese]
    rng = np.random.default_rng([seed, maze.seed, 0x40A5E])
    chosen = rng.permutation(len(candidates))[:positions]
    facing = rng.integers(0, 2, size=len(chosen))
    removed = rng.random(len(chosen)) < without_cheese
    out = []
    for k, right, gone in zip(chosen, facing, removed):
        placed = maze.with_mouse(candidates[int(k)], reflected=bool(right))
        out.append(placed.without_cheese() if gone else placed)
    return out


@dataclass(frozen=True)
class ProbeBatch:
    """Observations with their labels (world cells, ``(-1, -1)`` for no cheese).

    Attributes:
        obs: ``(n, 64, 64, 3)`` uint8; maze_seed, maze_size: ``(n,)``;
        cheese, mouse: ``(n, 2)`` world cells; open: ``(n, k)`` bool, the
        ``open_probe_cells`` in order (the cheese's cell counts as open).
    """

    obs: UInt8[np.ndarray, "n 64 64 3"]
    maze_seed: Int[np.ndarray, " n"]
    maze_size: Int[np.ndarray, " n"]
    cheese: Int[np.ndarray, "n 2"]
    mouse: Int[np.ndarray, "n 2"]
    open: Bool[np.ndarray, "n k"]

    def __len__(self) -> int:
        return len(self.maze_seed)

    @property
    def present(self) -> Bool[np.ndarray, " n"]:
        return self.cheese[:, 0] >= 0

    def rows(self, start: int, stop: int) -> ProbeBatch:
        part = slice(start, stop)
        return ProbeBatch(
            obs=self.obs[part],
            maze_seed=self.maze_seed[part],
            maze_size=self.maze_size[part],
            cheese=self.cheese[part],
            mouse=self.mouse[part],
            open=self.open[part],
        )


def probe_observations(
    seeds: Sequence[int],
    mode: DistributionMode,
    *,
    positions_per_maze: int,
    without_cheese: float,
    seed: int,
    renderer: MazeRenderer,
    block: int = LEVEL_BLOCK,
) -> Iterator[tuple[ProbeBatch, int]]:
    """The observations of the levels ``seeds``, ``block`` levels at a time:
    ``(ProbeBatch, number of levels in it)``."""
    cells = open_probe_cells(WORLD_SIZES[mode])
    rows_, cols_ = np.array(cells).T
    seeds = [int(s) for s in seeds]
    for start in range(0, len(seeds), block):
        mazes = mazes_from_seeds(seeds[start : start + block], mode, renderer)
        placed = [p for m in mazes for p in placements(m, positions_per_maze, without_cheese, seed)]
        yield (
            ProbeBatch(
                obs=renderer.observe(placed),
                maze_seed=np.array([p.seed for p in placed], dtype=np.int64),
                maze_size=np.array([p.maze_size for p in placed], dtype=np.int64),
                cheese=np.array([p.cheese or (-1, -1) for p in placed], dtype=np.int64),
                mouse=np.array([p.mouse for p in placed], dtype=np.int64),
                open=np.stack([p.world_grid[rows_, cols_] != int(Tile.WALL) for p in placed]),
            ),
            len(mazes),
        )


def probe_block(
    model: HookedImpala | None,
    seeds: Sequence[int],
    *,
    mode: DistributionMode,
    positions_per_maze: int,
    without_cheese: float,
    seed: int,
) -> list[tuple[ProbeBatch, int]]:
    """``probe_dataset``'s chunk function (``model`` unused): the levels ``seeds`` as one
    block, ``(ProbeBatch, len(seeds))``, rendered by a renderer of its own (at most
    ``RENDER_SLOTS`` env slots, reused by every batch of edited mazes)."""
    with MazeRenderer(max_batch=RENDER_SLOTS) as renderer:
        return list(
            probe_observations(
                seeds,
                mode,
                positions_per_maze=positions_per_maze,
                without_cheese=without_cheese,
                seed=seed,
                renderer=renderer,
                block=max(1, len(seeds)),
            )
        )


def probe_dataset(
    splits: Mapping[str, Sequence[int]],
    mode: DistributionMode,
    *,
    positions_per_maze: int,
    without_cheese: float,
    seed: int,
    backend: Backend | None = None,
    block: int = LEVEL_BLOCK,
) -> Iterator[tuple[str, ProbeBatch, int]]:
    """The observations of every split's levels (``split_levels``), the splits in
    ``SPLITS`` order, each in blocks of ``block`` levels (the last one shorter):
    ``(split, block, number of levels in it)``, in that order wherever the blocks are made
    (``backend``: this process by default; on Ray one task per block, and a later split's
    blocks can be made while the caller still reads an earlier one). Close the iterator (or
    exhaust it) to stop what is still running."""
    block = checks.integer("block", block, minimum=1)
    chunks = [(name, chunk) for name in SPLITS for chunk in chunked(list(splits[name]), block)]
    make = functools.partial(
        probe_block,
        mode=mode,
        positions_per_maze=positions_per_maze,
        without_cheese=without_cheese,
        seed=seed,
    )
    # One block per chunk: the n-th row is the n-th chunk's, so it is in chunks[n]'s split.
    rows = run_sweep(
        None, [chunk for _, chunk in chunks], make, backend=backend or Backend(), ordered=True
    )
    return _with_split([name for name, _ in chunks], rows)


def _with_split(
    names: list[str], rows: Iterator[tuple[ProbeBatch, int]]
) -> Iterator[tuple[str, ProbeBatch, int]]:
    """``(split, block, levels)``: each block with its chunk's split; closing this closes
    ``rows``."""
    try:
        for name, (block, levels) in zip(names, rows, strict=True):
            yield name, block, levels
    finally:
        rows.close()
