"""The maze explorer: edits and undo, the computed views, exports that reproduce by command,
the command line's errors, and the page itself in headless Chromium."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from analyses import cli as analyses_cli
from analyses.maze_view import ANALYSIS, InterventionSettings
from explorer import browser, compute
from explorer.app import allowed_hosts, make_app
from explorer.cli import main
from explorer.compute import Explorer
from explorer.controls import parse_channels, settings_from
from explorer.edits import Session, apply_click, clicked_cell
from hooked_impala import load_pretrained
from hooked_impala.maze import Maze, MazeEditError, Tile
from hooked_impala.policy import vector_field

LAYER = "embedder.block2.res1.resadd_out"


@pytest.fixture(scope="module")
def maze() -> Maze:
    return Maze.from_seed(3)  # easy: a 15×15 world with a margin


@pytest.fixture(scope="module")
def explorer():
    explorer = Explorer(load_pretrained("standin_s1", progress=False), "standin_s1")
    yield explorer
    explorer.close()


def open_cell(maze: Maze) -> tuple[int, int]:
    return next(c for c in maze.open_cells if c not in (maze.mouse, maze.cheese))


def wall_cell(maze: Maze) -> tuple[int, int]:
    return next(
        (r, c)
        for r in range(maze.world_size)
        for c in range(maze.world_size)
        if maze.in_inner((r, c)) and maze.tile((r, c)) == Tile.WALL
    )


# --- edits ----------------------------------------------------------------------------------


def test_each_click_mode_edits_what_it_says(maze) -> None:
    cell = open_cell(maze)
    assert apply_click(maze, cell, "cheese").cheese == cell
    assert apply_click(maze, cell, "mouse").mouse == cell
    walled = apply_click(maze, cell, "wall")
    assert walled.tile(cell) == Tile.WALL
    assert apply_click(walled, cell, "wall") == maze  # a second click opens it again
    assert apply_click(maze, cell, "target") is maze
    margin = (maze.world_size - 1, 0)
    assert not maze.in_inner(margin)
    assert apply_click(maze, margin, "wall", margin=True).tile(margin) == Tile.OPEN


@pytest.mark.parametrize(
    ("mode", "where", "message"),
    [
        ("cheese", "wall", "is a wall"),
        ("mouse", "wall", "is a wall"),
        ("mouse", "cheese", "holds the cheese"),
        ("wall", "mouse", "mouse"),
        ("wall", "margin", "turn on margin editing"),
        ("cheese", "margin", "cheese cell"),
    ],
)
def test_refused_edits_say_why(maze, mode, where, message) -> None:
    cell = {
        "wall": wall_cell(maze),
        "cheese": maze.cheese,
        "mouse": maze.mouse,
        "margin": (maze.world_size - 1, 0),
    }[where]
    with pytest.raises(MazeEditError, match=message):
        apply_click(maze, cell, mode)


def test_sessions_replay_their_edits_and_undo_the_last(maze, explorer) -> None:
    level = lambda seed, mode: maze
    session = Session(3, "easy")
    assert session.undone() == session and session.replay(level) == maze
    a, b, c = [cell for cell in maze.open_cells if cell not in (maze.mouse, maze.cheese)][:3]
    edited = (
        session.with_edit(("cheese", *a, False))
        .with_edit(("wall", *b, False))
        .with_edit(("mouse", *c, False))
    )
    expected = maze.with_cheese(a).with_walls([b]).with_mouse(c)
    assert edited.replay(level) == expected
    assert edited.undone().replay(level) == maze.with_cheese(a).with_walls([b])
    assert edited.undone().undone().undone().replay(level) == maze
    assert Session.from_json(json.loads(json.dumps(edited.to_json()))) == edited
    # The explorer replays from the cached maze before the last edit: the same maze.
    for prefix in (edited.undone().undone(), edited.undone(), edited, edited.undone()):
        assert explorer.maze(prefix) == prefix.replay(level)
    with pytest.raises(MazeEditError, match="wall"):
        Session(3, "easy", (("mouse", *wall_cell(maze), False),)).replay(level)


def test_clicks_map_to_cells() -> None:
    assert clicked_cell({"points": [{"x": 4, "y": 2.0, "curveNumber": 3}]}) == (2, 4)
    assert clicked_cell({"points": []}) is None
    assert clicked_cell(None) is None


def test_controls_become_settings() -> None:
    assert parse_channels(" 55, 42 7") == (55, 42, 7)
    assert parse_channels(None) == ()
    with pytest.raises(ValueError, match="'x'"):
        parse_channels("3 x")
    settings = settings_from(None, -1, 0.5, "3", 2, [4, 5], ["on"])
    assert settings == InterventionSettings(
        cheese_coeff=-1.0,
        top_right_coeff=0.5,
        clamp_channels=(3,),
        clamp_value=2.0,
        clamp_cell=(4, 5),
        remove_relus=True,
    )
    assert settings_from(None, 0, 0, "", None, None, []).is_empty


# --- computed views --------------------------------------------------------------------------


def test_fields_are_the_policys_and_cached(explorer, maze) -> None:
    settings = InterventionSettings(cheese_coeff=-1.0)
    fields = explorer.fields(maze, settings)
    expected = vector_field(explorer.model, maze, settings.hooks(explorer.model, maze))
    np.testing.assert_allclose(fields.intervened.probs, expected.probs, atol=1e-5)
    np.testing.assert_allclose(
        fields.original.probs, vector_field(explorer.model, maze).probs, atol=1e-5
    )
    again = explorer.fields(maze, settings)
    assert again.original is fields.original and again.intervened is fields.intervened
    diff = fields.shown("difference")
    np.testing.assert_allclose(diff.probs, fields.intervened.probs - fields.original.probs)
    assert 0 < fields.modified.fraction < 1
    plain = explorer.fields(maze, InterventionSettings())
    assert plain.intervened is plain.original and plain.modified is None


EXPORT_OPTIONS = {
    "maps_hook": "embedder.block3.res1.resadd_out",
    "ranking": "change",
    "top": 4,
    "rollout_kind": "sampled",
    "max_steps": 20,
    "seed": 3,
}


def test_export_is_reproduced_by_its_command(explorer, maze, tmp_path) -> None:
    settings = InterventionSettings(cheese_coeff=-1.0, clamp_channels=(5,), clamp_cell=(7, 7))
    result, written, command = explorer.export(maze, settings, tmp_path, **EXPORT_OPTIONS)
    assert {p.name for p in written} >= {"result.json", "arrays.npz", "field.html", "maze.state"}
    assert result.channels == sorted(result.channels, key=result.channels.index)
    view = written[0].parent
    assert view.parent == tmp_path and view.name.startswith("view-")
    first = (view / "result.json").read_text()
    arrays = dict(np.load(view / "arrays.npz"))
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "analyses.maze_view"]
    assert analyses_cli.main(ANALYSIS, argv[3:]) == 0  # rewrites the same folder
    assert (view / "result.json").read_text() == first
    again = dict(np.load(view / "arrays.npz"))
    assert set(again) == set(arrays)
    for name in arrays:
        np.testing.assert_allclose(again[name], arrays[name], atol=1e-5, err_msg=name)


def test_exports_within_one_second_each_get_a_folder(explorer, maze, tmp_path, monkeypatch):
    monkeypatch.setattr(compute.time, "strftime", lambda pattern: "view-20260101-000000")
    theirs = tmp_path / "view-20260101-000000"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("the user's own file")
    options = {**EXPORT_OPTIONS, "rollout_kind": "greedy", "max_steps": 2}
    folders = []
    for coeff in (-1.0, 1.0):
        _, written, _ = explorer.export(
            maze, InterventionSettings(cheese_coeff=coeff), tmp_path, **options
        )
        folders.append(written[0].parent)
    assert [f.name for f in folders] == ["view-20260101-000000-2", "view-20260101-000000-3"]
    coeffs = [json.loads((f / "result.json").read_text()) for f in folders]
    parameters = [c["metadata"]["parameters"]["intervention"] for c in coeffs]
    assert [p["cheese_coeff"] for p in parameters] == [-1.0, 1.0]
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]  # untouched


# --- the server: who may reach it, and what its callbacks survive ---------------------------------

PORT = 8123


@pytest.fixture(scope="module")
def app(explorer, tmp_path_factory):
    app = make_app(
        explorer, Session(3, "easy"), tmp_path_factory.mktemp("exports"), "127.0.0.1", PORT
    )
    app.server.config["PROPAGATE_EXCEPTIONS"] = True  # an escaping exception fails the test
    return app


@pytest.mark.parametrize(
    ("host", "status"),
    [
        (f"127.0.0.1:{PORT}", 200),
        (f"localhost:{PORT}", 200),
        (f"LOCALHOST:{PORT}", 200),
        (f"[::1]:{PORT}", 200),
        (f"evil.example:{PORT}", 403),
        (f"127.0.0.1.evil.example:{PORT}", 403),
        ("evil.example", 403),
        (f"localhost:{PORT + 1}", 403),  # a page on another local port
        ("127.0.0.1", 403),
    ],
)
def test_only_requests_for_its_own_host_are_answered(app, host, status) -> None:
    for path in ("/", "/_dash-layout"):
        response = app.server.test_client().get(path, headers={"Host": host})
        assert response.status_code == status, (path, host)


def raw_get(url: str, host: str) -> bytes:
    """The first line of the answer to ``GET /`` sent to ``url``'s server with ``host`` in
    the Host header, written by hand (no client library that might fix the header)."""
    address, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    deadline = time.monotonic() + 60
    while True:  # the URL is printed just before the server starts listening
        try:
            conn = socket.create_connection((address, int(port)), timeout=30)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        conn.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return conn.makefile("rb").readline()


@pytest.mark.slow
def test_the_running_explorer_refuses_a_forged_host_header() -> None:
    with browser.running("--level", "3") as url:
        own = url.removeprefix("http://").rstrip("/")
        assert b" 200 " in raw_get(url, own)
        assert b" 200 " in raw_get(url, own.replace("127.0.0.1", "localhost"))
        for forged in ("evil.example", own.replace("127.0.0.1", "rebound.evil.example")):
            assert b" 403 " in raw_get(url, forged), forged


def test_hosts_of_a_page_served_to_the_network() -> None:
    assert allowed_hosts("0.0.0.0", 80) >= {"localhost", f"{socket.gethostname().lower()}:80"}
    assert "192.0.2.7:8050" in allowed_hosts("192.0.2.7", 8050)
    assert "0.0.0.0:8050" not in allowed_hosts("0.0.0.0", 8050)


def initial_values(component, found=None) -> dict:
    """``{(id, property): value}`` of every component of the layout, as the page starts."""
    found = {} if found is None else found
    if hasattr(component, "to_plotly_json"):
        props = component.to_plotly_json()["props"]
        for name, value in props.items():
            if "id" in props and name != "children":
                found[(props["id"], name)] = value
        initial_values(props.get("children"), found)
    elif isinstance(component, list | tuple):
        for child in component:
            initial_values(child, found)
    return found


# Values a page, a tampered request or a careless user may send, for any input.
NAN, INF = float("nan"), float("inf")
NUMBERS = [None, -1, 0, 1, 3, 2.5, 1e308, -1e308, 2**40, NAN, INF, -INF, True]
TEXTS = ["", "abc", "5, x", "ten", "1e999", "original", "difference", "sampled", "none"]
NAMES = ["target", "wall", "peak", "hard", LAYER, "embedder.nothing", "/dev/null/x"]
LISTS = [[], [1], [99, 99], [1, "a"], ["on"], ["off"], {}, {"x": 1}]
CLICKS = [{"points": "x"}, {"points": [{"x": "a", "y": 2}]}, {"points": [{"x": 4, "y": NAN}]}]
SESSIONS = [
    {"seed": -1, "mode": "medium", "edits": []},
    {"seed": 3, "mode": "easy", "edits": "x"},
    {"seed": 3, "mode": "easy", "edits": [["wall", 99, 99, False]]},
    {"seed": 3, "mode": "easy", "edits": [["cheese", 1, 1]]},
    {"seed": 3, "mode": "easy", "edits": [["mouse", 7, 7, "yes"]]},
    {"session": {"seed": 3, "mode": "easy"}, "cells": [[1, 1], [99, 99]]},
    {"session": {"seed": 3, "mode": "easy"}, "cells": []},
]
JUNK = [*NUMBERS, *TEXTS, *NAMES, *LISTS, *CLICKS, {"points": [{"x": 5, "y": 6}]}, *SESSIONS]


def test_no_callback_input_makes_a_server_error(app, tmp_path, monkeypatch) -> None:
    """A few hundred requests, each of a random callback with some of its inputs replaced by
    junk: every one is answered (no exception escapes: the app propagates them here)."""
    monkeypatch.chdir(tmp_path)  # an export folder given as junk text lands here
    rng = np.random.default_rng(0)
    start = initial_values(app.layout)
    client = app.server.test_client()
    headers = {"Host": f"127.0.0.1:{PORT}"}
    callbacks = list(app.callback_map.items())
    deadline = time.monotonic() + 600  # about 100 s on an idle 2-core machine
    for case in range(300):
        assert time.monotonic() < deadline, f"too slow: {case} cases in the time"
        output, spec = callbacks[rng.integers(len(callbacks))]
        junk = rng.choice([0.05, 0.15, 0.4])  # some requests mostly sensible, some mostly junk

        def value(item):
            key = (item["id"], item["property"])
            if rng.random() < junk:
                return JUNK[rng.integers(len(JUNK))]
            return start.get(key)  # a control the page has not set sends None

        inputs = [{**item, "value": value(item)} for item in spec["inputs"]]
        trigger = inputs[rng.integers(len(inputs))]
        out = spec["output"]
        described = lambda o: {"id": o.component_id, "property": o.component_property}
        outputs = [described(o) for o in out] if isinstance(out, list) else described(out)
        payload = {
            "output": output,
            "outputs": outputs,
            "inputs": inputs,
            "state": [{**item, "value": value(item)} for item in spec["state"]],
            "changedPropIds": [f"{trigger['id']}.{trigger['property']}"],
        }
        response = client.post("/_dash-update-component", json=payload, headers=headers)
        assert response.status_code in (200, 204), (response.status_code, payload)
        assert b"Traceback" not in response.data


# --- command line ----------------------------------------------------------------------------


def test_help_names_the_command() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "explorer", "--help"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0
    assert "python -m explorer" in run.stdout and "--checkpoint" in run.stdout


def test_busy_port_and_unknown_checkpoint_are_clear(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"port {port} on 127.0.0.1 is already in use"):
            main(["--port", str(port)])
    assert main(["--checkpoint", "no_such_model", "--port", "0"]) == 1
    assert "'no_such_model' is neither a file nor a known checkpoint" in capsys.readouterr().err


def test_missing_dash_says_which_extra(monkeypatch, capsys) -> None:
    monkeypatch.delitem(sys.modules, "explorer.app", raising=False)
    monkeypatch.setitem(sys.modules, "dash", None)  # as if it were not installed
    assert main(["--port", "0"]) == 1
    assert "the explorer needs dash: pip install -e '.[explorer]'" in capsys.readouterr().err


# --- the page in a browser ---------------------------------------------------------------------


def require_browser() -> None:
    missing = []
    if browser.chromium_path() is None:
        missing.append("chromium (the setup script installs Debian's)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (the dev extra)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test needs {', '.join(missing)}")
        pytest.skip(f"missing {', '.join(missing)}")


@pytest.mark.slow
def test_clicking_a_cell_moves_the_cheese_in_the_browser() -> None:
    require_browser()
    maze = Maze.from_seed(17, "hard")
    target = open_cell(maze)
    with browser.running("--level", "17", "--mode", "hard") as url, browser.page(url) as tab:
        stamp = browser.drawn(tab)
        image, arrows = browser.maze_traces(tab)
        browser.click_cell(tab, *target)
        stamp = browser.wait_for_field(tab, stamp)
        new_image, new_arrows = browser.maze_traces(tab)
        assert new_image != image, "the maze image did not change"
        assert new_arrows != arrows, "the vector field did not change"
        assert tab.inner_text("#edit-message") == ""

        # An edit the maze refuses: a message on the page, the maze unchanged.
        tab.check("#edit-mode input[value='mouse']")
        browser.click_cell(tab, *wall_cell(maze))
        tab.wait_for_function(
            "() => document.querySelector('#edit-message').innerText.includes('wall')"
        )
        assert browser.maze_traces(tab) == [new_image, new_arrows]
        assert tab.errors == [], f"console errors: {tab.errors}"
