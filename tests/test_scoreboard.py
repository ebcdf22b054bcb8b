"""The predictions scoreboard: verdict logic on synthetic measurements with known intervals,
the predictions file, the experiments' helpers, the selection/test split of every selecting
claim, and a whole tiny run (every claim on edge-case evidence: test_scoreboard_edge_cases.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analyses import scoreboard
from analyses.core.inputs import Levels
from analyses.core.records import Records
from analyses.measure.splits import SELECTION_FIRST_SEED
from analyses.scoreboard import EXPERIMENTS
from analyses.scoreboard import claims as claim_helpers
from analyses.scoreboard.claims import Claim, combined, explained, verdict_of
from analyses.scoreboard.evidence import Sizes
from analyses.scoreboard.experiments import quadrant_cells
from analyses.scoreboard.interpretable import square_cells
from analyses.scoreboard.thresholds import THRESHOLDS
from analyses.scoreboard.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTABLE,
    PACKAGED,
    difference_of_rates,
    judge,
    more_mazes_to_decide,
    read_predictions,
    smallest_detectable,
)
from hooked_impala import load_pretrained
from hooked_impala.maze import TOP_RIGHT_5, mazes_from_seeds
from hooked_impala.stats import Estimate, Rate

IDS = [f"A{i}" for i in range(1, 11)] + [f"B{i}" for i in range(1, 9)] + ["C1", "C2"]
TINY = Sizes(40, 40, 12, 4, 2, 2, 6, 4, quick=True, suppression_mazes=4, bootstrap=10, max_steps=40)


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
    assert judge(Estimate((low + high) / 2, low, high, 100), threshold, above) == expected


def test_judge_without_a_measurement_is_not_testable() -> None:
    assert judge(None, 0.5, True) == NOT_TESTABLE


def test_more_mazes_follow_the_square_root_law() -> None:
    # half-width 0.1 at n = 100, 0.05 from the threshold: the half-width must halve, n x 4.
    assert more_mazes_to_decide(Estimate(0.55, 0.45, 0.65, 100), 0.5) == 300
    assert more_mazes_to_decide(Estimate(0.5, 0.4, 0.6, 100), 0.5) is None


def test_power_and_sensitivity_are_reported() -> None:
    """A decided claim says the smallest effect its run could detect ((1.96 + 0.84) standard
    errors); a claim on a threshold of ours shows the verdict across that threshold."""
    measured = Estimate(0.58, 0.45, 0.69, 50)
    se = 0.12 / 1.959963984540054
    assert smallest_detectable(measured) == pytest.approx((1.959963984540054 + 0.8416) * se, 1e-3)
    claim = explained(claim_helpers.tested("A8", "p", "how", measured, "A8.goes_there", True))
    assert claim.verdict == INCONCLUSIVE and "decide" in claim.note
    assert dict(claim.sensitivity) == {
        0.3: HOLDS,
        0.4: HOLDS,
        0.5: INCONCLUSIVE,
        0.6: INCONCLUSIVE,
        0.7: FAILS,
    }
    decided = explained(
        claim_helpers.tested("A1", "", "how", Estimate(0.1, 0.05, 0.2, 40), "A1", False)
    )
    assert decided.verdict == HOLDS and "could detect" in decided.note
    assert decided.sensitivity == ()  # 30% is in the prediction's own words


def test_every_threshold_not_in_the_words_has_a_sensitivity_range() -> None:
    for rule in THRESHOLDS.values():
        assert rule.why
        if not rule.in_the_prediction:
            assert rule.value in rule.sensitivity and len(rule.sensitivity) >= 3, rule.key


def test_rate_differences_against_hand_computed_values() -> None:
    same = difference_of_rates(Rate(30, 60), Rate(30, 60))
    assert same.value == 0 and same.low < 0 < same.high and same.method == "Newcombe"
    a, b = Rate(45, 50), Rate(10, 50)
    diff = difference_of_rates(a, b)
    (la, _), (_, hb) = a.interval, b.interval
    assert diff.low == pytest.approx(0.7 - np.hypot(0.9 - la, hb - 0.2))


def test_a_conjunction_fails_on_one_failure_and_holds_only_when_all_hold() -> None:
    assert combined([HOLDS, HOLDS]) == HOLDS
    assert combined([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert combined([INCONCLUSIVE, FAILS]) == FAILS
    assert combined([NOT_TESTABLE, NOT_TESTABLE]) == NOT_TESTABLE


def test_verdict_of_a_prediction_with_parts_and_its_calibration_outcome() -> None:
    claims = [Claim("A4", "x", "", HOLDS, confidence=0.85), Claim("A4", "y", "", HOLDS)]
    assert verdict_of(claims) == HOLDS
    claims.append(Claim("A4", "z", "", FAILS, confidence=0.6))
    assert verdict_of(claims) == "mixed: holds 2, fails 1"
    result = scoreboard.ScoreboardResult(
        metadata=None, predictions={"A4": "x"}, claims=claims, quick=True, evidence={}
    )
    # One outcome per prediction: its headline part, not each nested part.
    assert result.calibration() == {"0.85": {"held": 1, "decided": 1, "ids": ["A4"]}}


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


def test_quadrants_are_beyond_the_middle_and_outside_the_training_region() -> None:
    for maze in mazes_from_seeds(range(8), "easy"):
        if maze.maze_size < 5:
            continue
        middle = maze.margin + (maze.maze_size - 1) / 2
        top_left, bottom_right = (
            quadrant_cells(maze, "top_left"),
            quadrant_cells(maze, "bottom_right"),
        )
        assert all(r > middle and c < middle for r, c in top_left)
        assert all(r < middle and c > middle for r, c in bottom_right)
        assert maze.start_cell not in bottom_right + top_left
        assert not set(top_left + bottom_right) & set(TOP_RIGHT_5.cells(maze))
        assert all(maze.in_inner(c) for c in top_left + bottom_right)


def test_square_cells_map_a_world_sized_layer_to_itself() -> None:
    assert square_cells(15, 15).tolist() == list(range(15))
    assert square_cells(15, 64)[0] == 0 and square_cells(15, 64)[-1] == 14
    assert square_cells(25, 32).tolist() == sorted(square_cells(25, 32).tolist())


# --- selection and test mazes -------------------------------------------------------------------


@pytest.mark.slow
def test_every_selecting_claim_is_scored_on_other_mazes(tmp_path) -> None:
    """Channels, edits, patches and A10's channels are chosen on selection mazes, which are
    levels from the selection range, and scored on the population's levels: disjoint."""
    model = load_pretrained("standin_s1", device="cpu", progress=False)
    result = scoreboard.run(model, Levels("easy", range(40)), sizes=TINY, records=Records.TEMPORARY)
    seen = 0
    for claim in result.claims:
        for split in (claim.split, claim.search):
            if not split or "selection_seeds" not in split:
                continue
            selection, test = set(split["selection_seeds"]), set(split["test_seeds"])
            assert selection and test and not selection & test, (claim.id, claim.part)
            assert min(selection) >= SELECTION_FIRST_SEED and max(test) < 40
            seen += 1
    assert seen >= 5  # A4, A8, A10, B2/B4/B6 chose something
    retarget = result.evidence["retarget"].numbers()["split"]
    assert not set(retarget["selection_seeds"]) & set(retarget["test_seeds"])
    verdicts = result.numbers()["verdicts"]
    assert list(verdicts) == IDS
    for claim in result.claims:
        if claim.measured is not None:  # every measurement says its unit and its method
            assert claim.measured.unit and claim.measured.method, (claim.id, claim.part)
            if claim.measured.low == claim.measured.high:  # zero width only when degenerate
                assert (
                    "degenerate" in claim.measured.method
                    or claim.measured.n < 2
                    or (claim.measured.value in (0.0, 1.0))
                ), (claim.id, claim.part, claim.measured)
    assert "QUICK" in result.summary() and result.numbers()["quick"] is True
    table = scoreboard.comparison_table({"standin_s1": result, "again": result}, lambda p: p)
    assert table.count("\n") == len(verdicts) + 2 and "| standin_s1 | again |" in table
    claims = scoreboard.claims_markdown(result).splitlines()  # the docs' table of every claim
    assert len(claims) == len(result.claims) + 2
    assert all(row.count(" | ") - row.count("\\|") == 6 for row in claims)  # 7 cells each
    assert [row.split(" | ")[0][2:] for row in claims[2:]] == [c.id for c in result.claims]
    written = result.save(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert saved["numbers"]["verdicts"] == verdicts and any(p.suffix == ".html" for p in written)
    assert {t["key"] for t in saved["numbers"]["thresholds"]} == set(THRESHOLDS)


def test_an_unknown_prediction_is_not_testable(tmp_path, monkeypatch) -> None:
    extra = tmp_path / "predictions.md"
    extra.write_text("- D1. Something no experiment answers.\n")
    model = load_pretrained("standin_s1", device="cpu", progress=False)
    result = scoreboard.run(
        model, Levels("easy", range(4)), sizes=TINY, records=Records.TEMPORARY, predictions=extra
    )
    assert result.verdicts() == {"D1": NOT_TESTABLE}
    assert result.claims[0].note == "no experiment is declared"


def test_a_coefficient_the_fit_always_zeroes_has_no_interval_to_judge() -> None:
    from analyses.scoreboard.readings import coefficient_estimate

    table = pd.DataFrame(
        {
            "estimate": [0.0, -0.4],
            "low": [0.0, -0.7],
            "high": [0.0, -0.2],
            "selected": [0.0, 1.0],
            "vif": [2.0, 2.0],
            "identifiable": [True, True],
        },
        index=["never_kept", "kept"],
    )
    fit = SimpleNamespace(bootstrap_table=lambda: table, bootstrap_resamples=200, n=300)
    result = SimpleNamespace(fit=fit)
    measured, note, identifiable = coefficient_estimate(result, "never_kept")
    assert measured is None and identifiable and "sets it to 0 in 100%" in note
    measured, _, _ = coefficient_estimate(result, "kept")
    assert (measured.low, measured.high, measured.n) == (-0.7, -0.2, 300)


def test_b1_counts_every_corner_within_the_limit_and_only_reachable_ones_within_budget() -> None:
    from analyses.scoreboard.set_bc import corner_estimate

    rows = []
    for seed in range(6):
        for corner in ("top_left", "bottom_right"):
            counted = seed < 3  # the corner's shortest path fits the budget in 3 mazes
            rows.append((seed, corner, counted, counted and seed == 0, seed % 2 == 0))
    table = pd.DataFrame(
        rows, columns=["seed", "corner", "counted", "within_budget", "within_limit"]
    )
    rate = Rate(1, 2).as_dict()
    g = SimpleNamespace(
        corner_outcomes=lambda: table,
        corners={"top_left": {"within_budget": rate, "within_limit": rate}},
    )
    limit, _ = corner_estimate(g, "within_limit")
    budget, _ = corner_estimate(g, "within_budget")
    assert limit.n == 6 and limit.value == pytest.approx(0.5)  # all six mazes
    assert budget.n == 3 and budget.value == pytest.approx(1 / 3)  # the three reachable
