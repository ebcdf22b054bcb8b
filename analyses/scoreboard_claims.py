"""One declared experiment per pre-registered prediction (``../shared/predictions.md``): how it
is operationalised, what is measured, the threshold, and the verdict (``analyses.verdicts``).

Each function takes the shared :class:`~analyses.scoreboard_evidence.Evidence` and returns
the prediction's claims; a prediction with parts (A3's features, A4's X values) has one claim
per part, each with its stated confidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analyses.scoreboard_evidence import INTERPRETABLE_R, QUADRANTS, Evidence
from analyses.verdicts import (
    ANSWERED,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTABLE,
    Measured,
    difference_of_rates,
    judge,
    mean_with_interval,
    more_mazes_to_decide,
    ratio_of_rates,
)
from hooked_impala.stats import Z_95, Rate, rate_text

TEN_PERCENT = 0.10  # "fewer than 10% of activations"
B_SUCCESS = 0.33  # B5/B6: "at least 33% success"


@dataclass(frozen=True)
class Claim:
    """One testable part of a prediction and its verdict.

    ``threshold`` and ``above`` are the predicted side ("the value is above / below
    threshold"); ``evidence`` names the experiment whose figures decided it; ``note`` says
    what else a reader needs (the answer of a question, why not testable, how many more
    mazes would decide it, a caveat)."""

    id: str
    part: str
    operationalisation: str
    verdict: str
    measured: Measured | None = None
    threshold: float | None = None
    above: bool | None = None
    confidence: float | None = None
    evidence: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "part": self.part,
            "operationalisation": self.operationalisation,
            "verdict": self.verdict,
            "measured": None if self.measured is None else self.measured.as_dict(),
            "threshold": self.threshold,
            "predicted_side": None if self.above is None else ("above" if self.above else "below"),
            "confidence": self.confidence,
            "evidence": self.evidence,
            "note": self.note,
        }


def tested(
    id: str,
    part: str,
    operationalisation: str,
    measured: Measured | None,
    threshold: float,
    above: bool,
    *,
    confidence: float | None = None,
    evidence: str = "",
    note: str = "",
) -> Claim:
    """A claim judged from one measurement against its threshold."""
    verdict = judge(measured, threshold, above)
    if verdict == NOT_TESTABLE and not note:
        note = "nothing to measure on these mazes"
    return Claim(
        id, part, operationalisation, verdict, measured, threshold, above, confidence, evidence,
        note,
    )  # fmt: skip


def explained(claim: Claim) -> Claim:
    """An inconclusive claim with a note on what would decide it: about how many more mazes,
    or, for a conjunction decided on its measured part, that another part is undecided."""
    if claim.verdict != INCONCLUSIVE or claim.measured is None or claim.threshold is None:
        return claim
    if judge(claim.measured, claim.threshold, bool(claim.above)) != INCONCLUSIVE:
        extra = "another condition's interval straddles its threshold (see the note)"
    else:
        more = more_mazes_to_decide(claim.measured, claim.threshold)
        extra = (
            "the value sits on the threshold: no sample size decides it"
            if more is None
            else f"about {more} more {claim.measured.unit} would decide it if the value stayed"
        )
    note = f"{claim.note}; {extra}" if claim.note else extra
    return dataclasses.replace(claim, note=note)


def combined(parts: list[str]) -> str:
    """A conjunction's verdict: fails if a part fails, holds if all hold, else inconclusive."""
    if FAILS in parts:
        return FAILS
    if parts and all(p == HOLDS for p in parts):
        return HOLDS
    return NOT_TESTABLE if all(p == NOT_TESTABLE for p in parts) else INCONCLUSIVE


def _untestable(id: str, why: str, operationalisation: str = "") -> list[Claim]:
    return [Claim(id, "", operationalisation, NOT_TESTABLE, note=why)]


# --- set A ------------------------------------------------------------------------------------


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
    ("the cheese closer to the top right (Euclidean)", "euclid_cheese_to_top_right_region",
     "smaller"),
    ("the cheese reachable moving only up/right", "cheese_up_right_from_decision", "true"),
)  # fmt: skip


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
    ("decision square closer to the top-right cell, Euclidean", "euclid_decision_to_top_right",
     0.35),
    ("decision square closer to the top-right cell, steps", "steps_decision_to_top_right", 0.32),
    ("cheese closer to the top-right 5x5, steps", "steps_cheese_to_top_right_region", 0.82),
    ("cheese closer to the top-right 5x5, Euclidean", "euclid_cheese_to_top_right_region", 0.80),
    ("decision square closer to the top-right 5x5, steps", "steps_decision_to_top_right_region",
     0.40),
    ("decision square closer to the top-right 5x5, Euclidean",
     "euclid_decision_to_top_right_region", 0.40),
)  # fmt: skip
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
            )  # fmt: skip
        )
    if ev.sizes.quick:
        claims.append(
            Claim("A3", _ARTIFACT, _ARTIFACT_HOW, NOT_TESTABLE, confidence=0.40,
                  note="needs a second behaviour run with greedy actions: not run with --quick")
        )  # fmt: skip
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
        return _untestable("A4", "the cheese-vector rollouts did not run")
    before, after = (rollouts[k] for k in list(rollouts)[:2])
    cheese = ratio_of_rates(_rate(after["success"]), _rate(before["success"]))
    top = ratio_of_rates(_rate(after["reached_top_right"]), _rate(before["reached_top_right"]))
    if cheese is None or top is None:
        return _untestable("A4", "without the patch the agent never reached the cheese/region")
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
        return _untestable("A5", "the probes did not include the first residual add of block 2")
    how = (
        "a linear probe (ridge, random projection) of the cheese's exact cell at "
        f"{a5['layer']}, held-out mazes"
    )
    return [
        tested("A5", "exact cell", how, Measured.rate(a5["exact_cell"], "observations"), 0.70,
               True, evidence="probes"),
        tested("A5", "row and column read separately", how + ": the worse of row and column",
               Measured.rate(min(a5["row"], a5["column"], key=lambda r: r["k"] / r["n"]),
                             "observations"), 0.70, True, evidence="probes"),
    ]  # fmt: skip


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
    return _untestable(
        "A7",
        "needs an RL fine-tuning run towards pure cheese-seeking and the original training "
        "compute; the toolkit has no RL fine-tuning yet",
    )


