"""The explorer's figures: the maze with its vector field (procgen's image as a PNG, a
layer of cells that reports clicks and hovers), and a figure that holds only a message."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from explorer.compute import FieldView
from hooked_impala.actions import Movement
from hooked_impala.maze import Maze
from hooked_impala.policy import VectorField


def maze_figure(fields: FieldView, which: str, target: list[int] | None) -> go.Figure:
    """The shown field over procgen's rendering of the maze (mouse and cheese included),
    with an invisible layer of cells on top that reports clicks and hovers per cell."""
    maze = fields.maze
    vf = fields.shown(which)
    title = {
        "original": "original policy",
        "intervened": vf.label,
        "difference": "intervened − original",
    }[which]
    fig = vf.figure(title, image=fields.observation)
    # Lighter for the page (an edit redraws it): the image as a PNG instead of 12k numbers,
    # and no per-arrow hover text (the cell layer below says the same).
    fig.update_traces(selector={"type": "image"}, z=None, source=_png(fig.data[0].z))
    fig.update_traces(selector={"name": "arrow tips"}, text=None, hoverinfo="skip")
    size = maze.world_size
    probs = {cell: p for cell, p in zip(vf.cells, vf.probs)}
    text = [
        [_cell_text(maze, (row, col), probs.get((row, col))) for col in range(size)]
        for row in range(size)
    ]
    fig.add_trace(
        go.Heatmap(
            z=np.zeros((size, size)),
            x=list(range(size)),
            y=list(range(size)),
            text=text,
            hovertemplate="%{text}<extra></extra>",
            opacity=0,
            showscale=False,
            name="cells",
        )
    )
    if target:
        fig.add_trace(
            go.Scatter(
                x=[target[1]],
                y=[target[0]],
                mode="markers",
                marker={"symbol": "x-thin", "size": 18, "line": {"color": "#ff00ff", "width": 3}},
                hoverinfo="skip",
                name="clamp target",
            )
        )
    if vf.is_difference:  # the arrows' scale: a difference has no natural length
        fig.add_annotation(
            text="arrow: change in net movement; 0.9 cell = a change of 1 (one full move)",
            xref="paper",
            yref="paper",
            x=0,
            y=-0.09,
            showarrow=False,
            xanchor="left",
            font={"size": 12, "color": "#e8183c"},
        )
    fig.update_layout(uirevision="maze", height=600, clickmode="event")
    return fig


def change_text(vf: VectorField) -> str:
    """How large a difference field is: the mean and largest change of net movement over
    its cells, and where the largest is; also the mean total variation of the action
    distribution (half the summed |Δp| per cell)."""
    sizes = np.hypot(*vf.arrows.T)
    if not len(sizes):
        return "no cells"
    top = int(sizes.argmax())
    tv = 0.5 * np.abs(vf.probs).sum(-1).mean()
    return (
        f"change in net movement: mean {sizes.mean():.3f}, max {sizes[top]:.3f} at cell "
        f"{tuple(vf.cells[top])}; action distribution: mean total variation {tv:.3f}"
    )


def _png(pixels) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _cell_text(maze: Maze, cell: tuple[int, int], probs: np.ndarray | None) -> str:
    tile = "mouse" if cell == maze.mouse else maze.tile(cell).name.lower()
    text = f"row {cell[0]}, col {cell[1]}: {tile}"
    if probs is not None:
        text += "<br>" + " ".join(f"{m.name[0]} {probs[m]:+.2f}" for m in Movement)
    return text


def message_figure(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, font={"size": 15})
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=220, plot_bgcolor="white")
    return fig
