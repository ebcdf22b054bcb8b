"""Maze view: one maze under one intervention — what the explorer shows, as a script.

The policy's vector field in one maze (the first standard maze, or a maze state file such
as the explorer exports), the same field under an intervention composed from the toolkit's
list — the cheese vector and the top-right vector, each with a coefficient, channels clamped
at a target cell, every ReLU removed — their difference, the fraction of the network's
activations the intervention modifies, the channel activation maps at a hook for the
mouse's current cell (original and intervened, top channels by a chosen ranking) and one
episode played under the intervention.

Both vectors are computed in this maze with the mouse where it stands (the paper computes
them at the start cell): the cheese vector is act(maze) − act(maze without cheese), the
top-right vector act(maze with a path to the top right) − act(maze).

    python -m analyses.maze_view --state out/explorer/view/maze.state --cheese-coeff -1
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import UInt8
from plotly.subplots import make_subplots

from analyses import cli as analyses_cli
from analyses.channels import check_channels, spatial_shape
from analyses.inputs import DEFAULT_LAYER
from analyses.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.spec import Analysis, Option
from analyses.steering import activation_difference
from hooked_impala import checks, cli
from hooked_impala.hooks import HookSpec
from hooked_impala.interventions import (
    ModifiedCount,
    add_vector,
    clamp_channels,
    count_modified,
    hooks_of,
    remove_relus,
)
from hooked_impala.maze import Cell, Maze, MazeRenderer, MazeStateError, layer_position
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, Episode, VectorField, rollout, vector_field

Ranking = Literal["peak", "mouse", "change"]
RolloutKind = Literal["greedy", "sampled", "none"]
#: What ``save`` writes beside the analyses' usual files: the maze, for ``--state``.
STATE_FILE = "maze.state"


@dataclass(frozen=True)
class InterventionSettings:
    """An intervention composed from the toolkit's list, as plain values (so it can be a
    page's state, a result's parameters and a command line).

    ``layer``: where the vectors are added and the channels clamped; ``clamp_cell``: the
    maze cell ``(row, col)`` (row 0 at the bottom) whose grid square the channels are held at
    ``clamp_value`` in; ``remove_relus``: every ReLU becomes the identity.
    """

    layer: str = DEFAULT_LAYER
    cheese_coeff: float = 0.0
    top_right_coeff: float = 0.0
    clamp_channels: tuple[int, ...] = ()
    clamp_value: float = 5.0
    clamp_cell: Cell | None = None
    remove_relus: bool = False

    @property
    def clamps(self) -> bool:
        """Channels are clamped: some are named and the cell to clamp them at is chosen."""
        return bool(self.clamp_channels) and self.clamp_cell is not None

    @property
    def is_empty(self) -> bool:
        return not (self.cheese_coeff or self.top_right_coeff or self.clamps or self.remove_relus)

    def describe(self) -> str:
        """A short label, e.g. "cheese vector ×-1 + clamp [55] = 5 at (3, 4)"."""
        parts = []
        if self.cheese_coeff:
            parts.append(f"cheese vector ×{self.cheese_coeff:g}")
        if self.top_right_coeff:
            parts.append(f"top-right vector ×{self.top_right_coeff:g}")
        if self.clamps:
            cell = tuple(self.clamp_cell)
            parts.append(f"clamp {list(self.clamp_channels)} = {self.clamp_value:g} at {cell}")
        if self.remove_relus:
            parts.append("no ReLUs")
        return " + ".join(parts) or "no intervention"

    def flags(self) -> list[str]:
        """The command-line flags of this script that make the same intervention."""
        out = [] if self.layer == DEFAULT_LAYER else ["--layer", self.layer]
        if self.cheese_coeff:
            out += ["--cheese-coeff", f"{self.cheese_coeff:g}"]
        if self.top_right_coeff:
            out += ["--top-right-coeff", f"{self.top_right_coeff:g}"]
        if self.clamps:
            out += ["--clamp-channels", *map(str, self.clamp_channels)]
            out += ["--clamp-cell", *map(str, self.clamp_cell), "--clamp-value"]
            out.append(f"{self.clamp_value:g}")
        if self.remove_relus:
            out.append("--remove-relus")
        return out

    def hooks(
        self, model: HookedImpala, maze: Maze, renderer: MazeRenderer | None = None
    ) -> list[HookSpec]:
        """The forward hooks of this intervention in ``maze``; ValueError naming what is
        missing (no cheese for a cheese vector, no margin for a top-right path, a channel the
        layer does not have, a clamp cell outside the world)."""
        parts = []
        if self.cheese_coeff or self.top_right_coeff or self.clamp_channels:
            n_channels, size, _ = spatial_shape(model, self.layer)
        if self.cheese_coeff:
            if maze.cheese is None:
                raise ValueError("the cheese vector needs a cheese in the maze")
            vector = activation_difference(
                model, maze, maze.without_cheese(), self.layer, renderer
            )[0]
            parts.append(add_vector(self.layer, vector, self.cheese_coeff))
        if self.top_right_coeff:
            if maze.margin == 0:
                raise ValueError(
                    "the top-right vector needs a wall margin: this maze fills the world, "
                    "so it has no path to open to the top right"
                )
            vector = activation_difference(
                model, maze.with_top_right_path(), maze, self.layer, renderer
            )[0]
            parts.append(add_vector(self.layer, vector, self.top_right_coeff))
        if self.clamps:
            channels = check_channels(self.clamp_channels, n_channels, self.layer)
            at = layer_position(tuple(self.clamp_cell), maze.world_size, size)
            parts.append(clamp_channels(self.layer, channels, self.clamp_value, at=at))
        if self.remove_relus:
            parts.append(remove_relus(model))
        return hooks_of(*parts)


@dataclass(kw_only=True)
class MazeViewResult(AnalysisResult):
    """One maze's view. ``maps`` are ``(2, k, H, W)``: original and intervened activations of
    the ``channels`` at ``maps_hook`` with the mouse on its cell (both equal without an
    intervention); ``modified`` is None without an intervention; ``episode`` None when no
    rollout was asked for."""

    maze: Maze
    intervention: InterventionSettings
    original: VectorField
    intervened: VectorField
    modified: ModifiedCount | None
    maps_hook: str
    ranking: Ranking
    channels: list[int]
    maps: np.ndarray
    episode: Episode | None = None
    observation: np.ndarray = field(repr=False)

    def numbers(self) -> dict:
        mouse = self.maze.mouse
        arrow_change = np.hypot(*(self.intervened.arrows - self.original.arrows).T)
        at_mouse = {}
        if mouse in self.original.cells:
            at_mouse = {
                "original": self.original.at(mouse).tolist(),
                "intervened": self.intervened.at(mouse).tolist(),
            }
        out = {
            "maze": {
                "seed": self.maze.seed,
                "mode": self.maze.distribution_mode,
                "maze_size": self.maze.maze_size,
                "mouse": mouse,
                "cheese": self.maze.cheese,
            },
            "intervention": self.intervention.describe(),
            "fraction_modified": None if self.modified is None else self.modified.fraction,
            "cells": len(self.original.cells),
            "mean_arrow_change": float(arrow_change.mean()) if len(arrow_change) else 0.0,
            "max_arrow_change": float(arrow_change.max()) if len(arrow_change) else 0.0,
            "probs_at_mouse": at_mouse,
            "maps_hook": self.maps_hook,
            "ranking": self.ranking,
            "channels": self.channels,
        }
        if self.episode is not None:
            out["episode"] = {
                "reached_cheese": self.episode.reached_cheese,
                "steps": self.episode.steps,
                "cells": self.episode.cells,
            }
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "cells": np.asarray(self.original.cells, dtype=np.int64).reshape(-1, 2),
            "probs_original": self.original.probs,
            "probs_intervened": self.intervened.probs,
            "maps": self.maps,
            "observation": self.observation,
        }
        if self.episode is not None:
            out["episode_cells"] = np.asarray(self.episode.cells, dtype=np.int64)
        return out

    def figures(self) -> dict[str, go.Figure]:
        image = self.observation
        out = {"field": self.original.figure(f"original — {self._where()}", image=image)}
        if self.modified is not None:
            label = f"{self.intervention.describe()} — {self._where()}"
            out["intervened"] = self.intervened.figure(label, image=image)
            out["difference"] = self.intervened.diff(self.original).figure(
                f"intervened − original ({self.modified.fraction:.2%} of activations modified)",
                image=image,
            )
        out["maps"] = self.maps_figure()
        if self.episode is not None:
            out["rollout"] = episode_figure(self.original, self.episode.cells)
        return out

    def _where(self) -> str:
        return f"seed {self.maze.seed}, {self.maze.maze_size}×{self.maze.maze_size}"

    def maps_figure(self, which: Literal["original", "intervened"] = "original") -> go.Figure:
        return maps_figure(
            self.maps, self.channels, self.maps_hook, self.ranking, self.maze.mouse, which
        )

    def summary(self) -> str:
        n = self.numbers()
        lines = [
            f"maze seed {self.maze.seed} ({self.maze.maze_size}×{self.maze.maze_size}), "
            f"mouse {self.maze.mouse}, cheese {self.maze.cheese}",
            f"intervention: {n['intervention']}",
        ]
        if self.modified is not None:
            lines.append(
                f"  modifies {self.modified.fraction:.3%} of the network's activations; "
                f"arrows move {n['mean_arrow_change']:.3f} on average "
                f"(max {n['max_arrow_change']:.3f}) over {n['cells']} cells"
            )
        lines.append(f"top channels at {self.maps_hook} by {self.ranking}: {self.channels}")
        if self.episode is not None:
            outcome = "reached the cheese" if self.episode.reached_cheese else "no cheese"
            lines.append(f"episode: {outcome} in {self.episode.steps} steps")
        return "\n".join(lines)

    def write_into(self, folder: Path) -> list[str]:
        names = super().write_into(folder)
        (folder / STATE_FILE).write_bytes(self.maze.to_state())
        return [*names, STATE_FILE]


def maps_figure(
    maps: np.ndarray,
    channels: Sequence[int],
    hook: str,
    ranking: str,
    mouse: Cell,
    which: Literal["original", "intervened"] = "original",
) -> go.Figure:
    """The ranked ``channels``' maps at ``hook`` (``maps``: ``(2, k, H, W)``, original and
    intervened), one heatmap each (image row 0 at the top, as the layer's grid), on one
    colour scale shared by both."""
    shown = maps[0 if which == "original" else 1]
    columns = min(4, max(1, len(channels)))
    rows = max(1, -(-len(channels) // columns))
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[f"channel {c}" for c in channels],
        horizontal_spacing=0.03,
        vertical_spacing=0.08,
    )
    bound = float(np.abs(maps).max()) or 1.0
    for k, channel_map in enumerate(shown):
        fig.add_trace(
            go.Heatmap(
                z=channel_map,
                zmin=-bound,
                zmax=bound,
                colorscale="RdBu_r",
                showscale=k == 0,
                hovertemplate="i %{y}, j %{x}: %{z:.3f}<extra></extra>",
            ),
            row=k // columns + 1,
            col=k % columns + 1,
        )
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False, constrain="domain")
    for k in range(1, len(channels) + 1):  # square grid cells, as the layer's grid is
        suffix = "" if k == 1 else str(k)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    fig.update_layout(
        title=f"{hook} ({which}), mouse at {tuple(mouse)}, top channels by {ranking}",
        height=190 * rows + 80,
        margin={"l": 20, "r": 20, "t": 70, "b": 20},
    )
    return fig


def episode_figure(vf: VectorField, cells: Sequence[Cell], step: int | None = None) -> go.Figure:
    """An episode's path (``cells``: the mouse's cell before each step and after the last)
    up to ``step`` (the end by default) over ``vf``'s figure, the mouse marked where it is."""
    steps = len(cells) - 1
    step = steps if step is None else min(max(step, 0), steps)
    fig = vf.figure(f"episode: step {step} of {steps}")
    rows, cols = np.asarray(cells[: step + 1]).reshape(-1, 2).T
    fig.add_trace(
        go.Scatter(
            x=cols,
            y=rows,
            mode="lines+markers",
            line={"color": "#ffb000", "width": 3},
            marker={"size": 5},
            hoverinfo="skip",
            name="path",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[cols[-1]],
            y=[rows[-1]],
            mode="markers",
            marker={"size": 16, "color": "#ffb000", "line": {"color": "black", "width": 2}},
            hoverinfo="skip",
            name="mouse",
        )
    )
    return fig


