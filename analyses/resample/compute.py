"""The resampling measurement: source mazes for each target, activations swapped in channel
subsets, the total-variation change of the action distribution, and its maze-clustered
bootstrap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from jaxtyping import Float, UInt8
from tqdm.auto import tqdm

from analyses.measure.channels import check_channels
from analyses.measure.cheese_channels import top_cheese_channels
from hooked_impala import checks
from hooked_impala.interventions import ReplaceChannels
from hooked_impala.maze import Cell, Maze, Tile
from hooked_impala.model import HookedImpala
from hooked_impala.policy import vector_field_cells
from hooked_impala.stats import bootstrap_over_mazes

Source = Literal["next", "random"]
SOURCES: tuple[str, ...] = get_args(Source)
CONDITIONS = ("same", "different")
# The paper resampled 11 of the 128 channels of its layer; by default the same fraction.
PAPER_FRACTION = 11 / 128


def total_variation(
    p: Float[torch.Tensor, "*batch k"], q: Float[torch.Tensor, "*batch k"]
) -> Float[torch.Tensor, "*batch"]:
    """0.5·Σ|p − q| over the last axis: the total-variation distance of two distributions."""
    if p.shape != q.shape:
        raise ValueError(f"distributions of different shapes {tuple(p.shape)}, {tuple(q.shape)}")
    return 0.5 * (p - q).abs().sum(-1)


def default_subset_size(layer_channels: int) -> int:
    """The paper's fraction of the layer (11 of 128), rounded, at least 1: 3 of 32 at s=1."""
    return max(1, round(layer_channels * PAPER_FRACTION))


@dataclass(frozen=True)
class SourcePair:
    """The mazes one target's positions are resampled from.

    ``same``: the source maze S with its cheese on the target's cheese cell (None when that
    cell is not open in S); ``different``: S with its cheese on another cell.
    """

    target: Maze
    same: Maze | None
    different: Maze


def is_open(maze: Maze, cell: Cell) -> bool:
    return maze.in_inner(cell) and maze.world_grid[cell] != Tile.WALL


def _cheese_on(maze: Maze, cell: Cell) -> Maze | None:
    """``maze`` with its cheese on ``cell``, or None if the cell is not open there. The
    maze's own mouse is moved off the cell first: only the positions rendered later count."""
    if not is_open(maze, cell):
        return None
    if maze.mouse == cell:
        elsewhere = next(c for c in maze.open_cells if c not in (cell, maze.cheese))
        maze = maze.with_mouse(elsewhere)
    return maze.with_cheese(cell)


