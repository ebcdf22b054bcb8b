"""Figures of the behaviour analysis: the coefficients, the held-out accuracy by feature set,
and P(reached cheese) against the two strongest features."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyses.core.figures import wilson_error_bars
from analyses.measure.behaviour import FEATURES, PUBLISHED, PUBLISHED_COEFFICIENTS, binned_rates


def figures(result) -> dict[str, go.Figure]:
    return {
        "coefficients": coefficients_figure(result),
        "accuracy": accuracy_figure(result),
        "p_cheese_by_feature": rate_figure(result),
    }


def coefficients_figure(result) -> go.Figure:
    table = result.fit.coefficient_table().iloc[::-1]  # largest at the top
    names = list(table.index)
    fig = go.Figure(
        go.Scatter(
            x=table["mean"],
            y=names,
            mode="markers",
            marker={"color": "#1f4e79", "size": 9},
            error_x={"type": "data", "array": table["sd"], "visible": True},
            name=f"this agent, all features (mean ± sd over {result.fit.splits} splits)",
            customdata=np.stack(
                [table["sign_stability"], table["zero_fraction"], table["vif"]], axis=1
            ),
            hovertemplate=(
                "%{y}: %{x:.3f}<br>sign stability %{customdata[0]:.2f}, "
                "zero in %{customdata[1]:.2f} of splits, VIF %{customdata[2]:.1f}"
                "<extra></extra>"
            ),
        )
    )
    if result.fit.published is not None:
        four = result.fit.coefficient_table(True)
        fig.add_trace(
            go.Scatter(
                x=four["mean"],
                y=list(four.index),
                mode="markers",
                marker={"color": "#5b9bd5", "symbol": "square", "size": 8},
                error_x={"type": "data", "array": four["sd"], "visible": True},
                name="this agent, the published 4 features alone",
                hovertemplate="%{y}: %{x:.3f}<extra>4-feature fit</extra>",
            )
        )
    published = [f for f in names if f in PUBLISHED_COEFFICIENTS]
    fig.add_trace(
        go.Scatter(
            x=[PUBLISHED_COEFFICIENTS[f] for f in published],
            y=published,
            mode="markers",
            marker={"color": "#d4a017", "symbol": "diamond", "size": 9},
            name="published 4-feature fit (scale 4, hard mode)",
        )
    )
    fig.add_vline(x=0, line_color="#7f7f7f")
    fig.update_layout(
        title=(
            f"Standardised L1 logistic coefficients: P(reached cheese), {result.fit.n} mazes "
            "(positive = more cheese)"
        ),
        xaxis_title="coefficient per standard deviation",
        height=max(360, 32 * len(names) + 160),
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def accuracy_figure(result) -> go.Figure:
    fit = result.fit
    sets = [("all features", fit.accuracy)]
    if fit.published is not None:
        sets.append(("published 4", fit.published))
    order = np.argsort(-fit.single.mean(1), kind="stable")
    sets += [(fit.features[j], fit.single[j]) for j in order]
    sets.append(("majority baseline", fit.baseline))
    colours = ["#1f4e79", "#d4a017"][: 1 + (fit.published is not None)]
    colours += ["#5b9bd5"] * len(order) + ["#7f7f7f"]
    fig = go.Figure(
        go.Bar(
            x=[name for name, _ in sets],
            y=[float(a.mean()) for _, a in sets],
            error_y={"type": "data", "array": [float(a.std()) for _, a in sets]},
            marker_color=colours,
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(
        y=PUBLISHED["accuracy"],
        line_dash="dot",
        annotation_text="published, all features (scale 4)",
        annotation_position="top right",
    )
    low = min(float(a.mean() - a.std()) for _, a in sets)
    fig.update_layout(
        title=(
            f"Held-out accuracy by feature set (mean ± sd over {fit.splits} splits, "
            f"{fit.test_fraction:.0%} held out)"
        ),
        yaxis={"title": "accuracy", "range": [max(0.0, low - 0.05), 1.0]},
        xaxis={"tickangle": -40},
        height=520,
    )
    return fig


def rate_figure(result) -> go.Figure:
    strongest = result.strongest(2)
    fig = make_subplots(rows=1, cols=len(strongest), subplot_titles=strongest)
    for col, name in enumerate(strongest, start=1):
        bins = binned_rates(result.features[name].to_numpy(), result.reached)
        centres = [b[2] for b in bins]
        values = [b[3].value for b in bins]
        fig.add_trace(
            go.Scatter(
                x=centres,
                y=values,
                mode="lines+markers",
                line={"color": "#d4a017"},
                error_y=wilson_error_bars([b[3] for b in bins]),
                text=[
                    (f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}") + f": {r.k}/{r.n}"
                    for lo, hi, _, r in bins
                ],
                hovertemplate="%{text}<br>P(cheese) %{y:.2f}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=FEATURES.get(name, name), row=1, col=col)
    fig.update_yaxes(title_text="P(reached cheese), 95% Wilson", range=[0, 1], row=1, col=1)
    fig.update_layout(
        title=f"P(reached cheese) against the two strongest features ({result.fit.n} mazes)"
    )
    return fig
