"""Cheese channels: which channels of a layer track where the cheese is?

Mini, Udell, Turner et al. found 11 of the 128 channels at
``embedder.block2.res1.resadd_out`` whose activation maps follow the cheese (7, 8, 42, 44,
55, 77, 82, 88, 89, 99, 113); setting channel 55 at a chosen square retargets the mouse.

This moves the cheese over up to ``cells_per_maze`` open cells of each maze (chosen with a
seeded rng; the mouse stays where the maze has it, the start cell for the standard mazes),
records the layer's activations, maps each cheese cell to the layer's grid square
(``hooked_impala.maze.layer_positions``: 15×15 and 25×25 worlds, any layer resolution) and
scores every channel by how well its map follows the cheese:

* ``correlation``: the point-biserial correlation, over all (observation, grid square)
  pairs, between the channel's activation and "the cheese is on this square" (primary);
* ``difference_correlation``: the same on act(with cheese) − act(same maze without cheese),
  which removes the maze's walls and the mouse but also any sense of scale: a channel
  whose response to the cheese is tiny next to its other variation scores as high as one
  whose map is dominated by the cheese;
* ``argmax_distance``: the mean distance (grid squares) from the channel's maximum to the
  cheese's square (ties: the mean over the tied squares, so a flat map scores the mean
  distance to all squares), with the chance level of guessing one of the maze's cells.

Channels are ranked best first by the chosen score.

    python -m analyses.cheese_channels --mazes 16 --cells-per-maze 32
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int
from plotly.subplots import make_subplots
from tqdm.auto import tqdm

from analyses import cli as analyses_cli
from analyses.channel_attribution import spearman
from analyses.channels import spatial_shape
from analyses.inputs import DEFAULT_LAYER, observations
from analyses.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.spec import Analysis, Option
from hooked_impala import checks, cli
from hooked_impala.maze import Cell, Maze, MazeRenderer, layer_positions
from hooked_impala.model import HookedImpala
from hooked_impala.stats import Rate

Score = Literal["correlation", "difference_correlation", "argmax_distance"]
SCORES: tuple[str, ...] = get_args(Score)
LOWER_IS_BETTER = frozenset({"argmax_distance"})
NEAR = 1  # "the maximum is on the cheese": within this many grid squares (Chebyshev)
EXAMPLE_COLUMNS = 4  # cheese positions shown in the maps figure


def cheese_placements(
    mazes: Sequence[Maze], cells_per_maze: int, seed: int
) -> list[tuple[int, Cell]]:
    """``(maze index, cheese cell)`` pairs: for each maze, up to ``cells_per_maze`` of its
    open inner cells other than the mouse's, drawn without replacement (all of them if
    there are fewer). Each maze's draw depends only on ``seed`` and its level seed, so
    reordering the mazes reorders the placements and changes nothing else."""
    cells_per_maze = checks.integer("cells_per_maze", cells_per_maze, minimum=1)
    out: list[tuple[int, Cell]] = []
    for index, maze in enumerate(mazes):
        candidates = [c for c in maze.open_cells if maze.in_inner(c) and c != maze.mouse]
        if not candidates:
            raise ValueError(f"maze seed {maze.seed} has no open cell for the cheese")
        rng = np.random.default_rng([seed, maze.seed])
        if len(candidates) <= cells_per_maze:
            chosen = range(len(candidates))
        else:
            chosen = rng.choice(len(candidates), size=cells_per_maze, replace=False)
        out += [(index, candidates[int(i)]) for i in chosen]
    return out


class IndicatorCorrelation:
    """Streaming point-biserial correlation, per channel, between ``values`` and the
    indicator of one square per observation, over all (observation, square) pairs.

    Sums are float64 and shifted by the first batch's channel means, so a constant channel
    has exactly zero variance (its correlation is defined as 0).
    """

    def __init__(self) -> None:
        self.shift: torch.Tensor | None = None
        self.sum = self.sum_sq = self.sum_at = 0.0
        self.pairs = self.ones = 0

    def update(
        self, values: Float[torch.Tensor, "n c h w"], squares: Int[torch.Tensor, "n 2"]
    ) -> None:
        v = values.double()
        if self.shift is None:
            self.shift = v.mean((0, 2, 3))
        d = v - self.shift[None, :, None, None]
        at = d[torch.arange(len(d)), :, squares[:, 0], squares[:, 1]]  # (n, c)
        self.sum = self.sum + d.sum((0, 2, 3))
        self.sum_sq = self.sum_sq + (d * d).sum((0, 2, 3))
        self.sum_at = self.sum_at + at.sum(0)
        self.pairs += d.shape[0] * d.shape[2] * d.shape[3]
        self.ones += d.shape[0]

    def value(self) -> Float[torch.Tensor, " c"]:
        p = self.ones / self.pairs
        mean = self.sum / self.pairs
        var = (self.sum_sq / self.pairs - mean**2).clamp_min(0.0)
        cov = self.sum_at / self.pairs - p * mean
        # float32 activations carry ~7 digits: less spread than that is a constant channel.
        flat = var.sqrt() <= 1e-7 * (self.shift + mean).abs()
        r = cov / (var.sqrt() * np.sqrt(p * (1 - p))).clamp_min(1e-300)
        return torch.where(flat, torch.zeros_like(r), r)


def argmax_distances(
    maps: Float[torch.Tensor, "n c h w"], squares: Int[torch.Tensor, "n 2"]
) -> tuple[Float[torch.Tensor, "n c"], torch.Tensor]:
    """Per observation and channel: the mean Euclidean distance (grid squares) from the
    squares holding the map's maximum to the cheese's square, and whether every such
    square is within ``NEAR`` squares (Chebyshev) of it (bool ``(n, c)``)."""
    n, c, h, w = maps.shape
    flat = maps.reshape(n, c, h * w)
    tied = flat == flat.amax(-1, keepdim=True)
    i = torch.arange(h, device=maps.device).repeat_interleave(w)
    j = torch.arange(w, device=maps.device).repeat(h)
    di = (i[None, :] - squares[:, :1]).double()  # (n, hw)
    dj = (j[None, :] - squares[:, 1:]).double()
    dist = (di**2 + dj**2).sqrt()
    far = torch.maximum(di.abs(), dj.abs()) > NEAR
    mean_dist = (tied * dist[:, None, :]).sum(-1) / tied.sum(-1)
    near = ~(tied & far[:, None, :]).any(-1)
    return mean_dist, near


@dataclass(kw_only=True)
class CheeseChannelsResult(AnalysisResult):
    """How well each channel of a layer follows the cheese.

    Attributes:
        layer: the hook; ``layer_shape``: its ``(C, H, W)``.
        score: the score ``ranking`` uses; ``ranking``: every channel, best first.
        scores: ``{score name: (C,) float64}`` (see the module docstring).
        near_cheese: ``(C,)`` observations whose maximum lies within ``NEAR`` squares of the
            cheese (all tied maxima), of ``observations``.
        maze_index, cheese_cells, squares: ``(N,)`` and ``(N, 2)`` per observation: which
            maze, the cheese's world cell, its grid square ``(i, j)`` (i from the top).
        distances: ``(N, C)`` per-observation argmax distance.
        chance_distance: mean distance from the cheese's square to a cell of the same maze
            drawn uniformly among the cheese's candidate cells; ``flat_map_distance``: to a
            uniformly drawn grid square (what a constant channel scores);
            ``chance_near``: the probability that the drawn cell lies within ``NEAR``.
        example_observations ``(K, 64, 64, 3)``, example_maps ``(K, C, H, W)``,
        example_squares ``(K, 2)``: the first maze's first K placements, for the figure.
    """

    layer: str
    layer_shape: tuple[int, int, int]
    score: str
    ranking: list[int]
    scores: dict[str, torch.Tensor]
    near_cheese: torch.Tensor
    maze_index: torch.Tensor
    cheese_cells: torch.Tensor
    squares: torch.Tensor
    distances: torch.Tensor
    chance_distance: float
    flat_map_distance: float
    chance_near: float
    top: int
    example_observations: torch.Tensor
    example_maps: torch.Tensor
    example_squares: torch.Tensor

    @property
    def observations(self) -> int:
        return int(self.squares.shape[0])

    def rankings(self) -> dict[str, list[int]]:
        """Every channel, best first, by each score (ties: lower channel index first)."""
        return {name: rank_channels(values, name) for name, values in self.scores.items()}

    def near_rate(self, channel: int) -> Rate:
        """Observations where the channel's maximum is on (within ``NEAR`` of) the cheese."""
        return Rate(int(self.near_cheese[channel]), self.observations)

    def channel_numbers(self, channel: int) -> dict:
        return {
            "channel": channel,
            **{name: float(values[channel]) for name, values in self.scores.items()},
            "max_near_cheese": self.near_rate(channel).as_dict(),
        }

    def numbers(self) -> dict:
        names = list(self.scores)
        ranks = self.rankings()
        # Spearman on "goodness": distances are negated so that larger is better for all.
        good = {n: (-v if n in LOWER_IS_BETTER else v).numpy() for n, v in self.scores.items()}
        closer = int((self.scores["argmax_distance"] < self.chance_distance).sum())
        return {
            "layer": self.layer,
            "layer_shape": list(self.layer_shape),
            "mazes": len(set(self.maze_index.tolist())),
            "observations": self.observations,
            "score": self.score,
            "ranking": self.ranking,
            "top_channels": [self.channel_numbers(c) for c in self.ranking[: self.top]],
            "top_by_score": {n: r[: self.top] for n, r in ranks.items()},
            "chance": {
                "argmax_distance": self.chance_distance,
                "argmax_distance_of_a_flat_map": self.flat_map_distance,
                "max_near_cheese": self.chance_near,
            },
            "channels_closer_than_chance": closer,
            "rank_agreement_spearman": {
                f"{a} vs {b}": spearman(good[a], good[b])
                for i, a in enumerate(names)
                for b in names[i + 1 :]
            },
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "ranking": np.array(self.ranking),
            **{name: values.numpy() for name, values in self.scores.items()},
            "near_cheese": self.near_cheese.numpy(),
            "maze_index": self.maze_index.numpy(),
            "cheese_cells": self.cheese_cells.numpy(),
            "squares": self.squares.numpy(),
            "distances": self.distances.numpy(),
            "example_maps": self.example_maps.numpy(),
        }

    def figures(self) -> dict[str, go.Figure]:
        return {"channel_scores": self.scores_figure(), "top_channel_maps": self.maps_figure()}

    def scores_figure(self) -> go.Figure:
        order = self.ranking
        labels = [str(c) for c in order]
        fig = make_subplots(
            rows=len(self.scores),
            cols=1,
            shared_xaxes=True,
            vertical_spacing=0.06,
            subplot_titles=[
                f"{n} ({'lower' if n in LOWER_IS_BETTER else 'higher'} is better)"
                + (" — ranking" if n == self.score else "")
                for n in self.scores
            ],
        )
        colours = ["#d4a017" if k < self.top else "#7f7f7f" for k in range(len(order))]
        for row, (name, values) in enumerate(self.scores.items(), start=1):
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=values[order].tolist(),
                    marker_color=colours,
                    name=name,
                    hovertemplate="channel %{x}: %{y:.3f}<extra></extra>",
                ),
                row=row,
                col=1,
            )
            if name == "argmax_distance":
                for level, text in (
                    (self.chance_distance, "chance (a random cell of the maze)"),
                    (self.flat_map_distance, "flat map"),
                ):
                    fig.add_hline(
                        y=level,
                        line_dash="dot",
                        annotation_text=text,
                        annotation_position="top left",
                        row=row,
                        col=1,
                    )
        fig.update_xaxes(type="category", title_text="channel (ranked)", row=len(self.scores))
        fig.update_layout(
            title=(
                f"How well each channel of {self.layer} follows the cheese "
                f"({self.observations} placements; top {self.top} in gold)"
            ),
            showlegend=False,
            height=260 * len(self.scores),
        )
        return fig

    def maps_figure(self) -> go.Figure:
        channels = self.ranking[: self.top]
        k = len(self.example_maps)
        titles = [f"cheese at {tuple(s)}" for s in self.example_squares.tolist()]
        titles += [f"channel {c}" if col == 0 else "" for c in channels for col in range(k)]
        fig = make_subplots(
            rows=len(channels) + 1,
            cols=k,
            subplot_titles=titles,
            horizontal_spacing=0.02,
            vertical_spacing=0.03,
        )
        for col in range(k):
            fig.add_trace(
                go.Image(z=self.example_observations[col].numpy(), hoverinfo="skip"),
                row=1,
                col=col + 1,
            )
        for row, channel in enumerate(channels, start=2):
            maps = self.example_maps[:, channel]
            low, high = float(maps.min()), float(maps.max())
            for col in range(k):
                fig.add_trace(
                    go.Heatmap(
                        z=maps[col].numpy(),
                        zmin=low,
                        zmax=high,
                        colorscale="Viridis",
                        showscale=False,
                        hovertemplate=f"channel {channel}<br>i %{{y}}, j %{{x}}: %{{z:.3f}}"
                        "<extra></extra>",
                    ),
                    row=row,
                    col=col + 1,
                )
                i, j = self.example_squares[col].tolist()
                fig.add_trace(
                    go.Scatter(
                        x=[j],
                        y=[i],
                        mode="markers",
                        marker={
                            "symbol": "square-open",
                            "size": 9,
                            "color": "#ff3030",
                            "line": {"width": 2},
                        },
                        hoverinfo="skip",
                    ),
                    row=row,
                    col=col + 1,
                )
        # Activations are indexed from the image's top, as the observations above them.
        fig.update_yaxes(autorange="reversed", showticklabels=False)
        fig.update_xaxes(showticklabels=False)
        fig.update_layout(
            title=(
                f"Top {len(channels)} channels of {self.layer} as the cheese moves "
                "(red square: the cheese's grid square; colour scale per channel)"
            ),
            showlegend=False,
            height=190 * (len(channels) + 1) + 80,
            width=190 * k + 120,
        )
        return fig

    def summary(self) -> str:
        n = self.numbers()
        c, h, w = self.layer_shape
        lines = [
            f"Cheese channels of {self.layer} ({c}×{h}×{w}) over {n['observations']} cheese "
            f"placements in {n['mazes']} mazes, ranked by {self.score}:",
            f"  {'rank':>4} {'channel':>7} {'corr':>7} {'diff corr':>9} {'argmax dist':>11}"
            "  max within 1 square of the cheese",
        ]
        for rank, entry in enumerate(n["top_channels"], start=1):
            lines.append(
                f"  {rank:>4} {entry['channel']:>7} {entry['correlation']:>7.3f} "
                f"{entry['difference_correlation']:>9.3f} {entry['argmax_distance']:>11.2f}"
                f"  {self.near_rate(entry['channel'])}"
            )
        chance = n["chance"]
        lines.append(
            f"  chance: argmax distance {chance['argmax_distance']:.2f} (random cell of the "
            f"maze), {chance['argmax_distance_of_a_flat_map']:.2f} (flat map); max near the "
            f"cheese {chance['max_near_cheese']:.1%}; channels closer than chance: "
            f"{n['channels_closer_than_chance']} of {c}"
        )
        for name, top in n["top_by_score"].items():
            lines.append(f"  top by {name}: {top}")
        lines.append(
            "  rank agreement (Spearman): "
            + ", ".join(f"{k} {v:.2f}" for k, v in n["rank_agreement_spearman"].items())
        )
        return "\n".join(lines)


