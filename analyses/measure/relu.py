"""Removing ReLUs, measured: the movement distribution with chosen ReLUs turned into the
identity, its KL divergence from the original, and the mazes rollouts start from."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from analyses.core.inputs import Inputs
from hooked_impala.interventions import remove_relus
from hooked_impala.maze import Maze
from hooked_impala.model import HookedImpala


def movement_log_probs_without(
    model: HookedImpala, obs: torch.Tensor, removed: Iterable[str] = ()
) -> torch.Tensor:
    """Movement log-probs ``(N, 5)`` with the ``removed`` ReLUs turned into the identity."""
    with torch.no_grad():
        hooks = remove_relus(model, list(removed)).hooks()
        return model.run_with_hooks(obs, fwd_hooks=hooks).movement_log_probs


def kl_per_observation(reference: torch.Tensor, modified: torch.Tensor) -> torch.Tensor:
    """KL(reference ‖ modified) of the movement distributions, from log-probs, per row."""
    return (reference.exp() * (reference - modified)).sum(-1)


def total_variation(reference: torch.Tensor, modified: torch.Tensor) -> torch.Tensor:
    """Total variation distance of the movement distributions, from log-probs, per row: in
    [0, 1], 1 when they share no mass. Bounded where KL is not (a network without its ReLUs
    can put log-probs near -1e9 on moves the original favours)."""
    return 0.5 * (reference.exp() - modified.exp()).abs().sum(-1)


def starting_mazes(inputs: Inputs) -> list[Maze]:
    """The distinct mazes among ``inputs`` (by seed), with the mouse back on its spawn cell."""
    if not isinstance(inputs, (list, tuple)) or not all(isinstance(m, Maze) for m in inputs):
        raise ValueError("rollouts need Maze inputs, not raw observations")
    first = {}
    for maze in inputs:
        first.setdefault(maze.seed, maze.with_mouse(maze.start_cell))
    return list(first.values())
