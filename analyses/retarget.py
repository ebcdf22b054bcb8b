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
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from tqdm.auto import tqdm

from analyses import cli as analyses_cli
from analyses.channels import check_channels, spatial_shape
from analyses.inputs import DEFAULT_LAYER
from analyses.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.retarget_paths import MazeRetarget, clamp_at_cells, retarget_maze, target_paths
from analyses.spec import SWEEP_OPTIONS, Analysis, Option
from hooked_impala import checks, cli
from hooked_impala.interventions import ModifiedCount, clamp_channels, count_modified
from hooked_impala.maze import (
    Cell,
    Maze,
    MazeRenderer,
    layer_positions,
    path_to_top_right,
)
from hooked_impala.maze.mouse_placements import maze_background
from hooked_impala.maze.render import OBS_SHAPE
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, rollout
from hooked_impala.stats import Rate, rate_text
from hooked_impala.sweep import Backend, chunked, run_sweep

#: Without an explicit magnitude, the clamp value is this multiple of the channels' typical
#: peak: the largest |activation| of the clamped channels in an observation (any position),
#: averaged over the mazes' start observations (a mean, so it does not grow with the number
#: of mazes as a maximum would). The paper's +5.5 is in the units of the s=4 network's
#: channel 55; a channel's own peak carries to any checkpoint. On the s=1 agent this
#: multiple was the best for the default 3 channels and for 6; one channel alone did best at
#: 6x (the sweep is in docs/analyses/retarget.md).
AUTO_MAGNITUDE_MULTIPLE = 4.0
DEFAULT_CHEESE_CHANNELS = 3
#: Mazes per chunk of the heatmap sweep: with every target, a maze took about 11 s on one
#: core for the s = 1 agent, so a chunk is a minute or two, and a few hundred mazes keep a
#: cluster's cores busy.
HEATMAP_CHUNK = 8

# --- rollouts --------------------------------------------------------------------------------


def reached_within(cells: Sequence[Cell], target: Cell, budget: int) -> bool:
    """The mouse stood on ``target`` within ``budget`` steps (``cells`` = an episode's cells,
    the start first)."""
    return tuple(target) in cells[: budget + 1]


def target_rollouts(
    model: HookedImpala,
    mazes: Sequence[Maze],
    targets: Sequence[Cell],
    *,
    layer: str,
    channels: Sequence[int],
    magnitude: float,
    budget: int,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, list[bool]]:
    """One episode per (maze, target) in three conditions, each ``budget`` steps at most:
    "clamped" (channels clamped at the target's grid square at every step), "original" (no
    intervention) and "cheese_moved" (the cheese moved to the target); per episode, whether
    the mouse stood on the target within the budget.

    ``rollout`` draws each maze's actions from a stream seeded by (seed, level seed), so the
    conditions share their random numbers, and the unmodified agent plays each maze once:
    its episode is checked against each of the maze's targets."""
    if not mazes:
        return {"clamped": [], "original": [], "cheese_moved": []}
    _, layer_size, _ = spatial_shape(model, layer)
    starts = [m.with_mouse(m.start_cell) for m in mazes]
    positions = torch.from_numpy(layer_positions(list(targets), starts[0].world_size, layer_size))

    def clamp_in_play(indices: np.ndarray) -> list:
        # rollout batches only the episodes still running: their own targets' squares.
        at = positions[torch.from_numpy(np.asarray(indices, dtype=np.int64))]
        return clamp_channels(layer, channels, magnitude, at=at).hooks()

    def played(episode_mazes: list[Maze], hooks) -> list:
        return list(
            rollout(
                model, episode_mazes, max_steps=budget, seed=seed, fwd_hooks=hooks,
                progress=progress,
            ).episodes
        )  # fmt: skip

    # The two conditions without hooks share one rollout (one procgen env).
    unique = list(dict.fromkeys(starts))
    moved = [m.with_cheese(t) for m, t in zip(starts, targets)]
    plain = played(unique + moved, [])
    first = dict(zip(unique, plain))
    episodes = {
        "clamped": played(starts, clamp_in_play),
        "original": [first[m] for m in starts],
        "cheese_moved": plain[len(unique) :],
    }
    return {
        name: [reached_within(e.cells, t, budget) for e, t in zip(runs, targets)]
        for name, runs in episodes.items()
    }


