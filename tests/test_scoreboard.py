"""The predictions scoreboard: verdict logic on synthetic measurements with known intervals,
the predictions file, the experiments' helpers, and a whole tiny run."""

from __future__ import annotations

import json
import math

import pytest
from elsewhere import Elsewhere

from analyses import scoreboard
from analyses.core.inputs import Levels
from analyses.core.records import Records
from analyses.scoreboard import EXPERIMENTS
from analyses.scoreboard.claims import combined
from analyses.scoreboard.evidence import Sizes, quadrant_cells, square_cells
from analyses.scoreboard.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTABLE,
    PACKAGED,
    Measured,
    Verdict,
    difference_of_rates,
    judge,
    more_mazes_to_decide,
    ratio_of_rates,
    read_predictions,
)
from hooked_impala import load_pretrained
from hooked_impala.maze import mazes_from_seeds
from hooked_impala.stats import Rate

IDS = [f"A{i}" for i in range(1, 11)] + [f"B{i}" for i in range(1, 9)] + ["C1", "C2"]
TINY = Sizes(40, 40, 12, 4, 2, 2, 6, 4, quick=True)


# --- verdicts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "low,high,threshold,above,expected",
    [
        (0.6, 0.8, 0.5, True, HOLDS),
        (0.2, 0.4, 0.5, True, FAILS),
        (0.4, 0.6, 0.5, True, INCONCLUSIVE),
        (0.2, 0.4, 0.5, False, HOLDS),
        (0.6, 0.8, 0.5, False, FAILS),
        (0.4, 0.6, 0.5, False, INCONCLUSIVE),
    ],
)
def test_judge_compares_the_whole_interval_with_the_threshold(
    low, high, threshold, above, expected
):
    assert judge(Measured((low + high) / 2, low, high, 100), threshold, above) == expected


def test_judge_without_a_measurement_is_not_testable() -> None:
    assert judge(None, 0.5, True) == NOT_TESTABLE


def test_more_mazes_follow_the_square_root_law() -> None:
    # half-width 0.1 at n = 100, 0.05 from the threshold: the half-width must halve, n x 4.
    assert more_mazes_to_decide(Measured(0.55, 0.45, 0.65, 100), 0.5) == 300
    assert more_mazes_to_decide(Measured(0.5, 0.4, 0.6, 100), 0.5) is None


def test_measured_refuses_a_value_outside_its_interval() -> None:
    with pytest.raises(ValueError, match="lies in its interval"):
        Measured(0.9, 0.1, 0.5, 10)
    assert Measured.rate(Rate(0, 0)) is None
    assert Measured.rate({"k": 3, "n": 10}).value == 0.3


def test_rate_comparisons_against_hand_computed_values() -> None:
    ratio = ratio_of_rates(Rate(10, 100), Rate(40, 100))
    se = math.sqrt(1 / 10 - 1 / 100 + 1 / 40 - 1 / 100)
    assert ratio.value == pytest.approx(0.25)
    assert ratio.low == pytest.approx(0.25 * math.exp(-1.959963984540054 * se))
    assert ratio_of_rates(Rate(1, 10), Rate(0, 10)) is None  # no success before: no ratio
    same = difference_of_rates(Rate(30, 60), Rate(30, 60))
    assert same.value == 0 and same.low < 0 < same.high
    a, b = Rate(45, 50), Rate(10, 50)
    diff = difference_of_rates(a, b)
    (la, _), (_, hb) = a.interval, b.interval
    assert diff.low == pytest.approx(0.7 - math.hypot(0.9 - la, hb - 0.2))


