"""Retargeting: clamp a few channels at a target cell and see whether the mouse goes there.

Mini, Udell, Turner et al. set channel 55 of ``embedder.block2.res1.resadd_out`` to +5.5 at
the grid square under a target cell (the 25×25 world maps onto the 16×16 map) and the
mouse went there, most reliably near the path to the top right. This measures the same on
any checkpoint, and how much of the network such an edit touches.

For a target ``T`` the *normalised path probability* is the geometric mean, over the cells
``p_0 .. p_{k-1}`` of the shortest path start → ``T``, of the policy's probability of the
move ``p_i → p_{i+1}`` with the mouse on ``p_i`` (each movement's probability is the sum
over its procgen actions). It is computed three ways: without intervention, with the
channels clamped at ``T``'s position (every step of the path sees the same clamp), and
with the cheese moved to ``T`` (the natural way to send the mouse there). The *success
ratio* is clamped / moved cheese: 1 means the edit steers as well as moving the cheese.

Over every open target of every maze: a heatmap (figure: the first maze), the success ratio
against the steps from ``T`` to the path start → top-right cell and against maze size;
rollouts for a few targets per maze (did the mouse stand on ``T`` within the step budget,
clamped vs unmodified vs cheese moved to ``T``); the fraction of the network's activation
values the clamp changes (``count_modified``); and optionally (``corners``) the test of
predictions B2/B6: send the mouse to the top-left / bottom-right corner of the largest
mazes within the step budget the agent needs to reach a top-right cheese.

    python -m analyses.retarget --cheese-channels 3 --targets-per-maze 4
    python -m analyses.retarget --channels 55 --cheese-channels 0 --magnitude 5.5  # s = 4
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from analyses.core.inputs import DEFAULT_LAYER, maze_seeds
from analyses.core.result import RunMetadata
from analyses.core.spec import SWEEP, Option, analysis, channels_option
from analyses.measure.channels import check_channels, spatial_shape
from analyses.measure.cheese_channels import RETARGET_CHANNELS, top_cheese_channels
from analyses.measure.retarget import (
    AUTO_MAGNITUDE_MULTIPLE,
    auto_magnitude,
    corner_experiment,
    fraction_modified,
    per_maze_rate,
    seeded_subset,
    target_rollouts,
)
from analyses.measure.retarget_paths import MazeRetarget, retarget_maze, target_paths
from analyses.measure.splits import Split, selection_mazes
from analyses.retarget.result import RetargetResult
from hooked_impala import checks, cli
from hooked_impala.maze import Maze, MazeRenderer
from hooked_impala.maze.mouse_placements import maze_background
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT
from hooked_impala.sweep import Backend, chunked, run_sweep

DEFAULT_CHEESE_CHANNELS = RETARGET_CHANNELS
#: Mazes per chunk of the heatmap sweep: with every target, a maze took about 11 s on one
#: core for the s = 1 agent, so a chunk is a minute or two, and a few hundred mazes keep a
#: cluster's cores busy.
HEATMAP_CHUNK = 8


def choose_channels(
    model: HookedImpala,
    mazes: Sequence[Maze],
    layer: str,
    channels: Sequence[int],
    cheese_channels: int,
    seed: int,
) -> tuple[list[int], str]:
    """The channels to clamp and how they were chosen: ``channels`` when ``cheese_channels``
    is 0, else the ``cheese_channels`` best of the cheese-channel ranking on ``mazes`` (the
    selection mazes)."""
    n_channels, _, _ = spatial_shape(model, layer)
    k = checks.integer("cheese_channels", cheese_channels, minimum=0, maximum=n_channels)
    explicit = list(channels)
    if k == 0:
        return check_channels(explicit, n_channels, layer), "explicit"
    if explicit:
        raise ValueError(
            f"channels {explicit} and cheese_channels {k} both choose the channels; pass "
            "cheese_channels=0 (--cheese-channels 0) to clamp explicit channels"
        )
    ranking = top_cheese_channels(model, mazes, k, layer=layer, seed=seed)
    return check_channels(ranking, n_channels, layer), f"top {k} cheese channels"


def heatmap_chunk(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    layer: str,
    channels: Sequence[int],
    magnitude: float,
    max_targets: int,
    batch_size: int,
    seed: int,
) -> Iterator[MazeRetarget]:
    """The heatmap sweep's chunk function: ``retarget_maze`` on each of ``mazes`` in order,
    as each is done (every target, or ``max_targets`` drawn by (run seed, level seed)), with
    a renderer of its own. A maze's values depend only on the maze, the model and these
    settings, not on the other mazes of its chunk."""
    with MazeRenderer() as renderer:
        for maze in mazes:
            paths, _ = target_paths(maze.with_mouse(maze.start_cell))
            targets = None
            if max_targets:
                targets = seeded_subset(list(paths), max_targets, [seed, maze.seed, 0])
            yield retarget_maze(
                model,
                maze,
                layer=layer,
                channels=channels,
                magnitude=magnitude,
                targets=targets,
                batch_size=batch_size,
                renderer=renderer,
            )


@analysis(
    question=(
        "Can clamping a few channels at a target cell send the mouse there, and how much of "
        "the network's activations does that edit?"
    ),
    select=list,  # the mazes themselves: every open cell is a target
    options=(
        Option("layer", "hook to clamp the channels at", kind=cli.hook_name),
        channels_option("channels", "channels to clamp (with --cheese-channels 0)"),
        Option(
            "cheese_channels",
            "clamp the k best-ranked cheese channels (analyses.cheese_channels); 0: use --channels",
            kind=cli.integer(0),
        ),
        Option(
            "magnitude",
            f"clamp value; None: {AUTO_MAGNITUDE_MULTIPLE:g} x the channels' typical peak",
            kind=cli.finite,
        ),
        Option(
            "max_targets",
            "targets per maze for the heatmaps, drawn (0: all)",
            kind=cli.integer(0),
        ),
        Option(
            "targets_per_maze", "rollout targets per maze (0: no rollouts)", kind=cli.integer(0)
        ),
        Option(
            "rollout_steps",
            "rollout step budget",
            kind=cli.integer(1, PROCGEN_STEP_LIMIT),
        ),
        Option("corners", "also the corner experiment on the largest mazes (B2/B6)"),
        Option("batch_size", "observations per forward pass", kind=cli.positive_int),
        SWEEP,
    ),
    quick={"max_targets": 16, "targets_per_maze": 2, "rollout_steps": 32},
)
def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    channels: Sequence[int] = (),
    cheese_channels: int = DEFAULT_CHEESE_CHANNELS,
    magnitude: float | None = None,
    max_targets: int = 0,
    targets_per_maze: int = 2,
    rollout_steps: int = 64,
    corners: bool = False,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    sweep: Backend = Backend(),
) -> RetargetResult:
    """Clamp ``channels`` (or the top ``cheese_channels`` cheese channels) to ``magnitude``
    (default: ``AUTO_MAGNITUDE_MULTIPLE`` × their typical peak) at each target's grid
    square of ``layer``; normalised path probabilities of every target (or ``max_targets``
    drawn per maze, 0 = all), ``targets_per_maze`` rollouts of ``rollout_steps`` steps per
    maze, and the corner experiment if ``corners``.

    The heatmaps are a sweep (:mod:`hooked_impala.sweep`, ``HEATMAP_CHUNK`` mazes a chunk)
    where ``sweep`` says: in this process, or as Ray tasks.
    The channel choice, the magnitude, the rollouts and the corner experiment run here."""
    mazes = list(inputs)
    if not mazes or not all(isinstance(m, Maze) for m in mazes):
        kinds = sorted({type(m).__name__ for m in mazes}) or ["nothing"]
        raise ValueError(
            f"retarget takes a non-empty list of Maze values (select_mazes makes them), got {kinds}"
        )
    modes = sorted({m.distribution_mode for m in mazes})
    if len(modes) > 1:
        raise ValueError(f"retarget runs one distribution mode at a time; these mazes mix {modes}")
    layer = model.resolve_hook_name(layer)
    spatial_shape(model, layer)
    if magnitude is not None:
        magnitude = checks.real("magnitude", magnitude)
    max_targets = checks.integer("max_targets", max_targets, minimum=0)
    targets_per_maze = checks.integer("targets_per_maze", targets_per_maze, minimum=0)
    rollout_steps = checks.integer("rollout_steps", rollout_steps, 1, PROCGEN_STEP_LIMIT)
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    # Whatever is chosen from data (the channels, the magnitude) is chosen on other mazes.
    needed = bool(cheese_channels) or magnitude is None
    selection = selection_mazes(mazes) if needed else []
    split = Split(tuple(m.seed for m in selection), tuple(m.seed for m in mazes))
    chosen, channel_source = choose_channels(
        model, selection, layer, channels, cheese_channels, seed
    )
    if magnitude is None:
        magnitude = auto_magnitude(model, selection, layer, chosen)
        magnitude_source = (
            f"auto: {AUTO_MAGNITUDE_MULTIPLE:g} x the channels' typical peak (selection mazes)"
        )
    else:
        magnitude_source = "given"

    heatmaps = functools.partial(
        heatmap_chunk,
        layer=layer,
        channels=chosen,
        magnitude=magnitude,
        max_targets=max_targets,
        batch_size=batch_size,
        seed=seed,
    )
    # In maze order whatever the backend: per_maze lines up with the input mazes.
    rows = run_sweep(model, chunked(mazes, HEATMAP_CHUNK), heatmaps, backend=sweep, ordered=True)
    per_maze: list[MazeRetarget] = []
    with tqdm(total=len(mazes), desc="heatmaps", disable=not progress, unit="maze") as bar:
        try:
            for maze_retarget in rows:
                per_maze.append(maze_retarget)
                bar.update(1)
        finally:  # also on Ctrl-C: stops the Ray tasks still running
            rows.close()
    with MazeRenderer() as renderer:
        background = maze_background(per_maze[0].maze, renderer)

    # Rollout targets: a few of each maze's heatmap targets.
    episodes = [
        (m, m.targets.index(t))
        for m in per_maze
        for t in seeded_subset(list(m.targets), targets_per_maze, [seed, m.maze.seed, 1])
    ]
    episode_mazes = [m.maze for m, _ in episodes]
    episode_targets = [m.targets[i] for m, i in episodes]
    rollouts = None
    if episodes:
        reached = target_rollouts(
            model,
            episode_mazes,
            episode_targets,
            layer=layer,
            channels=chosen,
            magnitude=magnitude,
            budget=rollout_steps,
            seed=seed,
            progress=progress,
        )
        seeds = [m.seed for m in episode_mazes]  # a maze's targets are one unit
        rollouts = {
            "targets": len(episodes),
            "budget": rollout_steps,
            **{name: per_maze_rate(r, seeds) for name, r in reached.items()},
            "mean_clamped_path_probability": float(np.mean([m.clamped[i] for m, i in episodes])),
            "episodes": reached,
            "episode_targets": [list(t) for t in episode_targets],
        }
    # The fraction modified: the start observations clamped at the rollout targets (without
    # rollouts, at each maze's first target).
    if not episodes:
        episode_mazes = [m.maze for m in per_maze if m.targets]
        episode_targets = [m.targets[0] for m in per_maze if m.targets]
    modified = fraction_modified(model, episode_mazes, episode_targets, layer, chosen, magnitude)

    corner = None
    if corners:
        corner = corner_experiment(
            model,
            mazes,
            layer=layer,
            channels=chosen,
            magnitude=magnitude,
            seed=seed,
            progress=progress,
        )

    return RetargetResult(
        metadata=RunMetadata.of(
            "retarget", model, seed=seed, hooks=(layer,), mazes=maze_seeds(mazes)
        ),
        layer=layer,
        channels=chosen,
        channel_source=channel_source,
        magnitude=float(magnitude),
        magnitude_source=magnitude_source,
        per_maze=per_maze,
        background=background,
        modified=modified,
        rollouts=rollouts,
        corners=corner,
        split=split.as_dict() if selection else None,
    )
