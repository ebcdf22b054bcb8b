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

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Literal, get_args

import torch
from jaxtyping import UInt8

from analyses.core.inputs import DEFAULT_LAYER
from analyses.core.result import RunMetadata
from analyses.core.spec import Option, analysis, channels_option
from analyses.maze_view.figures import episode_figure, maps_figure
from analyses.maze_view.result import MazeViewResult
from analyses.maze_view.settings import (
    STATE_FILE,
    InterventionSettings,
    Ranking,
    RolloutKind,
)
from analyses.measure.channels import spatial_shape
from hooked_impala import checks, cli
from hooked_impala.hooks import HookSpec
from hooked_impala.interventions import count_modified
from hooked_impala.maze import Maze, MazeRenderer, MazeStateError, layer_position
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, Episode, rollout, vector_field

__all__ = [
    "STATE_FILE",
    "InterventionSettings",
    "MazeViewResult",
    "channel_maps",
    "episode_figure",
    "load_state",
    "maps_figure",
    "play_one",
    "run",
    "top_channels",
    "view",
]
TOP = 8  # channels shown
MAX_STEPS = 128  # episode step limit
RANKING: Ranking = "peak"
ROLLOUT: RolloutKind = "greedy"


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
    (largest |intervened − original| anywhere; only channels that changed at all)."""
    if ranking == "peak":
        score = maps[0].abs().amax(dim=(1, 2))
    elif ranking == "mouse":
        i, j = layer_position(maze.mouse, maze.world_size, maps.shape[-1])
        score = maps[0, :, i, j].abs()
    elif ranking == "change":
        score = (maps[1] - maps[0]).abs().amax(dim=(1, 2))
        # Channels the intervention leaves alone are not "changed", however many are asked.
        top = min(top, int((score > 0).sum()))
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
    ranking: Ranking = RANKING,
    top: int = TOP,
    rollout_kind: RolloutKind = ROLLOUT,
    max_steps: int = MAX_STEPS,
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
        metadata=RunMetadata.of(
            "maze_view",
            model,
            seed=seed,
            hooks=tuple(dict.fromkeys([intervention.layer, maps_hook])),
            mazes=(maze.seed,),
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


@analysis(
    question=(
        "What does the policy do in this one maze, and what does an intervention change: "
        "its vector field, its channels at the mouse's cell, an episode?"
    ),
    # view() records the intervention and the display itself: the explorer's exports, made
    # without run, must be the same files as the command that reproduces them.
    record_arguments=False,
    select=lambda mazes: list(mazes[:1]),
    options=(
        Option(
            "state",
            "maze state file (an explorer export's maze.state); default: the "
            "first of the standard mazes",
        ),
        Option("layer", "hook of the vectors and clamps", kind=cli.hook_name),
        Option("cheese_coeff", "coefficient of the cheese vector", kind=cli.finite),
        Option("top_right_coeff", "coefficient of the top-right vector", kind=cli.finite),
        channels_option("clamp_channels", "channels to clamp"),
        Option("clamp_cell", "ROW COL: the cell to clamp them at", kind=cli.integer(0), many=True),
        Option("clamp_value", "value the clamped channels are held at", kind=cli.finite),
        Option("remove_relus", "every ReLU becomes the identity"),
        Option("maps_hook", "hook of the channel maps", kind=cli.hook_name),
        Option("ranking", "how the maps' channels are ranked", choices=get_args(Ranking)),
        Option("top", "channels shown", kind=cli.positive_int),
        Option("rollout", "episode under the intervention", choices=get_args(RolloutKind)),
        Option("max_steps", "episode step limit", kind=cli.integer(1, PROCGEN_STEP_LIMIT)),
    ),
    quick={"cheese_coeff": -1.0, "max_steps": 64},
)
def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    state: str = "",
    layer: str = InterventionSettings.layer,
    cheese_coeff: float = InterventionSettings.cheese_coeff,
    top_right_coeff: float = InterventionSettings.top_right_coeff,
    clamp_channels: Sequence[int] = (),
    clamp_cell: Sequence[int] = (),
    clamp_value: float = InterventionSettings.clamp_value,
    remove_relus: bool = InterventionSettings.remove_relus,
    maps_hook: str = DEFAULT_LAYER,
    ranking: Ranking = RANKING,
    top: int = TOP,
    rollout: RolloutKind = ROLLOUT,
    max_steps: int = MAX_STEPS,
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
