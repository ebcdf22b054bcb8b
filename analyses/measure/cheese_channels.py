"""Cheese channels, measured: how well each channel of a layer follows the cheese.

The cheese is moved over up to ``cells_per_maze`` open cells of each maze (a seeded draw;
the mouse stays where the maze has it), the layer's activations are recorded, each cheese
cell is mapped to the layer's grid square (:func:`hooked_impala.maze.layer_positions`) and
every channel is scored by three measures (``SCORES``; see the ``cheese_channels``
analysis for their meaning). Used by the ``cheese_channels`` analysis (figures, summary)
and by every analysis that clamps or resamples the top cheese channels (retarget,
resample, weight_diff).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from jaxtyping import Float, Int
from scipy.stats import hypergeom
from tqdm.auto import tqdm

from analyses.core.inputs import DEFAULT_LAYER, observations
from analyses.measure.channels import spatial_shape
from hooked_impala import checks
from hooked_impala.maze import Cell, Maze, MazeRenderer, layer_positions
from hooked_impala.model import HookedImpala

Score = Literal["correlation", "difference_correlation", "argmax_distance"]
SCORES: tuple[str, ...] = get_args(Score)
LOWER_IS_BETTER = frozenset({"argmax_distance"})
NEAR = 1  # "the maximum is on the cheese": within this many grid squares (Chebyshev)
EXAMPLE_COLUMNS = 4  # cheese positions kept as examples (the analysis's maps figure)
CELLS_PER_MAZE = 32  # cheese placements per maze
BATCH_SIZE = 64  # observations per forward pass


def cheese_placements(
    mazes: Sequence[Maze], cells_per_maze: int, seed: int
) -> list[tuple[int, Cell]]:
    """``(maze index, cheese cell)`` pairs: for each maze, up to ``cells_per_maze`` of its
    open inner cells other than the mouse's, drawn without replacement (all of them if
    there are fewer). Each maze's draw depends only on ``seed`` and its level seed, so
    reordering the mazes reorders the placements and changes nothing else."""
    cells_per_maze = checks.integer("cells_per_maze", cells_per_maze, minimum=1)
    out: list[tuple[int, Cell]] = []
    for index, maze in enumerate(mazes):
        candidates = [c for c in maze.open_cells if maze.in_inner(c) and c != maze.mouse]
        if not candidates:
            raise ValueError(f"maze seed {maze.seed} has no open cell for the cheese")
        rng = np.random.default_rng([seed, maze.seed])
        if len(candidates) <= cells_per_maze:
            chosen = range(len(candidates))
        else:
            chosen = rng.choice(len(candidates), size=cells_per_maze, replace=False)
        out += [(index, candidates[int(i)]) for i in chosen]
    return out


class IndicatorCorrelation:
    """Streaming point-biserial correlation, per channel, between ``values`` and the
    indicator of one square per observation, over all (observation, square) pairs.

    Sums are float64 and shifted by the first batch's channel means, so a constant channel
    has exactly zero variance (its correlation is defined as 0).
    """

    def __init__(self) -> None:
        self.shift: torch.Tensor | None = None
        self.sum = self.sum_sq = self.sum_at = 0.0
        self.pairs = self.ones = 0

    def update(
        self, values: Float[torch.Tensor, "n c h w"], squares: Int[torch.Tensor, "n 2"]
    ) -> None:
        v = values.double()
        if self.shift is None:
            self.shift = v.mean((0, 2, 3))
        d = v - self.shift[None, :, None, None]
        at = d[torch.arange(len(d)), :, squares[:, 0], squares[:, 1]]  # (n, c)
        self.sum = self.sum + d.sum((0, 2, 3))
        self.sum_sq = self.sum_sq + (d * d).sum((0, 2, 3))
        self.sum_at = self.sum_at + at.sum(0)
        self.pairs += d.shape[0] * d.shape[2] * d.shape[3]
        self.ones += d.shape[0]

    def value(self) -> Float[torch.Tensor, " c"]:
        p = self.ones / self.pairs
        mean = self.sum / self.pairs
        var = (self.sum_sq / self.pairs - mean**2).clamp_min(0.0)
        cov = self.sum_at / self.pairs - p * mean
        # float32 activations carry ~7 digits: less spread than that is a constant channel.
        flat = var.sqrt() <= 1e-7 * (self.shift + mean).abs()
        r = cov / (var.sqrt() * np.sqrt(p * (1 - p))).clamp_min(1e-300)
        return torch.where(flat, torch.zeros_like(r), r)


def argmax_distances(
    maps: Float[torch.Tensor, "n c h w"], squares: Int[torch.Tensor, "n 2"]
) -> tuple[Float[torch.Tensor, "n c"], torch.Tensor]:
    """Per observation and channel: the mean Euclidean distance (grid squares) from the
    squares holding the map's maximum to the cheese's square, and whether every such
    square is within ``NEAR`` squares (Chebyshev) of it (bool ``(n, c)``)."""
    n, c, h, w = maps.shape
    flat = maps.reshape(n, c, h * w)
    tied = flat == flat.amax(-1, keepdim=True)
    i = torch.arange(h, device=maps.device).repeat_interleave(w)
    j = torch.arange(w, device=maps.device).repeat(h)
    di = (i[None, :] - squares[:, :1]).double()  # (n, hw)
    dj = (j[None, :] - squares[:, 1:]).double()
    dist = (di**2 + dj**2).sqrt()
    far = torch.maximum(di.abs(), dj.abs()) > NEAR
    mean_dist = (tied * dist[:, None, :]).sum(-1) / tied.sum(-1)
    near = ~(tied & far[:, None, :]).any(-1)
    return mean_dist, near


@dataclass(kw_only=True)
class ChannelScores:
    """How well each channel of ``layer`` follows the cheese over a set of placements.

    Attributes:
        layer: the hook; ``layer_shape``: its ``(C, H, W)``.
        scores: ``{score name: (C,) float64}``.
        near_cheese: ``(N, C)`` bool, per observation: the channel's maximum lies within
            ``NEAR`` squares of the cheese (all tied maxima).
        maze_index, cheese_cells, squares: ``(N,)`` and ``(N, 2)`` per observation: which
            maze, the cheese's world cell, its grid square ``(i, j)`` (i from the top).
        distances: ``(N, C)`` per-observation argmax distance.
        chance_distance, flat_map_distance, chance_near: the chance levels.
        example_observations ``(K, 64, 64, 3)``, example_maps ``(K, C, H, W)``,
        example_squares ``(K, 2)``: the first maze's first K placements.
    """

    layer: str
    layer_shape: tuple[int, int, int]
    scores: dict[str, torch.Tensor]
    near_cheese: torch.Tensor
    maze_index: torch.Tensor
    cheese_cells: torch.Tensor
    squares: torch.Tensor
    distances: torch.Tensor
    chance_distance: float
    flat_map_distance: float
    chance_near: float
    example_observations: torch.Tensor
    example_maps: torch.Tensor
    example_squares: torch.Tensor

    def ranked(self, score: Score = "correlation") -> list[int]:
        """Every channel, best first by ``score``."""
        return rank_channels(self.scores[score], score)


def rank_channels(values: torch.Tensor, score: str) -> list[int]:
    """Channels best first by ``score`` (ties: lower index first)."""
    key = values if score in LOWER_IS_BETTER else -values
    return [int(c) for c in np.argsort(key.numpy(), kind="stable")]


def _chance_levels(
    mazes: Sequence[Maze],
    placements: Sequence[tuple[int, Cell]],
    squares: np.ndarray,
    size: int,
) -> tuple[float, float, float]:
    """(mean distance to a random candidate cell's square, to a random grid square,
    probability that a random candidate cell's square is within NEAR)."""
    candidates = {}
    for index, maze in enumerate(mazes):
        cells = [c for c in maze.open_cells if maze.in_inner(c) and c != maze.mouse]
        candidates[index] = layer_positions(cells, maze.world_size, size)
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1)
    grid = grid.reshape(-1, 2)
    to_cell, to_square, near = [], [], []
    for (index, _), square in zip(placements, squares):
        offsets = candidates[index] - square
        to_cell.append(np.hypot(*offsets.T).mean())
        near.append((np.abs(offsets).max(1) <= NEAR).mean())
        to_square.append(np.hypot(*(grid - square).T).mean())
    return float(np.mean(to_cell)), float(np.mean(to_square)), float(np.mean(near))