def load_state(path: str | Path) -> Maze:
    """The maze in a state file (``maze.state`` of an export); errors name the file."""
    path = Path(path)
    try:
        return Maze.from_state(path.read_bytes())
    except OSError as err:
        raise ValueError(f"cannot read the maze state file {path}: {err.strerror}") from None
    except (MazeStateError, ValueError) as err:
        raise ValueError(f"{path} is not a maze state: {err}") from None


def channel_maps(
    model: HookedImpala,
    obs: UInt8[torch.Tensor, "1 64 64 3"],
    hook: str,
    fwd_hooks: Sequence[HookSpec],
) -> torch.Tensor:
    """``(2, C, H, W)`` activations at ``hook`` for one observation (the maze with the mouse
    where it stands), without and with ``fwd_hooks``."""
    spatial_shape(model, hook)
    obs = obs.to(model.device)
    hook = model.resolve_hook_name(hook)
    with torch.no_grad():
        _, plain = model.run_with_cache(obs, names_filter=[hook])
        with model.hooks(fwd_hooks=fwd_hooks):
            _, hooked = model.run_with_cache(obs, names_filter=[hook])
    return torch.cat([plain[hook], hooked[hook]]).float().cpu()


def top_channels(maps: torch.Tensor, ranking: Ranking, maze: Maze, top: int) -> list[int]:
    """The ``top`` channels of ``(2, C, H, W)`` maps by ``ranking``: "peak" (largest |value|
    anywhere, original), "mouse" (largest |value| at the mouse's grid square), "change"
    (largest |intervened − original| anywhere)."""
    if ranking == "peak":
        score = maps[0].abs().amax(dim=(1, 2))
    elif ranking == "mouse":
        i, j = layer_position(maze.mouse, maze.world_size, maps.shape[-1])
        score = maps[0, :, i, j].abs()
    elif ranking == "change":
        score = (maps[1] - maps[0]).abs().amax(dim=(1, 2))
    else:
        raise ValueError(f"ranking must be one of {get_args(Ranking)}, got {ranking!r}")
    order = torch.argsort(score, descending=True, stable=True)
    return order[: min(top, len(order))].tolist()