def rank_channels(values: torch.Tensor, score: str) -> list[int]:
    """Channels best first by ``score`` (ties: lower index first)."""
    key = values if score in LOWER_IS_BETTER else -values
    return [int(c) for c in np.argsort(key.numpy(), kind="stable")]


def _chance_levels(
    mazes: Sequence[Maze],
    placements: Sequence[tuple[int, Cell]],
    squares: np.ndarray,
    size: int,
) -> tuple[float, float, float]:
    """(mean distance to a random candidate cell's square, to a random grid square,
    probability that a random candidate cell's square is within NEAR)."""
    candidates = {}
    for index, maze in enumerate(mazes):
        cells = [c for c in maze.open_cells if maze.in_inner(c) and c != maze.mouse]
        candidates[index] = layer_positions(cells, maze.world_size, size)
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1)
    grid = grid.reshape(-1, 2)
    to_cell, to_square, near = [], [], []
    for (index, _), square in zip(placements, squares):
        offsets = candidates[index] - square
        to_cell.append(np.hypot(*offsets.T).mean())
        near.append((np.abs(offsets).max(1) <= NEAR).mean())
        to_square.append(np.hypot(*(grid - square).T).mean())
    return float(np.mean(to_cell)), float(np.mean(to_square)), float(np.mean(near))


