"""Figures of the maze view: channel maps of one observation, and an episode over the vector
field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyses.core.figures import square_cells
from hooked_impala.maze import Cell
from hooked_impala.policy import VectorField

Which = Literal["original", "intervened"]


def maps_figure(
    maps: np.ndarray,
    channels: Sequence[int],
    hook: str,
    ranking: str,
    mouse: Cell,
    which: Which = "original",
    unit: str = "channel",
) -> go.Figure:
    """The ranked ``channels``' maps at ``hook`` (``maps``: ``(2, k, H, W)``, original and
    intervened), one heatmap each (image row 0 at the top, as the layer's grid), on one
    colour scale shared by both. ``unit`` names what is mapped (a dictionary's "latent");
    ``ranking`` "chosen" when the units were picked by hand."""
    if not len(channels):  # e.g. ranked by change under no intervention: nothing changed
        fig = go.Figure()
        fig.add_annotation(text=f"no {unit} at {hook} to show: none changed", showarrow=False)
        fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=200)
        return fig
    shown = maps[0 if which == "original" else 1]
    columns = min(4, max(1, len(channels)))
    rows = max(1, -(-len(channels) // columns))
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[f"{unit} {c}" for c in channels],
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
    fig.update_xaxes(showticklabels=False)
    square_cells(fig)
    fig.update_layout(
        title=f"{hook} ({which}), mouse at {tuple(mouse)}, "
        + (f"chosen {unit}s" if ranking == "chosen" else f"top {unit}s by {ranking}"),
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
