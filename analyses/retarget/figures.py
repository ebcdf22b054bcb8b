"""Figures of the retargeting analysis: the heatmap of one maze's targets, and the success
ratio by distance from the path to the top right."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hooked_impala.maze import path_to_top_right
from hooked_impala.maze.render import OBS_SHAPE


def figures(result) -> dict[str, go.Figure]:
    figs = {}
    if result.per_maze and result.per_maze[0].targets:
        figs["heatmap"] = heatmap(result, 0)
    if result.per_maze:
        figs["ratio_by_distance"] = ratio_by_distance(result)
    return figs


def heatmap(result, index: int = 0) -> go.Figure:
    """Normalised path probability of every target of maze ``index`` over its rendering,
    in the three conditions; the white line is the path start → top-right cell (only
    the first maze's rendering is kept, so other mazes are drawn without it)."""
    m = result.per_maze[index]
    titles = (
        "no intervention",
        f"channels {result.channels} = {result.magnitude:.3g}",
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
            m.targets,
            m.path_steps,
            m.steps_to_top_right_path,
            m.original,
            m.clamped,
            m.moved_cheese,
            ratio,
        )
    ]
    text = m.on_grid(np.arange(len(m.targets)))
    possible = len(m.maze.open_cells) - len(m.skipped)
    for col, values in enumerate((m.original, m.clamped, m.moved_cheese), start=1):
        if index == 0:
            fig.add_trace(
                go.Image(
                    z=np.flipud(result.background),
                    x0=d / 2 - 0.5,
                    dx=d,
                    y0=d / 2 - 0.5,
                    dy=d,
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )
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
                x=[c for _, c in to_top],
                y=[r for r, _ in to_top],
                mode="lines",
                line={"color": "white", "width": 2},
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )
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


#: A distance bin is drawn only when its targets come from this many mazes or more (one
#: maze's targets are not independent; a median of one or two mazes is noise).
MIN_BIN_MAZES = 3


def ratio_by_distance(result) -> go.Figure:
    """Median success ratio (clamped / cheese moved) by steps from the target to the path
    start → top-right cell, with the interquartile range: a line over all mazes, a point per
    maze size; bins with targets from fewer than ``MIN_BIN_MAZES`` mazes are left out."""
    distance = result.flat("steps_to_top_right_path")
    ratio = result.flat("success_ratio")
    sizes = np.concatenate([np.full(len(m.targets), m.maze.maze_size) for m in result.per_maze])
    seeds = np.concatenate([np.full(len(m.targets), m.maze.seed) for m in result.per_maze])
    fig = go.Figure()
    groups = [("all mazes", np.ones(len(ratio), dtype=bool))]
    groups += [(f"size {int(s)}", sizes == s) for s in np.unique(sizes)]
    for name, mask in groups:
        xs, med, lo, hi, counts = [], [], [], [], []
        for dist in np.unique(distance[mask]):
            inside = mask & (distance == dist) & np.isfinite(ratio)
            values = ratio[inside]
            mazes = len(np.unique(seeds[inside]))
            if mazes < MIN_BIN_MAZES:
                continue
            q1, q2, q3 = np.percentile(values, [25, 50, 75])
            xs.append(int(dist))
            med.append(q2)
            lo.append(q2 - q1)
            hi.append(q3 - q2)
            counts.append(f"{len(values)} targets in {mazes} mazes")
        if not xs:
            continue
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=med,
                mode="lines+markers" if name == "all mazes" else "markers",
                name=name,
                error_y={"type": "data", "array": hi, "arrayminus": lo, "visible": True}
                if name == "all mazes"
                else None,
                line={"width": 3 if name == "all mazes" else 1},
                text=counts,
                hovertemplate="%{x} steps: median %{y:.3f} (%{text})",
            )
        )
    fig.add_hline(y=1.0, line={"dash": "dot", "color": "grey"})
    fig.update_layout(
        title=(
            f"Success ratio (clamped / cheese moved) by distance from the path to the top "
            f"right ({len(ratio)} targets, {len(result.per_maze)} mazes; distances with "
            f"targets in at least {MIN_BIN_MAZES} mazes)"
        ),
        xaxis_title="steps from the target to the path start → top-right cell",
        yaxis_title="median success ratio (bars: interquartile range)",
    )
    return fig