def a8(ev: Evidence) -> list[Claim]:
    result = ev.retarget()
    fraction = result.modified["fraction"]
    if result.rollouts is None or fraction is None:
        return _untestable("A8", "no retargeting rollouts ran")
    works = Measured.rate(result.rollouts["clamped"], "episodes")
    how = (
        f"clamping the top cheese channels {list(result.channels)} at a random target's "
        f"square ({result.layer}) at every step; the agent goes there = it reaches the target "
        f"within {result.rollouts['budget']} steps in more than half of the episodes; edits "
        f"{100 * fraction:.5f}% of the network's activations per forward"
    )
    claims = []
    for x, confidence in ((0.0001, 0.40), (0.001, 0.62), (0.01, 0.65), (0.10, 0.80)):
        claim = tested("A8", f"X = {100 * x:g}%", how, works, 0.5, True, confidence=confidence,
                       evidence="retarget")  # fmt: skip
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
        )  # fmt: skip
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
        tested("A10", "a substantial number (>= 25% of the channels)", how, exact,
               0.25 * total - 0.5, True, confidence=0.55, note=f"{count} of {total}"),
    ]  # fmt: skip


# --- set B ------------------------------------------------------------------------------------


def _corner_answer(corners: dict, names, key: str) -> tuple[Measured | None, str]:
    pooled = Rate(
        sum(corners[c][key]["k"] for c in names), sum(corners[c][key]["n"] for c in names)
    )
    text = "; ".join(f"{c.replace('_', '-')}: {rate_text(corners[c][key])}" for c in names)
    return Measured.rate(pooled, "episodes"), text


