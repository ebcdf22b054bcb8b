"""The explorer's page layout: the controls (their ids are what the callbacks in
:mod:`explorer.app` read), the figures' places, and the style."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dash import dcc, html

from analyses.maze_view import InterventionSettings
from explorer.compute import UNITS, Explorer
from explorer.controls import (
    DEFAULT_MAX_STEPS,
    DEFAULT_TOP,
    MAX_TOP,
    ROLLOUT_KINDS,
    SHOWN_FIELDS,
)
from explorer.edits import EDIT_MODES, Session
from explorer.patching_view import Method
from hooked_impala.maze import DISTRIBUTION_MODES
from hooked_impala.patching import Corruption
from hooked_impala.policy import PROCGEN_STEP_LIMIT

DEFAULT_LAYER = InterventionSettings.layer
VIEWS = ("original", "intervened", "difference")
RANKINGS = {"peak": "peak |activation|", "mouse": "|activation| at the mouse", "change": "change"}
#: The intervention controls, in the order ``explorer.controls.settings_from`` takes them.
INTERVENTION_INPUTS = (
    ("layer", "value"),
    ("cheese-coeff", "value"),
    ("top-right-coeff", "value"),
    ("clamp-channels", "value"),
    ("clamp-value", "value"),
    ("target", "data"),
    ("relus", "value"),
)

#: The intervention controls' values on a fresh page (a link may set others).
INTERVENTION_DEFAULTS: dict[str, Any] = {
    "layer": DEFAULT_LAYER,
    "cheese-coeff": 0,
    "top-right-coeff": 0,
    "clamp-channels": None,
    "clamp-value": InterventionSettings.clamp_value,
    "target": None,
    "relus": [],
}


def _control(label: str, component: Any) -> html.Div:
    return html.Div([html.Label(label, className="label"), component], className="control")


def _whole_number(
    id: str, value: Any, *, least: int, most: int | None = None, debounce: bool = False
) -> dcc.Input:
    """A box for a whole number from ``least`` (to ``most``)."""
    return dcc.Input(id=id, type="number", min=least, max=most, value=value, debounce=debounce)


def _unit_options(explorer: Explorer) -> list[dict[str, Any]]:
    """Channels always; a dictionary's latents when the explorer was given one (at its hook)."""
    sae = explorer.dictionary
    latents = (
        {
            "label": "dictionary latents (start with --dictionary)",
            "value": UNITS[1],
            "disabled": True,
        }
        if sae is None
        else {"label": f"latents of the dictionary at {sae.hook}", "value": UNITS[1]}
    )
    return [{"label": "channels", "value": UNITS[0]}, latents]


