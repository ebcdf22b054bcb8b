"""The explorer's state: undo and redo of maze edits, the view in the page's address (a link
or a reload reopens it), the keyboard shortcuts and the picture downloads, in the browser."""

from __future__ import annotations

import random
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from test_explorer import open_cell, require_browser, wall_cell

from analyses.maze_view import InterventionSettings
from explorer import browser
from explorer.edits import EDIT_MODES, Session
from explorer.url import CONTROLS, from_query, to_query
from hooked_impala.maze import Maze

LAYERS = ("embedder.block2.res1.resadd_out", "embedder.block3.res1.resadd_out")
VIEWS = ("original", "intervened", "difference")
DEFAULTS = [LAYERS[0], 0, 0, None, 5.0, None, []]


def test_undo_then_redo_restores_the_edits_and_a_new_edit_clears_redo() -> None:
    a, b, c = ("cheese", 5, 6, False), ("wall", 3, 4, True), ("mouse", 2, 2, False)
    session = Session(3, "easy").with_edit(a).with_edit(b)
    back = session.undone()
    assert back.edits == (a,) and back.redo == (b,)
    assert back.undone().redone().redone() == session
    assert session.redone() == session and Session(3, "easy").undone() == Session(3, "easy")
    assert back.with_edit(c).redo == ()
    assert Session.from_json(back.to_json()) == back
    with pytest.raises(ValueError, match="redo must be a list"):
        Session.from_json({"seed": 1, "mode": "easy", "redo": "x"})


def test_the_address_round_trips_any_state() -> None:
    rng = random.Random(0)
    for _ in range(200):
        edits = tuple(
            (rng.choice(EDIT_MODES), rng.randrange(25), rng.randrange(25), rng.random() < 0.3)
            for _ in range(rng.randrange(4))
        )
        session = Session(rng.randrange(10**6), rng.choice(("easy", "hard")), edits)
        values = [
            rng.choice(LAYERS),
            rng.choice([0, -1.0, 0.25, 2.75]),
            rng.choice([0, 1.5]),
            rng.choice([None, "55", "55 42"]),
            rng.choice([5.0, 3.25, -2.0]),
            rng.choice([None, [7, 8]]),
            rng.choice([[], ["on"]]),
        ]
        view = rng.choice(VIEWS)
        query = to_query(session, values, view, DEFAULTS)
        back, controls = from_query(urlsplit(query).query, LAYERS, VIEWS)
        assert back == session
        for key, value, default in zip(CONTROLS.values(), values, DEFAULTS):
            shown = controls.get(key, default)
            assert shown == value or (value in (None, []) and key not in controls), key
        assert controls.get("view", "original") == view


@pytest.mark.parametrize(
    "query, says",
    [
        ("level=1&colour=red", "unknown parameters: colour"),
        ("level=one", "level must be a seed"),
        ("level=1&edits=cheese.5", "is not mode.row.col"),
        ("level=1&edits=teleport.5.5", "an edit of the session"),
        ("level=1&mode=medium", "mode must be one of"),
        ("level=1&cheese=abc", "cheese must be a number"),
        ("level=1&cheese=nan", "the cheese vector coefficient"),
        ("level=1&layer=fc_out", "the layer must be one of"),
        ("level=1&view=sideways", "view must be one of"),
        ("level=1&level=2", "repeats level"),
        ("level=1&clamp=5,x", "'x' is not one"),
    ],
)
def test_a_bad_link_is_refused_naming_the_parameter(query, says) -> None:
    with pytest.raises(ValueError, match=says):
        from_query(query, LAYERS, VIEWS)


def test_an_address_without_a_level_is_the_default_page() -> None:
    assert from_query("", LAYERS, VIEWS) is None


def _query(tab) -> str:
    return urlsplit(tab.url).query