def run(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    cells_per_maze: int = 32,
    score: Score = "correlation",
    top: int = 8,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
) -> CheeseChannelsResult:
    """Move the cheese over up to ``cells_per_maze`` cells of each maze (mouse left where
    it is) and rank the channels of ``layer`` by how well they follow it (``score``).

    Args:
        mazes: Maze values, any mix of easy and hard.
        score: the score ``result.ranking`` uses (all are computed).
        top: channels shown in the figures and listed in ``numbers()``.
        batch_size: observations per forward pass.
    """
    mazes = list(mazes)
    if not mazes or not all(isinstance(m, Maze) for m in mazes):
        kinds = sorted({type(m).__name__ for m in mazes}) or ["nothing"]
        raise ValueError(f"cheese_channels takes a non-empty list of Maze values, got {kinds}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    layer = model.resolve_hook_name(layer)
    channels, size, _ = spatial_shape(model, layer)
    top = min(checks.integer("top", top, minimum=1), channels)
    placements = cheese_placements(mazes, cells_per_maze, seed)
    maze_index = np.array([i for i, _ in placements])
    cells = np.array([c for _, c in placements], dtype=np.int64)
    squares = np.zeros_like(cells)
    for i, maze in enumerate(mazes):  # each maze with its own world size
        mine = [c for k, c in placements if k == i]
        squares[maze_index == i] = layer_positions(mine, maze.world_size, size)
    device = model.device
    raw, diff = IndicatorCorrelation(), IndicatorCorrelation()
    distances = torch.zeros(len(placements), channels, dtype=torch.float64)
    near = torch.zeros(channels, dtype=torch.long)
    examples = [k for k, i in enumerate(maze_index) if i == 0][:EXAMPLE_COLUMNS]
    example_obs, example_maps = [], []
    with MazeRenderer() as renderer, torch.no_grad():

        def activations(items: Sequence[Maze]) -> tuple[torch.Tensor, torch.Tensor]:
            """``(n, C, H, W)`` activations at ``layer`` and the ``(n, 64, 64, 3)`` frames."""
            obs = observations(items, renderer)
            _, cache = model.run_with_cache(obs.to(device), names_filter=[layer])
            return cache[layer], obs

        without = torch.cat(
            [
                activations([m.without_cheese() for m in mazes[s : s + batch_size]])[0]
                for s in range(0, len(mazes), batch_size)
            ]
        )
        bar = tqdm(total=len(placements), desc="cheese placements", disable=not progress)
        for start in range(0, len(placements), batch_size):
            part = slice(start, start + batch_size)
            items = [mazes[i].with_cheese(c) for i, c in placements[part]]
            acts, obs = activations(items)
            where = torch.from_numpy(squares[part]).to(device)
            raw.update(acts, where)
            diff.update(acts - without[torch.from_numpy(maze_index[part]).to(device)], where)
            dist, is_near = argmax_distances(acts, where)
            distances[part] = dist.cpu()
            near += is_near.sum(0).cpu()
            chosen = [k - start for k in examples if start <= k < start + len(items)]
            example_obs.append(obs[chosen])
            example_maps.append(acts[chosen].float().cpu())
            bar.update(len(items))
        bar.close()
    chance, flat, chance_near = _chance_levels(mazes, placements, squares, size)
    scores = {
        "correlation": raw.value().cpu(),
        "difference_correlation": diff.value().cpu(),
        "argmax_distance": distances.mean(0),
    }
    return CheeseChannelsResult(
        metadata=RunMetadata(
            analysis="cheese_channels",
            checkpoint=CheckpointRef.of(model),
            hooks=(layer,),
            seed=seed,
            maze_seeds=tuple(m.seed for m in mazes),
            parameters={
                "cells_per_maze": cells_per_maze,
                "score": score,
                "top": top,
                "batch_size": batch_size,
                "mouse": "left where each maze has it",
            },
        ),
        layer=layer,
        layer_shape=(channels, size, size),
        score=score,
        ranking=rank_channels(scores[score], score),
        scores=scores,
        near_cheese=near,
        maze_index=torch.from_numpy(maze_index),
        cheese_cells=torch.from_numpy(cells),
        squares=torch.from_numpy(squares),
        distances=distances.float(),
        chance_distance=chance,
        flat_map_distance=flat,
        chance_near=chance_near,
        top=top,
        example_observations=torch.cat(example_obs),
        example_maps=torch.cat(example_maps),
        example_squares=torch.from_numpy(squares[examples]),
    )


ANALYSIS = Analysis(
    name="cheese_channels",
    question="Which channels of a layer track where the cheese is?",
    run=run,
    select=list,  # the mazes themselves: run() moves the cheese in each
    options=(
        Option("layer", DEFAULT_LAYER, "hook whose channels are scored", kind=cli.hook_name),
        Option(
            "cells_per_maze",
            32,
            "cheese placements per maze (open cells, seeded draw)",
            kind=cli.positive_int,
        ),
        Option("score", "correlation", "score the ranking uses", choices=SCORES),
        Option("top", 8, "channels listed and shown in the maps figure", kind=cli.positive_int),
        Option("batch_size", 64, "observations per forward pass", kind=cli.positive_int),
    ),
    quick={"cells_per_maze": 12, "top": 6},
)

if __name__ == "__main__":
    sys.exit(analyses_cli.main(ANALYSIS))