def play_one(
    model: HookedImpala,
    maze: Maze,
    hooks: Sequence[HookSpec],
    kind: Literal["greedy", "sampled"],
    seed: int,
    max_steps: int,
) -> Episode:
    """One episode in ``maze`` under ``hooks``, greedy or sampled (seeded)."""
    return rollout(
        model,
        [maze],
        max_steps=max_steps,
        greedy=kind == "greedy",
        seed=seed,
        fwd_hooks=hooks,
        progress=False,
    ).episodes[0]


def view(
    model: HookedImpala,
    maze: Maze,
    intervention: InterventionSettings = InterventionSettings(),
    *,
    maps_hook: str = DEFAULT_LAYER,
    ranking: Ranking = "peak",
    top: int = 8,
    rollout_kind: RolloutKind = "greedy",
    max_steps: int = 128,
    seed: int = 0,
    renderer: MazeRenderer | None = None,
) -> MazeViewResult:
    """The view of one maze (the explorer calls this; ``run`` is its script form)."""
    checks.integer("top", top, minimum=1)
    checks.integer("max_steps", max_steps, minimum=1, maximum=PROCGEN_STEP_LIMIT)
    if rollout_kind not in get_args(RolloutKind):
        raise ValueError(f"rollout must be one of {get_args(RolloutKind)}, got {rollout_kind!r}")
    own = renderer is None
    renderer = renderer or MazeRenderer()
    try:
        hooks = intervention.hooks(model, maze, renderer)
        original = vector_field(model, maze, renderer=renderer, label="original")
        observation = renderer.observe([maze])[0]
        obs = torch.from_numpy(observation[None])
        if hooks:
            intervened = vector_field(
                model, maze, hooks, renderer=renderer, label=intervention.describe()
            )
            modified = count_modified(model, obs.to(model.device), hooks)
        else:
            intervened, modified = original, None
        maps = channel_maps(model, obs, maps_hook, hooks)
        channels = top_channels(maps, ranking, maze, top)
    finally:
        if own:
            renderer.close()
    episode = None
    if rollout_kind != "none":
        episode = play_one(model, maze, hooks, rollout_kind, seed, max_steps)
    parameters = {
        "intervention": asdict(intervention),
        "maps_hook": maps_hook,
        "ranking": ranking,
        "top": top,
        "rollout": rollout_kind,
        "max_steps": max_steps,
    }
    return MazeViewResult(
        metadata=RunMetadata(
            analysis="maze_view",
            checkpoint=CheckpointRef.of(model),
            hooks=tuple(dict.fromkeys([intervention.layer, maps_hook])),
            seed=seed,
            maze_seeds=(maze.seed,),
            parameters=parameters,
        ),
        maze=maze,
        intervention=intervention,
        original=original,
        intervened=intervened,
        modified=modified,
        maps_hook=model.resolve_hook_name(maps_hook),
        ranking=ranking,
        channels=channels,
        maps=maps[:, channels].numpy(),
        episode=episode,
        observation=observation,
    )