# --- statistics ------------------------------------------------------------------------------


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None below 3 points or for a
    constant variable."""

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # mean rank within ties
            same = v == value
            r[same] = r[same].mean()
        return r

    keep = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x)[keep], np.asarray(y)[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def _summary_stats(clamped, moved, original, ratio) -> dict:
    finite = ratio[np.isfinite(ratio)]
    return {
        "targets": int(len(clamped)),
        "mean_clamped": float(clamped.mean()) if len(clamped) else None,
        "mean_moved_cheese": float(moved.mean()) if len(moved) else None,
        "mean_original": float(original.mean()) if len(original) else None,
        "median_success_ratio": float(np.median(finite)) if len(finite) else None,
        "mean_success_ratio": float(finite.mean()) if len(finite) else None,
    }


def modified_numbers(count: ModifiedCount, observations: int) -> dict:
    """``count_modified``'s counts with fractions and percentages, per forward pass (None
    for no observations)."""
    if not observations:
        keys = ("changed_per_forward", "activations_per_forward", "fraction", "percent")
        keys += ("fraction_of_hooked", "percent_of_hooked")
        return {"observations": 0, "changed": 0, **dict.fromkeys(keys)}
    return {
        "observations": observations,
        "changed": count.changed,
        "changed_per_forward": count.changed / observations,
        "activations_per_forward": count.network // observations,
        "fraction": count.fraction,
        "percent": 100 * count.fraction,
        "fraction_of_hooked": count.fraction_of_hooked,
        "percent_of_hooked": 100 * count.fraction_of_hooked,
    }


# --- the result ------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RetargetResult(AnalysisResult):
    """Retargeting by clamping channels at a target's position.

    Attributes:
        layer, channels, magnitude: the clamp; ``channel_source`` / ``magnitude_source``
            say how they were chosen.
        per_maze: one ``MazeRetarget`` per maze.
        background: uint8 ``(64, 64, 3)`` rendering of the first maze without the mouse
            (under the heatmap).
        modified: what ``count_modified`` reports for the clamp (``modified_numbers``).
        rollouts: the rollout check (per-condition Rates, targets, budget), or None.
        corners: the corner experiment (predictions B2/B6), or None.
    """

    layer: str
    channels: list[int]
    channel_source: str
    magnitude: float
    magnitude_source: str
    per_maze: list[MazeRetarget]
    background: np.ndarray
    modified: dict
    rollouts: dict | None
    corners: dict | None

    def _flat(self, name: str) -> np.ndarray:
        parts = [np.asarray(getattr(m, name), dtype=np.float64) for m in self.per_maze]
        return np.concatenate(parts) if parts else np.zeros(0)

    def _by(self, groups: np.ndarray) -> dict[str, dict]:
        clamped, moved, original = (self._flat(k) for k in ("clamped", "moved_cheese", "original"))
        ratio = self._flat("success_ratio")
        return {
            str(int(g)): _summary_stats(
                clamped[groups == g], moved[groups == g], original[groups == g], ratio[groups == g]
            )
            for g in np.unique(groups)
        }

    def numbers(self) -> dict:
        clamped, moved, original = (self._flat(k) for k in ("clamped", "moved_cheese", "original"))
        ratio = self._flat("success_ratio")
        distance = self._flat("steps_to_top_right_path")
        sizes = np.concatenate(
            [np.full(len(m.targets), m.maze.maze_size) for m in self.per_maze] or [np.zeros(0)]
        )
        skipped: dict[str, int] = {}
        for m in self.per_maze:
            for reason in m.skipped.values():
                skipped[reason] = skipped.get(reason, 0) + 1
        out = {
            "layer": self.layer,
            "channels": self.channels,
            "channel_source": self.channel_source,
            "magnitude": self.magnitude,
            "magnitude_source": self.magnitude_source,
            "mazes": len(self.per_maze),
            "maze_sizes": sorted({m.maze.maze_size for m in self.per_maze}),
            "skipped_open_cells": skipped,
            **_summary_stats(clamped, moved, original, ratio),
            "ratio_of_means": float(clamped.mean() / moved.mean()) if len(moved) else None,
            "spearman_ratio_vs_steps_to_top_right_path": spearman(distance, ratio),
            "spearman_ratio_vs_maze_size": spearman(sizes.astype(float), ratio),
            "by_steps_to_top_right_path": self._by(distance),
            "by_maze_size": self._by(sizes),
            "modified": self.modified,
        }
        if self.rollouts is not None:
            out["rollouts"] = self.rollouts
        if self.corners is not None:
            out["corners"] = self.corners
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        index = np.concatenate(
            [np.full(len(m.targets), i) for i, m in enumerate(self.per_maze)] or [np.zeros(0)]
        )
        targets = [t for m in self.per_maze for t in m.targets]
        out = {
            "maze_index": index.astype(np.int64),
            "maze_seed": np.array([m.maze.seed for m in self.per_maze], dtype=np.int64),
            "target": np.array(targets, dtype=np.int64).reshape(-1, 2),
            "path_steps": self._flat("path_steps").astype(np.int64),
            "steps_to_top_right_path": self._flat("steps_to_top_right_path").astype(np.int64),
            "original": self._flat("original"),
            "clamped": self._flat("clamped"),
            "moved_cheese": self._flat("moved_cheese"),
            "success_ratio": self._flat("success_ratio"),
        }
        if self.rollouts is not None:
            for name in ("clamped", "original", "cheese_moved"):
                out[f"rollout_reached_{name}"] = np.array(self.rollouts["episodes"][name])
        return out

    def figures(self) -> dict[str, go.Figure]:
        figs = {}
        if self.per_maze and self.per_maze[0].targets:
            figs["heatmap"] = self.heatmap(0)
        if self.per_maze:
            figs["ratio_by_distance"] = self.ratio_by_distance()
        return figs

    def heatmap(self, index: int = 0) -> go.Figure:
        """Normalised path probability of every target of maze ``index`` over its rendering,
        in the three conditions; the white line is the path start → top-right cell (only
        the first maze's rendering is kept, so other mazes are drawn without it)."""
        m = self.per_maze[index]
        titles = (
            "no intervention",
            f"channels {self.channels} = {self.magnitude:.3g}",
            "cheese moved to target",
        )
        fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.03)
        size = m.maze.world_size
        d = size / OBS_SHAPE[0]
        to_top = path_to_top_right(m.maze) or []
        ratio = m.success_ratio
        hover = [
            f"target (row {r}, col {c})<br>path {k} steps, {s} from the top-right path<br>"
            f"original {o:.3f} · clamped {p:.3f} · cheese moved {q:.3f} · ratio {x:.2f}"
            for (r, c), k, s, o, p, q, x in zip(
                m.targets, m.path_steps, m.steps_to_top_right_path, m.original, m.clamped,
                m.moved_cheese, ratio,
            )
        ]  # fmt: skip
        text = m.on_grid(np.arange(len(m.targets)))
        possible = len(m.maze.open_cells) - len(m.skipped)
        for col, values in enumerate((m.original, m.clamped, m.moved_cheese), start=1):
            if index == 0:
                fig.add_trace(
                    go.Image(
                        z=np.flipud(self.background), x0=d / 2 - 0.5, dx=d, y0=d / 2 - 0.5, dy=d,
                        hoverinfo="skip",
                    ),
                    row=1, col=col,
                )  # fmt: skip
            fig.add_trace(
                go.Heatmap(
                    z=m.on_grid(values),
                    zmin=0.0,
                    zmax=1.0,
                    colorscale="Viridis",
                    opacity=0.8,
                    showscale=col == 3,
                    colorbar={"title": "path prob."},
                    text=[[hover[int(v)] if np.isfinite(v) else "" for v in row] for row in text],
                    hoverinfo="text",
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=[c for _, c in to_top], y=[r for r, _ in to_top], mode="lines",
                    line={"color": "white", "width": 2}, hoverinfo="skip",
                ),
                row=1, col=col,
            )  # fmt: skip
        axis = {"range": [-0.5, size - 0.5], "showgrid": False, "zeroline": False}
        fig.update_xaxes(**axis, showticklabels=False)
        fig.update_yaxes(**axis, showticklabels=False)
        for k in (1, 2, 3):
            suffix = "" if k == 1 else str(k)
            fig.update_layout({f"yaxis{suffix}": {"scaleanchor": f"x{suffix}"}})
        fig.update_layout(
            title=(
                f"Normalised path probability to each target, maze seed {m.maze.seed} "
                f"(size {m.maze.maze_size}, {len(m.targets)} of {possible} targets); line: "
                "path to the top-right cell"
            ),
            height=420,
            showlegend=False,
            margin={"l": 10, "r": 10, "t": 80, "b": 10},
            plot_bgcolor="white",
        )
        return fig

    def ratio_by_distance(self) -> go.Figure:
        """Median success ratio (clamped / cheese moved) by steps from the target to the path
        start → top-right cell, with the interquartile range, one line per maze size."""
        distance = self._flat("steps_to_top_right_path")
        ratio = self._flat("success_ratio")
        sizes = np.concatenate([np.full(len(m.targets), m.maze.maze_size) for m in self.per_maze])
        fig = go.Figure()
        groups = [("all mazes", np.ones(len(ratio), dtype=bool))]
        groups += [(f"size {int(s)}", sizes == s) for s in np.unique(sizes)]
        for name, mask in groups:
            xs, med, lo, hi, counts = [], [], [], [], []
            for dist in np.unique(distance[mask]):
                values = ratio[mask & (distance == dist)]
                values = values[np.isfinite(values)]
                if not len(values):
                    continue
                q1, q2, q3 = np.percentile(values, [25, 50, 75])
                xs.append(int(dist))
                med.append(q2)
                lo.append(q2 - q1)
                hi.append(q3 - q2)
                counts.append(len(values))
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=med,
                    mode="lines+markers",
                    name=name,
                    error_y={"type": "data", "array": hi, "arrayminus": lo, "visible": True}
                    if name == "all mazes"
                    else None,
                    line={"width": 3 if name == "all mazes" else 1},
                    text=[f"n = {c}" for c in counts],
                    hovertemplate="%{x} steps: median %{y:.3f} (%{text})",
                )
            )
        fig.add_hline(y=1.0, line={"dash": "dot", "color": "grey"})
        fig.update_layout(
            title=(
                f"Success ratio (clamped / cheese moved) by distance from the path to the top "
                f"right ({len(ratio)} targets, {len(self.per_maze)} mazes)"
            ),
            xaxis_title="steps from the target to the path start → top-right cell",
            yaxis_title="median success ratio (bars: interquartile range)",
        )
        return fig

    def summary(self) -> str:
        n = self.numbers()

        mod = n["modified"]
        lines = [
            f"Retargeting at {self.layer}: channels {self.channels} ({self.channel_source}) "
            f"clamped to {self.magnitude:.3g} ({self.magnitude_source}) at the target's square",
            f"  {n['targets']} targets in {n['mazes']} mazes (sizes {n['maze_sizes']}); "
            f"skipped open cells: "
            + (", ".join(f"{k} ({v})" for k, v in n["skipped_open_cells"].items()) or "none"),
            f"  mean normalised path probability: no intervention {_num(n['mean_original'])}, "
            f"clamped {_num(n['mean_clamped'])}, cheese moved {_num(n['mean_moved_cheese'])}",
            f"  success ratio clamped / cheese moved: median {_num(n['median_success_ratio'])}, "
            f"mean {_num(n['mean_success_ratio'])}; ratio of means {_num(n['ratio_of_means'])}",
            "  Spearman(ratio, steps to the top-right path) "
            f"{_num(n['spearman_ratio_vs_steps_to_top_right_path'], '+.2f')}; "
            f"Spearman(ratio, maze size) {_num(n['spearman_ratio_vs_maze_size'], '+.2f')}",
            "  median ratio by steps to the top-right path: "
            + ", ".join(
                f"{d}: {_num(v['median_success_ratio'], '.2f')} (n={v['targets']})"
                for d, v in n["by_steps_to_top_right_path"].items()
            ),
            "  median ratio by maze size: "
            + ", ".join(
                f"{s}: {_num(v['median_success_ratio'], '.2f')} (n={v['targets']})"
                for s, v in n["by_maze_size"].items()
            ),
            f"  activations modified: {_num(mod['changed_per_forward'], '.1f')} of "
            f"{_num(mod['activations_per_forward'], ',')} per forward pass = "
            f"{_num(mod['percent'], '.5f')}% of the network "
            f"({_num(mod['percent_of_hooked'], '.3f')}% of the layer), over "
            f"{mod['observations']} forward passes",
        ]
        if self.rollouts is not None:
            r = self.rollouts
            lines.append(
                f"  rollouts, {r['targets']} targets, budget {r['budget']} steps — reached the "
                f"target: clamped {rate_text(r['clamped'])}; no intervention "
                f"{rate_text(r['original'])}; cheese moved there {rate_text(r['cheese_moved'])}"
            )
        if self.corners is not None:
            lines += _corner_lines(self.corners)
        return "\n".join(lines)


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _corner_lines(c: dict) -> list[str]:
    which = "the world size" if c["is_world_size"] else "the largest size present"
    lines = [
        f"  corners (B2/B6): {c['mazes']} mazes of size {c['maze_size']} ({which}); budget "
        f"{c['budget']} steps = the mean steps ({_num(c['budget_from']['mean_steps'], '.1f')}) "
        f"to a cheese on the top-right cell, reached {rate_text(c['budget_from']['reached'])}",
    ]
    for name, v in c["targets"].items():
        lines.append(
            f"    {name}: clamped {rate_text(v['clamped'])}; no intervention "
            f"{rate_text(v['original'])}; cheese moved there {rate_text(v['cheese_moved'])}; "
            f"shortest path {_num(v['mean_path_steps'], '.1f')} steps on average, within the "
            f"budget in {rate_text(v['path_within_budget'])}"
            + (f"; skipped {v['skipped']}" if v["skipped"] else "")
        )
    lines.append(
        f"    pooled clamped {rate_text(c['pooled_clamped'])}; modified "
        f"{_num(c['modified']['percent'], '.5f')}% of the network's activations per forward pass"
    )
    return lines