def score_channels(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    cells_per_maze: int = CELLS_PER_MAZE,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    progress: bool = False,
) -> ChannelScores:
    """Move the cheese over up to ``cells_per_maze`` cells of each maze (mouse left where it
    is) and score every channel of ``layer`` by how well it follows the cheese."""
    mazes = list(mazes)
    if not mazes or not all(isinstance(m, Maze) for m in mazes):
        kinds = sorted({type(m).__name__ for m in mazes}) or ["nothing"]
        raise ValueError(f"cheese_channels takes a non-empty list of Maze values, got {kinds}")
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    layer = model.resolve_hook_name(layer)
    channels, size, _ = spatial_shape(model, layer)
    placements = cheese_placements(mazes, cells_per_maze, seed)
    maze_index = np.array([i for i, _ in placements])
    cells = np.array([c for _, c in placements], dtype=np.int64)
    squares = np.zeros_like(cells)
    for i, maze in enumerate(mazes):  # each maze with its own world size
        mine = [c for k, c in placements if k == i]
        squares[maze_index == i] = layer_positions(mine, maze.world_size, size)
    device = model.device
    raw, diff = IndicatorCorrelation(), IndicatorCorrelation()
    distances = torch.zeros(len(placements), channels, dtype=torch.float64)
    near = torch.zeros(len(placements), channels, dtype=torch.bool)
    examples = [k for k, i in enumerate(maze_index) if i == 0][:EXAMPLE_COLUMNS]
    example_obs, example_maps = [], []
    with MazeRenderer() as renderer, torch.no_grad():

        def activations(items: Sequence[Maze]) -> tuple[torch.Tensor, torch.Tensor]:
            """``(n, C, H, W)`` activations at ``layer`` and the ``(n, 64, 64, 3)`` frames."""
            obs = observations(items, renderer)
            _, cache = model.run_with_cache(obs.to(device), names_filter=[layer])
            return cache[layer], obs

        without = torch.cat(
            [
                activations([m.without_cheese() for m in mazes[s : s + batch_size]])[0]
                for s in range(0, len(mazes), batch_size)
            ]
        )
        bar = tqdm(total=len(placements), desc="cheese placements", disable=not progress)
        for start in range(0, len(placements), batch_size):
            part = slice(start, start + batch_size)
            items = [mazes[i].with_cheese(c) for i, c in placements[part]]
            acts, obs = activations(items)
            where = torch.from_numpy(squares[part]).to(device)
            raw.update(acts, where)
            diff.update(acts - without[torch.from_numpy(maze_index[part]).to(device)], where)
            dist, is_near = argmax_distances(acts, where)
            distances[part] = dist.cpu()
            near[part] = is_near.cpu()
            chosen = [k - start for k in examples if start <= k < start + len(items)]
            example_obs.append(obs[chosen])
            example_maps.append(acts[chosen].float().cpu())
            bar.update(len(items))
        bar.close()
    chance, flat, chance_near = _chance_levels(mazes, placements, squares, size)
    scores = {
        "correlation": raw.value().cpu(),
        "difference_correlation": diff.value().cpu(),
        "argmax_distance": distances.mean(0),
    }
    return ChannelScores(
        layer=layer,
        layer_shape=(channels, size, size),
        scores=scores,
        near_cheese=near,
        maze_index=torch.from_numpy(maze_index),
        cheese_cells=torch.from_numpy(cells),
        squares=torch.from_numpy(squares),
        distances=distances.float(),
        chance_distance=chance,
        flat_map_distance=flat,
        chance_near=chance_near,
        example_observations=torch.cat(example_obs),
        example_maps=torch.cat(example_maps),
        example_squares=torch.from_numpy(squares[examples]),
    )


#: How many cheese channels the retargeting clamps together by default (the paper's recipe);
#: the dictionary and patching analyses compare with the same set.
RETARGET_CHANNELS = 3


def overlap_with_chance(chosen: Sequence[int], cheese: Sequence[int], channels: int) -> dict:
    """How many of ``cheese`` are among ``chosen`` (both channels of one layer of
    ``channels``), the count expected by chance, and P(at least that many) if ``chosen`` were
    a random set of its size (hypergeometric)."""
    both = sorted(set(chosen) & set(cheese))
    k, n = len(set(cheese)), len(set(chosen))
    return {
        "overlap": both,
        "count": len(both),
        "expected": k * n / channels,
        "p_at_least": float(hypergeom(channels, k, n).sf(len(both) - 1)),
    }


def top_cheese_channels(
    model: HookedImpala, mazes: Sequence[Maze], k: int, *, layer: str, seed: int
) -> list[int]:
    """The ``k`` channels of ``layer`` that best follow the cheese in ``mazes`` (by
    correlation)."""
    return score_channels(model, mazes, layer=layer, seed=seed).ranked()[:k]