def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    state: str = "",
    layer: str = DEFAULT_LAYER,
    cheese_coeff: float = 0.0,
    top_right_coeff: float = 0.0,
    clamp_channels: Sequence[int] = (),
    clamp_cell: Sequence[int] = (),
    clamp_value: float = 5.0,
    remove_relus: bool = False,
    maps_hook: str = DEFAULT_LAYER,
    ranking: Ranking = "peak",
    top: int = 8,
    rollout: RolloutKind = "greedy",
    max_steps: int = 128,
    seed: int = 0,
    progress: bool = False,
) -> MazeViewResult:
    """The view of the maze in ``state`` (a state file), else of the first input maze."""
    if state:
        maze = load_state(state)
    elif inputs:
        maze = inputs[0]
    else:
        raise ValueError("maze_view needs a maze: --state FILE or at least one maze")
    if len(clamp_cell) not in (0, 2):
        raise ValueError(f"--clamp-cell takes ROW COL, got {list(clamp_cell)}")
    if clamp_channels and not clamp_cell:
        raise ValueError("--clamp-channels needs --clamp-cell ROW COL (where to clamp)")
    if clamp_cell and not maze.in_inner(tuple(clamp_cell)) and clamp_channels:
        raise ValueError(f"--clamp-cell {tuple(clamp_cell)} is outside the maze")
    intervention = InterventionSettings(
        layer=layer,
        cheese_coeff=float(cheese_coeff),
        top_right_coeff=float(top_right_coeff),
        clamp_channels=tuple(int(c) for c in clamp_channels),
        clamp_value=float(clamp_value),
        clamp_cell=tuple(int(v) for v in clamp_cell) if clamp_cell else None,
        remove_relus=remove_relus,
    )
    return view(
        model,
        maze,
        intervention,
        maps_hook=maps_hook,
        ranking=ranking,
        top=top,
        rollout_kind=rollout,
        max_steps=max_steps,
        seed=seed,
    )


