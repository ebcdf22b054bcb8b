"""Top-right vector: activation addition towards the top-right corner, alone and with the
cheese vector.

The top-right vector of a maze at a layer is the activation of the maze with the paper's
L-shaped path opened through the margin to the world's top-right corner
(:meth:`Maze.with_top_right_path`) minus the activation of the maze, mouse at the start.
Mini, Udell, Turner et al. found that adding it pushes the agent to the top right (more so
for coefficients 0.5, 1, 2), that subtracting it does little, and that it adds with the
cheese vector.

For each maze with a decision square this reports P(top-right-ward move) and P(cheese-ward
move) there for each coefficient, with the maze's own vector and the next maze's
("transfer"); the same with the cheese vector subtracted (coefficient −1) and the top-right
vector added at once, each alone and neither (composition); a vector-field diff; rollouts:
how often the agent enters the top-right 5×5 region before the cheese, with and without the
vector. Mazes without a margin (maze as large as the world) have no top-right path and are
skipped.

    python -m analyses.top_right_vector --coeffs -1 0 0.5 1 2
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from analyses.core import cli as analyses_cli
from analyses.core.figures import steering_figures
from analyses.core.inputs import DEFAULT_LAYER, NotApplicable, observations
from analyses.core.spec import steering_analysis
from analyses.measure.steering import (
    Steering,
    SteeringExtras,
    SteeringResult,
    decision_probs,
    pair_vectors,
    steering_effects,
)
from hooked_impala import checks
from hooked_impala.interventions import add_vector, hooks_of
from hooked_impala.maze import Maze, MazeRenderer, decision_points
from hooked_impala.model import HookedImpala

#: The composition conditions: which vectors are added (cheese at −1, top-right at +1).
CONDITIONS = ("neither", "cheese vector x(-1)", "top-right vector x(+1)", "both")


@dataclass(kw_only=True)
class TopRightVectorResult(SteeringResult):
    """:class:`~analyses.measure.steering.SteeringResult` of the top-right vector, plus its
    composition with the cheese vector.

    Attributes:
        composed_p_cheese, composed_p_top_right: ``(4, N)``: P(cheese-ward) and
            P(top-right-ward move) at the decision squares under each of ``CONDITIONS``
            (own vectors).
    """

    composed_p_cheese: torch.Tensor
    composed_p_top_right: torch.Tensor
    pair_observations: np.ndarray  # uint8 (2, 64, 64, 3): first maze with the path, without

    def pair_figure(self) -> go.Figure:
        """procgen's frames of the first maze with the top-right path and without it; the
        pixels that differ (a few, in the top-right corner) boxed in red on both."""
        fig = make_subplots(rows=1, cols=2, subplot_titles=("with the top-right path", "the maze"))
        for col, frame in enumerate(self.pair_observations, start=1):
            fig.add_trace(go.Image(z=frame), row=1, col=col)
        rows, cols = np.nonzero((self.pair_observations[0] != self.pair_observations[1]).any(-1))
        if len(rows):
            for col in (1, 2):
                fig.add_shape(
                    type="rect",
                    x0=cols.min() - 1.5,
                    x1=cols.max() + 1.5,
                    y0=rows.min() - 1.5,
                    y1=rows.max() + 1.5,
                    line={"color": "#ff3030", "width": 2},
                    row=1,
                    col=col,
                )
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        fig.update_layout(
            title=f"The pair whose activation difference is the vector ({len(rows)} pixels "
            "differ, boxed in red)",
            height=380,
        )
        return fig

    def composition(self) -> dict[str, dict[str, float]]:
        """Mean probabilities per condition, and how far "both" is from the sum of the two
        single effects (0 = the effects add exactly, in probability)."""
        out = {
            name: {
                "mean_p_cheese_move": float(self.composed_p_cheese[i].mean()),
                "mean_p_top_right_move": float(self.composed_p_top_right[i].mean()),
            }
            for i, name in enumerate(CONDITIONS)
        }
        for key, probs in (
            ("p_cheese", self.composed_p_cheese),
            ("p_top_right", self.composed_p_top_right),
        ):
            none, cheese, top, both = probs
            joint, summed = both - none, (cheese - none) + (top - none)
            out[f"additivity_{key}"] = {
                "mean_joint_effect": float(joint.mean()),
                "mean_sum_of_single_effects": float(summed.mean()),
                "mean_abs_gap": float((joint - summed).abs().mean()),
            }
        return out

    def numbers(self) -> dict:
        return {**super().numbers(), "composition": self.composition()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            **super().arrays(),
            "composed_p_cheese": self.composed_p_cheese.numpy(),
            "composed_p_top_right": self.composed_p_top_right.numpy(),
        }

    def figures(self) -> dict[str, go.Figure]:
        figs = steering_figures(self)
        bars = go.Figure()
        for probs, what, colour in (
            (self.composed_p_cheese, "P(cheese-ward)", "#d4a017"),
            (self.composed_p_top_right, "P(top-right-ward)", "#1f4e79"),
        ):
            mean = probs.mean(1)
            # Spread over mazes: the standard error of the mean.
            sem = probs.std(1) / max(probs.shape[1], 1) ** 0.5
            bars.add_trace(
                go.Bar(
                    x=list(CONDITIONS),
                    y=mean.tolist(),
                    error_y={"type": "data", "array": sem.tolist()},
                    name=what,
                    marker_color=colour,
                )
            )
        bars.update_layout(
            title=f"Composition at the decision squares ({self.composed_p_cheese.shape[1]} mazes)",
            yaxis_title="mean probability (± s.e.m.)",
            barmode="group",
        )
        figs["composition"] = bars
        figs["pair"] = self.pair_figure()
        return figs

    def summary(self) -> str:
        comp = self.composition()
        lines = [super().summary(), "  composition with the cheese vector (own vectors):"]
        for name in CONDITIONS:
            lines.append(
                f"    {name:24s} P(cheese-ward) {comp[name]['mean_p_cheese_move']:.3f}, "
                f"P(top-right-ward) {comp[name]['mean_p_top_right_move']:.3f}"
            )
        add = comp["additivity_p_top_right"]
        lines.append(
            f"    P(top-right-ward): joint effect {add['mean_joint_effect']:+.3f} vs sum of "
            f"single effects {add['mean_sum_of_single_effects']:+.3f} "
            f"(mean |gap| {add['mean_abs_gap']:.3f})"
        )
        return "\n".join(lines)


@steering_analysis(
    "Does adding the top-right vector send the agent to the top right, and does it add with "
    "the cheese vector?",
    rollout_coeff=1.0,
)
def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    coeffs: Sequence[float] = (-1.0, 0.0, 0.5, 1.0, 2.0),
    extras: SteeringExtras = SteeringExtras(),
    seed: int = 0,
    progress: bool = False,
) -> TopRightVectorResult:
    """Sweep top-right-vector coefficients at each maze's decision square (mazes without one,
    or without a margin, are skipped); self = the maze's own vector, transfer = the next
    maze's. Composition, rollouts and the vector-field diff use the own vector at +1."""
    layer = model.resolve_hook_name(layer)
    points = [p for p in decision_points(inputs) if p.maze.margin > 0]
    if len(points) < 2:
        raise NotApplicable(
            "need at least two mazes with a decision square and a wall margin (a maze as "
            f"large as the world has no top-right path), got {len(points)}"
        )
    coeffs = [checks.real("coeffs", c) for c in coeffs]
    with MazeRenderer() as renderer:
        starts = [p.maze.with_mouse(p.maze.start_cell) for p in points]
        pairs = [(m.with_top_right_path(), m) for m in starts]
        vectors = pair_vectors(model, pairs, layer, renderer)
        cheese = pair_vectors(model, [(m, m.without_cheese()) for m in starts], layer, renderer)
        pair_obs = observations(pairs[0], renderer).numpy()
        obs = observations([p.maze for p in points], renderer).to(model.device)
        remove_cheese, add_top = add_vector(layer, cheese, -1.0), add_vector(layer, vectors, 1.0)
        composed = [
            decision_probs(model, points, obs, hooks)
            for hooks in (
                [],
                remove_cheese.hooks(),
                add_top.hooks(),
                hooks_of(remove_cheese, add_top),
            )
        ]
        effects = steering_effects(
            "top_right_vector",
            Steering(model, points, obs, layer, vectors),
            coeffs,
            vector="top-right vector",
            coeff=1.0,
            renderer=renderer,
            extras=extras,
            seed=seed,
            progress=progress,
        )
    return TopRightVectorResult(
        **effects,
        composed_p_cheese=torch.stack([c for c, _ in composed]),
        composed_p_top_right=torch.stack([t for _, t in composed]),
        pair_observations=pair_obs,
    )


if __name__ == "__main__":
    sys.exit(analyses_cli.main(run.analysis))
