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

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyses.core import cli as analyses_cli
from analyses.core.figures import square_cells
from analyses.core.inputs import DEFAULT_LAYER, maze_seeds
from analyses.core.result import AnalysisResult, RunMetadata
from analyses.core.spec import Option, analysis
from analyses.measure.cheese_channels import (
    BATCH_SIZE,
    CELLS_PER_MAZE,
    LOWER_IS_BETTER,
    SCORES,
    ChannelScores,
    Score,
    rank_channels,
    score_channels,
)
from hooked_impala import checks, cli
from hooked_impala.maze import Maze
from hooked_impala.model import HookedImpala
from hooked_impala.stats import Estimate, bootstrap_over_mazes, spearman


@dataclass(kw_only=True)
class CheeseChannelsResult(AnalysisResult, ChannelScores):
    """How well each channel of a layer follows the cheese: the measurement's
    :class:`~analyses.measure.cheese_channels.ChannelScores` (its attributes), and

    Attributes:
        score: the score ``ranking`` uses; ``ranking``: every channel, best first.
        top: channels listed and drawn.

    ``chance_distance`` is the mean distance from the cheese's square to a cell of the same
    maze drawn uniformly among the cheese's candidate cells; ``flat_map_distance``, to a
    uniformly drawn grid square (what a constant channel scores); ``chance_near``, the
    probability that the drawn cell lies within ``NEAR``.
    """

    score: str
    ranking: list[int]
    top: int

    @property
    def observations(self) -> int:
        return int(self.squares.shape[0])

    def rankings(self) -> dict[str, list[int]]:
        """Every channel, best first, by each score (ties: lower channel index first)."""
        return {name: rank_channels(values, name) for name, values in self.scores.items()}

    def near_rate(self, channel: int) -> Estimate:
        """The share of observations where the channel's maximum is on (within ``NEAR`` of)
        the cheese, with a bootstrap interval over mazes (each gives several placements)."""
        found = bootstrap_over_mazes(self.near_cheese[:, channel].numpy(), self.maze_index.numpy())
        if found is None:  # one maze: no interval over mazes; the share, said so
            share = float(self.near_cheese[:, channel].double().mean())
            return Estimate(share, share, share, 1, "mazes", "one maze: no interval")
        return found

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
                # The two levels can lie a few pixels apart: labels at opposite ends.
                for level, text, where in (
                    (self.chance_distance, "chance (a random cell of the maze)", "bottom left"),
                    (self.flat_map_distance, "flat map", "top right"),
                ):
                    fig.add_hline(
                        y=level,
                        line_dash="dot",
                        annotation_text=text,
                        annotation_position=where,
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
        square_cells(fig)
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
            + ", ".join(
                f"{k} {'undefined' if v is None else f'{v:.2f}'}"
                for k, v in n["rank_agreement_spearman"].items()
            )
        )
        return "\n".join(lines)


@analysis(
    question="Which channels of a layer track where the cheese is?",
    select=list,  # the mazes themselves: run() moves the cheese in each
    options=(
        Option("layer", "hook whose channels are scored", kind=cli.hook_name),
        Option(
            "cells_per_maze",
            "cheese placements per maze (open cells, seeded draw)",
            kind=cli.positive_int,
        ),
        Option("score", "score the ranking uses", choices=SCORES),
        Option("top", "channels listed and shown in the maps figure", kind=cli.positive_int),
        Option("batch_size", "observations per forward pass", kind=cli.positive_int),
    ),
    quick={"cells_per_maze": 12, "top": 6},
)
def run(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    layer: str = DEFAULT_LAYER,
    cells_per_maze: int = CELLS_PER_MAZE,
    score: Score = "correlation",
    top: int = 8,
    batch_size: int = BATCH_SIZE,
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
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    checks.integer("top", top, minimum=1)
    scored = score_channels(
        model,
        mazes,
        layer=layer,
        cells_per_maze=cells_per_maze,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    layer = scored.layer
    seeds, mouse = maze_seeds(mazes), {"mouse": "left where each maze has it"}
    return CheeseChannelsResult(
        metadata=RunMetadata.of(
            "cheese_channels", model, seed=seed, hooks=(layer,), mazes=seeds, parameters=mouse
        ),
        score=score,
        ranking=scored.ranked(score),
        top=min(top, scored.layer_shape[0]),
        **vars(scored),
    )


if __name__ == "__main__":
    sys.exit(analyses_cli.main(run.analysis))
