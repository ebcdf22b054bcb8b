"""Resampling channels: does a channel subset carry the cheese's location?

For each target maze M and some mouse cells in it, the activations of a channel subset at a
layer are replaced by the same channels' activations in another maze S (same distribution
mode, mouse on the same cell), and the change of the action distribution is measured as the
total-variation distance 0.5·Σ|p − q| over the 15 actions (also over the 5 movements).
Two sources per position:

* **same**: S with its cheese moved to M's cheese cell;
* **different**: S with its cheese elsewhere (its own cheese, or a seeded open cell when
  S's own cheese is on M's cell).

If a subset encodes where the cheese is, resampling it from "different" should move the
policy more than from "same". Compared: the chosen subset (given, or the top-k of
``analyses.cheese_channels``), random subsets of the same size (disjoint from it), every
channel of the layer (a reference: the whole activation resampled) and each single channel
of the subset. Mini, Udell, Turner et al. (scale-4 network, 11 of 128 channels, 30 seeds):
cheese channels 0.88% (same) / 1.26% (different), random 0.60% / 0.54%, channel 55 alone
0.18% / 0.31%.

    python -m analyses.resample --checkpoint model_160022528 --mazes 8 --out out/resample
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from analyses.core.inputs import DEFAULT_LAYER, NotApplicable
from analyses.core.result import RunMetadata
from analyses.core.spec import Option, analysis, channels_option
from analyses.measure.splits import Split, selection_mazes
from analyses.resample.compute import (
    SOURCES,
    Source,
    SourcePair,
    choose_channels,
    chosen_positions,
    is_open,
    layer_activations,
    pair_sources,
    resample_effects,
    source_mazes,
)
from analyses.resample.result import ResampleResult
from hooked_impala import checks, cli
from hooked_impala.maze import Maze, MazeRenderer
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.model import HookedImpala
from hooked_impala.stats import BOOTSTRAP_RESAMPLES


def count_or_all(text: str) -> int | None:
    """argparse type for ``--positions-per-maze``: a positive integer, or "all"."""
    if text.strip().lower() == "all":
        return None
    try:
        return cli.positive_int(text)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{err} (or 'all')") from None


@analysis(
    question="Does a channel subset carry the cheese's location?",
    select=list,  # the mazes: run() picks the mouse cells and the source mazes
    options=(
        Option("layer", "hook whose channels are resampled", kind=cli.hook_name),
        channels_option("channels", "channels to resample (default: the top cheese channels)"),
        Option(
            "cheese_channels",
            "resample the top k of analyses.cheese_channels (default k: 11/128 of the layer)",
            kind=cli.positive_int,
        ),
        Option(
            "positions_per_maze",
            "mouse cells per maze, a seeded choice ('all': every vector-field cell)",
            kind=count_or_all,
        ),
        Option(
            "random_draws",
            "random subsets of the same size, disjoint from the chosen channels",
            kind=cli.integer(0),
        ),
        Option("source", "which other maze each target is resampled from", choices=SOURCES),
        Option("batch_size", "observations per forward pass", kind=cli.positive_int),
    ),
    quick={"positions_per_maze": 8, "random_draws": 5},
    min_mazes=2,  # the source is another maze
)
def run(
    model: HookedImpala,
    inputs: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    channels: Sequence[int] | None = None,
    cheese_channels: int | None = None,
    positions_per_maze: int | None = 16,
    random_draws: int = 10,
    source: Source = "next",
    sources: Sequence[Maze] | None = None,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
) -> ResampleResult:
    """Resample channel subsets at ``layer`` from other mazes and measure the TV change.

    Args:
        inputs: the target mazes (each needs a cheese; mazes without one are skipped).
        channels: the subset to test; or ``cheese_channels=k``: the top k of the
            cheese-channel ranking on selection mazes (``analyses.measure.splits``: other
            levels than the inputs). Neither: k = the paper's fraction of the layer (11/128,
            rounded: 3 of 32 at s=1).
        positions_per_maze: mouse cells per target (a seeded choice among its vector-field
            cells: open, not the cheese's); None: all of them.
        random_draws: random subsets of the same size, drawn from the other channels.
        source: each target's source maze, among the other inputs of its distribution
            mode with its cheese cell open: the "next" one in the list or a seeded
            "random" one (see ``source_mazes``); ``sources`` overrides it with one maze
            per input (passing ``inputs`` itself makes "same" the identity).
        batch_size: observations per forward pass.
    """
    mazes = list(inputs)
    if not mazes or not all(isinstance(m, Maze) for m in mazes):
        raise ValueError("resample needs a list of Maze values")
    layer = model.resolve_hook_name(layer)
    shape = model.hook_shapes()[layer]
    if len(shape) != 4:
        raise ValueError(
            f"layer must have (N, C, H, W) activations to resample channels; {layer!r} has "
            f"shape {shape}"
        )
    layer_channels = shape[1]
    random_draws = checks.integer("random_draws", random_draws, minimum=0)
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    if positions_per_maze is not None:
        positions_per_maze = checks.integer("positions_per_maze", positions_per_maze, minimum=1)
    source_kind = "given" if sources is not None else source
    if sources is not None:
        sources = list(sources)
        if len(sources) != len(mazes) or not all(isinstance(m, Maze) for m in sources):
            raise ValueError(f"sources must be {len(mazes)} Maze values, one per input")
        for m, s in zip(mazes, sources):
            if s.distribution_mode != m.distribution_mode:
                raise ValueError(
                    f"source maze seed {s.seed} is {s.distribution_mode!r}, its target "
                    f"(seed {m.seed}) {m.distribution_mode!r}: they must match"
                )
    else:
        sources = source_mazes(mazes, source, np.random.default_rng((seed, 1)))
    # Channels chosen from data are chosen on other mazes than those they are scored on.
    selection = selection_mazes(mazes) if channels is None else []
    chosen, channels_from = choose_channels(
        model, selection, layer, layer_channels, channels, cheese_channels, seed
    )
    others = [c for c in range(layer_channels) if c not in chosen]
    if random_draws and len(others) < len(chosen):
        raise ValueError(
            f"random subsets of {len(chosen)} channels disjoint from the chosen ones need "
            f"{len(chosen)} other channels; {layer!r} has {len(others)} (use random_draws=0 or "
            "fewer channels)"
        )
    draw_rng = np.random.default_rng((seed, 3))
    draws = [
        tuple(sorted(int(c) for c in draw_rng.choice(others, len(chosen), replace=False)))
        for _ in range(random_draws)
    ]
    subsets = [chosen, *draws, tuple(range(layer_channels)), *[(c,) for c in chosen]]
    kinds = ["set"] + ["random"] * len(draws) + ["all"] + ["single"] * len(chosen)

    skipped = {
        "target without cheese": 0,
        "no other maze has the target's cheese cell open": 0,
        "cheese cell not open in the source": 0,
        "mouse cell a wall in the source": 0,
        "mouse cell on the different source's cheese": 0,
    }
    position_rng, cheese_rng = np.random.default_rng((seed, 0)), np.random.default_rng((seed, 2))
    pairs: list[SourcePair] = []
    targets, same, different, maze_index, cells = [], [], [], [], []
    considered = 0
    with MazeRenderer() as renderer:
        for target, src in zip(tqdm(mazes, desc="mazes", disable=not progress), sources):
            wanted = chosen_positions(target, positions_per_maze, position_rng)
            considered += len(wanted)
            if target.cheese is None:
                skipped["target without cheese"] += len(wanted)
                continue
            if src is None:
                skipped["no other maze has the target's cheese cell open"] += len(wanted)
                continue
            pair = pair_sources(target, src, cheese_rng)
            if pair.same is None:
                skipped["cheese cell not open in the source"] += len(wanted)
                continue
            kept = []
            for cell in wanted:
                if not is_open(src, cell):
                    skipped["mouse cell a wall in the source"] += 1
                elif cell == pair.different.cheese:
                    skipped["mouse cell on the different source's cheese"] += 1
                else:
                    kept.append(cell)
            if not kept:
                continue
            flag = target.is_reflected  # the sprite faces the same way in every observation
            for maze, out in ((target, targets), (pair.same, same), (pair.different, different)):
                out.append(observe_mouse_on_cells(maze.to_state(), kept, renderer, flag))
            maze_index += [len(pairs)] * len(kept)
            cells += kept
            pairs.append(pair)
    if not pairs:
        raise NotApplicable(f"no position could be resampled; skipped: {skipped}")
    target_obs = torch.from_numpy(np.concatenate(targets))
    tv = torch.zeros(2, len(subsets), len(target_obs))
    tv_moves = torch.zeros_like(tv)
    for c, source_obs in enumerate((same, different)):
        acts = layer_activations(
            model, torch.from_numpy(np.concatenate(source_obs)), layer, batch_size
        )
        tv[c], tv_moves[c] = resample_effects(
            model, target_obs, acts, layer, subsets, batch_size, progress
        )
    targets = [p.target.seed for p in pairs]
    found = {  # what run() chose or derived, beside the arguments it was called with
        "channels": list(chosen),
        "channels_from": channels_from,
        "source": source_kind,
        "source_seeds": [p.different.seed for p in pairs],
        "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
        "split": (
            Split(tuple(m.seed for m in selection), tuple(m.seed for m in mazes)).as_dict()
            if selection
            else None
        ),
    }
    return ResampleResult(
        metadata=RunMetadata.of(
            "resample", model, seed=seed, hooks=(layer,), mazes=targets, parameters=found
        ),
        layer=layer,
        channels=chosen,
        channels_from=channels_from,
        layer_channels=layer_channels,
        subsets=subsets,
        kinds=kinds,
        tv=tv,
        tv_moves=tv_moves,
        maze_index=torch.tensor(maze_index),
        cells=torch.tensor(cells).reshape(-1, 2),
        pairs=pairs,
        skipped=skipped,
        positions_considered=considered,
    )


count_or_all.__name__ = "a positive integer or 'all'"  # argparse names the type in errors