def layout(
    explorer: Explorer,
    session: Session,
    out: Path,
    values: Mapping[str, Any] | None = None,
    message: str = "",
) -> html.Div:
    """The page, opening on ``session`` with the controls at ``values`` (by control id, from
    a link; defaults elsewhere) and ``message`` shown (e.g. why a link was not used)."""
    values = {**INTERVENTION_DEFAULTS, **(values or {})}

    hooks = [{"label": h, "value": h} for h in explorer.spatial_hooks]
    # The clamp's layer is chosen on the page; its default's channels name the range.
    clamp_channels = explorer.channels.get(explorer.model.resolve_hook_name(DEFAULT_LAYER), 1)

    def slider(value: float) -> dict[str, Any]:
        marks = {v: str(v) for v in range(-3, 4)}
        return dict(min=-3, max=3, step=0.25, marks=marks, value=value)

    return html.Div(
        [
            dcc.Location(id="url", refresh=False),  # the view in the address (explorer.url)
            dcc.Store(id="session", data=session.to_json()),
            dcc.Store(id="maze-click", data=None),  # set by assets/clicks.js
            dcc.Store(id="target", data=values["target"]),
            dcc.Store(id="episode", data=None),
            html.H2("hooked-impala explorer"),
            html.Div(
                [
                    _control(
                        "checkpoint",
                        dcc.Dropdown(
                            id="checkpoint",
                            options=explorer.checkpoints,
                            value=values.get("checkpoint", explorer.checkpoint),
                            clearable=False,
                            style={"width": "16em"},
                        ),
                    ),
                    _control(
                        "level seed",
                        _whole_number("seed", session.seed, least=0, debounce=True),
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
                    html.Button("undo", id="undo", title="Ctrl+Z"),
                    html.Button("redo", id="redo", title="Ctrl+Shift+Z"),
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
            html.Div(message, id="edit-message", className="message"),
            html.Div(
                [
                    html.Div(
                        [
                            dcc.RadioItems(
                                id="view",
                                options=list(VIEWS),
                                value=values.get("view", "original"),
                                inline=True,
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
                                    id="layer",
                                    options=hooks,
                                    value=values["layer"],
                                    clearable=False,
                                ),
                            ),
                            _control(
                                "cheese vector coefficient",
                                dcc.Slider(id="cheese-coeff", **slider(values["cheese-coeff"])),
                            ),
                            _control(
                                "top-right vector coefficient",
                                dcc.Slider(
                                    id="top-right-coeff", **slider(values["top-right-coeff"])
                                ),
                            ),
                            _control(
                                "clamp channels (click mode 'target' picks the cell)",
                                dcc.Input(
                                    id="clamp-channels",
                                    type="text",
                                    placeholder=f"e.g. 55 42 (0–{clamp_channels - 1})",
                                    value=values["clamp-channels"],
                                    debounce=True,
                                ),
                            ),
                            _control(
                                "clamp value",
                                dcc.Input(
                                    id="clamp-value",
                                    type="number",
                                    value=values["clamp-value"],
                                    debounce=True,
                                ),
                            ),
                            dcc.Checklist(
                                id="relus",
                                options=[{"label": "remove every ReLU", "value": "on"}],
                                value=values["relus"],
                            ),
                            html.H4("channel maps"),
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
                                "maps of",
                                dcc.RadioItems(
                                    id="maps-units",
                                    options=_unit_options(explorer),
                                    value=UNITS[0],
                                    inline=True,
                                ),
                            ),
                            _control(
                                "only these (e.g. 55 42)",
                                dcc.Input(id="maps-chosen", type="text", value="", debounce=True),
                            ),
                            _control(
                                "how many, ranked",
                                _whole_number(
                                    "top", DEFAULT_TOP, least=1, most=MAX_TOP, debounce=True
                                ),
                            ),
                            dcc.RadioItems(
                                id="maps-which",
                                options=list(SHOWN_FIELDS),
                                value=SHOWN_FIELDS[0],
                                inline=True,
                            ),
                        ],
                        className="side",
                    ),
                ],
                className="columns",
            ),
            dcc.Graph(id="maps-graph", config={"displaylogo": False}),
            html.H4("patching map: which channels carry the choice here"),
            html.Div(
                [
                    _control(
                        "hook",
                        dcc.Dropdown(
                            id="patch-hook",
                            options=hooks,
                            value=DEFAULT_LAYER,
                            clearable=False,
                            style={"width": "24em"},
                        ),
                    ),
                    _control(
                        "corrupted maze",
                        dcc.Dropdown(
                            id="patch-corruption",
                            options=[c.value for c in Corruption],
                            value=Corruption.CHEESE_MOVED.value,
                            clearable=False,
                        ),
                    ),
                    dcc.RadioItems(
                        id="patch-method",
                        options=[m.value for m in Method],
                        value=Method.ATTRIBUTION.value,
                        inline=True,
                    ),
                ],
                className="row",
            ),
            html.Div(id="patch-status", className="status"),
            dcc.Graph(id="patch-graph", config={"displaylogo": False}),
            html.H4("rollout under the intervention"),
            html.Div(
                [
                    dcc.RadioItems(
                        id="rollout-kind",
                        options=list(ROLLOUT_KINDS),
                        value=ROLLOUT_KINDS[0],
                        inline=True,
                    ),
                    _control("seed", _whole_number("rollout-seed", 0, least=0)),
                    _control(
                        "max steps",
                        _whole_number(
                            "max-steps", DEFAULT_MAX_STEPS, least=1, most=PROCGEN_STEP_LIMIT
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
                    # Pictures of the maze figure as drawn, made by the browser (plotly.js).
                    html.Button("download PNG", id="download-png"),
                    html.Button("download SVG", id="download-svg"),
                    html.Span(id="download-status", hidden=True),
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