def test_a_conjunction_fails_on_one_failure_and_holds_only_when_all_hold() -> None:
    assert combined([HOLDS, HOLDS]) == HOLDS
    assert combined([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert combined([INCONCLUSIVE, FAILS]) == FAILS
    assert combined([NOT_TESTABLE, NOT_TESTABLE]) == NOT_TESTABLE


def test_verdict_of_a_prediction_with_parts() -> None:
    from analyses.scoreboard.claims import Claim

    claims = [Claim("A4", "x", "", HOLDS), Claim("A4", "y", "", HOLDS)]
    assert scoreboard.verdict_of(claims) == HOLDS
    claims.append(Claim("A4", "z", "", FAILS))
    assert scoreboard.verdict_of(claims) == "mixed: holds 2, fails 1"


# --- the predictions file ---------------------------------------------------------------------


def test_every_prediction_is_read_and_has_an_experiment(tmp_path) -> None:
    packaged = read_predictions(PACKAGED)
    assert list(packaged) == IDS and set(EXPERIMENTS) == set(IDS)
    assert packaged["A5"].startswith("At the first residual add of block 2")
    assert "70% accuracy" in packaged["A5"]  # continuation lines are joined
    edited = tmp_path / "predictions.md"
    edited.write_text(PACKAGED.read_text() + "- D1. A new prediction\n  on two lines.\n")
    assert read_predictions(edited)["D1"] == "A new prediction on two lines."
    (tmp_path / "empty.md").write_text("# nothing here\n")
    with pytest.raises(ValueError, match="no predictions found"):
        read_predictions(tmp_path / "empty.md")


# --- experiment helpers -----------------------------------------------------------------------


def test_quadrants_are_strictly_beyond_the_middle_row_and_column() -> None:
    for maze in mazes_from_seeds(range(6), "easy"):
        if maze.maze_size < 5:
            continue
        middle = maze.margin + (maze.maze_size - 1) / 2
        top_left, bottom_right = (
            quadrant_cells(maze, "top_left"),
            quadrant_cells(maze, "bottom_right"),
        )
        assert top_left and all(r > middle and c < middle for r, c in top_left)
        assert bottom_right and all(r < middle and c > middle for r, c in bottom_right)
        assert maze.start_cell not in bottom_right + top_left
        assert all(maze.in_inner(c) for c in top_left + bottom_right)


def test_square_cells_map_a_world_sized_layer_to_itself() -> None:
    assert square_cells(15, 15).tolist() == list(range(15))
    assert square_cells(15, 64)[0] == 0 and square_cells(15, 64)[-1] == 14
    assert square_cells(25, 32).tolist() == sorted(square_cells(25, 32).tolist())


# --- a whole run at tiny size -----------------------------------------------------------------


@pytest.mark.slow
def test_a_tiny_run_judges_every_prediction(tmp_path) -> None:
    model = load_pretrained("standin_s1", device="cpu", progress=False)
    extra = tmp_path / "predictions.md"
    extra.write_text(PACKAGED.read_text() + "- D1. Something no experiment answers.\n")
    mode = Elsewhere()  # the scoreboard's own tensors, on the model's device
    with mode:
        mode.put_model(model)
        result = scoreboard.run(
            model,
            Levels("easy", range(40)),
            sizes=TINY,
            records=Records.TEMPORARY,
            predictions=extra,
        )
    verdicts = result.numbers()["verdicts"]
    assert list(verdicts) == [*IDS, "D1"]
    assert verdicts["D1"] == NOT_TESTABLE and verdicts["C1"] == NOT_TESTABLE
    assert verdicts["B1"] == "answered"
    for claim in result.claims:
        assert claim.verdict in set(Verdict)
        if claim.verdict in (HOLDS, FAILS):  # decided: a measurement and a threshold
            assert claim.measured is not None and claim.threshold is not None
        if claim.verdict == INCONCLUSIVE and claim.measured is not None:
            assert "decide" in claim.note or "straddles" in claim.note
    assert "QUICK" in result.summary() and result.numbers()["quick"] is True
    table = scoreboard.comparison_table({"standin_s1": result, "again": result}, lambda p: p)
    assert table.count("\n") == len(verdicts) + 2 and "| standin_s1 | again |" in table
    written = result.save(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["numbers"]["verdicts"] == verdicts and any(p.suffix == ".html" for p in written)
