"""Cheese vector: activation addition from a pair of mazes.

The cheese vector of a maze at a layer is the activation with the cheese minus the
activation without it (same maze, same mouse cell). Adding ``coeff × vector`` to that
layer's activation during every forward pass (a hook) and sweeping ``coeff`` shows what the
network does with the cheese information: Mini, Udell, Turner et al. found that
subtracting it (coeff −1) makes the agent largely ignore the cheese, and that the vector
mostly does not transfer to other mazes.

The mechanism is general (:mod:`analyses.measure.steering`): ``activation_difference(model, maze_a,
maze_b, layer)`` is the vector of any pair; ``analyses.top_right_vector`` uses it for the
top-right vector.

For each maze, with the mouse on its decision square, this reports P(cheese-ward move)
and P(top-right-ward move) for each coefficient, with the maze's own vector ("self") and
with the next maze's vector ("transfer"), a vector-field diff and rollout outcomes.

    python -m analyses.cheese_vector --coeffs -2 -1 0 1
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import torch

from analyses.core import cli as analyses_cli
from analyses.core.figures import steering_figures
from analyses.core.inputs import DEFAULT_LAYER, NotApplicable, observations
from analyses.core.spec import steering_analysis
from analyses.measure.steering import (
    Steering,
    SteeringExtras,
    SteeringResult,
    activation_difference,
    pair_vectors,
    steering_effects,
)
from hooked_impala import checks
from hooked_impala.maze import Maze, MazeRenderer, decision_points
from hooked_impala.model import HookedImpala

__all__ = ["CheeseVectorResult", "activation_difference", "cheese_vector", "run"]


def cheese_vector(
    model: HookedImpala,
    maze: Maze,
    layer: str = DEFAULT_LAYER,
    renderer: MazeRenderer | None = None,
) -> torch.Tensor:
    """act(maze) − act(maze without its cheese), same mouse cell: ``(C, H, W)``."""
    if maze.cheese is None:
        raise ValueError(f"maze seed {maze.seed} has no cheese: no cheese vector")
    return activation_difference(model, maze, maze.without_cheese(), layer, renderer)


@dataclass(kw_only=True)
class CheeseVectorResult(SteeringResult):
    """:class:`~analyses.measure.steering.SteeringResult` of the cheese vector, with the published
    headline: the change of P(cheese-ward move) at coefficient −1."""

    def numbers(self) -> dict:
        out = super().numbers()
        if 0.0 in self.coeffs and -1.0 in self.coeffs:
            zero, minus = self.coeffs.index(0.0), self.coeffs.index(-1.0)
            delta = self.p_cheese[:, minus] - self.p_cheese[:, zero]
            out["self_delta_p_cheese_at_minus_1"] = float(delta[0].mean())
            out["transfer_delta_p_cheese_at_minus_1"] = float(delta[1].mean())
        return out

    def figures(self) -> dict[str, go.Figure]:
        return steering_figures(self)


@steering_analysis(
    "What does subtracting the cheese vector do at the decision square?", rollout_coeff=-1.0
)
def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    coeffs: Sequence[float] = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0),
    extras: SteeringExtras = SteeringExtras(),
    seed: int = 0,
    progress: bool = False,
) -> CheeseVectorResult:
    """Sweep cheese-vector coefficients at each maze's decision square (mazes without one are
    skipped); self = the maze's own vector, transfer = the next maze's. Rollouts and the
    vector-field diff compare the original with the own vector at coefficient −1."""
    layer = model.resolve_hook_name(layer)
    points = decision_points(inputs)
    if len(points) < 2:
        raise NotApplicable(f"need at least two mazes with a decision square, got {len(points)}")
    coeffs = [checks.real("coeffs", c) for c in coeffs]
    with MazeRenderer() as renderer:
        starts = [p.maze.with_mouse(p.maze.start_cell) for p in points]
        vectors = pair_vectors(model, [(m, m.without_cheese()) for m in starts], layer, renderer)
        obs = observations([p.maze for p in points], renderer).to(model.device)
        effects = steering_effects(
            "cheese_vector",
            Steering(model, points, obs, layer, vectors),
            coeffs,
            vector="cheese vector",
            coeff=-1.0,
            renderer=renderer,
            extras=extras,
            seed=seed,
            progress=progress,
        )
    return CheeseVectorResult(**effects)


if __name__ == "__main__":
    sys.exit(analyses_cli.main(run.analysis))
