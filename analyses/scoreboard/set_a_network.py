"""The experiments of prediction set A about the network's insides (A4-A10: patches, probes,
steering vectors, channels). Each takes the shared
:class:`~analyses.scoreboard.evidence.Evidence` and returns the prediction's claims; every
measurement is an Estimate with its unit (mazes) and method."""

from __future__ import annotations

import dataclasses

import numpy as np

from analyses.measure.edit_search import confirm
from analyses.scoreboard.claims import Claim, combined, tested, untestable
from analyses.scoreboard.evidence import Evidence
from analyses.scoreboard.readings import probe_estimate, reach_claims, steering_change
from analyses.scoreboard.thresholds import threshold
from analyses.scoreboard.verdicts import FAILS, HOLDS, INCONCLUSIVE, NOT_TESTABLE, Verdict, judge
from hooked_impala.stats import Estimate, bootstrap_over_mazes

#: A4's nested parts: (cut in the cheese rate, the predictor's confidence).
_A4_PARTS = ((0.50, 0.85), (0.70, 0.80), (0.90, 0.66), (0.99, 0.60))


def a4(ev: Evidence) -> list[Claim]:
    s = ev.suppression()
    how = (
        f"a search over a declared family of {len(s.patches)} patches at the cheese-vector "
        "layer (the cheese vector at coefficients -0.5, -1, -2, -3; the top 1, 3, 8 cheese "
        "channels held at 0), rollouts from the start of decision-square mazes: the patch "
        "that cuts reaching the cheese most while cutting reaching the top-right 5x5 by at "
        "most 25% on selection mazes, then on test mazes its proportional cut of reaching the "
        "cheese (1 - after/before), paired with the unpatched agent maze by maze"
    )
    chosen = "none" if s.chosen is None else s.patches[s.chosen]
    note = (
        f"chosen: {chosen}; its top-right cut on the test mazes: {s.top_right_cut or 'n/a'}; "
        f"unpatched agent reached the cheese {_share(s.baseline_cheese)}, the top right "
        f"{_share(s.baseline_top_right)}"
    )
    top_ok = judge(s.top_right_cut, threshold("A4.top_right").value, above=False)
    claims = []
    for x, confidence in _A4_PARTS:
        claim = tested(
            "A4",
            f"X = {x:.0%}",
            how,
            s.cheese_cut,
            "A4.cut",
            True,
            value=x,
            confidence=confidence,
            evidence="suppression",
            note=note,
            search=s.as_dict(),
            why_not="the unpatched agent never reached the cheese on the test mazes",
        )
        if claim.verdict == NOT_TESTABLE:
            claims.append(claim)
            continue
        verdict = combined([claim.verdict, top_ok])
        if verdict == FAILS:
            extra = f"not shown by any of the {len(s.patches)} patches (the best on selection)"
            claim = dataclasses.replace(claim, note=f"{note}; {extra}")
        claims.append(dataclasses.replace(claim, verdict=verdict))
    return claims


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def a5(ev: Evidence) -> list[Claim]:
    a5 = ev.probes().a5()
    if a5 is None:
        return untestable("A5", "the probes did not include the first residual add of block 2")
    how = f"linear probes of the cheese's position at {a5['layer']}, scored on held-out test mazes"
    return [
        tested(
            "A5",
            part,
            f"{how}: {what}",
            probe_estimate(a5.get(key)),
            "A5",
            True,
            evidence="probes",
            why_not=f"no {key.replace('_', ' ')} probe ran",
        )
        for part, key, what in (
            (
                "row and column (the Cartesian position)",
                "row_and_column",
                "its row and its column decoded by their own probes, both right",
            ),
            ("exact cell", "exact_cell", "the exact cell, one class per world cell"),
        )
    ]


def a6(ev: Evidence) -> list[Claim]:
    cheese, top = ev.cheese_vector(), ev.top_right_vector()
    less_cheese = steering_change(cheese, "p_cheese", -1.0)
    more_top = steering_change(top, "p_top_right", 1.0)
    parts = [judge(less_cheese, 0.0, False), judge(more_top, 0.0, True)]
    return [
        Claim(
            "A6",
            "",
            "two separable drives: subtracting the cheese vector lowers P(cheese-ward move) at "
            "the decision squares AND adding the top-right vector raises P(top-right-ward "
            "move), each a change paired maze by maze (bootstrap over mazes)",
            combined(parts),
            less_cheese,
            0.0,
            False,
            0.85,
            "cheese_vector",
            f"top-right vector +1, change of P(top-right-ward): {more_top}",
            threshold_key="A6",
        )
    ]


