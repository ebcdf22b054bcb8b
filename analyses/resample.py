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
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float, UInt8
from tqdm.auto import tqdm

from analyses import cli as analyses_cli
from analyses.channels import check_channels
from analyses.inputs import DEFAULT_LAYER
from analyses.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.spec import Analysis, Option
from hooked_impala import checks, cli
from hooked_impala.interventions import ReplaceChannels
from hooked_impala.maze import Cell, Maze, MazeRenderer, Tile
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.model import HookedImpala
from hooked_impala.policy import vector_field_cells

Source = Literal["next", "random"]
SOURCES: tuple[str, ...] = get_args(Source)
CONDITIONS = ("same", "different")
# The paper resampled 11 of the 128 channels of its layer; by default the same fraction.
PAPER_FRACTION = 11 / 128
BOOTSTRAP_RESAMPLES = 2000


def total_variation(
    p: Float[torch.Tensor, "*batch k"], q: Float[torch.Tensor, "*batch k"]
) -> Float[torch.Tensor, "*batch"]:
    """0.5·Σ|p − q| over the last axis: the total-variation distance of two distributions."""
    if p.shape != q.shape:
        raise ValueError(f"distributions of different shapes {tuple(p.shape)}, {tuple(q.shape)}")
    return 0.5 * (p - q).abs().sum(-1)


def default_subset_size(layer_channels: int) -> int:
    """The paper's fraction of the layer (11 of 128), rounded, at least 1: 3 of 32 at s=1."""
    return max(1, round(layer_channels * PAPER_FRACTION))


@dataclass(frozen=True)
class SourcePair:
    """The mazes one target's positions are resampled from.

    ``same``: the source maze S with its cheese on the target's cheese cell (None when that
    cell is not open in S); ``different``: S with its cheese on another cell.
    """

    target: Maze
    same: Maze | None
    different: Maze


def _open(maze: Maze, cell: Cell) -> bool:
    return maze.in_inner(cell) and maze.world_grid[cell] != Tile.WALL


def _cheese_on(maze: Maze, cell: Cell) -> Maze | None:
    """``maze`` with its cheese on ``cell``, or None if the cell is not open there. The
    maze's own mouse is moved off the cell first: only the positions rendered later count."""
    if not _open(maze, cell):
        return None
    if maze.mouse == cell:
        elsewhere = next(c for c in maze.open_cells if c not in (cell, maze.cheese))
        maze = maze.with_mouse(elsewhere)
    return maze.with_cheese(cell)


def source_mazes(
    mazes: Sequence[Maze], source: Source, rng: np.random.Generator
) -> list[Maze | None]:
    """For each maze, another maze of the same distribution mode in which its cheese cell is
    open (so the cheese can be moved there): the next such maze in the list (cyclically) or
    a seeded random one. None when no other maze qualifies (or the maze has no cheese).

    Mazes of different sizes put their walls on different cells, so the plain next maze
    often has a wall on the target's cheese cell; walking on to the next that does not
    keeps most targets instead of skipping them."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    chosen: list[Maze | None] = []
    for i, target in enumerate(mazes):
        order = [(i + step) % len(mazes) for step in range(1, len(mazes))]
        candidates = [
            mazes[j]
            for j in order
            if target.cheese is not None
            and mazes[j].distribution_mode == target.distribution_mode
            and _open(mazes[j], target.cheese)
        ]
        if not candidates:
            chosen.append(None)
        elif source == "next":
            chosen.append(candidates[0])
        else:
            chosen.append(candidates[int(rng.integers(len(candidates)))])
    return chosen


def pair_sources(target: Maze, source: Maze, rng: np.random.Generator) -> SourcePair:
    """The "same" and "different" versions of ``source`` for ``target`` (which has a cheese)."""
    same = _cheese_on(source, target.cheese)
    if source.cheese is not None and source.cheese != target.cheese:
        different = source
    else:  # its own cheese is on the target's cell (or it has none): a seeded other cell
        cells = [c for c in source.open_cells if c != target.cheese and source.in_inner(c)]
        different = _cheese_on(source, cells[int(rng.integers(len(cells)))])
    return SourcePair(target=target, same=same, different=different)


def resample_effects(
    model: HookedImpala,
    target_obs: UInt8[torch.Tensor, "n 64 64 3"],
    source_activations: Float[torch.Tensor, "n c h w"],
    layer: str,
    subsets: Sequence[Sequence[int]],
    batch_size: int = 256,
    progress: bool = False,
) -> tuple[Float[torch.Tensor, "g n"], Float[torch.Tensor, "g n"]]:
    """Total-variation change per subset and observation, over the 15 actions and over the 5
    movements, when each subset's channels at ``layer`` take the source activations (one row
    per observation). Computed in chunks of ``batch_size`` observations, the same chunks for
    every pass, so a source equal to the target's own activation gives exactly 0."""
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    if source_activations.shape[0] != len(target_obs):
        raise ValueError(
            f"{source_activations.shape[0]} source activations for {len(target_obs)} "
            "observations: pass one per observation"
        )
    n = len(target_obs)
    tv = torch.zeros(len(subsets), n)
    tv_moves = torch.zeros(len(subsets), n)
    chunks = range(0, n, batch_size)
    bar = tqdm(total=len(chunks) * len(subsets), desc="resampling", disable=not progress)
    with torch.no_grad():
        for start in chunks:
            rows = slice(start, start + batch_size)
            obs = target_obs[rows].to(model.device)
            original = model(obs)
            p, p_moves = original.probs.double(), original.movement_probs.double()
            for g, subset in enumerate(subsets):
                patch = ReplaceChannels(layer, tuple(subset), source_activations[rows])
                out = model.run_with_hooks(obs, fwd_hooks=patch.hooks())
                tv[g, rows] = total_variation(p, out.probs.double()).cpu().float()
                tv_moves[g, rows] = (
                    total_variation(p_moves, out.movement_probs.double()).cpu().float()
                )
                bar.update()
    bar.close()
    return tv, tv_moves


