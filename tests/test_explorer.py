"""The maze explorer: edits and undo, the computed views, exports that reproduce by command,
the command line's errors, and the page itself in headless Chromium."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys

import numpy as np
import pytest
from constructed import CARRIER, LAYER, cheese_carrier_model

from analyses.core import cli as analyses_cli
from analyses.maze_view import InterventionSettings
from analyses.maze_view import run as maze_view_run
from explorer import browser, compute
from explorer.cli import main
from explorer.compute import Explorer
from explorer.controls import parse_channels, settings_from
from explorer.edits import Session, apply_click, clicked_cell
from explorer.figures import change_text
from explorer.layout import layout
from explorer.patching_view import Method, patching_figure
from hooked_impala import load_pretrained
from hooked_impala.actions import Movement
from hooked_impala.dictionary.sae import identity_sae
from hooked_impala.dictionary.train import TrainConfig, TrainedSAE
from hooked_impala.maze import Maze, MazeEditError, Tile
from hooked_impala.patching import Corruption
from hooked_impala.policy import VectorField, vector_field


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
    assert clicked_cell({"row": 2.0, "col": 4, "n": 3}) == (2, 4)
    assert clicked_cell({"row": float("nan"), "col": 4}) is None
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
    if os.environ.get("HOOKED_IMPALA_HOME"):  # where this explorer found the checkpoint
        assert argv.pop(0) == f"HOOKED_IMPALA_HOME={os.environ['HOOKED_IMPALA_HOME']}"
    assert argv[:3] == ["python", "-m", "analyses.maze_view"]
    assert analyses_cli.main(maze_view_run.analysis, argv[3:]) == 0  # rewrites the same folder
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


def test_the_maps_show_a_dictionarys_latents_at_its_hook(maze, tmp_path, capsys) -> None:
    """With the exact dictionary whose latents are +x_c and -x_c, the latent maps are the
    channel maps' positive and negative parts: the overlay reads the hook it claims to."""
    hook = "embedder.block2.res1.resadd_out"
    model = load_pretrained("standin_s1", progress=False)
    channels = model.hook_shapes(1)[hook][1]
    dictionary = TrainedSAE(identity_sae(channels), hook, TrainConfig(), {}, 0)
    with_dict = Explorer(model, "standin_s1", dictionary)
    try:
        settings = InterventionSettings(cheese_coeff=-1.0)
        shown, maps = with_dict.maps(maze, settings, hook, "peak", 4)
        assert len(shown) == 4
        picked = (5, channels + 5)
        units, latents = with_dict.maps(maze, settings, hook, "peak", 4, "latents", picked)
        assert units == list(picked)
        _, plain = with_dict.maps(maze, settings, hook, "peak", 4, "channels", (5,))
        np.testing.assert_allclose(latents[:, 0], np.maximum(plain[:, 0], 0), atol=1e-5)
        np.testing.assert_allclose(latents[:, 1], np.maximum(-plain[:, 0], 0), atol=1e-5)
        with pytest.raises(ValueError, match="choose that hook"):
            with_dict.maps(maze, settings, "embedder.block1.res1.resadd_out", "peak", 4, "latents")
        with pytest.raises(ValueError, match="do not exist here"):
            with_dict.maps(maze, settings, hook, "peak", 4, "latents", (2 * channels,))
        layout_text = str(layout(with_dict, Session(3, "easy"), tmp_path))
        assert f"latents of the dictionary at {hook}" in layout_text
    finally:
        with_dict.close()
    other = TrainedSAE(identity_sae(channels + 1), hook, TrainConfig(), {}, 0)
    with pytest.raises(ValueError, match=f"takes {channels + 1} channels"):
        Explorer(model, "standin_s1", other)
    (tmp_path / "notes.sae.pt").write_text("not a dictionary")
    bad = str(tmp_path / "notes.sae.pt")
    assert main(["--checkpoint", "standin_s1", "--port", "0", "--dictionary", bad]) == 1
    assert "is not a dictionary checkpoint" in capsys.readouterr().err


def test_without_a_dictionary_the_latents_are_offered_but_explain_themselves(
    explorer, maze, tmp_path
) -> None:
    assert "start with --dictionary" in str(layout(explorer, Session(3, "easy"), tmp_path))
    with pytest.raises(ValueError, match="no dictionary loaded"):
        explorer.maps(
            maze, InterventionSettings(), "embedder.block2.res1.resadd_out", "peak", 4, "latents"
        )


def test_the_change_text_measures_a_difference_field(maze) -> None:
    """Net movement: LEFT is (-1, 0), UP (0, +1); a cell whose probability moves 0.5 from
    LEFT to UP changes its net movement by (0.5, 0.5): 0.707; total variation 0.5."""
    cells = ((1, 1), (1, 2))
    probs = np.zeros((2, 5))
    probs[0, Movement.LEFT], probs[0, Movement.UP] = -0.5, 0.5
    diff = VectorField(maze, cells, probs, "difference", is_difference=True)
    text = change_text(diff)
    assert "mean 0.354, max 0.707 at cell (1, 1)" in text
    assert "mean total variation 0.250" in text


def test_the_export_command_carries_the_checkpoint_folder(explorer, maze, tmp_path, monkeypatch):
    home = tmp_path / "my checkpoints"
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(home))
    _, _, command = explorer.export(maze, InterventionSettings(), tmp_path, **EXPORT_OPTIONS)
    assert shlex.split(command)[:2] == [f"HOOKED_IMPALA_HOME={home}", "python"]


def test_the_patching_map_finds_the_channel_that_carries_the_cheese(maze) -> None:
    # The constructed network reaches its logits only through channel CARRIER of LAYER.
    carrier = Explorer(cheese_carrier_model(), "carrier")
    try:
        exact = carrier.patching(maze, LAYER, Corruption.CHEESE_MOVED, Method.EXACT)
        assert int(np.abs(exact.fraction).argmax()) == CARRIER
        assert exact.fraction[CARRIER] == pytest.approx(1.0, abs=1e-4)
        estimate = carrier.patching(maze, LAYER, Corruption.CHEESE_MOVED, Method.ATTRIBUTION)
        assert int(np.abs(estimate.fraction).argmax()) == CARRIER
        assert carrier.patching(maze, LAYER, Corruption.CHEESE_MOVED, Method.EXACT) is exact
        assert str(exact.pair.cell) in exact.describe()
        figure = patching_figure(exact)
        assert len(figure.data[0].y) == carrier.channels[LAYER]
        no_fork = Maze.from_seed(2)  # its paths to the cheese and the top right never part
        with pytest.raises(ValueError, match="decision square"):
            carrier.patching(no_fork, LAYER, Corruption.CHEESE_MOVED, Method.EXACT)
    finally:
        carrier.close()
