"""The predictions scoreboard: verdict logic on synthetic measurements with known intervals,
the predictions file, the experiments' helpers, every claim on edge-case evidence, the
selection/test split of every selecting claim, and a whole tiny run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from analyses import scoreboard
from analyses.core.inputs import Levels, NotApplicable
from analyses.core.records import Records
from analyses.measure.edit_search import ClampEdit, Episodes, Footprint, Scored
from analyses.measure.splits import SELECTION_FIRST_SEED
from analyses.scoreboard import EXPERIMENTS
from analyses.scoreboard import claims as claim_helpers
from analyses.scoreboard.claims import Claim, combined, explained, verdict_of
from analyses.scoreboard.evidence import Sizes
from analyses.scoreboard.experiments import Outcomes, PairedOutcomes, Suppression, quadrant_cells
from analyses.scoreboard.interpretable import Interpretable, square_cells
from analyses.scoreboard.thresholds import THRESHOLDS
from analyses.scoreboard.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTABLE,
    PACKAGED,
    Verdict,
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
        if not rule.words:
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


# --- every claim on edge-case evidence --------------------------------------------------------


def _result(**fields):
    return SimpleNamespace(**fields)


def _behaviour(outcomes: np.ndarray, identifiable: bool = True):
    n = len(outcomes)
    features = pd.DataFrame(
        {
            c: np.arange(n, dtype=float) % 3
            for c in (
                "maze_size",
                "euclid_cheese_to_top_right_region",
                "cheese_up_right_from_decision",
            )
        }
    )
    table = pd.DataFrame(
        {
            "estimate": 0.0,
            "low": 0.0,
            "high": 0.0,
            "selected": 0.0,
            "majority_sign": 0,
            "sign_stability": 0.0,
            "vif": 1.0 if identifiable else np.inf,
            "identifiable": identifiable,
        },
        index=[
            "steps_decision_to_cheese",
            "euclid_decision_to_cheese",
            "euclid_cheese_to_top_right",
            "steps_cheese_to_top_right",
            "euclid_decision_to_top_right",
            "steps_decision_to_top_right",
            "steps_cheese_to_top_right_region",
            "euclid_cheese_to_top_right_region",
            "steps_decision_to_top_right_region",
            "euclid_decision_to_top_right_region",
        ],
    )
    fit = _result(n=max(n, 1), bootstrap_table=lambda: table, bootstrap_resamples=10)
    return _result(features=features, reached=outcomes.astype(bool), fit=fit)


def _generalisation(k: int, n: int):
    rate = {"rate": k / n if n else None, "k": k, "n": n, "ci95": [0.0, 1.0]}
    corners = {
        c: {"within_budget": rate, "within_limit": rate}
        for c in ("top_left", "bottom_right", "bottom_left", "top_right_region")
    }
    by_size = {str(s): {"shortest_path_to_cheese": rate, "top_right_first": rate} for s in (5, 7)}

    def corner_outcomes():
        seeds = np.repeat(np.arange(max(n, 0)), 2)[: 2 * n]
        hits = np.arange(len(seeds)) < 2 * k
        return pd.DataFrame(
            {
                "seed": seeds,
                "corner": ["top_left", "bottom_right"] * n,
                "counted": True,
                "within_budget": hits,
                "within_limit": hits,
            }
        )

    return _result(
        corners=corners,
        by_size=by_size,
        corner_mazes=n,
        largest_size=7,
        step_budget=None if n == 0 else 20.0,
        corner_outcomes=corner_outcomes,
    )


def _steering(values: np.ndarray):
    probs = torch.tensor(np.stack([values, values]), dtype=torch.float32)  # (2, K, N)
    seeds = tuple(range(probs.shape[2]))
    return _result(
        coeffs=[-1.0, 0.0, 1.0],
        p_cheese=probs,
        p_top_right=probs,
        metadata=_result(maze_seeds=seeds),
    )


def _search(rate: float, mazes: int, fraction: float) -> tuple:
    edit = ClampEdit("embedder.block2.res1.resadd_out", (0,), 4.0, 1.0)
    episodes = Episodes(
        tuple(mazes_from_seeds(range(max(mazes, 1)), "easy")[:mazes]),
        tuple((1, 1) for _ in range(mazes)),
    )
    scored = Scored((edit,), (Footprint(fraction, fraction),), (rate,))
    return scored, episodes, episodes, 16


class EdgeEvidence:
    """Evidence whose every experiment returns one edge case: ``case`` is "zero" (nothing
    counted or played), "equal" (every outcome the same), "raised" (an edit that raises the
    rate it should cut) or "empty" (an empty split)."""

    def __init__(self, case: str) -> None:
        self.case, self.sizes, self.seed, self.model = case, TINY, 0, None
        n = {"zero": 0, "empty": 0}.get(case, 6)
        self.n = n
        self.outcomes = np.ones(n, bool) if case != "raised" else np.arange(n) % 2 == 0

    def behaviour(self, greedy=False):
        return _behaviour(self.outcomes, identifiable=self.case != "equal")

    def generalisation(self):
        return _generalisation(self.n if self.case == "equal" else self.n // 2, self.n)

    def probes(self):
        if self.case == "empty":
            return _result(a5=lambda: None, b8=lambda: None)
        acc = {
            "value": 1.0,
            "ci95": [1.0, 1.0],
            "n": max(self.n, 1),
            "unit": "mazes",
            "method": "degenerate",
        }
        a5 = {"layer": "x", "exact_cell": acc, "row": acc, "column": acc, "row_and_column": acc}
        b8 = {
            "layer": "x",
            "probe": "linear",
            "worst_maze_size": 5,
            "worst_size_accuracy": acc,
            "too_few": [7],
            "selection_mazes": max(self.n, 1),
            "test_mazes": max(self.n, 1),
        }
        return _result(a5=lambda: a5, b8=lambda: b8)

    def cheese_vector(self):
        return _steering(np.zeros((3, max(self.n, 1))) + 0.5)

    def top_right_vector(self):
        return self.cheese_vector()

    def retarget(self):
        per_maze = (
            []
            if self.n == 0
            else [
                _result(
                    targets=((1, 1),), clamped=np.ones(1), original=np.ones(1), maze=_result(seed=i)
                )
                for i in range(self.n)
            ]
        )
        return _result(per_maze=per_maze, channels=[0], magnitude=1.0)

    def quadrants(self):
        labels = np.array(["top_left", "bottom_right"] * (self.n // 2))
        return Outcomes(self.outcomes[: len(labels)], np.repeat(np.arange(self.n // 2), 2), labels)

    def start_moved(self):
        return PairedOutcomes(self.outcomes, self.outcomes, np.arange(self.n))

    def suppression(self):
        after = 2.0 if self.case == "raised" else 0.0  # a patch that raises the cheese rate
        cut = None if self.n == 0 else Estimate(1 - after, 1 - after, 1 - after, self.n)
        return Suppression(
            ("p",),
            (0.5,),
            (0.0,),
            0 if self.n else None,
            cut,
            cut,
            None if self.n == 0 else 1.0,
            None,
            (),
            (),
        )

    def interpretable(self):
        count = None if self.n == 0 else Estimate(0.0, 0.0, 0.0, self.n)
        return Interpretable(0.8, 16, (), (), {0.6: count, 0.8: count}, (), ())

    def reach(self, kind):
        if self.n == 0:
            return None
        return _search(1.0 if self.case == "equal" else 0.0, self.n, 0.2 if kind else 0.0)


@pytest.mark.parametrize("case", ["zero", "equal", "raised", "empty"])
def test_every_claim_gives_a_verdict_on_edge_cases(case, monkeypatch) -> None:
    """No input the scoreboard can produce aborts it: every experiment, fed edge-case
    evidence, returns claims with verdicts (not testable with a reason where nothing can be
    measured); decided claims have a measurement with its unit and method."""
    from analyses.measure import edit_search

    def confirm(model, scored, selection, test, budget, seed, max_fraction=None):
        rate = scored.rates[0]
        test_rate = None if not len(test) else Estimate(rate, rate, rate, len(test))
        return edit_search.Search(
            scored.edits,
            scored.footprints,
            scored.rates,
            (True,),
            0,
            test_rate,
            test_rate,
            budget,
            (),
            (),
        )

    for module in (
        "analyses.scoreboard.set_a_network",
        "analyses.scoreboard.set_bc",
        "analyses.scoreboard.readings",
    ):
        monkeypatch.setattr(f"{module}.confirm", confirm)
    evidence = EdgeEvidence(case)
    for pid, experiment in EXPERIMENTS.items():
        try:
            claims = [explained(c) for c in experiment(evidence)]
        except NotApplicable:
            continue  # the runner turns this into "not testable: <reason>"
        assert claims, pid
        for claim in claims:
            assert isinstance(claim.verdict, Verdict), pid
            if claim.verdict == NOT_TESTABLE:
                assert claim.note, f"{pid} {claim.part}: not testable without a reason"
            if claim.verdict.decided:
                assert claim.measured is not None and claim.measured.unit, pid


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