def layer_activations(
    model: HookedImpala, obs: UInt8[torch.Tensor, "n 64 64 3"], layer: str, batch_size: int
) -> Float[torch.Tensor, "n c h w"]:
    """Activations at ``layer``, in chunks of ``batch_size`` (as ``resample_effects`` runs)."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(obs), batch_size):
            _, cache = model.run_with_cache(
                obs[start : start + batch_size].to(model.device), names_filter=[layer]
            )
            parts.append(cache[layer].cpu())
    return torch.cat(parts)


def spread(values: np.ndarray, clusters: np.ndarray, rng: np.random.Generator) -> dict[str, object]:
    """Mean, sd over positions, n, and a 95% bootstrap interval of the mean that resamples
    whole mazes (``clusters``): positions of one maze are not independent."""
    values, clusters = np.asarray(values, dtype=np.float64), np.asarray(clusters)
    groups = [values[clusters == c] for c in np.unique(clusters)]
    out: dict[str, object] = {
        "mean": float(values.mean()) if len(values) else None,
        "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
        "n": int(len(values)),
        "mazes": len(groups),
        "ci95": [None, None],
    }
    if len(groups) > 1:
        sums = np.array([g.sum() for g in groups])
        counts = np.array([len(g) for g in groups])
        picks = rng.integers(len(groups), size=(BOOTSTRAP_RESAMPLES, len(groups)))
        means = sums[picks].sum(1) / counts[picks].sum(1)
        out["ci95"] = [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))]
    return out


def _percent(s: dict) -> str:
    if s["mean"] is None:
        return "n/a"
    low, high = s["ci95"]
    interval = "" if low is None else f" [{100 * low:.2f}, {100 * high:.2f}]"
    return f"{100 * s['mean']:.2f}%{interval}"


@dataclass(kw_only=True)
class ResampleResult(AnalysisResult):
    """Total-variation change of the action distribution when channel subsets are resampled.

    Attributes:
        channels: the chosen subset; ``channels_from``: "given" or how it was chosen.
        layer_channels: channels of the layer.
        subsets: every subset resampled, in the order of ``tv``'s second axis: the chosen
            subset, the random draws, every channel, then each chosen channel alone;
            ``kinds`` names each ("set", "random", "all", "single").
        tv, tv_moves: ``(2, G, N)`` [same, different] × subset × position, over the 15
            actions and over the 5 movements.
        maze_index: ``(N,)`` which pair each position belongs to; ``cells``: ``(N, 2)`` its
            mouse cell (row, col).
        pairs: the target and source mazes, one per target maze used.
        skipped: positions left out, by reason; ``positions_considered``: before skipping.
    """

    layer: str
    channels: tuple[int, ...]
    channels_from: str
    layer_channels: int
    subsets: list[tuple[int, ...]]
    kinds: list[str]
    tv: torch.Tensor
    tv_moves: torch.Tensor
    maze_index: torch.Tensor
    cells: torch.Tensor
    pairs: list[SourcePair] = field(repr=False)
    skipped: dict[str, int]
    positions_considered: int

    def group(self, kind: str) -> list[int]:
        """Indices of ``subsets`` of one kind."""
        return [g for g, k in enumerate(self.kinds) if k == kind]

    def group_labels(self) -> dict[str, str]:
        k, draws = len(self.channels), len(self.group("random"))
        named = "cheese channels" if self.channels_from != "given" else "chosen channels"
        labels = {"set": f"{named} {list(self.channels)}"}
        if draws:
            labels["random"] = f"random {k} ({draws} draws)"
        labels["all"] = f"all {self.layer_channels} channels"
        return labels

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng((self.metadata.seed or 0, 4))

    def _entry(self, indices: list[int], rng: np.random.Generator) -> dict:
        clusters = self.maze_index.numpy()
        per_position = self.tv[:, indices].mean(1).numpy()  # (2, N), mean over draws
        moves = self.tv_moves[:, indices].mean(1).numpy()
        entry = {}
        for c, name in enumerate(CONDITIONS):
            entry[name] = spread(per_position[c], clusters, rng)
            entry[name]["movements_mean"] = float(moves[c].mean()) if moves.shape[1] else None
        entry["different_minus_same"] = spread(per_position[1] - per_position[0], clusters, rng)
        if len(indices) > 1:
            draw_means = self.tv[:, indices].mean(2).numpy()  # (2, draws)
            for c, name in enumerate(CONDITIONS):
                entry[name]["sd_across_draws"] = float(draw_means[c].std(ddof=1))
        return entry

    def numbers(self) -> dict:
        rng = self._rng()
        return {
            "layer": self.layer,
            "layer_channels": self.layer_channels,
            "channels": list(self.channels),
            "channels_from": self.channels_from,
            "positions": int(self.tv.shape[2]),
            "mazes": len(self.pairs),
            "positions_considered": self.positions_considered,
            "skipped": dict(self.skipped),
            "groups": {
                kind: {"label": label, **self._entry(self.group(kind), rng)}
                for kind, label in self.group_labels().items()
            },
            "single_channels": {
                str(self.subsets[g][0]): self._entry([g], rng) for g in self.group("single")
            },
        }

    def arrays(self) -> dict[str, np.ndarray]:
        width = max(len(s) for s in self.subsets)
        padded = np.full((len(self.subsets), width), -1)
        for g, s in enumerate(self.subsets):
            padded[g, : len(s)] = s
        return {
            "tv": self.tv.numpy(),
            "tv_moves": self.tv_moves.numpy(),
            "maze_index": self.maze_index.numpy(),
            "cells": self.cells.numpy(),
            "subsets": padded,  # -1 pads the shorter subsets
            "kinds": np.array(self.kinds),
        }

    def _bars(self, entries: dict[str, dict], labels: list[str], title: str) -> go.Figure:
        fig = go.Figure()
        colours = {"same": "#d4a017", "different": "#1f4e79"}
        for condition in CONDITIONS:
            means = [100 * (e[condition]["mean"] or 0.0) for e in entries.values()]
            highs = [100 * (e[condition]["ci95"][1] or 0.0) for e in entries.values()]
            lows = [100 * (e[condition]["ci95"][0] or 0.0) for e in entries.values()]
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=means,
                    name=f"{condition} cheese cell",
                    marker_color=colours[condition],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [h - m for h, m in zip(highs, means)],
                        "arrayminus": [m - lo for m, lo in zip(means, lows)],
                    },
                )
            )
        fig.update_layout(
            title=title,
            yaxis_title="mean TV change of the action distribution (%)",
            barmode="group",
            height=450,
        )
        return fig

    def figures(self) -> dict[str, go.Figure]:
        n = self.numbers()
        where = f"at {self.layer}, {n['positions']} positions in {n['mazes']} mazes"
        groups = self._bars(
            n["groups"],
            [g["label"] for g in n["groups"].values()],
            f"Resampling channel subsets from another maze {where} (95% maze-bootstrap CI)",
        )
        singles = self._bars(
            n["single_channels"],
            [f"channel {c}" for c in n["single_channels"]],
            f"Resampling one channel {where}",
        )
        singles.update_xaxes(type="category")
        return {"groups": groups, "single_channels": singles}

    def summary(self) -> str:
        n = self.numbers()
        skipped = ", ".join(f"{v} {k}" for k, v in n["skipped"].items() if v) or "none"
        lines = [
            f"Resampling channels at {self.layer} ({self.layer_channels} channels) from another "
            "maze: mean TV change of the 15-action distribution [95% maze-bootstrap CI]",
            f"  {n['positions']} positions in {n['mazes']} mazes "
            f"({n['positions_considered']} considered; skipped: {skipped})",
            f"  {'subset':34s} {'same cheese cell':>24s} {'different cheese cell':>24s}"
            f" {'different - same':>24s}",
        ]
        rows = [(g["label"], g) for g in n["groups"].values()]
        rows += [(f"channel {c}", e) for c, e in n["single_channels"].items()]
        for label, e in rows:
            lines.append(
                f"  {label:34s} {_percent(e['same']):>24s} {_percent(e['different']):>24s}"
                f" {_percent(e['different_minus_same']):>24s}"
            )
        moves = "; ".join(
            f"{g['label']} {100 * g['same']['movements_mean']:.2f}% / "
            f"{100 * g['different']['movements_mean']:.2f}%"
            for g in n["groups"].values()
        )
        lines.append(f"  over the 5 movements (same / different): {moves}")
        return "\n".join(lines)


def _chosen_positions(
    maze: Maze, positions_per_maze: int | None, rng: np.random.Generator
) -> list[Cell]:
    cells = vector_field_cells(maze)
    if positions_per_maze is None or positions_per_maze >= len(cells):
        return cells
    picks = rng.choice(len(cells), size=positions_per_maze, replace=False)
    return [cells[i] for i in sorted(picks)]


def _choose_channels(
    model: HookedImpala,
    mazes: Sequence[Maze],
    layer: str,
    layer_channels: int,
    channels: Sequence[int] | None,
    cheese_channels: int | None,
    seed: int,
) -> tuple[tuple[int, ...], str]:
    if channels is not None and cheese_channels is not None:
        raise ValueError("pass channels or cheese_channels, not both")
    if channels is not None:
        return tuple(check_channels(channels, layer_channels, layer)), "given"
    k = default_subset_size(layer_channels) if cheese_channels is None else cheese_channels
    k = checks.integer("cheese_channels", k, minimum=1, maximum=layer_channels)
    from analyses import cheese_channels as ranking_analysis  # only needed on this path

    ranking = ranking_analysis.run(model, mazes, layer=layer, seed=seed).ranking
    chosen = tuple(int(c) for c in list(ranking)[:k])
    return tuple(check_channels(chosen, layer_channels, layer)), f"cheese_channels top {k}"


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
        channels: the subset to test; or ``cheese_channels=k``: the top k of
            ``analyses.cheese_channels``' ranking. Neither: k = the paper's fraction of
            the layer (11/128, rounded: 3 of 32 at s=1).
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
    chosen, channels_from = _choose_channels(
        model, mazes, layer, layer_channels, channels, cheese_channels, seed
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
            wanted = _chosen_positions(target, positions_per_maze, position_rng)
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
                if not _open(src, cell):
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
        raise ValueError(f"no position could be resampled; skipped: {skipped}")
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
    return ResampleResult(
        metadata=RunMetadata(
            analysis="resample",
            checkpoint=CheckpointRef.of(model),
            hooks=(layer,),
            seed=seed,
            maze_seeds=tuple(p.target.seed for p in pairs),
            parameters={
                "channels": list(chosen),
                "channels_from": channels_from,
                "positions_per_maze": positions_per_maze,
                "random_draws": random_draws,
                "source": source_kind,
                "source_seeds": [p.different.seed for p in pairs],
                "batch_size": batch_size,
                "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
            },
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


def count_or_all(text: str) -> int | None:
    """argparse type for ``--positions-per-maze``: a positive integer, or "all"."""
    if text.strip().lower() == "all":
        return None
    try:
        return cli.positive_int(text)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{err} (or 'all')") from None


count_or_all.__name__ = "a positive integer or 'all'"  # argparse names the type in errors

ANALYSIS = Analysis(
    name="resample",
    question="Does a channel subset carry the cheese's location?",
    run=run,
    select=list,  # the mazes: run() picks the mouse cells and the source mazes
    options=(
        Option("layer", DEFAULT_LAYER, "hook whose channels are resampled", kind=cli.hook_name),
        Option(
            "channels",
            None,
            "channels to resample (default: the top cheese channels)",
            kind=cli.integer(0),
            many=True,
        ),
        Option(
            "cheese_channels",
            None,
            "resample the top k of analyses.cheese_channels (default k: 11/128 of the layer)",
            kind=cli.positive_int,
        ),
        Option(
            "positions_per_maze",
            16,
            "mouse cells per maze, a seeded choice ('all': every vector-field cell)",
            kind=count_or_all,
        ),
        Option(
            "random_draws",
            10,
            "random subsets of the same size, disjoint from the chosen channels",
            kind=cli.integer(0),
        ),
        Option("source", "next", "which other maze each target is resampled from", choices=SOURCES),
        Option("batch_size", 256, "observations per forward pass", kind=cli.positive_int),
    ),
    quick={"positions_per_maze": 8, "random_draws": 5},
    min_mazes=2,  # the source is another maze
)

if __name__ == "__main__":
    sys.exit(analyses_cli.main(ANALYSIS))
