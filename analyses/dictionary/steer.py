"""Steering with a latent against the paper's channel clamps, by the retargeting measure.

For a target cell ``T`` the normalised path probability is the geometric mean, over the
cells of the shortest path start → ``T``, of the policy's probability of the move along the
path (the measure of ``analyses.retarget``; targets whose path crosses the cheese are left
out, as there). It is computed with no edit, with each edit placed at ``T``'s grid square
(every step of the path sees the same edit), and with the cheese moved to ``T`` (the natural
way to send the mouse there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from analyses.measure.retarget_paths import geometric_means, target_paths
from hooked_impala.actions import Movement
from hooked_impala.interventions import Intervention
from hooked_impala.maze import Cell, Maze, MazeRenderer, layer_positions
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.model import HookedImpala

#: ``positions (1, 2) -> the edit at that grid square``.
EditAt = Callable[[torch.Tensor], Intervention]


def choose_targets(maze: Maze, count: int, seed: int) -> list[Cell]:
    """Up to ``count`` targets of ``maze`` (mouse at its start), drawn with ``seed`` and the
    maze's seed from the cells the retargeting measure allows."""
    paths, _ = target_paths(maze.with_mouse(maze.start_cell))
    cells = sorted(paths)
    if not cells:
        return []
    rng = np.random.default_rng([seed, maze.seed])
    picked = rng.choice(len(cells), size=min(count, len(cells)), replace=False)
    return [cells[i] for i in sorted(picked)]


def _move_probs(model: HookedImpala, obs: np.ndarray, moves: np.ndarray, hooks) -> np.ndarray:
    with torch.no_grad():
        batch = torch.from_numpy(obs).to(model.device)
        probs = model.run_with_hooks(batch, fwd_hooks=hooks).movement_probs
    return probs.double().cpu().numpy()[np.arange(len(moves)), moves]


def mean(probs: np.ndarray) -> float:
    """The geometric mean of one path's move probabilities (0 if any is 0)."""
    return float(geometric_means(probs, np.zeros(len(probs), dtype=np.int64), 1)[0])


def path_probabilities(
    model: HookedImpala,
    maze: Maze,
    targets: Sequence[Cell],
    edits: dict[str, EditAt],
    layer_size: int,
    renderer: MazeRenderer,
) -> dict[str, np.ndarray]:
    """Per condition ("original", each edit, "cheese_moved"), ``(T,)`` normalised path
    probabilities of ``targets`` in ``maze`` (mouse at its start)."""
    maze = maze.with_mouse(maze.start_cell)
    paths, _ = target_paths(maze)
    out: dict[str, list[float]] = {"original": [], **{k: [] for k in edits}, "cheese_moved": []}
    for target in targets:
        path = paths[tuple(target)]
        moves = np.array([int(Movement.between(a, b)) for a, b in zip(path[:-1], path[1:])])
        obs = observe_mouse_on_cells(maze.to_state(), path[:-1], renderer)
        at = torch.from_numpy(layer_positions([target], maze.world_size, layer_size))
        out["original"].append(mean(_move_probs(model, obs, moves, [])))
        for name, edit in edits.items():
            out[name].append(mean(_move_probs(model, obs, moves, edit(at).hooks())))
        moved = observe_mouse_on_cells(maze.with_cheese(target).to_state(), path[:-1], renderer)
        out["cheese_moved"].append(mean(_move_probs(model, moved, moves, [])))
    return {name: np.array(values) for name, values in out.items()}
