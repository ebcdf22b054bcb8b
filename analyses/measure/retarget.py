"""Retargeting, measured: rollouts towards a target with channels clamped at its grid square,
the corner experiment (predictions B2/B6), the clamp's footprint (how many activations it
changes) and the automatic clamp magnitude. The normalised path probabilities are
:mod:`analyses.measure.retarget_paths`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from analyses.measure.channels import spatial_shape
from analyses.measure.retarget_paths import clamp_at_cells, target_paths
from hooked_impala.interventions import ModifiedCount, clamp_channels, count_modified
from hooked_impala.maze import Cell, Maze, MazeRenderer, layer_positions
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, rollout
from hooked_impala.stats import Rate, bootstrap_over_mazes

#: Without an explicit magnitude, the clamp value is this multiple of the channels' typical
#: peak: the largest |activation| of the clamped channels in an observation (any position),
#: averaged over the mazes' start observations (a mean, so it does not grow with the number
#: of mazes as a maximum would). The paper's +5.5 is in the units of the s=4 network's
#: channel 55; a channel's own peak carries to any checkpoint. On the s=1 agent this
#: multiple was the best for the default 3 channels and for 6; one channel alone did best at
#: 6x (the sweep is in docs/analyses/retarget.md).
AUTO_MAGNITUDE_MULTIPLE = 4.0


def reached_within(cells: Sequence[Cell], target: Cell, budget: int) -> bool:
    """The mouse stood on ``target`` within ``budget`` steps (``cells`` = an episode's cells,
    the start first)."""
    return tuple(target) in cells[: budget + 1]


def target_rollouts(
    model: HookedImpala,
    mazes: Sequence[Maze],
    targets: Sequence[Cell],
    *,
    layer: str,
    channels: Sequence[int],
    magnitude: float,
    budget: int,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[bool]]:
    """One episode per (maze, target) in three conditions, each ``budget`` steps at most:
    "clamped" (channels clamped at the target's grid square at every step), "original" (no
    intervention) and "cheese_moved" (the cheese moved to the target); per episode, whether
    the mouse stood on the target within the budget.

    ``rollout`` draws each maze's actions from a stream seeded by (seed, level seed), so the
    conditions share their random numbers, and the unmodified agent plays each maze once:
    its episode is checked against each of the maze's targets."""
    if not mazes:
        return {"clamped": [], "original": [], "cheese_moved": []}
    _, layer_size, _ = spatial_shape(model, layer)
    starts = [m.with_mouse(m.start_cell) for m in mazes]
    positions = torch.from_numpy(layer_positions(list(targets), starts[0].world_size, layer_size))

    def clamp_in_play(indices: np.ndarray) -> list:
        # rollout batches only the episodes still running: their own targets' squares.
        at = positions[torch.from_numpy(np.asarray(indices, dtype=np.int64))]
        return clamp_channels(layer, channels, magnitude, at=at).hooks()

    def played(episode_mazes: list[Maze], hooks) -> list:
        return list(
            rollout(
                model,
                episode_mazes,
                max_steps=budget,
                seed=seed,
                fwd_hooks=hooks,
                progress=progress,
            ).episodes
        )

    # The two conditions without hooks share one rollout (one procgen env).
    unique = list(dict.fromkeys(starts))
    moved = [m.with_cheese(t) for m, t in zip(starts, targets)]
    plain = played(unique + moved, [])
    first = dict(zip(unique, plain))
    episodes = {
        "clamped": played(starts, clamp_in_play),
        "original": [first[m] for m in starts],
        "cheese_moved": plain[len(unique) :],
    }
    return {
        name: [reached_within(e.cells, t, budget) for e, t in zip(runs, targets)]
        for name, runs in episodes.items()
    }


def per_maze_rate(reached: Sequence[bool], seeds: Sequence[int]) -> dict:
    """The share of episodes that reached their target, with a 95% interval over mazes (the
    episodes of one maze are not independent): ``Estimate.as_dict()`` (``n`` = mazes) plus
    ``k`` (episodes that reached it) and ``episodes``; None-valued when nothing was played."""
    estimate = None
    if len(set(seeds)) >= 2:
        estimate = bootstrap_over_mazes(np.asarray(reached, dtype=float), seeds)
    elif reached:  # one maze: no interval over mazes can be made
        estimate = Rate.of(reached).estimate("episodes of one maze")
    out = {"k": int(sum(reached)), "episodes": len(reached)}
    if estimate is None:
        empty = {"value": None, "ci95": [None, None], "n": 0, "unit": "mazes", "method": ""}
        return {**out, **empty}
    return {**out, **estimate.as_dict()}


def modified_numbers(count: ModifiedCount, observations: int) -> dict:
    """``count_modified``'s counts with fractions and percentages, per forward pass (None
    for no observations)."""
    if not observations:
        keys = ("changed_per_forward", "activations_per_forward", "fraction", "percent")
        keys += ("fraction_of_hooked", "percent_of_hooked")
        return {"observations": 0, "changed": 0, **dict.fromkeys(keys)}
    return {
        "observations": observations,
        "changed": count.changed,
        "changed_per_forward": count.changed / observations,
        "activations_per_forward": count.network // observations,
        "fraction": count.fraction,
        "percent": 100 * count.fraction,
        "fraction_of_hooked": count.fraction_of_hooked,
        "percent_of_hooked": 100 * count.fraction_of_hooked,
    }


