"""Every claim of the scoreboard on edge-case evidence (zero counts, all-equal outcomes,
edits that raise the rate, empty splits): each returns a verdict, none aborts the run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from analyses.core.inputs import NotApplicable
from analyses.measure.edit_search import ClampEdit, Episodes, Footprint, Scored
from analyses.scoreboard import EXPERIMENTS
from analyses.scoreboard.claims import explained
from analyses.scoreboard.evidence import Sizes
from analyses.scoreboard.experiments import Outcomes, PairedOutcomes, Suppression
from analyses.scoreboard.interpretable import Interpretable
from analyses.scoreboard.verdicts import (
    NOT_TESTABLE,
    Verdict,
)
from hooked_impala.maze import mazes_from_seeds
from hooked_impala.stats import Estimate

IDS = [f"A{i}" for i in range(1, 11)] + [f"B{i}" for i in range(1, 9)] + ["C1", "C2"]
TINY = Sizes(40, 40, 12, 4, 2, 2, 6, 4, quick=True, suppression_mazes=4, bootstrap=10, max_steps=40)


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