def source_mazes(
    mazes: Sequence[Maze], source: Source, rng: np.random.Generator
) -> list[Maze | None]:
    """For each maze, another maze of the same distribution mode in which its cheese cell is
    open (so the cheese can be moved there): the next such maze in the list (cyclically) or
    a seeded random one. None when no other maze qualifies (or the maze has no cheese).

    Mazes of different sizes put their walls on different cells, so the plain next maze
    often has a wall on the target's cheese cell; walking on to the next that does not
    keeps most targets instead of skipping them."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    chosen: list[Maze | None] = []
    for i, target in enumerate(mazes):
        order = [(i + step) % len(mazes) for step in range(1, len(mazes))]
        candidates = [
            mazes[j]
            for j in order
            if target.cheese is not None
            and mazes[j].distribution_mode == target.distribution_mode
            and is_open(mazes[j], target.cheese)
        ]
        if not candidates:
            chosen.append(None)
        elif source == "next":
            chosen.append(candidates[0])
        else:
            chosen.append(candidates[int(rng.integers(len(candidates)))])
    return chosen


def pair_sources(target: Maze, source: Maze, rng: np.random.Generator) -> SourcePair:
    """The "same" and "different" versions of ``source`` for ``target`` (which has a cheese)."""
    same = _cheese_on(source, target.cheese)
    if source.cheese is not None and source.cheese != target.cheese:
        different = source
    else:  # its own cheese is on the target's cell (or it has none): a seeded other cell
        cells = [c for c in source.open_cells if c != target.cheese and source.in_inner(c)]
        different = _cheese_on(source, cells[int(rng.integers(len(cells)))])
    return SourcePair(target=target, same=same, different=different)


def resample_effects(
    model: HookedImpala,
    target_obs: UInt8[torch.Tensor, "n 64 64 3"],
    source_activations: Float[torch.Tensor, "n c h w"],
    layer: str,
    subsets: Sequence[Sequence[int]],
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[Float[torch.Tensor, "g n"], Float[torch.Tensor, "g n"]]:
    """Total-variation change per subset and observation, over the 15 actions and over the 5
    movements, when each subset's channels at ``layer`` take the source activations (one row
    per observation). Computed in chunks of ``batch_size`` observations, the same chunks for
    every pass, so a source equal to the target's own activation gives exactly 0."""
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    if source_activations.shape[0] != len(target_obs):
        raise ValueError(
            f"{source_activations.shape[0]} source activations for {len(target_obs)} "
            "observations: pass one per observation"
        )
    n = len(target_obs)
    tv = torch.zeros(len(subsets), n)
    tv_moves = torch.zeros(len(subsets), n)
    chunks = range(0, n, batch_size)
    bar = tqdm(total=len(chunks) * len(subsets), desc="resampling", disable=not progress)
    with torch.no_grad():
        for start in chunks:
            rows = slice(start, start + batch_size)
            obs = target_obs[rows].to(model.device)
            original = model(obs)
            p, p_moves = original.probs.double(), original.movement_probs.double()
            for g, subset in enumerate(subsets):
                patch = ReplaceChannels(layer, tuple(subset), source_activations[rows])
                out = model.run_with_hooks(obs, fwd_hooks=patch.hooks())
                tv[g, rows] = total_variation(p, out.probs.double()).cpu().float()
                tv_moves[g, rows] = (
                    total_variation(p_moves, out.movement_probs.double()).cpu().float()
                )
                bar.update()
    bar.close()
    return tv, tv_moves


def layer_activations(
    model: HookedImpala, obs: UInt8[torch.Tensor, "n 64 64 3"], layer: str, batch_size: int
) -> Float[torch.Tensor, "n c h w"]:
    """Activations at ``layer``, in chunks of ``batch_size`` (as ``resample_effects`` runs)."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(obs), batch_size):
            _, cache = model.run_with_cache(
                obs[start : start + batch_size].to(model.device), names_filter=[layer]
            )
            parts.append(cache[layer].cpu())
    return torch.cat(parts)


def spread(values: np.ndarray, clusters: np.ndarray, seed: int) -> dict[str, object]:
    """Mean, sd over positions, n positions, the number of mazes, and a 95% interval of the
    mean from a bootstrap over whole mazes (``clusters``): positions of one maze are not
    independent (:func:`hooked_impala.stats.bootstrap_over_mazes`)."""
    values = np.asarray(values, dtype=np.float64)
    found = bootstrap_over_mazes(values, clusters, seed=seed) if len(values) else None
    return {
        "mean": float(values.mean()) if len(values) else None,
        "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
        "n": int(len(values)),
        "mazes": len(set(np.asarray(clusters).tolist())),
        "ci95": [None, None] if found is None else [found.low, found.high],
        "method": None if found is None else found.method,
    }


def chosen_positions(
    maze: Maze, positions_per_maze: int | None, rng: np.random.Generator
) -> list[Cell]:
    cells = vector_field_cells(maze)
    if positions_per_maze is None or positions_per_maze >= len(cells):
        return cells
    picks = rng.choice(len(cells), size=positions_per_maze, replace=False)
    return [cells[i] for i in sorted(picks)]


def choose_channels(
    model: HookedImpala,
    selection: Sequence[Maze],
    layer: str,
    layer_channels: int,
    channels: Sequence[int] | None,
    cheese_channels: int | None,
    seed: int,
) -> tuple[tuple[int, ...], str]:
    if channels is not None and cheese_channels is not None:
        raise ValueError("pass channels or cheese_channels, not both")
    if channels is not None:
        return tuple(check_channels(channels, layer_channels, layer)), "given"
    k = default_subset_size(layer_channels) if cheese_channels is None else cheese_channels
    k = checks.integer("cheese_channels", k, minimum=1, maximum=layer_channels)
    chosen = tuple(top_cheese_channels(model, selection, k, layer=layer, seed=seed))
    source = f"cheese_channels top {k} (ranked on selection mazes)"
    return tuple(check_channels(chosen, layer_channels, layer)), source
