"""Spliced fidelity: how much of the policy a dictionary carries. The activation at a hook
is replaced by the dictionary's reconstruction, by zeros or by its mean over the training
observations, and the policy is compared with the unmodified one on held-out mazes:

* at the decision square (mouse placed there): KL(original ‖ edited) of the 15-action
  distribution, one observation per maze, mean over mazes with a maze bootstrap;
* in behaviour: one episode per maze (the same random numbers in every condition), cheese
  reached and the top-right region reached, each a Rate of mazes, and the change from the
  unmodified agent as a paired difference over mazes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hooked_impala.dictionary import TopKSAE, splice
from hooked_impala.interventions import Intervention, replace_activation
from hooked_impala.maze import Maze, MazeRenderer, decision_square
from hooked_impala.model import HookedImpala
from hooked_impala.policy import rollout
from hooked_impala.stats import Rate, bootstrap_over_mazes, paired_difference

#: The conditions, in the order of the tables.
CONDITIONS = ("spliced", "zero_ablated", "mean_ablated")


def edits(hook: str, sae: TopKSAE, mean: np.ndarray) -> dict[str, Intervention]:
    """The three edits of ``hook``: the reconstruction, zeros, the training mean ``(C, H,
    W)``."""
    mean_value = torch.from_numpy(np.asarray(mean, dtype=np.float32))
    return {
        "spliced": splice(hook, sae),
        "zero_ablated": replace_activation(hook, torch.zeros_like(mean_value)),
        "mean_ablated": replace_activation(hook, mean_value),
    }


def at_decision_squares(mazes: Sequence[Maze]) -> list[Maze]:
    """The mazes that have a decision square, the mouse on it."""
    out = []
    for maze in mazes:
        square = decision_square(maze)
        if square is not None:
            out.append(maze.with_mouse(square))
    return out


def decision_kl(
    model: HookedImpala, mazes: Sequence[Maze], conditions: dict[str, Intervention]
) -> dict[str, dict]:
    """Per condition, KL(original ‖ edited) at the decision square of each maze (nats):
    the per-maze values and their mean with a maze-bootstrap interval."""
    chosen = at_decision_squares(mazes)
    if not chosen:
        return {name: {"per_maze": [], "mean": None} for name in conditions}
    with MazeRenderer() as renderer:
        obs = torch.from_numpy(renderer.observe(chosen)).to(model.device)
    seeds = np.array([m.seed for m in chosen])
    with torch.no_grad():
        base = model(obs).log_probs
        out = {}
        for name, edit in conditions.items():
            edited = model.run_with_hooks(obs, fwd_hooks=edit.hooks()).log_probs
            kl = (base.exp() * (base - edited)).sum(-1).clamp_min(0).double().cpu().numpy()
            estimate = bootstrap_over_mazes(kl, seeds)
            out[name] = {
                "mazes": seeds.tolist(),
                "per_maze": kl.tolist(),
                "mean": None if estimate is None else estimate.as_dict(),
            }
    return out


def behaviour(
    model: HookedImpala,
    mazes: Sequence[Maze],
    conditions: dict[str, Intervention],
    *,
    seed: int,
    max_steps: int,
) -> dict[str, dict]:
    """Per condition (and "original"): cheese reached and top-right region reached, as Rates
    of mazes; the edits' changes from the original as paired differences over mazes."""
    seeds = np.array([m.seed for m in mazes])
    outcomes = {}
    for name, edit in {"original": None, **conditions}.items():
        hooks = [] if edit is None else edit.hooks()
        episodes = rollout(
            model, mazes, max_steps=max_steps, seed=seed, fwd_hooks=hooks, progress=False
        ).episodes
        outcomes[name] = {
            "cheese": np.array([e.reached_cheese for e in episodes], dtype=float),
            "top_right": np.array([e.top_right_step is not None for e in episodes], dtype=float),
        }
    out = {}
    for name, found in outcomes.items():
        row = {}
        for what, values in found.items():
            rate = Rate(int(values.sum()), len(values)).estimate()
            row[what] = None if rate is None else rate.as_dict()
            if name != "original":
                change = paired_difference(outcomes["original"][what], values, seeds)
                row[f"{what}_change"] = None if change is None else change.as_dict()
        out[name] = row
    return out