# --- the corner experiment -------------------------------------------------------------------


def corner_cells(maze: Maze) -> dict[str, Cell]:
    """The inner maze's top-left and bottom-right cells (always open in procgen mazes)."""
    lo, hi = maze.margin, maze.margin + maze.maze_size - 1
    return {"top_left": (hi, lo), "bottom_right": (lo, hi)}


def corner_experiment(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    layer: str,
    channels: Sequence[int],
    magnitude: float,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Send the mouse to the top-left / bottom-right corner of the largest mazes, cheese left
    where it spawned. The step budget is the mean number of steps the agent takes to a
    cheese moved to the top-right cell of the same mazes (episodes that got it, procgen's
    500-step limit); the Rates are of reaching the corner within that budget: clamped,
    unmodified, and with the cheese moved to the corner (predictions B1/B5)."""
    largest = max(m.maze_size for m in mazes)
    chosen = [m.with_mouse(m.start_cell) for m in mazes if m.maze_size == largest]
    to_top_right = rollout(
        model,
        [m.with_cheese(m.top_right_cell) for m in chosen],
        max_steps=PROCGEN_STEP_LIMIT,
        seed=seed,
        progress=progress,
    )
    steps = [e.steps for e in to_top_right.episodes if e.reached_cheese]
    mean_steps = float(np.mean(steps)) if steps else None
    budget = PROCGEN_STEP_LIMIT if mean_steps is None else max(1, math.ceil(mean_steps))

    episodes: list[tuple[str, Maze, Cell]] = []
    per_corner: dict[str, dict] = {}
    for name in ("top_left", "bottom_right"):
        skipped, lengths = 0, []
        for m in chosen:
            cell = corner_cells(m)[name]
            paths, _ = target_paths(m)
            if cell in paths:
                episodes.append((name, m, cell))
                lengths.append(len(paths[cell]) - 1)
            else:
                skipped += 1
        # A corner farther than the budget cannot be reached within it by any policy.
        per_corner[name] = {
            "skipped": skipped,
            "mean_path_steps": float(np.mean(lengths)) if lengths else None,
            "path_within_budget": Rate.of(k <= budget for k in lengths).as_dict(),
        }
    outcome = target_rollouts(
        model,
        [m for _, m, _ in episodes],
        [c for _, _, c in episodes],
        layer=layer,
        channels=channels,
        magnitude=magnitude,
        budget=budget,
        seed=seed,
        progress=progress,
    )
    names = [name for name, _, _ in episodes]
    for name, entry in per_corner.items():
        for condition, reached in outcome.items():
            entry[condition] = Rate.of(r for r, k in zip(reached, names) if k == name).as_dict()
    modified = fraction_modified(
        model, [m for _, m, _ in episodes], [c for _, _, c in episodes], layer, channels,
        magnitude,
    )  # fmt: skip
    return {
        "maze_size": largest,
        "is_world_size": largest == chosen[0].world_size,
        "mazes": len(chosen),
        "maze_seeds": [m.seed for m in chosen],
        "budget": budget,
        "budget_from": {"reached": to_top_right.success.as_dict(), "mean_steps": mean_steps},
        "targets": per_corner,
        "pooled_clamped": Rate.of(outcome["clamped"]).as_dict(),
        "modified": modified,
    }


# --- run -------------------------------------------------------------------------------------


def choose_channels(
    model: HookedImpala,
    mazes: Sequence[Maze],
    layer: str,
    channels: Sequence[int],
    cheese_channels: int,
    seed: int,
) -> tuple[list[int], str]:
    """The channels to clamp and how they were chosen: ``channels`` when ``cheese_channels``
    is 0, else the ``cheese_channels`` best of ``analyses.cheese_channels``' ranking."""
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
    from analyses import cheese_channels as ranking_analysis  # only when asked: it costs a run

    ranking = ranking_analysis.run(model, mazes, layer=layer, seed=seed).ranking[:k]
    return check_channels(ranking, n_channels, layer), f"top {k} cheese channels"


def auto_magnitude(
    model: HookedImpala, mazes: Sequence[Maze], layer: str, channels: Sequence[int]
) -> float:
    """``AUTO_MAGNITUDE_MULTIPLE`` × the channels' typical peak: the largest |activation| of
    ``channels`` at ``layer`` in each of the mazes' start observations, averaged."""
    with MazeRenderer() as renderer:
        obs = torch.from_numpy(renderer.observe([m.with_mouse(m.start_cell) for m in mazes]))
    with torch.no_grad():
        _, cache = model.run_with_cache(obs.to(model.device), names_filter=[layer])
    peaks = cache[layer][:, list(channels)].abs().flatten(1).amax(1)
    return AUTO_MAGNITUDE_MULTIPLE * float(peaks.mean())


def _draw(items: list, k: int, key: list[int]) -> list:
    """``k`` of ``items`` without replacement (all if fewer), in their order, drawn by an rng
    seeded with ``key``: (run seed, level seed, purpose), so a maze's draw does not depend
    on the other mazes."""
    if len(items) <= k:
        return items
    picked = np.random.default_rng(key).choice(len(items), size=k, replace=False)
    return [items[i] for i in sorted(picked)]


def fraction_modified(
    model: HookedImpala,
    mazes: Sequence[Maze],
    cells: Sequence[Cell],
    layer: str,
    channels: Sequence[int],
    magnitude: float,
) -> dict:
    """``modified_numbers`` of the clamp at ``cells`` (one per maze) on the mazes' start
    observations."""
    if not mazes:
        return modified_numbers(ModifiedCount(0, 0, 0), 0)
    _, layer_size, _ = spatial_shape(model, layer)
    with MazeRenderer() as renderer:
        obs = renderer.observe([m.with_mouse(m.start_cell) for m in mazes])
    clamp = clamp_at_cells(layer, channels, magnitude, cells, mazes[0].world_size, layer_size)
    count = count_modified(model, torch.from_numpy(obs).to(model.device), clamp.hooks())
    return modified_numbers(count, len(obs))


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
            targets = _draw(list(paths), max_targets, [seed, maze.seed, 0]) if max_targets else None
            yield retarget_maze(
                model, maze, layer=layer, channels=channels, magnitude=magnitude,
                targets=targets, batch_size=batch_size, renderer=renderer,
            )  # fmt: skip


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
    ray: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
) -> RetargetResult:
    """Clamp ``channels`` (or the top ``cheese_channels`` cheese channels) to ``magnitude``
    (default: ``AUTO_MAGNITUDE_MULTIPLE`` × their typical peak) at each target's grid
    square of ``layer``; normalised path probabilities of every target (or ``max_targets``
    drawn per maze, 0 = all), ``targets_per_maze`` rollouts of ``rollout_steps`` steps per
    maze, and the corner experiment if ``corners``.

    The heatmaps are a sweep (:mod:`hooked_impala.sweep`, ``HEATMAP_CHUNK`` mazes a chunk):
    in this process, or as Ray tasks with ``ray`` (a local instance, or the cluster of
    ``RAY_ADDRESS``), ``ray_address`` (an existing cluster) and ``workers`` (chunks at once).
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
    backend = Backend(ray=ray, address=ray_address, workers=workers)  # Ray checked here
    chosen, channel_source = choose_channels(model, mazes, layer, channels, cheese_channels, seed)
    if magnitude is None:
        magnitude = auto_magnitude(model, mazes, layer, chosen)
        magnitude_source = f"auto: {AUTO_MAGNITUDE_MULTIPLE:g} x the channels' typical peak"
    else:
        magnitude_source = "given"

    heatmaps = functools.partial(
        heatmap_chunk, layer=layer, channels=chosen, magnitude=magnitude,
        max_targets=max_targets, batch_size=batch_size, seed=seed,
    )  # fmt: skip
    # In maze order whatever the backend: per_maze lines up with the input mazes.
    rows = run_sweep(model, chunked(mazes, HEATMAP_CHUNK), heatmaps, backend=backend, ordered=True)
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
        for t in _draw(list(m.targets), targets_per_maze, [seed, m.maze.seed, 1])
    ]
    episode_mazes = [m.maze for m, _ in episodes]
    episode_targets = [m.targets[i] for m, i in episodes]
    rollouts = None
    if episodes:
        reached = target_rollouts(
            model, episode_mazes, episode_targets, layer=layer, channels=chosen,
            magnitude=magnitude, budget=rollout_steps, seed=seed, progress=progress,
        )  # fmt: skip
        rollouts = {
            "targets": len(episodes),
            "budget": rollout_steps,
            **{name: Rate.of(r).as_dict() for name, r in reached.items()},
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
            model, mazes, layer=layer, channels=chosen, magnitude=magnitude, seed=seed,
            progress=progress,
        )  # fmt: skip

    return RetargetResult(
        metadata=RunMetadata(
            analysis="retarget",
            checkpoint=CheckpointRef.of(model),
            hooks=(layer,),
            seed=seed,
            maze_seeds=tuple(m.seed for m in mazes),
            parameters={
                "channels": list(channels),
                "cheese_channels": cheese_channels,
                "magnitude": magnitude,
                "max_targets": max_targets,
                "targets_per_maze": targets_per_maze,
                "rollout_steps": rollout_steps,
                "corners": corners,
                "batch_size": batch_size,
            },
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
    )


ANALYSIS = Analysis(
    name="retarget",
    question=(
        "Can clamping a few channels at a target cell send the mouse there, and how much of "
        "the network's activations does that edit?"
    ),
    run=run,
    select=list,  # the mazes themselves: every open cell is a target
    options=(
        Option("layer", DEFAULT_LAYER, "hook to clamp the channels at", kind=cli.hook_name),
        Option(
            "channels",
            [],
            "channels to clamp (with --cheese-channels 0)",
            kind=cli.integer(0),
            many=True,
        ),
        Option(
            "cheese_channels",
            DEFAULT_CHEESE_CHANNELS,
            "clamp the k best-ranked cheese channels (analyses.cheese_channels); 0: use --channels",
            kind=cli.integer(0),
        ),
        Option(
            "magnitude",
            None,
            f"clamp value; None: {AUTO_MAGNITUDE_MULTIPLE:g} x the channels' typical peak",
            kind=cli.finite,
        ),
        Option(
            "max_targets",
            0,
            "targets per maze for the heatmaps, drawn (0: all)",
            kind=cli.integer(0),
        ),
        Option(
            "targets_per_maze", 2, "rollout targets per maze (0: no rollouts)", kind=cli.integer(0)
        ),
        Option(
            "rollout_steps",
            64,
            "rollout step budget",
            kind=cli.integer(1, PROCGEN_STEP_LIMIT),
        ),
        Option("corners", False, "also the corner experiment on the largest mazes (B2/B6)"),
        Option("batch_size", 256, "observations per forward pass", kind=cli.positive_int),
        *SWEEP_OPTIONS,
    ),
    quick={"max_targets": 16, "targets_per_maze": 2, "rollout_steps": 32},
)

if __name__ == "__main__":
    sys.exit(analyses_cli.main(ANALYSIS))
