"""Maze size and corner studies: corner cells, rates by size and within the step budget, and
an end-to-end run whose numbers match the records it played."""

from __future__ import annotations

import pandas as pd
import pytest
from maze_art import embed

from analyses import generalisation
from analyses.core import records as records_module
from analyses.core.inputs import Levels
from analyses.core.records import Playing, Records
from analyses.core.result import CheckpointRef, RunMetadata
from analyses.measure import corners
from hooked_impala.maze import Maze
from hooked_impala.stats import Rate

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


def _rows(reached, steps, shortest, seeds=None):
    seeds = list(range(len(reached))) if seeds is None else seeds
    return pd.DataFrame(
        {"seed": seeds, "reached_cheese": reached, "steps": steps, "shortest": shortest}
    )


def _tables() -> dict[str, pd.DataFrame]:
    return {
        # budget: the mean steps of the reference episodes that reached it, (10 + 20) / 2
        "top_right_region": _rows([True, True, False], [10, 20, 500], [8, 12, 9]),
        # the third corner's shortest path (16) does not fit the budget: not counted
        "top_left": _rows([True, True, False], [15, 16, 500], [9, 14, 16]),
    }


def test_corner_rates_count_within_the_budget() -> None:
    tables = _tables()
    budget = corners.step_budget(tables)
    assert budget == 15
    outcomes = corners.corner_outcomes(tables, budget)
    assert list(outcomes.columns) == list(corners.OUTCOME_COLUMNS) and len(outcomes) == 6
    left = outcomes[outcomes["corner"] == "top_left"]
    assert left["counted"].tolist() == [True, True, False]
    assert left["within_budget"].tolist() == [True, False, False]  # 15 <= 15 < 16
    assert left["within_limit"].tolist() == [True, True, False]
    rates = corners.corner_rates(outcomes)
    assert (rates["top_left"]["within_budget"]["k"], rates["top_left"]["within_budget"]["n"]) == (
        1,
        2,
    )  # over the counted episodes only
    assert (rates["top_left"]["within_limit"]["k"], rates["top_left"]["within_limit"]["n"]) == (
        2,
        3,
    )  # over every episode
    assert rates["top_right_region"]["within_budget"]["k"] == 1  # 10 <= 15 < 20
    never = {"top_right_region": _rows([False], [500], [8]), "top_left": _rows([True], [3], [3])}
    budget = corners.step_budget(never)
    outcomes = corners.corner_outcomes(never, budget)
    assert budget is None and not outcomes["counted"].any()
    assert corners.corner_rates(outcomes)["top_left"]["within_budget"]["n"] == 0


BY_SIZE_KEYS = (
    "success",
    "success_cheese_outside_region",
    "shortest_path_to_cheese",
    "top_right_first",
    "top_right_first_informative",
    "no_decision_square",
    "forced",
)


def test_corner_outcomes_round_trip_through_save_and_load(tmp_path) -> None:
    tables = _tables()
    budget = corners.step_budget(tables)
    outcomes = corners.corner_outcomes(tables, budget)
    result = generalisation.GeneralisationResult(
        metadata=RunMetadata(
            analysis="generalisation",
            checkpoint=CheckpointRef(name="test", sha256=None),
            hooks=(),
            seed=3,
            maze_seeds=(0, 1, 2),
        ),
        levels="easy levels 0..2",
        by_size={"15": {k: Rate(1, 2).as_dict() for k in BY_SIZE_KEYS}},
        largest_size=15,
        corner_mazes=3,
        step_budget=budget,
        corners=corners.corner_rates(outcomes),
        outcomes=outcomes,
    )
    result.save(tmp_path / "out")
    loaded = generalisation.GeneralisationResult.load(tmp_path / "out")
    pd.testing.assert_frame_equal(loaded.corner_outcomes(), outcomes, check_dtype=False)
    assert loaded.corner_outcomes()["counted"].dtype == bool
    assert loaded.step_budget == 15 and loaded.corners == result.corners
    assert loaded.metadata == result.metadata


def test_rates_by_size() -> None:
    table = pd.DataFrame(
        {
            "seed": [1, 2, 3, 4, 5],
            "maze_size": [3, 3, 9, 9, 9],
            "reached_cheese": [True, False, True, True, False],
            "steps": [4, 30, 12, 20, 40],
            "cheese_in_region": [True, True, False, True, False],
            "top_right_informative": [False, False, True, False, True],
            "top_right_first": [True, True, False, False, True],
            "decision_row": [None, None, 3, 4, 5],
        }
    )
    shortest = {1: 4, 2: 4, 3: 12, 4: 14, 5: 9}
    free = {3: True, 5: False}  # seed 5: the cheese's only path crosses the region (forced)
    by_size = corners.rates_by_size(table, shortest, free)
    assert (by_size["3"]["success"]["k"], by_size["3"]["success"]["n"]) == (1, 2)
    assert by_size["3"]["top_right_first"]["n"] == 0  # never a free choice in a 3x3 maze
    assert by_size["3"]["shortest_path_to_cheese"]["k"] == 1
    nine = by_size["9"]
    assert nine["shortest_path_to_cheese"]["k"] == 1
    # The choice only where both choices are possible: seed 3 alone, not the forced seed 5.
    assert (nine["top_right_first"]["k"], nine["top_right_first"]["n"]) == (0, 1)
    assert (nine["top_right_first_informative"]["k"], nine["top_right_first_informative"]["n"]) == (
        1,
        2,
    )
    assert (nine["forced"]["k"], nine["forced"]["n"]) == (1, 2)
    assert nine["no_decision_square"]["k"] == 0
    assert nine["success_cheese_outside_region"]["n"] == 2


def test_end_to_end_matches_its_records(ppo_s1, tmp_path) -> None:
    levels = Levels("easy", range(40))
    records = tmp_path / "records"
    result = generalisation.run(ppo_s1, levels, playing=Playing(40, records=Records.at(records)))
    table = pd.read_parquet(records / "as_generated")
    assert len(table) == 40
    for size, rows in table.groupby("maze_size"):
        assert result.by_size[str(size)]["success"]["k"] == int(rows["reached_cheese"].sum())
    largest = table["maze_size"].max()
    assert result.largest_size == largest
    assert result.corner_mazes == int((table["maze_size"] == largest).sum())
    outcomes = result.corner_outcomes()
    for corner in generalisation.PLACEMENTS:
        played = pd.read_parquet(records / f"cheese_{corner}").sort_values("seed")
        assert result.corners[corner]["within_limit"]["k"] == int(played["reached_cheese"].sum())
        assert len(played) == result.corner_mazes
        mine = outcomes[outcomes["corner"] == corner]
        assert mine["seed"].tolist() == played["seed"].tolist()
        assert mine["within_limit"].tolist() == played["reached_cheese"].tolist()
    reference = pd.read_parquet(records / "cheese_top_right_region")
    assert reference["cheese_in_region"].all()  # the budget's cheese is in the 5x5 region
    again = generalisation.run(
        ppo_s1, levels, playing=Playing(40, records=Records.at(records))
    )  # reused
    assert again.numbers() == result.numbers()
    saved = {p.name for p in result.save(tmp_path / "out")}
    assert {"result.json", "by_size.html", "corners.html"} <= saved
    loaded = generalisation.GeneralisationResult.load(tmp_path / "out")
    assert loaded.numbers() == result.numbers()


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
        generalisation.run(None, Levels("easy", range(2)), playing=Playing(records=str(tmp_path)))
