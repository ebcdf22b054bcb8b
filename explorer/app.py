"""The explorer's page (Dash): layout and callbacks. The callbacks only translate between the
page's values and :mod:`explorer.edits` / :mod:`explorer.compute`; an error that an edit or
an intervention raises becomes a message on the page instead of breaking it.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from PIL import Image

from analyses.core.inputs import DEFAULT_LAYER
from analyses.maze_view import InterventionSettings, maps_figure
from explorer.compute import Explorer, FieldView
from explorer.edits import EDIT_MODES, Session, apply_click, clicked_cell
from hooked_impala import checks
from hooked_impala.actions import Movement
from hooked_impala.maze import DISTRIBUTION_MODES, Maze, MazeEditError
from hooked_impala.policy import PROCGEN_STEP_LIMIT

#: What a user's edit or intervention may raise; shown as a message on the page.
USER_ERRORS = (MazeEditError, ValueError, KeyError)
VIEWS = ("original", "intervened", "difference")
RANKINGS = {"peak": "peak |activation|", "mouse": "|activation| at the mouse", "change": "change"}
#: The intervention controls, in the order ``settings_from`` takes them.
INTERVENTION_INPUTS = (
    ("layer", "value"),
    ("cheese-coeff", "value"),
    ("top-right-coeff", "value"),
    ("clamp-channels", "value"),
    ("clamp-value", "value"),
    ("target", "data"),
    ("relus", "value"),
)


def parse_channels(text: str | None) -> tuple[int, ...]:
    """ "55, 42 7" -> (55, 42, 7); ValueError naming the bad entry."""
    out = []
    for part in (text or "").replace(",", " ").split():
        if not part.isdigit():
            raise ValueError(f"channels are non-negative integers; {part!r} is not one")
        out.append(int(part))
    return tuple(out)


def settings_from(layer, cheese, top_right, channels, value, target, relus) -> InterventionSettings:
    """The intervention the controls describe."""
    return InterventionSettings(
        layer=layer or DEFAULT_LAYER,
        cheese_coeff=float(cheese or 0.0),
        top_right_coeff=float(top_right or 0.0),
        clamp_channels=parse_channels(channels),
        clamp_value=float(5.0 if value is None else value),
        clamp_cell=tuple(target) if target else None,
        remove_relus=bool(relus),
    )


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
    text = [[_cell_text(maze, (row, col), probs.get((row, col))) for col in range(size)]
            for row in range(size)]  # fmt: skip
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
    fig.update_layout(uirevision="maze", height=600, clickmode="event")
    return fig


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


def _control(label: str, component: Any) -> html.Div:
    return html.Div([html.Label(label, className="label"), component], className="control")


def layout(explorer: Explorer, session: Session, out: Path) -> html.Div:
    hooks = [{"label": h, "value": h} for h in explorer.spatial_hooks]
    slider = dict(min=-3, max=3, step=0.25, marks={v: str(v) for v in range(-3, 4)}, value=0)
    return html.Div(
        [
            dcc.Store(id="session", data=session.to_json()),
            dcc.Store(id="target", data=None),
            dcc.Store(id="episode", data=None),
            html.H2(f"hooked-impala explorer — {explorer.checkpoint}"),
            html.Div(
                [
                    _control(
                        "level seed",
                        dcc.Input(
                            id="seed", type="number", min=0, value=session.seed, debounce=True
                        ),
                    ),
                    _control(
                        "mode",
                        dcc.Dropdown(
                            id="mode",
                            options=list(DISTRIBUTION_MODES),
                            value=session.mode,
                            clearable=False,
                        ),
                    ),
                    html.Button("load level", id="load"),
                    html.Button("undo", id="undo"),
                    _control(
                        "click",
                        dcc.RadioItems(
                            id="edit-mode", options=list(EDIT_MODES), value="cheese", inline=True
                        ),
                    ),
                    dcc.Checklist(
                        id="margin", options=[{"label": "edit the margin", "value": "on"}], value=[]
                    ),
                ],
                className="row",
            ),
            html.Div(id="edit-message", className="message"),
            html.Div(
                [
                    html.Div(
                        [
                            dcc.RadioItems(
                                id="view", options=list(VIEWS), value="original", inline=True
                            ),
                            dcc.Graph(id="maze-graph", config={"displaylogo": False}),
                            html.Div(id="field-status", className="status"),
                            # When the field was last drawn: tests and screenshots wait on it.
                            html.Div(id="field-drawn", hidden=True),
                            html.Div(id="field-message", className="message"),
                        ],
                        className="main",
                    ),
                    html.Div(
                        [
                            html.H4("intervention"),
                            _control(
                                "layer",
                                dcc.Dropdown(
                                    id="layer", options=hooks, value=DEFAULT_LAYER, clearable=False
                                ),
                            ),
                            _control(
                                "cheese vector coefficient", dcc.Slider(id="cheese-coeff", **slider)
                            ),
                            _control(
                                "top-right vector coefficient",
                                dcc.Slider(id="top-right-coeff", **slider),
                            ),
                            _control(
                                "clamp channels (click mode 'target' picks the cell)",
                                dcc.Input(
                                    id="clamp-channels",
                                    type="text",
                                    placeholder="e.g. 55 42",
                                    debounce=True,
                                ),
                            ),
                            _control(
                                "clamp value",
                                dcc.Input(
                                    id="clamp-value", type="number", value=5.0, debounce=True
                                ),
                            ),
                            dcc.Checklist(
                                id="relus",
                                options=[{"label": "remove every ReLU", "value": "on"}],
                                value=[],
                            ),
                            html.H4("channel maps at the mouse's cell"),
                            _control(
                                "hook",
                                dcc.Dropdown(
                                    id="maps-hook",
                                    options=hooks,
                                    value=DEFAULT_LAYER,
                                    clearable=False,
                                ),
                            ),
                            _control(
                                "rank by",
                                dcc.RadioItems(
                                    id="ranking",
                                    options=[{"label": v, "value": k} for k, v in RANKINGS.items()],
                                    value="peak",
                                    inline=True,
                                ),
                            ),
                            _control(
                                "channels shown",
                                dcc.Input(
                                    id="top", type="number", min=1, max=32, value=8, debounce=True
                                ),
                            ),
                            dcc.RadioItems(
                                id="maps-which",
                                options=["original", "intervened"],
                                value="original",
                                inline=True,
                            ),
                        ],
                        className="side",
                    ),
                ],
                className="columns",
            ),
            dcc.Graph(id="maps-graph", config={"displaylogo": False}),
            html.H4("rollout under the intervention"),
            html.Div(
                [
                    dcc.RadioItems(
                        id="rollout-kind",
                        options=["greedy", "sampled"],
                        value="greedy",
                        inline=True,
                    ),
                    _control("seed", dcc.Input(id="rollout-seed", type="number", min=0, value=0)),
                    _control(
                        "max steps",
                        dcc.Input(
                            id="max-steps", type="number", min=1, max=PROCGEN_STEP_LIMIT, value=128
                        ),
                    ),
                    html.Button("play episode", id="play"),
                ],
                className="row",
            ),
            dcc.Slider(
                id="step",
                min=0,
                max=1,
                step=1,
                value=0,
                marks=None,
                tooltip={"always_visible": False},
            ),
            html.Div(id="episode-status", className="status"),
            dcc.Graph(id="episode-graph", config={"displaylogo": False}),
            html.H4("export"),
            html.Div(
                [
                    _control(
                        "folder",
                        dcc.Input(id="out", type="text", value=str(out), style={"width": "24em"}),
                    ),
                    html.Button("export this view", id="export"),
                ],
                className="row",
            ),
            html.Pre(id="export-message"),
        ],
        className="page",
    )


STYLE = """
.page { font-family: sans-serif; margin: 0 1.5em; }
.row { display: flex; gap: 1.2em; align-items: end; flex-wrap: wrap; margin: .4em 0; }
.columns { display: flex; gap: 1.5em; flex-wrap: wrap; }
.main { flex: 3 1 560px; } .side { flex: 1 1 300px; }
.control { display: flex; flex-direction: column; min-width: 9em; margin-bottom: .5em; }
.label { font-size: .85em; color: #444; }
.message { color: #b00020; min-height: 1.2em; }
.status { color: #333; font-size: .9em; }
pre { background: #f4f4f4; padding: .6em; white-space: pre-wrap; }
"""


def make_app(explorer: Explorer, session: Session, out: Path) -> Dash:
    """The page for ``explorer``, starting at ``session``'s maze; exports go under ``out``."""
    app = Dash(__name__, title="hooked-impala explorer", serve_locally=True)
    app.index_string = app.index_string.replace("</head>", f"<style>{STYLE}</style></head>")
    app.layout = layout(explorer, session, out)
    interventions = [Input(*control) for control in INTERVENTION_INPUTS]
    intervention_states = [State(*control) for control in INTERVENTION_INPUTS]

    def settings(values) -> InterventionSettings:
        return settings_from(*values)

    @app.callback(
        Output("session", "data"),
        Output("target", "data"),
        Output("edit-message", "children"),
        Input("maze-graph", "clickData"),
        Input("undo", "n_clicks"),
        Input("load", "n_clicks"),
        Input("seed", "value"),
        State("session", "data"),
        State("edit-mode", "value"),
        State("margin", "value"),
        State("mode", "value"),
        prevent_initial_call=True,
    )
    def edit(click, _undo, _load, seed, session_data, mode, margin, distribution):
        session = Session.from_json(session_data)
        try:
            if ctx.triggered_id == "undo":
                return session.undone().to_json(), no_update, ""
            if ctx.triggered_id in ("load", "seed"):
                if not isinstance(seed, int) or seed < 0:
                    raise ValueError("the level seed must be a non-negative integer")
                fresh = Session(seed, distribution)  # a new level starts a new history
                explorer.maze(fresh)
                return fresh.to_json(), None, ""
            cell = clicked_cell(click)
            if cell is None:
                return no_update, no_update, ""
            if mode == "target":
                return no_update, list(cell), ""
            maze = explorer.maze(session)
            if apply_click(maze, cell, mode, margin=bool(margin)) == maze:
                return no_update, no_update, ""  # e.g. the cheese onto itself: nothing to undo
            return session.with_edit((mode, *cell, bool(margin))).to_json(), no_update, ""
        except USER_ERRORS as err:
            return no_update, no_update, f"{_message(err)}"

    @app.callback(
        Output("maze-graph", "figure"),
        Output("field-status", "children"),
        Output("field-message", "children"),
        Output("field-drawn", "children"),
        Input("session", "data"),
        Input("view", "value"),
        *interventions,
    )
    def redraw(session_data, which, *values):
        maze = explorer.maze(Session.from_json(session_data))
        chosen = settings(values)
        try:
            fields = explorer.fields(maze, chosen)
            message = ""
        except USER_ERRORS as err:
            fields = explorer.fields(maze, InterventionSettings())
            message = f"intervention not applied: {_message(err)}"
        fig = maze_figure(fields, which, chosen.clamp_cell and list(chosen.clamp_cell))
        status = f"{len(fields.original.cells)} cells, computed in {fields.seconds:.2f} s"
        if fields.modified is not None:
            status += (
                f" · {chosen.describe()} modifies {fields.modified.fraction:.3%} of the "
                "network's activations"
            )
        return fig, status, message, str(time.perf_counter_ns())

    # The maps follow the field (its drawn stamp), not the edit itself: computed at the same
    # time, they would hold the model while the field waits.
    @app.callback(
        Output("maps-graph", "figure"),
        Input("field-drawn", "children"),
        Input("maps-hook", "value"),
        Input("ranking", "value"),
        Input("top", "value"),
        Input("maps-which", "value"),
        State("session", "data"),
        *intervention_states,
    )
    def maps(_drawn, hook, ranking, top, which, session_data, *values):
        maze = explorer.maze(Session.from_json(session_data))
        try:
            channels, maps_ = explorer.maps(maze, settings(values), hook, ranking, int(top or 8))
        except USER_ERRORS as err:
            return _message_figure(f"no maps: {_message(err)}")
        return maps_figure(maps_, channels, hook, ranking, maze.mouse, which)

    @app.callback(
        Output("episode", "data"),
        Output("step", "max"),
        Output("step", "value"),
        Output("episode-status", "children"),
        Input("play", "n_clicks"),
        State("session", "data"),
        State("rollout-kind", "value"),
        State("rollout-seed", "value"),
        State("max-steps", "value"),
        *intervention_states,
        prevent_initial_call=True,
    )
    def play(_clicks, session_data, kind, seed, max_steps, *values):
        maze = explorer.maze(Session.from_json(session_data))
        try:
            checks.integer("max steps", max_steps, minimum=1, maximum=PROCGEN_STEP_LIMIT)
            started = time.perf_counter()
            cells, reached = explorer.episode(
                maze, settings(values), kind, int(seed or 0), max_steps
            )
        except USER_ERRORS as err:
            return no_update, no_update, no_update, f"no episode: {_message(err)}"
        steps = len(cells) - 1
        outcome = "reached the cheese" if reached else "did not reach the cheese"
        status = (
            f"{kind} episode: {outcome} in {steps} steps "
            f"({time.perf_counter() - started:.1f} s); drag the slider to step through it"
        )
        return {"session": session_data, "cells": cells}, steps, steps, status

    @app.callback(
        Output("episode-graph", "figure"),
        Input("episode", "data"),
        Input("step", "value"),
    )
    def show_step(episode, step):
        if not episode:
            return _message_figure("press 'play episode'")
        maze = explorer.maze(Session.from_json(episode["session"]))
        return explorer.episode_figure(maze, episode["cells"], int(step or 0))

    @app.callback(
        Output("export-message", "children"),
        Input("export", "n_clicks"),
        State("out", "value"),
        State("session", "data"),
        State("maps-hook", "value"),
        State("ranking", "value"),
        State("top", "value"),
        State("rollout-kind", "value"),
        State("rollout-seed", "value"),
        State("max-steps", "value"),
        *intervention_states,
        prevent_initial_call=True,
    )
    def export(_clicks, folder, session_data, hook, ranking, top, kind, seed, max_steps, *values):
        maze = explorer.maze(Session.from_json(session_data))
        out = Path(folder or "out/explorer") / time.strftime("view-%Y%m%d-%H%M%S")
        try:
            _, written, command = explorer.export(
                maze,
                settings(values),
                out,
                maps_hook=hook,
                ranking=ranking,
                top=int(top or 8),
                rollout_kind=kind,
                max_steps=int(max_steps or 128),
                seed=int(seed or 0),
            )
        except (*USER_ERRORS, OSError) as err:
            return f"not exported: {_message(err)}"
        files = ", ".join(p.name for p in written)
        return f"wrote {out}: {files}\n\nthe same files again:\n{command}"

    return app


def _message(err: Exception) -> str:
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def _message_figure(text: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, font={"size": 15})
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=220,
                      plot_bgcolor="white")  # fmt: skip
    return fig


__all__ = ["make_app", "maze_figure", "parse_channels", "settings_from"]
