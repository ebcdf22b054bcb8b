"""The explorer's page (Dash): its callbacks and who may reach it. The callbacks only
translate between the page's values and :mod:`explorer.edits` / :mod:`explorer.compute`:
every value is checked first (:mod:`explorer.controls`), and an error that a value, an edit
or an intervention raises becomes a message on the page instead of a server error.

The server answers only requests addressed to the host it was started on (the ``Host``
header): a page on another site cannot drive it through DNS rebinding.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

from dash import Dash, Input, Output, State, ctx, html, no_update
from flask import has_request_context, request

from analyses.maze_view import InterventionSettings, maps_figure
from explorer import controls
from explorer.compute import UNITS, Explorer
from explorer.controls import MAX_TOP
from explorer.edits import EDIT_MODES, Session, apply_click, clicked_cell
from explorer.figures import change_text, maze_figure, message_figure
from explorer.hosts import allowed_hosts
from explorer.layout import (
    INTERVENTION_DEFAULTS,
    INTERVENTION_INPUTS,
    RANKINGS,
    STYLE,
    VIEWS,
    layout,
)
from explorer.patching_view import Method, patching_figure
from explorer.url import from_query, to_query
from hooked_impala import checks
from hooked_impala.maze import DISTRIBUTION_MODES, MazeEditError
from hooked_impala.patching import Corruption
from hooked_impala.policy import PROCGEN_STEP_LIMIT

#: What a bad value, an edit or an intervention may raise; shown as a message on the page.
USER_ERRORS = (MazeEditError, ValueError, KeyError)
CORRUPTIONS = [c.value for c in Corruption]


def make_app(
    explorer: Explorer, session: Session, out: Path, host: str = "127.0.0.1", port: int = 8050
) -> Dash:
    """The page for ``explorer``, starting at ``session``'s maze, served at ``host:port``;
    exports go under ``out``."""
    app = Dash(__name__, title="hooked-impala explorer", serve_locally=True)
    app.index_string = app.index_string.replace("</head>", f"<style>{STYLE}</style></head>")
    hosts = allowed_hosts(host, port)
    layers: Collection[str] = explorer.spatial_hooks

    def page() -> html.Div:
        """The page for this request: the state in the link it was opened with, if any.
        Dash asks for the layout with a request of its own, whose Referer is the page's
        address, so the link's query is read from there."""
        query = urlsplit(request.referrer or "").query if has_request_context() else ""
        try:
            linked = from_query(query, layers, VIEWS, explorer.checkpoints)
        except ValueError as err:
            return layout(explorer, session, out, message=f"the link was not used: {err}")
        if linked is None:
            return layout(explorer, session, out)
        try:
            explorer.maze(linked[0])  # the link's edits must apply to its level
            explorer.use(linked[1].get("checkpoint", explorer.checkpoint))
        except USER_ERRORS as err:
            return layout(explorer, session, out, message=f"the link was not used: {_message(err)}")
        return layout(explorer, linked[0], out, linked[1])

    app.layout = page

    @app.server.before_request
    def only_its_own_host():
        if request.host.lower() not in hosts:
            text = f"this explorer answers requests for {', '.join(sorted(hosts))} only\n"
            return text, 403, {"Content-Type": "text/plain; charset=utf-8"}
        return None

    interventions = [Input(*control) for control in INTERVENTION_INPUTS]
    intervention_states = [State(*control) for control in INTERVENTION_INPUTS]
    defaults = [INTERVENTION_DEFAULTS[control] for control, _ in INTERVENTION_INPUTS]

    def settings(values) -> InterventionSettings:
        return controls.settings_from(*values, layers=layers)

    def use(checkpoint) -> None:
        explorer.use(controls.choice("the checkpoint", checkpoint, explorer.checkpoints))

    def maze_of(session_data):
        return explorer.maze(Session.from_json(session_data))

    @app.callback(
        Output("session", "data"),
        Output("target", "data"),
        Output("edit-message", "children"),
        Input("maze-click", "data"),
        Input("undo", "n_clicks"),
        Input("redo", "n_clicks"),
        Input("load", "n_clicks"),
        Input("seed", "value"),
        State("session", "data"),
        State("edit-mode", "value"),
        State("margin", "value"),
        State("mode", "value"),
        prevent_initial_call=True,
    )
    def edit(click, _undo, _redo, _load, seed, session_data, mode, margin, distribution):
        try:
            session = Session.from_json(session_data)
            if ctx.triggered_id == "undo":
                return session.undone().to_json(), no_update, ""
            if ctx.triggered_id == "redo":
                redone = session.redone()
                explorer.maze(redone)  # an edit that applied before applies again
                return redone.to_json(), no_update, ""
            if ctx.triggered_id in ("load", "seed"):
                if seed is None:
                    raise ValueError("the level seed must be a non-negative integer")
                seed = controls.integer("the level seed", seed, 0, 0, checks.MAX_SEED)
                fresh = Session(seed, controls.choice("the mode", distribution, DISTRIBUTION_MODES))
                explorer.maze(fresh)  # a new level starts a new history
                return fresh.to_json(), None, ""
            cell = clicked_cell(click)
            if cell is None:
                return no_update, no_update, no_update  # e.g. the store mounting: no click
            mode = controls.choice("the click mode", mode, EDIT_MODES)
            if mode == "target":
                return no_update, list(cell), ""
            margin = controls.switch("edit the margin", margin)
            maze = explorer.maze(session)
            if apply_click(maze, cell, mode, margin=margin) == maze:
                return no_update, no_update, ""  # e.g. the cheese onto itself: nothing to undo
            return session.with_edit((mode, *cell, margin)).to_json(), no_update, ""
        except USER_ERRORS as err:
            return no_update, no_update, _message(err)

    @app.callback(
        Output("maze-graph", "figure"),
        Output("field-status", "children"),
        Output("field-message", "children"),
        Output("field-drawn", "children"),
        Input("session", "data"),
        Input("view", "value"),
        Input("checkpoint", "value"),
        *interventions,
    )
    def redraw(session_data, which, checkpoint, *values):
        drawn = str(time.perf_counter_ns())
        try:
            use(checkpoint)
            maze = maze_of(session_data)
            which = controls.choice("the view", which, VIEWS)
        except USER_ERRORS as err:
            return message_figure(f"no maze: {_message(err)}"), "", _message(err), drawn
        try:
            chosen = settings(values)
            fields = explorer.fields(maze, chosen)
            message = ""
        except USER_ERRORS as err:
            chosen = InterventionSettings()
            fields = explorer.fields(maze, chosen)
            message = f"intervention not applied: {_message(err)}"
        fig = maze_figure(fields, which, chosen.clamp_cell and list(chosen.clamp_cell))
        status = f"{len(fields.original.cells)} cells, computed in {fields.seconds:.2f} s"
        if fields.modified is not None:
            m = fields.modified
            status += (
                f" · {chosen.describe()} changes {m.changed:,} activation values of the "
                f"{m.network:,} the network computes for these {len(fields.original.cells)} "
                f"observations ({m.fraction:.3%}; {m.fraction_of_hooked:.3%} of the hooked "
                "layers' values)"
            )
        if which == "difference":
            status += " · " + change_text(fields.shown("difference"))
        if note := explorer.mode_note(maze.distribution_mode):
            message = "; ".join(filter(None, [note, message]))
        return fig, status, message, drawn

    @app.callback(
        Output("url", "search"),
        Input("session", "data"),
        Input("view", "value"),
        Input("checkpoint", "value"),
        *interventions,
    )
    def address(session_data, which, checkpoint, *values):
        """The view in the address bar, so that a link or a reload reopens it."""
        try:
            session = Session.from_json(session_data)
            which = controls.choice("the view", which, VIEWS)
            checkpoint = controls.choice("the checkpoint", checkpoint, explorer.checkpoints)
            settings(values)  # only a valid view goes into the address
        except USER_ERRORS:
            return no_update
        return to_query(session, values, which, defaults, checkpoint)

    # The maps follow the field (its drawn stamp), not the edit itself: computed at the same
    # time, they would hold the model while the field waits.
    @app.callback(
        Output("maps-graph", "figure"),
        Input("field-drawn", "children"),
        Input("maps-hook", "value"),
        Input("ranking", "value"),
        Input("top", "value"),
        Input("maps-which", "value"),
        Input("maps-units", "value"),
        Input("maps-chosen", "value"),
        State("session", "data"),
        State("checkpoint", "value"),
        *intervention_states,
    )
    def maps(_drawn, hook, ranking, top, which, units, chosen, session_data, checkpoint, *values):
        try:
            use(checkpoint)
            maze = maze_of(session_data)
            hook = controls.choice("the maps' hook", hook, layers)
            ranking = controls.choice("the ranking", ranking, RANKINGS)
            which = controls.choice("the maps' field", which, controls.SHOWN_FIELDS)
            top = controls.integer("maps shown", top, controls.DEFAULT_TOP, 1, MAX_TOP)
            units = controls.choice("the maps' units", units, UNITS)
            chosen = controls.parse_channels(chosen)[:MAX_TOP]
            shown, maps_ = explorer.maps(maze, settings(values), hook, ranking, top, units, chosen)
        except USER_ERRORS as err:
            return message_figure(f"no maps: {_message(err)}")
        unit = "latent" if units == "latents" else "channel"
        how = "chosen" if chosen else ranking
        return maps_figure(maps_, shown, hook, how, maze.mouse, which, unit)

    @app.callback(
        Output("patch-graph", "figure"),
        Output("patch-status", "children"),
        Input("field-drawn", "children"),
        Input("patch-hook", "value"),
        Input("patch-corruption", "value"),
        Input("patch-method", "value"),
        State("session", "data"),
        State("checkpoint", "value"),
    )
    def patching(_drawn, hook, corruption, method, session_data, checkpoint):
        try:
            use(checkpoint)
            hook = controls.choice("the patching hook", hook, layers)
            corruption = Corruption(controls.choice("the corruption", corruption, CORRUPTIONS))
            method = Method(controls.choice("the method", method, [m.value for m in Method]))
            found = explorer.patching(maze_of(session_data), hook, corruption, method)
        except USER_ERRORS as err:
            return message_figure(f"no patching map: {_message(err)}"), ""
        return patching_figure(found), found.describe()

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
        State("checkpoint", "value"),
        *intervention_states,
        prevent_initial_call=True,
    )
    def play(_clicks, session_data, kind, seed, max_steps, checkpoint, *values):
        try:
            use(checkpoint)
            maze = maze_of(session_data)
            kind = controls.choice("the rollout", kind, controls.ROLLOUT_KINDS)
            seed = controls.integer("the rollout seed", seed, 0, 0, checks.MAX_SEED)
            max_steps = controls.integer(
                "max steps", max_steps, controls.DEFAULT_MAX_STEPS, 1, PROCGEN_STEP_LIMIT
            )
            started = time.perf_counter()
            cells, reached = explorer.episode(maze, settings(values), kind, seed, max_steps)
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
            return message_figure("press 'play episode'")
        try:
            session, cells = controls.episode_from(episode)
            maze = explorer.maze(session)
            outside = [c for c in cells if not 0 <= min(c) <= max(c) < maze.world_size]
            if outside:
                raise ValueError(f"the stored episode leaves the maze at {outside[0]}")
            step = controls.integer("the step", step, 0, 0, len(cells) - 1)
        except USER_ERRORS as err:
            return message_figure(f"no episode: {_message(err)}")
        return explorer.episode_figure(maze, cells, step)

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
        State("checkpoint", "value"),
        *intervention_states,
        prevent_initial_call=True,
    )
    def export(
        _clicks,
        folder,
        session_data,
        hook,
        ranking,
        top,
        kind,
        seed,
        max_steps,
        checkpoint,
        *values,
    ):
        try:
            use(checkpoint)
            maze = maze_of(session_data)
            if folder is not None and not isinstance(folder, str):
                raise ValueError(f"the export folder must be a path, got {folder!r}")
            _, written, command = explorer.export(
                maze,
                settings(values),
                checks.output_folder("the export folder", folder or out),
                maps_hook=controls.choice("the maps' hook", hook, layers),
                ranking=controls.choice("the ranking", ranking, RANKINGS),
                top=controls.integer("channels shown", top, controls.DEFAULT_TOP, 1, MAX_TOP),
                rollout_kind=controls.choice("the rollout", kind, controls.ROLLOUT_KINDS),
                max_steps=controls.integer(
                    "max steps", max_steps, controls.DEFAULT_MAX_STEPS, 1, PROCGEN_STEP_LIMIT
                ),
                seed=controls.integer("the rollout seed", seed, 0, 0, checks.MAX_SEED),
            )
        except (*USER_ERRORS, OSError) as err:
            return f"not exported: {_message(err)}"
        files = ", ".join(p.name for p in written)
        return f"wrote {written[0].parent}: {files}\n\nthe same files again:\n{command}"

    for kind in ("png", "svg"):  # in the browser: the picture is the figure as it is drawn
        app.clientside_callback(
            DOWNLOAD_JS.replace("FORMAT", kind),
            Output("download-status", "children", allow_duplicate=True),
            Input(f"download-{kind}", "n_clicks"),
            prevent_initial_call=True,
        )
    return app


#: Saves the maze figure as drawn (plotly.js's own image export, no server round trip).
DOWNLOAD_JS = """function(clicks) {
    const figure = document.querySelector('#maze-graph .js-plotly-plot');
    if (!clicks || !figure) { return window.dash_clientside.no_update; }
    window.Plotly.downloadImage(figure, {format: 'FORMAT', filename: 'maze-view', scale: 2});
    return 'FORMAT ' + clicks;
}"""


def _message(err: Exception) -> str:
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


__all__ = ["make_app"]