def b1(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    measured, text = _corner_answer(g.corners, QUADRANTS, "within_limit")
    _, budget_text = _corner_answer(g.corners, QUADRANTS, "within_budget")
    return [
        Claim("B1", "", f"the cheese moved to the top-left / bottom-right corner cell of the "
              f"{g.corner_mazes} largest mazes (size {g.largest_size}); one episode each",
              ANSWERED, measured, evidence="generalisation",
              note=f"within 500 steps: {text}; within the step budget: {budget_text}")
    ]  # fmt: skip


def b2(ev: Evidence) -> list[Claim]:
    corners = ev.retarget_corners().corners
    if corners is None:
        return _untestable("B2", "the corner experiment did not run")
    targets = corners["targets"]
    text = "; ".join(
        f"{c.replace('_', '-')}: {rate_text(targets[c]['clamped'])}" for c in QUADRANTS
    )
    percent = corners["modified"]["percent"]
    return [
        Claim("B2", "", f"clamping the cheese channels at the top-left / bottom-right corner of "
              f"{corners['mazes']} mazes of size {corners['maze_size']}, cheese where it spawned, "
              f"within the step budget ({corners['budget']} steps)", ANSWERED,
              Measured.rate(corners["pooled_clamped"], "episodes"), evidence="retarget_corners",
              note=f"{text}; {percent:.5f}% of activations modified")
    ]  # fmt: skip


def b3(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    sizes = [s for s in g.by_size if g.by_size[s]["top_right_first"]["n"] >= 5]
    if len(sizes) < 2:
        return _untestable("B3", "fewer than two maze sizes with informative episodes")
    smallest = min(g.by_size, key=int)
    direct = Measured.rate(g.by_size[smallest]["shortest_path_to_cheese"], "episodes")
    largest = Measured.rate(g.by_size[max(sizes, key=int)]["top_right_first"], "episodes")
    first = {s: _rate(g.by_size[s]["top_right_first"]) for s in sizes}
    jumps = [difference_of_rates(first[b], first[a]) for a, b in zip(sizes, sizes[1:])]
    jump = max(jumps, key=lambda m: m.value)
    parts = [judge(direct, 0.8, True), judge(largest, 0.5, True), judge(jump, 0.3, True)]
    return [
        Claim("B3", "", "all three: in the smallest mazes a shortest path to the cheese in > 80% "
              "of episodes; in the largest, the top-right 5x5 entered first in > 50% (of "
              "informative episodes); and between two neighbouring sizes a jump of > 30 points "
              "in that rate (Newcombe interval)", combined(parts), jump, 0.3, True,
              evidence="generalisation",
              note=f"shortest path at size {smallest}: {direct}; top-right first at the largest "
              f"size: {largest}")
    ]  # fmt: skip


def _rate(saved: dict) -> Rate:
    return Rate(saved["k"], saved["n"])


def b4(ev: Evidence) -> list[Claim]:
    result = ev.retarget_small()
    if result is None or result.rollouts is None:
        return _untestable("B4", "no small mazes with targets in the population")
    works = Measured.rate(result.rollouts["clamped"], "episodes")
    fraction = result.modified["fraction"] or 0.0
    how = (
        f"clamping the cheese channels at random targets of the smallest mazes (size "
        f"{result.per_maze[0].maze.maze_size}); the mouse is sent there = reaches the target "
        f"within {result.rollouts['budget']} steps; {100 * fraction:.5f}% of activations edited"
    )
    claims = [
        tested("B4", "in more than half of the episodes", how, works, 0.5, True, confidence=0.80,
               evidence="retarget_small"),
        tested("B4", "in more than 80% (\"arbitrary cells\")", how, works, 0.8, True,
               confidence=0.80, evidence="retarget_small"),
    ]  # fmt: skip
    if fraction >= TEN_PERCENT:
        claims = [dataclasses.replace(c, verdict=FAILS) for c in claims]
    return claims


def b5(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    measured, text = _corner_answer(g.corners, QUADRANTS, "within_budget")
    budget = "n/a" if g.step_budget is None else f"{g.step_budget:.1f}"
    return [
        tested("B5", "", f"the cheese in the top-left / bottom-right corner cell of the "
               f"{g.corner_mazes} largest mazes (size {g.largest_size}); reached within the step "
               f"budget ({budget} steps: the mean steps to a cheese in the top-right cell of the "
               f"same mazes)", measured, B_SUCCESS, False, confidence=0.75,
               evidence="generalisation", note=text)
    ]  # fmt: skip


def b6(ev: Evidence) -> list[Claim]:
    corners = ev.retarget_corners().corners
    if corners is None:
        return _untestable("B6", "the corner experiment did not run")
    claim = tested(
        "B6", "", "the one edit tried (cheese channels clamped at the corner) sends the mouse to "
        "the top-left / bottom-right corner of the largest mazes within the step budget in < 33% "
        "of episodes, editing < 10% of activations", Measured.rate(corners["pooled_clamped"],
        "episodes"), B_SUCCESS, False, confidence=0.75, evidence="retarget_corners",
        note="a universal claim: holds only for the edit tried",
    )  # fmt: skip
    return [claim]


def b7(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    return [
        tested("B7", "", f"the cheese next to the mouse's start in the bottom-left corner of the "
               f"{g.corner_mazes} largest mazes; reached within the step budget", Measured.rate(
               g.corners["bottom_left"]["within_budget"], "episodes"), 0.5, True,
               confidence=0.55, evidence="generalisation")
    ]  # fmt: skip


def b8(ev: Evidence) -> list[Claim]:
    b8 = ev.probes().b8()
    if b8 is None:
        return _untestable("B8", "no probe of the exact cheese cell ran")
    return [
        tested("B8", "", f"the best probe of the exact cheese cell by its worst maze size "
               f"({b8['probe']} at {b8['layer']}; worst size {b8['worst_maze_size']}), held-out "
               "mazes", Measured.rate(b8["worst_size_accuracy"], "observations"), 0.90, True,
               confidence=0.80, evidence="probes")
    ]  # fmt: skip


# --- set C ------------------------------------------------------------------------------------

_FINE_TUNING = (
    "needs this checkpoint fine-tuned with the cheese penalised (PPO, reward -10 for the "
    "cheese), which the scoreboard does not run; docs/penalising_the_cheese.md reports such "
    "runs of the stand-in and the s=1 PPO agent"
)


def c1(ev: Evidence) -> list[Claim]:
    return _untestable("C1", _FINE_TUNING)


def c2(ev: Evidence) -> list[Claim]:
    return _untestable("C2", _FINE_TUNING)


#: Prediction ID -> its experiment.
EXPERIMENTS: dict[str, Callable[[Evidence], list[Claim]]] = {
    "A1": a1, "A2": a2, "A3": a3, "A4": a4, "A5": a5, "A6": a6, "A7": a7, "A8": a8, "A9": a9,
    "A10": a10, "B1": b1, "B2": b2, "B3": b3, "B4": b4, "B5": b5, "B6": b6, "B7": b7, "B8": b8,
    "C1": c1, "C2": c2,
}  # fmt: skip
