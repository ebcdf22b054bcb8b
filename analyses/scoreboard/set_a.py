"""The experiments of prediction set A (one researcher; confidences as stated)."""

from __future__ import annotations

import dataclasses

import numpy as np

from analyses.scoreboard.claims import (
    Claim,
    combined,
    saved_rate,
    tested,
    untestable,
)
from analyses.scoreboard.evidence import INTERPRETABLE_R, QUADRANTS, Evidence
from analyses.scoreboard.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTABLE,
    Measured,
    difference_of_rates,
    judge,
    ratio_of_rates,
)
from hooked_impala.stats import Z_95, Rate, mean_with_interval, rate_text


def a1(ev: Evidence) -> list[Claim]:
    q = ev.quadrants()
    how = (
        "the cheese moved to a uniformly drawn open cell of the inner maze's top-left or "
        "bottom-right quadrant (cut at the middle row and column, which belong to neither; "
        "not the mouse's start), mazes of side >= 5, one sampled episode each within procgen's "
        "500-step limit; success = reached the cheese"
    )
    note = "; ".join(f"{k.replace('_', '-')}: {rate_text(q[k])}" for k in QUADRANTS)
    return [tested("A1", "", how, Measured.rate(q["pooled"], "episodes"), 0.30, False, note=note)]