def fraction_modified(
    model: HookedImpala,
    mazes: Sequence[Maze],
    cells: Sequence[Cell],
    layer: str,
    channels: Sequence[int],
    magnitude: float,
) -> dict:
    """``modified_numbers`` of the clamp at ``cells`` (one per maze) on the mazes' start
    observations."""
    if not mazes:
        return modified_numbers(ModifiedCount(0, 0, 0), 0)
    _, layer_size, _ = spatial_shape(model, layer)
    with MazeRenderer() as renderer:
        obs = renderer.observe([m.with_mouse(m.start_cell) for m in mazes])
    clamp = clamp_at_cells(layer, channels, magnitude, cells, mazes[0].world_size, layer_size)
    count = count_modified(model, torch.from_numpy(obs).to(model.device), clamp.hooks())
    return modified_numbers(count, len(obs))


def auto_magnitude(
    model: HookedImpala, mazes: Sequence[Maze], layer: str, channels: Sequence[int]
) -> float:
    """``AUTO_MAGNITUDE_MULTIPLE`` × the channels' typical peak: the largest |activation| of
    ``channels`` at ``layer`` in each of the mazes' start observations, averaged."""
    with MazeRenderer() as renderer:
        obs = torch.from_numpy(renderer.observe([m.with_mouse(m.start_cell) for m in mazes]))
    with torch.no_grad():
        _, cache = model.run_with_cache(obs.to(model.device), names_filter=[layer])
    peaks = cache[layer][:, list(channels)].abs().flatten(1).amax(1)
    return AUTO_MAGNITUDE_MULTIPLE * float(peaks.mean())


def seeded_subset(items: list, k: int, key: list[int]) -> list:
    """``k`` of ``items`` without replacement (all if fewer), in their order, drawn by an rng
    seeded with ``key``: (run seed, level seed, purpose), so a maze's draw does not depend
    on the other mazes."""
    if len(items) <= k:
        return items
    picked = np.random.default_rng(key).choice(len(items), size=k, replace=False)
    return [items[i] for i in sorted(picked)]


def corner_cells(maze: Maze) -> dict[str, Cell]:
    """The inner maze's top-left and bottom-right cells (always open in procgen mazes)."""
    lo, hi = maze.margin, maze.margin + maze.maze_size - 1
    return {"top_left": (hi, lo), "bottom_right": (lo, hi)}


def corner_experiment(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    layer: str,
    channels: Sequence[int],
    magnitude: float,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Send the mouse to the top-left / bottom-right corner of the largest mazes, cheese left
    where it spawned. The step budget is the mean number of steps the agent takes to a
    cheese moved to the top-right cell of the same mazes (episodes that got it, procgen's
    500-step limit); the Rates are of reaching the corner within that budget: clamped,
    unmodified, and with the cheese moved to the corner (predictions B1/B5)."""
    largest = max(m.maze_size for m in mazes)
    chosen = [m.with_mouse(m.start_cell) for m in mazes if m.maze_size == largest]
    to_top_right = rollout(
        model,
        [m.with_cheese(m.top_right_cell) for m in chosen],
        max_steps=PROCGEN_STEP_LIMIT,
        seed=seed,
        progress=progress,
    )
    steps = [e.steps for e in to_top_right.episodes if e.reached_cheese]
    mean_steps = float(np.mean(steps)) if steps else None
    budget = PROCGEN_STEP_LIMIT if mean_steps is None else max(1, math.ceil(mean_steps))

    episodes: list[tuple[str, Maze, Cell]] = []
    per_corner: dict[str, dict] = {}
    for name in ("top_left", "bottom_right"):
        skipped, lengths = 0, []
        for m in chosen:
            cell = corner_cells(m)[name]
            paths, _ = target_paths(m)
            if cell in paths:
                episodes.append((name, m, cell))
                lengths.append(len(paths[cell]) - 1)
            else:
                skipped += 1
        # A corner farther than the budget cannot be reached within it by any policy.
        per_corner[name] = {
            "skipped": skipped,
            "mean_path_steps": float(np.mean(lengths)) if lengths else None,
            "path_within_budget": Rate.of(k <= budget for k in lengths).as_dict(),
        }
    outcome = target_rollouts(
        model,
        [m for _, m, _ in episodes],
        [c for _, _, c in episodes],
        layer=layer,
        channels=channels,
        magnitude=magnitude,
        budget=budget,
        seed=seed,
        progress=progress,
    )
    names = [name for name, _, _ in episodes]
    for name, entry in per_corner.items():  # one episode per maze and corner: Wilson
        for condition, reached in outcome.items():
            entry[condition] = Rate.of(r for r, k in zip(reached, names) if k == name).as_dict()
    modified = fraction_modified(
        model,
        [m for _, m, _ in episodes],
        [c for _, _, c in episodes],
        layer,
        channels,
        magnitude,
    )
    return {
        "maze_size": largest,
        "is_world_size": largest == chosen[0].world_size,
        "mazes": len(chosen),
        "maze_seeds": [m.seed for m in chosen],
        "budget": budget,
        "budget_from": {"reached": to_top_right.success.as_dict(), "mean_steps": mean_steps},
        "targets": per_corner,
        # Both corners of a maze are one unit: the pooled rate's interval is over mazes.
        "pooled_clamped": per_maze_rate(outcome["clamped"], [m.seed for _, m, _ in episodes]),
        "modified": modified,
    }
