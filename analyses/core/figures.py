"""Figure builders that more than one analysis draws: the presentation side of shared
measurements (a measurement has no figures)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from hooked_impala.stats import Rate


def wilson_error_bars(rates: Sequence[Rate]) -> dict:
    """plotly ``error_y`` (or ``error_x``) of rates with their 95% Wilson intervals
    (a rate of n = 0 gets no bar)."""
    intervals = [r.interval or (r.value, r.value) for r in rates]
    values = [r.value if r.value is not None else 0.0 for r in rates]
    return {
        "type": "data",
        "symmetric": False,
        "array": [high - v for v, (_, high) in zip(values, intervals)],
        "arrayminus": [v - low for v, (low, _) in zip(values, intervals)],
    }


def square_cells(fig: go.Figure) -> go.Figure:
    """Every subplot's cells square (each y axis scaled to its x axis), as a layer's grid and
    an observation's pixels are: without it heatmaps stretch to their subplot's box."""
    fig.update_xaxes(constrain="domain")
    for key in [k for k in fig.layout if k.startswith("yaxis")]:
        fig.layout[key].scaleanchor = "x" + key[len("yaxis") :]
    return fig


def steering_figures(result) -> dict[str, go.Figure]:
    """The coefficient sweep (and the vector-field difference, if any) of a
    :class:`~analyses.measure.steering.SteeringResult`."""
    sweep = go.Figure()
    for i, kind in enumerate(result.kinds):
        dash = "solid" if kind == "self" else "dot"
        for probs, what, colour in (
            (result.p_cheese, "cheese-ward", "#d4a017"),
            (result.p_top_right, "top-right-ward", "#1f4e79"),
        ):
            sweep.add_trace(
                go.Scatter(
                    x=result.coeffs,
                    y=probs[i].mean(1).tolist(),
                    name=f"P({what}), {kind}",
                    line={"dash": dash, "color": colour},
                )
            )
    sweep.update_layout(
        title=(
            f"{result.vector.capitalize()} at {result.layer}: decision-square move "
            f"probabilities ({result.p_cheese.shape[2]} mazes)"
        ),
        xaxis_title="coefficient",
        yaxis_title="mean probability",
    )
    figs = {"coefficient_sweep": sweep}
    if result.field is not None:
        figs["vector_field_diff"] = result.field.figure(
            title=f"Vector field: {result.field.label}"  # the label says what minus what
        )
    return figs
