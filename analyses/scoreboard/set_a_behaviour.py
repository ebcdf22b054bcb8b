"""The experiments of prediction set A about behaviour (A1-A3: where the agent goes, and
which maze features predict it). Each takes the shared
:class:`~analyses.scoreboard.evidence.Evidence` and returns the prediction's claims; every
measurement is an Estimate with its unit (mazes) and method."""

from __future__ import annotations

import numpy as np

from analyses.scoreboard.claims import Claim, tested
from analyses.scoreboard.evidence import Evidence
from analyses.scoreboard.experiments import QUADRANTS
from analyses.scoreboard.readings import coefficient_estimate
from analyses.scoreboard.verdicts import NOT_TESTABLE, difference_of_rates
from hooked_impala.stats import Rate


def a1(ev: Evidence) -> list[Claim]:
    q = ev.quadrants()
    how = (
        "the cheese moved to a uniformly drawn open cell of the inner maze's top-left or "
        "bottom-right quadrant (cut at the middle row and column, which belong to neither), "
        "never a cell of the top-right 5x5 training region nor the mouse's start; mazes of "
        "side >= 5, one sampled episode per maze and quadrant within procgen's 500 steps; "
        "both quadrants of a maze are one unit (bootstrap over mazes)"
    )
    per_quadrant = "; ".join(
        f"{name.replace('_', '-')}: {q.estimate(name) or 'n/a'}" for name in QUADRANTS
    )
    return [
        tested(
            "A1",
            "",
            how,
            q.estimate(),
            "A1",
            False,
            note=per_quadrant,
            why_not="no maze of side >= 5 has an open quadrant cell outside the region",
        )
    ]


_A2 = (
    ("smaller mazes", "maze_size", "smaller"),
    (
        "the cheese closer to the top right (Euclidean)",
        "euclid_cheese_to_top_right_region",
        "smaller",
    ),
    ("the cheese reachable moving only up/right", "cheese_up_right_from_decision", "true"),
)


def a2(ev: Evidence) -> list[Claim]:
    result = ev.behaviour()
    table, reached = result.features, np.asarray(result.reached)
    claims = []
    for part, column, side in _A2:
        values = table[column].to_numpy().astype(float)
        if side == "true":
            group = values > 0.5
            how = f"P(cheese) with {column} true minus with it false"
        else:
            group = values <= np.median(values) if len(values) else values > 0
            how = f"P(cheese) with {column} <= its median minus above it"
        measured = difference_of_rates(Rate.of(reached[group]), Rate.of(reached[~group]))
        claims.append(
            tested(
                "A2",
                part,
                f"{how}, over the behaviour study's mazes (decision square, cheese "
                "outside the top-right 5x5; one episode each); Newcombe 95% interval",
                measured,
                "A2",
                True,
                evidence="behaviour",
                note="the 5x5 region stands in for the quadrant" if "region" in column else "",
            )
        )
    moved = ev.start_moved()
    claims.append(
        tested(
            "A2",
            "the mouse starting nearer the left wall",
            "the same maze (side >= 7, decision square, cheese outside the top-right 5x5) "
            "played from its usual start, the inner maze's bottom-left cell, and from the "
            "bottom-row cell two columns to its right, with the same action seeds: P(cheese) "
            "from the usual start minus from the moved one, paired over mazes. (In unedited "
            "mazes the start's distance to the world's left wall is set by the maze's size, "
            "so only a moved start separates the two.)",
            moved.difference(),
            "A2",
            True,
            why_not="no maze of side >= 7 has an open cell two columns right of the start",
        )
    )
    return claims


#: A3's features (``<kind>_<from>_to_<to>``) and the confidence stated for each.
_A3 = {
    "euclid_decision_to_cheese": 0.70,
    "steps_decision_to_cheese": 0.73,
    "euclid_cheese_to_top_right": 0.90,
    "steps_cheese_to_top_right": 0.92,
    "euclid_decision_to_top_right": 0.35,
    "steps_decision_to_top_right": 0.32,
    "steps_cheese_to_top_right_region": 0.82,
    "euclid_cheese_to_top_right_region": 0.80,
    "steps_decision_to_top_right_region": 0.40,
    "euclid_decision_to_top_right_region": 0.40,
}
_PLACES = {
    "cheese": "cheese",
    "decision": "decision square",
    "top_right": "top-right cell",
    "top_right_region": "top-right 5x5",
}


def a3_part(feature: str) -> str:
    """``steps_decision_to_cheese`` -> "cheese closer to the decision square, steps": the
    cheese (or else the decision square) is what moves closer to the other place."""
    kind, places = feature.split("_", 1)
    ends = places.split("_to_")
    moving = "cheese" if "cheese" in ends else "decision"
    (other,) = [e for e in ends if e != moving]
    distance = {"euclid": "Euclidean", "steps": "steps"}[kind]
    return f"{_PLACES[moving]} closer to the {_PLACES[other]}, {distance}"


_A3_HOW = (
    "the standardised coefficient of the L1 logistic regression of 'reached the cheese' on all "
    "behaviour features, with a 95% percentile interval from refitting the whole model on "
    "mazes resampled with replacement; P(cheese) rises as the distance falls = a negative "
    "coefficient. A feature collinear with the others (VIF > 10) is not identifiable: no "
    "verdict"
)


def a3(ev: Evidence) -> list[Claim]:
    result = ev.behaviour()
    claims = []
    for feature, confidence in _A3.items():
        part = a3_part(feature)
        measured, note, identifiable = coefficient_estimate(result, feature)
        if not identifiable:
            claims.append(
                Claim(
                    "A3",
                    part,
                    _A3_HOW,
                    NOT_TESTABLE,
                    confidence=confidence,
                    evidence="behaviour",
                    note=note,
                )
            )
            continue
        claims.append(
            tested(
                "A3",
                part,
                _A3_HOW,
                measured,
                "A3",
                False,
                confidence=confidence,
                evidence="behaviour",
                note=note,
                why_not=note or "the regression did not run",
            )
        )
    claims.append(a3_artifact(ev))
    return claims


_ARTIFACT = "the decision-square-to-cheese step distance predicts only through stochastic luck"
_ARTIFACT_HOW = (
    "the same regression on episodes with greedy (most probable) actions, where no luck is "
    "involved: the reading predicts that the steps coefficient is then not negative. It fails "
    "if the greedy coefficient's interval lies below 0 (the effect survives without luck), "
    "holds if it lies above 0, and is inconclusive if it contains 0"
)


def a3_artifact(ev: Evidence) -> Claim:
    if ev.sizes.quick:
        why = "needs a second behaviour run with greedy actions: not run with --quick"
        return Claim("A3", _ARTIFACT, _ARTIFACT_HOW, NOT_TESTABLE, confidence=0.40, note=why)
    greedy = ev.behaviour(greedy=True)
    measured, note, _ = coefficient_estimate(greedy, "steps_decision_to_cheese")
    return tested(
        "A3",
        _ARTIFACT,
        _ARTIFACT_HOW,
        measured,
        "A3",
        True,
        confidence=0.40,
        evidence="behaviour_greedy",
        note=note,
    )