ANALYSIS = Analysis(
    name="maze_view",
    question=(
        "What does the policy do in this one maze, and what does an intervention change: "
        "its vector field, its channels at the mouse's cell, an episode?"
    ),
    run=run,
    select=lambda mazes: list(mazes[:1]),
    options=(
        Option(
            "state",
            "",
            "maze state file (an explorer export's maze.state); default: the "
            "first of the standard mazes",
        ),
        Option("layer", DEFAULT_LAYER, "hook of the vectors and clamps", kind=cli.hook_name),
        Option("cheese_coeff", 0.0, "coefficient of the cheese vector", kind=cli.finite),
        Option("top_right_coeff", 0.0, "coefficient of the top-right vector", kind=cli.finite),
        Option("clamp_channels", [], "channels to clamp", kind=cli.integer(0), many=True),
        Option(
            "clamp_cell", [], "ROW COL: the cell to clamp them at", kind=cli.integer(0), many=True
        ),
        Option("clamp_value", 5.0, "value the clamped channels are held at", kind=cli.finite),
        Option("remove_relus", False, "every ReLU becomes the identity"),
        Option("maps_hook", DEFAULT_LAYER, "hook of the channel maps", kind=cli.hook_name),
        Option("ranking", "peak", "how the maps' channels are ranked", choices=get_args(Ranking)),
        Option("top", 8, "channels shown", kind=cli.positive_int),
        Option(
            "rollout", "greedy", "episode under the intervention", choices=get_args(RolloutKind)
        ),
        Option("max_steps", 128, "episode step limit", kind=cli.integer(1, PROCGEN_STEP_LIMIT)),
    ),
    quick={"cheese_coeff": -1.0, "max_steps": 64},
)

if __name__ == "__main__":
    sys.exit(analyses_cli.main(ANALYSIS))
