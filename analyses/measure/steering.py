"""Steering by activation addition, measured for the cheese-vector and top-right-vector
analyses (and the maze view).

A steering vector at a layer is the activation difference of a pair of mazes (same mouse
cell); ``add_vector(layer, vector, coeff)`` adds ``coeff × vector`` during every forward
pass. This module measures what that does at the decision squares (P(cheese-ward move),
P(top-right-ward move) per coefficient, for the maze's own vector and for another maze's)
and in rollouts, and holds the numbers both analyses report (their figures are
``analyses.core.figures.steering_figures``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Float
from tqdm.auto import tqdm

from analyses.core.inputs import DEFAULT_LAYER, observations
from analyses.core.result import AnalysisResult, RunMetadata
from hooked_impala.hooks import HookSpec
from hooked_impala.interventions import add_vector
from hooked_impala.maze import DecisionPoint, Maze, MazeRenderer
from hooked_impala.model import HookedImpala
from hooked_impala.policy import VectorField, rollout, vector_field
from hooked_impala.stats import Rate, rate_text

#: Whose vector is added at each maze's decision square: its own, or the next maze's.
KINDS = ("self", "transfer")


def activations_at(
    model: HookedImpala, mazes: Sequence[Maze], layer: str, renderer: MazeRenderer | None = None
) -> torch.Tensor:
    """``(N, *layer_shape)`` activations at ``layer`` for the mazes' observations."""
    obs = observations(mazes, renderer).to(model.device)
    with torch.no_grad():
        _, cache = model.run_with_cache(obs, names_filter=[layer])
    return cache[model.resolve_hook_name(layer)]


def activation_difference(
    model: HookedImpala,
    maze_a: Maze,
    maze_b: Maze,
    layer: str = DEFAULT_LAYER,
    renderer: MazeRenderer | None = None,
) -> torch.Tensor:
    """act(maze_a) − act(maze_b) at ``layer``: the steering vector of the pair, ``(C, H, W)``."""
    acts = activations_at(model, [maze_a, maze_b], layer, renderer)
    return acts[0] - acts[1]


def pair_vectors(
    model: HookedImpala,
    pairs: Sequence[tuple[Maze, Maze]],
    layer: str,
    renderer: MazeRenderer | None = None,
) -> Float[torch.Tensor, "n ..."]:
    """``(N, *layer_shape)``: act(a) − act(b) for each pair ``(a, b)``, in two batches."""
    firsts = activations_at(model, [a for a, _ in pairs], layer, renderer)
    return firsts - activations_at(model, [b for _, b in pairs], layer, renderer)


def decision_probs(
    model: HookedImpala,
    points: Sequence[DecisionPoint],
    obs: torch.Tensor,
    fwd_hooks: Sequence[HookSpec] = (),
) -> tuple[Float[torch.Tensor, " n"], Float[torch.Tensor, " n"]]:
    """P(cheese-ward move), P(top-right-ward move) at each point's decision square, whose
    observations are ``obs`` ``(N, 64, 64, 3)``, under ``fwd_hooks``."""
    with torch.no_grad():
        probs = model.run_with_hooks(obs, fwd_hooks=fwd_hooks).movement_probs.cpu()
    rows = torch.arange(len(points))
    cheese = torch.tensor([int(p.cheese_move) for p in points])
    top = torch.tensor([int(p.top_right_move) for p in points])
    return probs[rows, cheese], probs[rows, top]


@dataclass(frozen=True)
class Steering:
    """A steering experiment as a value: one vector per maze (``vectors`` ``(n, ...)``)
    added at ``layer``, read at the decision squares ``points`` (observations ``obs``)."""

    model: HookedImpala
    points: Sequence[DecisionPoint]
    obs: torch.Tensor
    layer: str
    vectors: Float[torch.Tensor, "n ..."]

    def sweep(
        self, coeffs: Sequence[float], progress: bool = False
    ) -> tuple[Float[torch.Tensor, "2 k n"], Float[torch.Tensor, "2 k n"]]:
        """P(cheese-ward), P(top-right-ward) at the decision squares with ``coeff × vector``
        added, for [each maze's own vector, the next maze's] × coefficient × maze."""
        p_cheese = torch.zeros(len(KINDS), len(coeffs), len(self.points))
        p_top = torch.zeros_like(p_cheese)
        for i, vecs in enumerate((self.vectors, self.vectors.roll(1, dims=0))):
            bar = tqdm(coeffs, desc=f"coefficients ({KINDS[i]})", disable=not progress)
            for k, coeff in enumerate(bar):
                steer = add_vector(self.layer, vecs, coeff).hooks()
                p_cheese[i, k], p_top[i, k] = decision_probs(
                    self.model, self.points, self.obs, steer
                )
        return p_cheese, p_top


def field_diff(
    model: HookedImpala,
    maze: Maze,
    fwd_hooks: Sequence[HookSpec],
    label: str,
    renderer: MazeRenderer | None = None,
) -> VectorField:
    """The vector field of ``maze`` under ``fwd_hooks`` minus the original field."""
    original = vector_field(model, maze, renderer=renderer, label="original")
    steered = vector_field(model, maze, fwd_hooks=fwd_hooks, renderer=renderer, label=label)
    return steered.diff(original)


