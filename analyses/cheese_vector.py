"""Cheese vector: activation addition from a pair of mazes.

The cheese vector of a maze at a layer is the activation with the cheese minus the
activation without it (same maze, same mouse cell). Adding ``coeff × vector`` to that
layer's activation during every forward pass (a hook) and sweeping ``coeff`` shows what the
network does with the cheese information: Mini, Udell, Turner et al. found that
subtracting it (coeff −1) makes the agent largely ignore the cheese, and that the vector
mostly does not transfer to other mazes.

The mechanism is general: ``activation_difference(model, maze_a, maze_b, layer)`` is the
vector of any pair; ``top_right_pair(maze)`` gives the pair for a top-right vector (the
maze with a path opened along the inner maze's top row and right column, minus the
maze itself).

For each maze, with the mouse on its decision square, this reports P(cheese-ward move)
and P(top-right-ward move) for each coefficient, with the maze's own vector ("self") and
with the next maze's vector ("transfer"), a vector-field diff and rollout outcomes.

    python -m analyses.cheese_vector --coeffs -2 -1 0 1
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from tqdm.auto import tqdm

from analyses import cli as analyses_cli
from analyses.inputs import DEFAULT_LAYER, observations
from analyses.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.spec import Analysis, Option
from hooked_impala import checks, cli
from hooked_impala.interventions import add_vector
from hooked_impala.maze import DecisionPoint, Maze, MazeRenderer, Tile, decision_points
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, VectorField, rollout, vector_field
from hooked_impala.stats import rate_text


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


def cheese_vector(
    model: HookedImpala,
    maze: Maze,
    layer: str = DEFAULT_LAYER,
    renderer: MazeRenderer | None = None,
) -> torch.Tensor:
    """act(maze) − act(maze without its cheese), same mouse cell."""
    if maze.cheese is None:
        raise ValueError(f"maze seed {maze.seed} has no cheese: no cheese vector")
    return activation_difference(model, maze, maze.without_cheese(), layer, renderer)


def top_right_pair(maze: Maze) -> tuple[Maze, Maze]:
    """(the maze with its inner top row and right column opened, the maze)."""
    top = maze.margin + maze.maze_size - 1
    cells = {(top, c) for c in range(maze.margin, top + 1)} | {
        (r, top) for r in range(maze.margin, top + 1)
    }
    walls = [c for c in cells if maze.world_grid[c] == Tile.WALL]
    return maze.with_open(walls), maze


@dataclass(kw_only=True)
class CheeseVectorResult(AnalysisResult):
    """Effect of adding cheese vectors at the decision squares.

    Attributes:
        coeffs: the coefficients swept.
        p_cheese, p_top_right: ``(2, K, N)``: [self, transfer] × coefficient × maze, the
            probability of the cheese-ward / top-right-ward move at the decision square.
        rollouts: success and top-right-first rates, original vs coeff −1 (self vectors).
        field: the vector-field diff (coeff −1 minus original) of the first maze, or None.
    """

    layer: str
    coeffs: list[float]
    p_cheese: torch.Tensor
    p_top_right: torch.Tensor
    rollouts: dict[str, dict[str, dict]] | None  # Rate.as_dict() per outcome
    field: VectorField | None

    def _at(self, coeff: float) -> int:
        return self.coeffs.index(coeff)

    def numbers(self) -> dict:
        out = {"mazes": int(self.p_cheese.shape[2]), "coeffs": self.coeffs}
        for i, kind in enumerate(("self", "transfer")):
            out[kind] = {
                "mean_p_cheese_move": {
                    str(c): float(self.p_cheese[i, k].mean()) for k, c in enumerate(self.coeffs)
                },
                "mean_p_top_right_move": {
                    str(c): float(self.p_top_right[i, k].mean()) for k, c in enumerate(self.coeffs)
                },
            }
        if 0.0 in self.coeffs and -1.0 in self.coeffs:
            zero, minus = self._at(0.0), self._at(-1.0)
            out["self_delta_p_cheese_at_minus_1"] = float(
                (self.p_cheese[0, minus] - self.p_cheese[0, zero]).mean()
            )
            out["transfer_delta_p_cheese_at_minus_1"] = float(
                (self.p_cheese[1, minus] - self.p_cheese[1, zero]).mean()
            )
        if self.rollouts:
            out["rollouts"] = self.rollouts
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "coeffs": np.array(self.coeffs),
            "p_cheese": self.p_cheese.numpy(),
            "p_top_right": self.p_top_right.numpy(),
        }

    def figures(self) -> dict[str, go.Figure]:
        sweep = go.Figure()
        for i, kind in enumerate(("self", "transfer")):
            dash = "solid" if kind == "self" else "dot"
            sweep.add_trace(
                go.Scatter(
                    x=self.coeffs,
                    y=self.p_cheese[i].mean(1).tolist(),
                    name=f"P(cheese-ward), {kind}",
                    line={"dash": dash, "color": "#d4a017"},
                )
            )
            sweep.add_trace(
                go.Scatter(
                    x=self.coeffs,
                    y=self.p_top_right[i].mean(1).tolist(),
                    name=f"P(top-right-ward), {kind}",
                    line={"dash": dash, "color": "#1f4e79"},
                )
            )
        sweep.update_layout(
            title=(
                f"Cheese vector at {self.layer}: decision-square move probabilities "
                f"({self.p_cheese.shape[2]} mazes)"
            ),
            xaxis_title="coefficient",
            yaxis_title="mean probability",
        )
        figs = {"coefficient_sweep": sweep}
        if self.field is not None:
            figs["vector_field_diff"] = self.field.figure(
                title="Vector field: cheese vector ×(−1) minus original"
            )
        return figs

    def summary(self) -> str:
        n = self.numbers()
        lines = [f"Cheese vector at {self.layer} over {n['mazes']} mazes (decision squares)"]
        for kind in ("self", "transfer"):
            pc, pt = n[kind]["mean_p_cheese_move"], n[kind]["mean_p_top_right_move"]
            lines.append(
                f"  {kind:8s} P(cheese-ward) by coeff: "
                + ", ".join(f"{c}: {v:.3f}" for c, v in pc.items())
            )
            lines.append(
                f"  {kind:8s} P(top-right-ward) by coeff: "
                + ", ".join(f"{c}: {v:.3f}" for c, v in pt.items())
            )
        if self.rollouts:
            before, after = self.rollouts["original"], self.rollouts["cheese_vector_minus_1"]
            lines += [
                "  rollouts, original -> own cheese vector x(-1):",
                f"    success {rate_text(before['success'])} -> {rate_text(after['success'])}",
                f"    top-right region first {rate_text(before['top_right_first'])} -> "
                f"{rate_text(after['top_right_first'])}",
            ]
        return "\n".join(lines)


def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    coeffs: Sequence[float] = (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0),
    rollouts: bool = True,
    rollout_max_steps: int = 256,
    field: bool = True,
    seed: int = 0,
    progress: bool = False,
) -> CheeseVectorResult:
    """Sweep cheese-vector coefficients at each maze's decision square (mazes without one are
    skipped); self = the maze's own vector, transfer = the next maze's."""
    layer = model.resolve_hook_name(layer)
    points: list[DecisionPoint] = decision_points(inputs)
    if len(points) < 2:
        raise ValueError(f"need at least two mazes with a decision square, got {len(points)}")
    coeffs = [checks.real("coeffs", c) for c in coeffs]
    with MazeRenderer() as renderer:
        starts = [p.maze.with_mouse(p.maze.start_cell) for p in points]
        with_cheese = activations_at(model, starts, layer, renderer)
        without = activations_at(model, [m.without_cheese() for m in starts], layer, renderer)
        vectors = with_cheese - without
        transfer = vectors.roll(1, dims=0)
        obs = observations([p.maze for p in points], renderer).to(model.device)
        cheese_idx = torch.tensor([int(p.cheese_move) for p in points])
        top_idx = torch.tensor([int(p.top_right_move) for p in points])
        rows = torch.arange(len(points))
        p_cheese = torch.zeros(2, len(coeffs), len(points))
        p_top = torch.zeros(2, len(coeffs), len(points))
        with torch.no_grad():
            for i, vecs in enumerate((vectors, transfer)):
                for k, coeff in enumerate(tqdm(coeffs, desc="coefficients", disable=not progress)):
                    steer = add_vector(layer, vecs, coeff).hooks()
                    probs = model.run_with_hooks(obs, fwd_hooks=steer).movement_probs.cpu()
                    p_cheese[i, k], p_top[i, k] = probs[rows, cheese_idx], probs[rows, top_idx]
        diff = None
        if field:
            original = vector_field(model, starts[0], renderer=renderer, label="original")
            patched = vector_field(
                model,
                starts[0],
                fwd_hooks=add_vector(layer, vectors[0], -1.0).hooks(),
                renderer=renderer,
                label="cheese vector −1",
            )
            diff = patched.diff(original)
    outcome = None
    if rollouts:
        base = rollout(model, starts, max_steps=rollout_max_steps, seed=seed, progress=progress)
        steered = rollout(
            model,
            starts,
            max_steps=rollout_max_steps,
            seed=seed,
            fwd_hooks=add_vector(layer, vectors, -1.0).hooks(),
            progress=progress,
        )
        outcome = {
            "original": {
                "success": base.success.as_dict(),
                "top_right_first": base.top_right_first.as_dict(),
            },
            "cheese_vector_minus_1": {
                "success": steered.success.as_dict(),
                "top_right_first": steered.top_right_first.as_dict(),
            },
        }
    return CheeseVectorResult(
        metadata=RunMetadata(
            analysis="cheese_vector",
            checkpoint=CheckpointRef.of(model),
            hooks=(layer,),
            seed=seed,
            maze_seeds=tuple(p.maze.seed for p in points),
            parameters={
                "coeffs": coeffs,
                "rollouts": rollouts,
                "rollout_max_steps": rollout_max_steps,
                "field": field,
            },
        ),
        layer=layer,
        coeffs=coeffs,
        p_cheese=p_cheese,
        p_top_right=p_top,
        rollouts=outcome,
        field=diff,
    )


ANALYSIS = Analysis(
    name="cheese_vector",
    question="What does subtracting the cheese vector do at the decision square?",
    run=run,
    select=list,  # the mazes themselves: run() finds the decision squares
    options=(
        Option("layer", DEFAULT_LAYER, "hook to add the vector at", kind=cli.hook_name),
        Option(
            "coeffs",
            [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0],
            "coefficients to sweep",
            kind=cli.finite,
            many=True,
        ),
        Option("rollouts", True, "also compare rollouts, original vs coefficient -1"),
        Option(
            "rollout_max_steps", 256, "rollout step limit", kind=cli.integer(1, PROCGEN_STEP_LIMIT)
        ),
    ),
    quick={"rollout_max_steps": 128},
    min_mazes=2,  # the vector transfers from the next maze
)

if __name__ == "__main__":
    sys.exit(analyses_cli.main(ANALYSIS))