_A2 = (
    ("smaller mazes", "maze_size", "smaller"),
    ("the mouse nearer the left wall", "decision_to_left_wall", "smaller"),
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
            group = values <= np.median(values)
            how = f"P(cheese) with {column} <= its median minus above it"
        measured = difference_of_rates(
            Rate.of(reached[group].tolist()), Rate.of(reached[~group].tolist())
        )
        claims.append(
            tested(
                "A2",
                part,
                f"{how}, over the behaviour study's mazes (decision square, cheese outside the "
                "top-right 5x5); Newcombe 95% interval of the difference",
                measured,
                0.0,
                True,
                evidence="behaviour",
                note=(
                    "the mouse starts in the bottom-left cell of every unedited maze, so the "
                    "decision square's distance to the left edge stands in for the start's"
                    if column == "decision_to_left_wall"
                    else ("the 5x5 region stands in for the quadrant" if "region" in column else "")
                ),
            )
        )
    return claims


_A3 = (
    ("cheese closer to the decision square, Euclidean", "euclid_decision_to_cheese", 0.70),
    ("cheese closer to the decision square, steps", "steps_decision_to_cheese", 0.73),
    ("cheese closer to the top-right cell, Euclidean", "euclid_cheese_to_top_right", 0.90),
    ("cheese closer to the top-right cell, steps", "steps_cheese_to_top_right", 0.92),
    (
        "decision square closer to the top-right cell, Euclidean",
        "euclid_decision_to_top_right",
        0.35,
    ),
    ("decision square closer to the top-right cell, steps", "steps_decision_to_top_right", 0.32),
    ("cheese closer to the top-right 5x5, steps", "steps_cheese_to_top_right_region", 0.82),
    ("cheese closer to the top-right 5x5, Euclidean", "euclid_cheese_to_top_right_region", 0.80),
    (
        "decision square closer to the top-right 5x5, steps",
        "steps_decision_to_top_right_region",
        0.40,
    ),
    (
        "decision square closer to the top-right 5x5, Euclidean",
        "euclid_decision_to_top_right_region",
        0.40,
    ),
)
_SPLIT_INTERVAL = (
    "the standardised coefficient of the L1 logistic regression on all behaviour features, "
    "mean ± 1.96 sd over the random train/test splits (the spread of refits, narrower than a "
    "sampling interval); P(cheese) rises as the distance falls = a negative coefficient"
)


def _coefficient(table, feature: str, n: int) -> Measured | None:
    if feature not in table.index:
        return None
    row = table.loc[feature]
    half = Z_95 * float(row["sd"])
    return Measured(float(row["mean"]), row["mean"] - half, row["mean"] + half, n)


_ARTIFACT = "the decision-square-to-cheese step distance predicts only through stochastic luck"
_ARTIFACT_HOW = (
    "the same regression on episodes with greedy (most probable) actions: if the steps "
    "coefficient stays significantly negative without any sampling luck, the artifact reading "
    "fails; if it vanishes or turns positive, it holds"
)


def a3(ev: Evidence) -> list[Claim]:
    result = ev.behaviour()
    table, n = result.fit.coefficient_table(), result.fit.n
    claims = []
    for part, feature, confidence in _A3:
        vif = float(table.loc[feature, "vif"]) if feature in table.index else float("nan")
        note = f"VIF {vif:.1f}: collinear, the sign may not be identified" if vif > 10 else ""
        if feature in table.index and table.loc[feature, "zero_fraction"] == 1:
            note = "L1 set it to zero in every split: no effect beyond the other features"
        claims.append(
            tested(
                "A3",
                part,
                _SPLIT_INTERVAL,
                _coefficient(table, feature, n),
                0.0,
                False,
                confidence=confidence,
                evidence="behaviour",
                note=note,
            )
        )
    if ev.sizes.quick:
        claims.append(
            Claim(
                "A3",
                _ARTIFACT,
                _ARTIFACT_HOW,
                NOT_TESTABLE,
                confidence=0.40,
                note="needs a second behaviour run with greedy actions: not run with --quick",
            )
        )
        return claims
    greedy = ev.behaviour(greedy=True)
    g_table = greedy.fit.coefficient_table()
    measured = _coefficient(g_table, "steps_decision_to_cheese", greedy.fit.n)
    verdict = judge(measured, 0.0, False)
    # An artifact of lucky stochastic moves would vanish under greedy actions.
    artifact = {HOLDS: FAILS, FAILS: HOLDS}.get(verdict, verdict)
    claims.append(
        Claim(
            "A3",
            _ARTIFACT,
            _ARTIFACT_HOW,
            artifact,
            measured,
            0.0,
            True,
            0.40,
            "behaviour_greedy",
            "" if verdict != INCONCLUSIVE else "the greedy coefficient's interval contains 0",
        )
    )
    return claims


def a4(ev: Evidence) -> list[Claim]:
    rollouts = ev.cheese_vector().rollouts
    if not rollouts or len(rollouts) < 2:
        return untestable("A4", "the cheese-vector rollouts did not run")
    before, after = (rollouts[k] for k in list(rollouts)[:2])
    cheese = ratio_of_rates(saved_rate(after["success"]), saved_rate(before["success"]))
    top = ratio_of_rates(
        saved_rate(after["reached_top_right"]), saved_rate(before["reached_top_right"])
    )
    if cheese is None or top is None:
        return untestable("A4", "without the patch the agent never reached the cheese/region")
    cut = Measured(
        1 - cheese.value, max(0.0, 1 - cheese.high), 1 - cheese.low, cheese.n, "episodes"
    )
    top_cut = Measured(1 - top.value, 1 - top.high, 1 - top.low, top.n, "episodes")
    claims = []
    for x, confidence in ((0.50, 0.85), (0.70, 0.80), (0.90, 0.66), (0.99, 0.60)):
        parts = [judge(cut, x, True), judge(top_cut, 0.25, False)]
        claims.append(
            Claim(
                "A4",
                f"X = {x:.0%}",
                "the cheese vector (coefficient -1 at the cheese-vector layer, each maze its "
                "own vector) in rollouts from the decision-square mazes: proportional cut of "
                "reaching the cheese (1 - after/before, Katz interval) must exceed X while the "
                "cut of reaching the top-right 5x5 stays <= 25%",
                combined(parts),
                cut,
                x,
                True,
                confidence,
                "cheese_vector",
                f"top-right attainment cut {top_cut}; only the cheese vector was tried",
            )
        )
    return claims


def a5(ev: Evidence) -> list[Claim]:
    a5 = ev.probes().a5()
    if a5 is None:
        return untestable("A5", "the probes did not include the first residual add of block 2")
    how = (
        "a linear probe (ridge, random projection) of the cheese's exact cell at "
        f"{a5['layer']}, held-out mazes"
    )
    return [
        tested(
            "A5",
            "exact cell",
            how,
            Measured.rate(a5["exact_cell"], "observations"),
            0.70,
            True,
            evidence="probes",
        ),
        tested(
            "A5",
            "row and column read separately",
            how + ": the worse of row and column",
            Measured.rate(
                min(a5["row"], a5["column"], key=lambda r: r["k"] / r["n"]), "observations"
            ),
            0.70,
            True,
            evidence="probes",
        ),
    ]


def _paired_change(probs, coeffs: list[float], coeff: float) -> Measured | None:
    if 0.0 not in coeffs or coeff not in coeffs:
        return None
    change = probs[0, coeffs.index(coeff)] - probs[0, coeffs.index(0.0)]
    return mean_with_interval(change.tolist())


def a6(ev: Evidence) -> list[Claim]:
    cheese, top = ev.cheese_vector(), ev.top_right_vector()
    less_cheese = _paired_change(cheese.p_cheese, cheese.coeffs, -1.0)
    more_top = _paired_change(top.p_top_right, top.coeffs, 1.0)
    parts = [judge(less_cheese, 0.0, False), judge(more_top, 0.0, True)]
    return [
        Claim(
            "A6",
            "",
            "two separable drives: subtracting the cheese vector lowers P(cheese-ward move) at "
            "the decision squares AND adding the top-right vector raises P(top-right-ward "
            "move), both paired over mazes with 95% intervals of the mean change",
            combined(parts),
            less_cheese,
            0.0,
            False,
            0.85,
            "cheese_vector",
            f"top-right vector +1 change of P(top-right-ward): {more_top}",
        )
    ]


def a7(ev: Evidence) -> list[Claim]:
    return untestable(
        "A7",
        "needs an RL fine-tuning run towards pure cheese-seeking and the original training "
        "compute; the toolkit has no RL fine-tuning yet",
    )


def a8(ev: Evidence) -> list[Claim]:
    result = ev.retarget()
    fraction = result.modified["fraction"]
    if result.rollouts is None or fraction is None:
        return untestable("A8", "no retargeting rollouts ran")
    works = Measured.rate(result.rollouts["clamped"], "episodes")
    how = (
        f"clamping the top cheese channels {list(result.channels)} at a random target's "
        f"square ({result.layer}) at every step; the agent goes there = it reaches the target "
        f"within {result.rollouts['budget']} steps in more than half of the episodes; edits "
        f"{100 * fraction:.5f}% of the network's activations per forward"
    )
    claims = []
    for x, confidence in ((0.0001, 0.40), (0.001, 0.62), (0.01, 0.65), (0.10, 0.80)):
        claim = tested(
            "A8",
            f"X = {100 * x:g}%",
            how,
            works,
            0.5,
            True,
            confidence=confidence,
            evidence="retarget",
        )
        if fraction > x and claim.verdict == HOLDS:
            claim = dataclasses.replace(
                claim, verdict=INCONCLUSIVE, note="this edit modifies more than X"
            )
        claims.append(claim)
    verdict = {HOLDS: FAILS, FAILS: HOLDS}.get(judge(works, 0.5, True), INCONCLUSIVE)
    claims.append(
        Claim(
            "A8",
            "not possible at all",
            how,
            verdict,
            works,
            0.5,
            False,
            0.20,
            "retarget",
            "holds only if this edit fails; other edits were not tried",
        )
    )
    return claims


def a9(ev: Evidence) -> list[Claim]:
    result = ev.retarget()
    change = np.concatenate([m.clamped - m.original for m in result.per_maze])
    return [
        tested(
            "A9",
            "",
            "a positive activation at the target's square of the cheese channels (clamped to "
            f"{result.magnitude:.2f}) raises the normalised probability of the path to the "
            "target: mean paired change over every target, 95% interval",
            mean_with_interval(change.tolist(), "targets"),
            0.0,
            True,
            confidence=0.90,
            evidence="retarget",
        )
    ]


def a10(ev: Evidence) -> list[Claim]:
    found = ev.first_block_channels()
    count, total = len(found["interpretable"]), found["channels"]
    how = (
        f"channels of {found['layer']} whose activation over every grid square correlates "
        f"with a maze feature of the cell there (wall, open, cheese, mouse) at |r| >= "
        f"{INTERPRETABLE_R}, {found['mazes']} start observations (a count over all channels)"
    )
    exact = Measured(count, count, count, found["mazes"], "mazes")
    top = sorted(found["best_abs_r"], reverse=True)[:5]
    features = "; ".join(
        [f"{c['channel']}: {c['feature']} {c['r']:+.2f}" for c in found["interpretable"][:8]]
        + [f"largest |r|: {', '.join(f'{r:.2f}' for r in top)}"]
    )
    return [
        tested("A10", "at least 5", how, exact, 4.5, True, confidence=0.80, note=features),
        tested(
            "A10",
            "a substantial number (>= 25% of the channels)",
            how,
            exact,
            0.25 * total - 0.5,
            True,
            confidence=0.55,
            note=f"{count} of {total}",
        ),
    ]
