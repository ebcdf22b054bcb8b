"""Trajectory view: a rollout as a sequence of steps, with channel activations per step.

The policy plays one maze; every step becomes a "token" (``t=3 RIGHT (4, 5)``: step, move
taken, mouse cell before it) and each chosen hook a "layer" of circuitsvis's
``text_neuron_activations`` view, whose drop-downs pick the hook and the channel. A
channel's value at a step is its maximum over positions (conv hooks) or the unit itself
(vector hooks). Each hook's channels are ranked by how much they vary along the episode, so
the view opens on the most active one (a legend maps ranks to channels). The page shows the
maze as procgen drew it at the first and the last step, and embeds circuitsvis's JavaScript
(``RenderedHTML.local_src``), so it renders offline.

    python -m analyses.trajectory_view --hooks embedder.block2.res1.resadd_out \
embedder.block3.res2.resadd_out
"""

from __future__ import annotations

import html
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from circuitsvis.activations import text_neuron_activations

from analyses.core import cli as analyses_cli
from analyses.core.images import img_tag
from analyses.core.inputs import DEFAULT_LAYER
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.spec import Option, analysis, hooks_option
from hooked_impala import cli
from hooked_impala.actions import movement_of_action
from hooked_impala.maze import Maze
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, rollout

DEFAULT_HOOKS = (
    DEFAULT_LAYER,
    "embedder.block2.res2.resadd_out",
    "embedder.block3.res2.resadd_out",
)


def channel_values(activation: torch.Tensor) -> torch.Tensor:
    """``(T, C)``: per step, each channel's maximum over positions (or the unit itself)."""
    return activation.flatten(2).amax(-1) if activation.ndim == 4 else activation


@dataclass(kw_only=True)
class TrajectoryViewResult(AnalysisResult):
    """One episode with per-step channel values.

    Attributes:
        tokens: one label per step.
        activations: ``(T, hooks, max_channels)``, each hook's channels in ``order``,
            zero-padded where a hook has fewer channels.
        order: per hook, its channels by decreasing variance along the episode.
        hooks: the hook names (the "layers").
        reached_cheese: whether the episode got the cheese.
        frames: uint8 ``(2, 64, 64, 3)``: procgen's frames at the first and the last step.
    """

    tokens: list[str]
    activations: torch.Tensor
    order: list[list[int]]
    hooks: list[str]
    reached_cheese: bool
    frames: np.ndarray

    def numbers(self) -> dict:
        return {
            "steps": len(self.tokens),
            "reached_cheese": self.reached_cheese,
            "hooks": self.hooks,
            "channel_order": dict(zip(self.hooks, self.order)),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {"activations": self.activations.numpy(), "frames": self.frames}

    def html(self) -> str:
        """The circuitsvis view as a standalone page with its JavaScript inlined."""
        view = text_neuron_activations(
            tokens=self.tokens,
            activations=self.activations,
            first_dimension_name="Hook",
            second_dimension_name="Channel",
            first_dimension_labels=self.hooks,
            second_dimension_labels=[f"rank {r + 1}" for r in range(self.activations.shape[2])],
        )
        seeds = ", ".join(str(s) for s in self.metadata.maze_seeds)
        title = html.escape(f"Trajectory of {self.metadata.checkpoint.name} on maze seed {seeds}")
        outcome = "reached the cheese" if self.reached_cheese else "did not reach the cheese"
        pictures = " ".join(
            img_tag(frame, f"{when} step", width=192)
            for frame, when in zip(self.frames, ("first", "last"))
        )
        ranks = "".join(
            f"<li><code>{html.escape(hook)}</code>: "
            + ", ".join(f"rank {r + 1} = ch {c}" for r, c in enumerate(order[:8]))
            + (", …" if len(order) > 8 else "")
            + "</li>"
            for hook, order in zip(self.hooks, self.order)
        )
        legend = (
            f"<p>{pictures}<br>The maze at the first and the last step "
            f"({len(self.tokens)} steps; the mouse {outcome}).</p>"
            "<p>Each token is a step: <code>t=step MOVE (row, col)</code>, the move the policy "
            "made and the mouse's cell before it (row 0 at the bottom). A channel's value at a "
            "step is its maximum over positions (the unit itself for vector hooks); each "
            "hook's channels are ranked by their variance along the episode, rank 1 the "
            f"most variable:</p><ul>{ranks}</ul>"
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{title}</title></head>"
            f"<body><h3>{title}</h3>{legend}{view.local_src}</body></html>"
        )

    def pages(self) -> dict[str, str]:
        return {"trajectory.html": self.html()}

    def summary(self) -> str:
        outcome = "reached the cheese" if self.reached_cheese else "did not reach the cheese"
        return f"Trajectory view: {len(self.tokens)} steps ({outcome}); hooks {self.hooks}"


@analysis(
    question="What do the channels do along one episode?",
    select=list,  # the first maze is played
    options=(
        hooks_option("hooks shown (the view's first drop-down)"),
        Option("max_steps", "episode step limit", kind=cli.integer(1, PROCGEN_STEP_LIMIT)),
    ),
    quick={"max_steps": 48},
)
def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    hooks: Sequence[str] = DEFAULT_HOOKS,
    max_steps: int = 128,
    seed: int = 0,
    progress: bool = False,
) -> TrajectoryViewResult:
    """Roll the policy out on the first maze of ``inputs`` and collect per-step channel values."""
    mazes = list(inputs)
    if not mazes or not isinstance(mazes[0], Maze):
        raise ValueError("trajectory_view needs at least one Maze")
    hooks = [model.resolve_hook_name(h) for h in hooks]
    episode = rollout(
        model, mazes[:1], max_steps=max_steps, seed=seed, keep_observations=True, progress=progress
    ).episodes[0]
    with torch.no_grad():
        _, cache = model.run_with_cache(
            torch.from_numpy(episode.observations).to(model.device), names_filter=hooks
        )
    values = [channel_values(cache[h]).cpu() for h in hooks]
    # Most variable first: the view opens on rank 1, not on whatever channel 0 is.
    order = [v.var(dim=0, unbiased=False).argsort(descending=True).tolist() for v in values]
    values = [v[:, o] for v, o in zip(values, order)]
    width = max(v.shape[1] for v in values)
    padded = torch.stack(
        [torch.nn.functional.pad(v, (0, width - v.shape[1])) for v in values], dim=1
    )
    tokens = [
        f"t={t} {movement_of_action(a).name} {cell}"
        for t, (a, cell) in enumerate(zip(episode.actions, episode.cells))
    ]
    return TrajectoryViewResult(
        metadata=RunMetadata.of(
            "trajectory_view",
            model,
            seed=seed,
            hooks=tuple(hooks),
            mazes=(mazes[0].seed,),
            parameters={"reduction": "max over positions"},
        ),
        tokens=tokens,
        activations=padded,
        order=order,
        hooks=hooks,
        reached_cheese=episode.reached_cheese,
        frames=episode.observations[[0, -1]],
    )


if __name__ == "__main__":
    sys.exit(analyses_cli.main(run.analysis))
