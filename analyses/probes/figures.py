"""Figures of the probes: held-out accuracy by layer, and by maze size at each label's best
layer."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyses.probes.labels import B8_THRESHOLD, short


def _probe_trace(
    result, x: list[str], cells: list[tuple[int, int, object]], first: bool, where: str
):
    """The probe's accuracy at each ``(hook, label, rows)`` of ``cells``, with a 95% interval
    from a bootstrap over the test mazes (one maze gives several observations)."""
    estimates = [result.maze_interval(h, k, rows) for h, k, rows in cells]
    rates = [result.rate(h, k, rows) for h, k, rows in cells]
    values = [e.value if e else rt.value for e, rt in zip(estimates, rates)]
    return go.Scatter(
        x=x,
        y=values,
        mode="lines+markers",
        name="probe",
        legendgroup="probe",
        showlegend=first,
        line={"color": "#1f77b4"},
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [(e.high - e.value) if e else 0 for e in estimates],
            "arrayminus": [(e.value - e.low) if e else 0 for e in estimates],
        },
        customdata=[[rt.k, rt.n, e.n if e else 0] for rt, e in zip(rates, estimates)],
        hovertemplate=where + ": %{y:.1%} (%{customdata[0]}/%{customdata[1]} answers, "
        "%{customdata[2]} mazes)<extra></extra>",
    )


def figures(result) -> dict[str, go.Figure]:
    return {
        "accuracy_by_layer": layer_figure(result),
        "accuracy_by_maze_size": size_figure(result),
    }


def layer_figure(result) -> go.Figure:
    names = [short(h) for h in result.hooks]
    cols = 3
    rows = math.ceil(len(result.labels) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(result.labels))
    for k in range(len(result.labels)):
        r, c = k // cols + 1, k % cols + 1
        layers = [h for h in range(len(result.hooks)) if result.applies(h, k)]
        if not layers:
            continue
        x = [names[h] for h in layers]
        fig.add_trace(
            _probe_trace(result, x, [(h, k, None) for h in layers], k == 0, "%{x}"),
            row=r,
            col=c,
        )
        for what, values, dash, colour in (
            ("majority", result.majority, "dash", "#d62728"),
            ("chance", result.chance, "dot", "#7f7f7f"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[float(values[h, k]) for h in layers],
                    mode="lines",
                    name=what,
                    legendgroup=what,
                    showlegend=k == 0,
                    line={"dash": dash, "color": colour},
                    hovertemplate=f"{what} %{{y:.1%}}<extra></extra>",
                ),
                row=r,
                col=c,
            )
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(tickangle=-45, type="category")
    fig.update_layout(
        title=(
            f"Held-out probe accuracy by layer ({len(result.split_seeds['test'])} unseen "
            f"{result.mode} mazes, {len(result.test_seed)} observations; 95% intervals over mazes)"
        ),
        height=380 * rows + 120,
    )
    return fig


def size_figure(result) -> go.Figure:
    best = result.best_layers()
    cols = 3
    rows = max(1, math.ceil(len(best) / cols))
    titles = [f"{label} at {short(result.hooks[h])}" for label, h in best.items()]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles)
    for n, (label, h) in enumerate(best.items()):
        r, c = n // cols + 1, n % cols + 1
        sizes = result.by_maze_size(h, result.labels.index(label))
        x = [str(s) for s in sizes]
        k = result.labels.index(label)
        cells = [(h, k, result.test_size == s) for s in sizes]
        fig.add_trace(_probe_trace(result, x, cells, n == 0, "size %{x}"), row=r, col=c)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[m.value for _, m in sizes.values()],
                mode="lines",
                name="majority",
                legendgroup="majority",
                showlegend=n == 0,
                line={"dash": "dash", "color": "#d62728"},
                hovertemplate="majority %{y:.1%}<extra></extra>",
            ),
            row=r,
            col=c,
        )
    fig.add_hline(y=B8_THRESHOLD, line_dash="dot", line_color="#7f7f7f", row="all", col="all")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(title_text="maze size", type="category")
    fig.update_layout(
        title="Accuracy by maze size at each label's best layer (dotted: 90%, B8's bar)",
        height=340 * rows + 120,
    )
    return fig