def rollout_comparison(
    model: HookedImpala,
    starts: Sequence[Maze],
    layer: str,
    vectors: Float[torch.Tensor, "n ..."],
    coeff: float,
    label: str,
    *,
    max_steps: int,
    seed: int,
    progress: bool = False,
) -> dict[str, dict[str, dict]]:
    """Success, top-right-region-first and reached-the-top-right-region rates
    (``Rate.as_dict()``) of rollouts from
    ``starts``, "original" and ``label`` (each maze with ``coeff ×`` its own vector), with
    the same per-maze sampling streams."""

    def steer(indices: np.ndarray) -> list[HookSpec]:
        # The engine batches only the episodes still playing: give each its own vector.
        return add_vector(layer, vectors[torch.as_tensor(indices)], coeff).hooks()

    out = {}
    for name, hooks in (("original", []), (label, steer)):
        played = rollout(
            model, starts, max_steps=max_steps, seed=seed, fwd_hooks=hooks, progress=progress
        )
        out[name] = {
            "success": played.success.as_dict(),
            "top_right_first": played.top_right_first.as_dict(),
            "reached_top_right": Rate.of(
                e.top_right_step is not None for e in played.episodes
            ).as_dict(),
        }
    return out


@dataclass(frozen=True)
class SteeringExtras:
    """What a steering analysis measures besides the coefficient sweep: rollouts of the
    original and the steered agent (up to ``rollout_max_steps`` steps) and the vector-field
    difference of the first maze."""

    rollouts: bool = True
    rollout_max_steps: int = 256
    field: bool = True


def steering_effects(
    analysis: str,
    steering: Steering,
    coeffs: Sequence[float],
    *,
    vector: str,
    coeff: float,
    renderer: MazeRenderer,
    extras: SteeringExtras,
    seed: int,
    progress: bool = False,
) -> dict[str, object]:
    """What every :class:`SteeringResult` measures, as its keyword arguments: the
    coefficient sweep, and for ``coeff ×`` each maze's own vector from its start (the mouse
    on ``start_cell``) what ``extras`` asks: the first maze's field diff and the rollouts."""
    model, points, layer, vectors = (
        steering.model,
        steering.points,
        steering.layer,
        steering.vectors,
    )
    starts = [p.maze.with_mouse(p.maze.start_cell) for p in points]
    p_cheese, p_top = steering.sweep(coeffs, progress)
    diff = None
    if extras.field:
        steer = add_vector(layer, vectors[0], coeff).hooks()
        shown = f"{vector} ×({coeff:+g})".replace("(-", "(−")  # the page's minus sign
        diff = field_diff(model, starts[0], steer, shown, renderer)
    outcome = None
    if extras.rollouts:
        outcome = rollout_comparison(
            model,
            starts,
            layer,
            vectors,
            coeff,
            f"{vector} x({coeff:+g})",
            max_steps=extras.rollout_max_steps,
            seed=seed,
            progress=progress,
        )
    # The options are recorded by the analysis's run (analyses.core.result.keeps_arguments).
    seeds = [p.maze.seed for p in points]
    return dict(
        metadata=RunMetadata.of(analysis, model, seed=seed, hooks=(layer,), mazes=seeds),
        vector=vector,
        layer=layer,
        coeffs=list(coeffs),
        p_cheese=p_cheese,
        p_top_right=p_top,
        rollouts=outcome,
        field=diff,
    )


@dataclass(kw_only=True)
class SteeringResult(AnalysisResult):
    """Effect of adding steering vectors at the decision squares.

    Attributes:
        vector: what the vector is ("cheese vector", "top-right vector").
        coeffs: the coefficients swept.
        p_cheese, p_top_right: ``(2, K, N)``: [self, transfer] × coefficient × maze, the
            probability of the cheese-ward / top-right-ward move at the decision square.
        rollouts: condition -> {"success", "top_right_first"} rates (``Rate.as_dict()``),
            the first condition being "original"; None if not run.
        field: a vector-field diff (steered minus original) of the first maze, or None.
    """

    vector: str
    layer: str
    coeffs: list[float]
    p_cheese: torch.Tensor
    p_top_right: torch.Tensor
    rollouts: dict[str, dict[str, dict]] | None
    field: VectorField | None

    kinds = KINDS

    def _mean(self, probs: torch.Tensor, kind: int) -> dict[str, float]:
        return {str(c): float(probs[kind, k].mean()) for k, c in enumerate(self.coeffs)}

    def numbers(self) -> dict:
        out = {"mazes": int(self.p_cheese.shape[2]), "coeffs": self.coeffs}
        for i, kind in enumerate(KINDS):
            out[kind] = {
                "mean_p_cheese_move": self._mean(self.p_cheese, i),
                "mean_p_top_right_move": self._mean(self.p_top_right, i),
                "median_p_cheese_move": {
                    str(c): float(self.p_cheese[i, k].median()) for k, c in enumerate(self.coeffs)
                },
            }
        if self.rollouts:
            out["rollouts"] = self.rollouts
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "coeffs": np.array(self.coeffs),
            "p_cheese": self.p_cheese.numpy(),
            "p_top_right": self.p_top_right.numpy(),
        }

    def summary(self) -> str:
        n = self.numbers()
        lines = [f"{self.vector.capitalize()} at {self.layer} over {n['mazes']} mazes"]
        for kind in KINDS:
            for key, what in (
                ("mean_p_cheese_move", "P(cheese-ward)"),
                ("mean_p_top_right_move", "P(top-right-ward)"),
            ):
                values = ", ".join(f"{c}: {v:.3f}" for c, v in n[kind][key].items())
                lines.append(f"  {kind:8s} {what} by coeff: {values}")
        for name, rates in (self.rollouts or {}).items():
            lines.append(
                f"  rollouts, {name}: success {rate_text(rates['success'])}, "
                f"top-right region first {rate_text(rates['top_right_first'])}"
            )
        return "\n".join(lines)