def a7(ev: Evidence) -> list[Claim]:
    return untestable(
        "A7",
        "needs an RL fine-tuning run towards pure cheese-seeking (the toolkit's PPO "
        "fine-tuning, python -m hooked_impala.train ppo, with the top right unrewarded) and "
        "the original run's training compute to compare with; the scoreboard runs neither",
    )


_A8_BUDGETS = ((0.0001, 0.40), (0.001, 0.62), (0.01, 0.65), (0.10, 0.80))


def a8(ev: Evidence) -> list[Claim]:
    found = ev.reach("random")
    if found is None:
        return untestable("A8", "no targets in the population's mazes")
    how = (
        "the agent goes to a chosen cell = it reaches a random target within {budget} steps in "
        "more than half of the episodes; a search over the declared family (the top 1, 3, 8 "
        "cheese channels clamped at the target's grid square to 2, 4, 6, 8x their typical peak), "
        "restricted to the edits changing at most X% of the network's activations, chosen on "
        "selection mazes, scored on test mazes (two targets per maze; bootstrap over mazes)"
    )
    claims = [
        claim
        for x, confidence in _A8_BUDGETS
        for claim in reach_claims(
            ev,
            "A8",
            f"X = {100 * x:g}%",
            how,
            found,
            x,
            "A8.goes_there",
            confidence,
            evidence="reach_random",
        )
    ]
    searches = [confirm(ev.model, found[0], found[1], found[2], found[3], ev.seed)]
    best = searches[0]
    verdict = {HOLDS: FAILS, FAILS: HOLDS}.get(judge(best.test, 0.5, True), INCONCLUSIVE)
    if best.test is None:
        verdict = NOT_TESTABLE
    claims.append(
        Claim(
            "A8",
            "not possible at all",
            how.format(budget=found[3]) + " (no budget)",
            Verdict(verdict),
            best.test,
            0.5,
            False,
            0.20,
            "reach_random",
            f"the best of all {len(best.edits)} edits: {best.describe()}; 'holds' would mean only "
            f"that none of the {len(best.edits)} edits tried succeeded",
            threshold_key="A8.goes_there",
            search=best.as_dict(),
        )
    )
    return claims


def a9(ev: Evidence) -> list[Claim]:
    result = ev.retarget()
    per_maze = [m for m in result.per_maze if len(m.targets)]
    if len(per_maze) < 2:
        return untestable("A9", "fewer than two mazes with targets")
    change = np.concatenate([m.clamped - m.original for m in per_maze])
    mazes = np.concatenate([np.full(len(m.targets), m.maze.seed) for m in per_maze])
    measured = bootstrap_over_mazes(change, mazes)
    return [
        tested(
            "A9",
            "",
            f"a positive activation at the target's square of the top cheese channels "
            f"{list(result.channels)} (chosen on selection mazes; clamped to "
            f"{result.magnitude:.2f}) raises the normalised probability of the path to the "
            "target: mean paired change over every target, a maze's targets one unit "
            "(bootstrap over mazes)",
            measured,
            "A9",
            True,
            confidence=0.90,
            evidence="retarget",
        )
    ]


def a10(ev: Evidence) -> list[Claim]:
    found = ev.interpretable()
    count = found.count
    how = (
        f"channels of the first block's output whose map correlates with one maze feature of "
        f"the cell under each square (wall, open, cheese, mouse) at |r| >= {found.threshold}: "
        f"chosen on {len(found.selection_seeds)} selection mazes, counted where they reach it "
        f"again on {len(found.test_seeds)} test mazes (start observations; bootstrap over test "
        "mazes)"
    )
    listed = "; ".join(
        f"{c} {f} r={r:+.2f} (test {t:+.2f})"
        for (c, f, r), t in zip(found.chosen[:8], found.test_r[:8])
    )
    split = {"selection_seeds": list(found.selection_seeds), "test_seeds": list(found.test_seeds)}
    five = tested(
        "A10",
        "at least 5",
        how,
        count,
        "A10.five",
        True,
        value=4.5,
        confidence=0.80,
        evidence="interpretable",
        note=listed or "no channel chosen",
        split=split,
    )
    # The threshold on |r| is ours: the count (and so the verdict) at each value of it.
    lines = tuple((t, judge(e, 4.5, True)) for t, e in found.counts.items())
    claims = [dataclasses.replace(five, sensitivity=lines)]
    share = None
    if count is not None:
        c = found.channels
        share = Estimate(
            count.value / c, count.low / c, count.high / c, count.n, count.unit, count.method
        )
    claims.append(
        tested(
            "A10",
            "a substantial number (>= 25% of the channels)",
            how,
            share,
            "A10.substantial",
            True,
            confidence=0.55,
            evidence="interpretable",
            split=split,
            note=f"{0 if count is None else count.value:g} of {found.channels} channels",
        )
    )
    return claims
