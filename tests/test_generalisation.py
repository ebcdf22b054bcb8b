"""Maze size and corner studies: corner cells, rates by size and within the step budget, and
an end-to-end run whose numbers match the records it played."""

from __future__ import annotations

import pandas as pd
import pytest
from maze_art import embed

from analyses import generalisation
from analyses.core import records as records_module
from analyses.core.inputs import Levels
from analyses.core.records import Records
from hooked_impala.maze import Maze

# The start (S) is the bottom-left corner; its neighbours: above is a wall, right is open.
ART = """
. . . . .
. # # # #
. . . . .
# # # # .
S . . C .
"""


@pytest.fixture(scope="module")
def maze() -> Maze:
    return embed(ART, Maze.from_seed(0, "hard"))


def test_corner_cells(maze) -> None:
    w = maze.to_world
    assert generalisation.corner_cell(maze, "top_left") == w((4, 0))
    assert generalisation.corner_cell(maze, "bottom_right") == w((0, 4))
    assert generalisation.corner_cell(maze, "top_right") == w((4, 4))
    # The start is the bottom-left corner: the nearest other open cell, (0, 1).
    assert generalisation.corner_cell(maze, "bottom_left") == w((0, 1))
    walled = maze.with_walls([w((4, 4))])  # a walled corner: its nearest open cell
    assert generalisation.corner_cell(walled, "top_right") in {w((3, 4)), w((4, 3))}


def _rows(reached, steps, **extra):
    return pd.DataFrame({"reached_cheese": reached, "steps": steps, **extra})


def test_corner_rates_count_within_the_budget() -> None:
    tables = {
        "top_right": _rows([True, True, False], [10, 20, 500]),  # budget: mean(10, 20) = 15
        "top_left": _rows([True, True, False], [15, 16, 500]),
    }
    budget, corners = generalisation.corner_rates(tables)
    assert budget == 15
    assert (
        corners["top_left"]["within_budget"]["k"],
        corners["top_left"]["within_budget"]["n"],
    ) == (1, 3)
    assert corners["top_left"]["within_limit"]["k"] == 2
    assert corners["top_right"]["within_budget"]["k"] == 1  # 10 <= 15 < 20
    never = {"top_right": _rows([False], [500]), "top_left": _rows([True], [3])}
    budget, corners = generalisation.corner_rates(never)
    assert budget is None and corners["top_left"]["within_budget"]["k"] == 0


def test_rates_by_size() -> None:
    table = pd.DataFrame(
        {
            "seed": [1, 2, 3, 4],
            "maze_size": [3, 3, 9, 9],
            "reached_cheese": [True, False, True, True],
            "steps": [4, 30, 12, 20],
            "cheese_in_region": [True, True, False, True],
            "top_right_informative": [False, False, True, False],
            "top_right_first": [True, True, False, False],
        }
    )
    shortest = {1: 4, 2: 4, 3: 12, 4: 14}
    by_size = generalisation._by_size(table, shortest)
    assert (by_size["3"]["success"]["k"], by_size["3"]["success"]["n"]) == (1, 2)
    assert by_size["3"]["top_right_first"]["n"] == 0  # never informative in a 3x3 maze
    assert by_size["3"]["shortest_path_to_cheese"]["k"] == 1
    assert (by_size["9"]["shortest_path_to_cheese"]["k"], by_size["9"]["top_right_first"]["n"]) == (
        1,
        1,
    )
    assert by_size["9"]["success_cheese_outside_region"]["n"] == 1


def test_end_to_end_matches_its_records(ppo_s1, tmp_path) -> None:
    levels = Levels("easy", range(40))
    records = tmp_path / "records"
    result = generalisation.run(ppo_s1, levels, max_steps=40, records=Records.at(records))
    table = pd.read_parquet(records / "as_generated")
    assert len(table) == 40
    for size, rows in table.groupby("maze_size"):
        assert result.by_size[str(size)]["success"]["k"] == int(rows["reached_cheese"].sum())
    largest = table["maze_size"].max()
    assert result.largest_size == largest
    assert result.corner_mazes == int((table["maze_size"] == largest).sum())
    for corner in ("top_right", *generalisation.CORNERS):
        played = pd.read_parquet(records / f"cheese_{corner}")
        assert result.corners[corner]["within_limit"]["k"] == int(played["reached_cheese"].sum())
        assert len(played) == result.corner_mazes
    again = generalisation.run(ppo_s1, levels, max_steps=40, records=Records.at(records))  # reused
    assert again.numbers() == result.numbers()
    saved = {p.name for p in result.save(tmp_path / "out")}
    assert {"result.json", "by_size.html", "corners.html"} <= saved


def test_auto_records_folders_are_named_by_their_settings(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(records_module, "AUTO_RECORDS", tmp_path)
    settings = dict(analysis="behaviour", checkpoint="model_160022528", mode="easy", seed=0)
    with Records.AUTO.folder(max_steps=500, greedy=False, **settings) as a:
        pass
    with Records.AUTO.folder(max_steps=500, greedy=True, **settings) as b:
        pass
    assert a == tmp_path / "behaviour-model_160022528-easy-sampled-seed0-max500"
    assert b == tmp_path / "behaviour-model_160022528-easy-greedy-max500"
    with Records.TEMPORARY.folder(max_steps=5, greedy=False, **settings) as temporary:
        assert temporary.is_dir()
    assert not temporary.exists()  # removed afterwards
    with Records.at(tmp_path / "mine").folder(max_steps=5, greedy=False, **settings) as mine:
        assert mine == tmp_path / "mine"
    assert Records.parse("auto") is Records.AUTO and Records.parse("temporary").temporary
    assert str(Records.below(Records.at(tmp_path), "x").path) == str(tmp_path / "x")
    with pytest.raises(TypeError, match=r"Records.at\(folder\)"):
        generalisation.run(None, Levels("easy", range(2)), records=str(tmp_path))