@pytest.mark.slow
def test_a_link_reopens_the_view_and_the_keys_undo_and_redo() -> None:
    require_browser()
    maze = Maze.from_seed(17, "hard")
    target = open_cell(maze)
    with browser.running("--level", "17", "--mode", "hard") as url:
        with browser.page(url) as tab:
            stamp = browser.drawn(tab)
            original = browser.maze_traces(tab)
            browser.click_cell(tab, *target)
            stamp = browser.wait_for_field(tab, stamp)
            edited = browser.maze_traces(tab)
            tab.wait_for_function("() => location.search.includes('edits=cheese.')")
            tab.mouse.click(5, 5)  # focus on the page, not in a box
            tab.keyboard.press("Control+z")
            stamp = browser.wait_for_field(tab, stamp)
            assert browser.maze_traces(tab) == original
            assert "edits=" not in _query(tab)
            tab.keyboard.press("Control+Shift+z")
            stamp = browser.wait_for_field(tab, stamp)
            assert browser.maze_traces(tab) == edited
            tab.check("#view input[value='difference']")
            stamp = browser.wait_for_field(tab, stamp)
            tab.fill("#cheese-coeff input", "-1")
            tab.press("#cheese-coeff input", "Tab")
            stamp = browser.wait_for_field(tab, stamp)
            tab.wait_for_function("() => location.search.includes('cheese=-1')")
            link, shown = tab.url, browser.maze_traces(tab)
            assert "view=difference" in link and tab.errors == []
            with tab.expect_download() as png:
                tab.click("#download-png")
            assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            with tab.expect_download() as svg:
                tab.click("#download-svg")
            assert b"<svg" in Path(svg.value.path()).read_bytes()[:1000]
            assert png.value.suggested_filename == "maze-view.png"
        with browser.page(link) as again:  # the link alone, in a new browser
            assert browser.maze_traces(again) == shown
            assert again.is_checked("#view input[value='difference']")
            assert again.errors == []
        other = url + "?level=17&mode=hard&checkpoint=standin_s1_avoid_cheese"
        with browser.page(other) as fine_tuned:  # the picker, set by the link
            assert browser.maze_traces(fine_tuned)[1] != original[1]  # another model's field
            assert "outside standin_s1_avoid_cheese's training" in fine_tuned.inner_text(
                "#field-message"
            )
        row, col = wall_cell(maze)  # the mouse cannot stand on a wall
        with browser.page(url + f"?level=17&mode=hard&edits=mouse.{row}.{col}") as bad:
            assert "the link was not used" in bad.inner_text("#edit-message")


def test_the_checkpoint_can_be_switched_and_says_when_a_level_is_off_its_training(maze_easy):
    from explorer.compute import Explorer
    from hooked_impala import load_pretrained
    from hooked_impala.policy import vector_field

    explorer = Explorer(load_pretrained("standin_s1", progress=False), "standin_s1")
    try:
        assert explorer.checkpoints[:2] == ["standin_s1", "standin_s1_avoid_cheese"]
        before = explorer.fields(maze_easy, InterventionSettings()).original.probs
        explorer.use("standin_s1_avoid_cheese")
        after = explorer.fields(maze_easy, InterventionSettings()).original.probs
        own = vector_field(load_pretrained("standin_s1_avoid_cheese", progress=False), maze_easy)
        np.testing.assert_allclose(after, own.probs, atol=1e-5)  # the new model, not a cache
        assert not np.allclose(before, after)
        assert "outside standin_s1_avoid_cheese's training" in explorer.mode_note("hard")
        assert explorer.mode_note("easy") == ""
        with pytest.raises(ValueError, match="cannot load checkpoint 'no_such'"):
            explorer.use("no_such")
        assert explorer.checkpoint == "standin_s1_avoid_cheese"
    finally:
        explorer.close()


def test_a_link_names_its_checkpoint() -> None:
    query = to_query(Session(1, "easy"), DEFAULTS, "original", DEFAULTS, "standin_s1")
    _, controls = from_query(urlsplit(query).query, LAYERS, VIEWS, ["standin_s1"])
    assert controls["checkpoint"] == "standin_s1"
    with pytest.raises(ValueError, match="not one this explorer offers"):
        from_query(urlsplit(query).query, LAYERS, VIEWS, ["model_160022528"])


@pytest.fixture(scope="module")
def maze_easy() -> Maze:
    return Maze.from_seed(3)


@pytest.mark.slow
def test_eight_clicks_in_a_row_make_eight_edits() -> None:
    """Each click right after the redraw of the one before: none may be lost (plotly reports
    a click only once its hover has caught up with the pointer)."""
    require_browser()
    maze = Maze.from_seed(17, "hard")
    cells = [c for c in maze.open_cells if c not in (maze.mouse, maze.cheese)][::7][:8]
    with browser.running("--level", "17", "--mode", "hard") as url, browser.page(url) as tab:
        stamp = browser.drawn(tab)
        for k, cell in enumerate(cells, 1):
            browser.click_cell(tab, *cell)
            stamp = browser.wait_for_field(tab, stamp, timeout_ms=30_000)
            edits = parse_qs(_query(tab)).get("edits", [""])[0]
            assert len(edits.split("~")) == k, f"click {k} on {cell} was lost: {edits}"
        assert tab.errors == []
