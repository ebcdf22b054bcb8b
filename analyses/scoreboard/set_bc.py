"""The experiments of prediction sets B (another researcher) and C (a project list)."""

from __future__ import annotations

import dataclasses

from analyses.scoreboard.claims import (
    B_SUCCESS,
    TEN_PERCENT,
    Claim,
    combined,
    saved_rate,
    tested,
    untestable,
)
from analyses.scoreboard.evidence import QUADRANTS, Evidence
from analyses.scoreboard.verdicts import (
    ANSWERED,
    FAILS,
    Measured,
    difference_of_rates,
    judge,
)
from hooked_impala.stats import Rate, rate_text


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
        Claim(
            "B1",
            "",
            f"the cheese moved to the top-left / bottom-right corner cell of the "
            f"{g.corner_mazes} largest mazes (size {g.largest_size}); one episode each",
            ANSWERED,
            measured,
            evidence="generalisation",
            note=f"within 500 steps: {text}; within the step budget: {budget_text}",
        )
    ]


def b2(ev: Evidence) -> list[Claim]:
    corners = ev.retarget_corners().corners
    if corners is None:
        return untestable("B2", "the corner experiment did not run")
    targets = corners["targets"]
    text = "; ".join(
        f"{c.replace('_', '-')}: {rate_text(targets[c]['clamped'])}" for c in QUADRANTS
    )
    percent = corners["modified"]["percent"]
    return [
        Claim(
            "B2",
            "",
            f"clamping the cheese channels at the top-left / bottom-right corner of "
            f"{corners['mazes']} mazes of size {corners['maze_size']}, cheese where it spawned, "
            f"within the step budget ({corners['budget']} steps)",
            ANSWERED,
            Measured.rate(corners["pooled_clamped"], "episodes"),
            evidence="retarget_corners",
            note=f"{text}; {percent:.5f}% of activations modified",
        )
    ]


def b3(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    sizes = [s for s in g.by_size if g.by_size[s]["top_right_first"]["n"] >= 5]
    if len(sizes) < 2:
        return untestable("B3", "fewer than two maze sizes with informative episodes")
    smallest = min(g.by_size, key=int)
    direct = Measured.rate(g.by_size[smallest]["shortest_path_to_cheese"], "episodes")
    largest = Measured.rate(g.by_size[max(sizes, key=int)]["top_right_first"], "episodes")
    first = {s: saved_rate(g.by_size[s]["top_right_first"]) for s in sizes}
    jumps = [difference_of_rates(first[b], first[a]) for a, b in zip(sizes, sizes[1:])]
    jump = max(jumps, key=lambda m: m.value)
    parts = [judge(direct, 0.8, True), judge(largest, 0.5, True), judge(jump, 0.3, True)]
    return [
        Claim(
            "B3",
            "",
            "all three: in the smallest mazes a shortest path to the cheese in > 80% "
            "of episodes; in the largest, the top-right 5x5 entered first in > 50% (of "
            "informative episodes); and between two neighbouring sizes a jump of > 30 points "
            "in that rate (Newcombe interval)",
            combined(parts),
            jump,
            0.3,
            True,
            evidence="generalisation",
            note=f"shortest path at size {smallest}: {direct}; top-right first at the largest "
            f"size: {largest}",
        )
    ]


def b4(ev: Evidence) -> list[Claim]:
    result = ev.retarget_small()
    if result is None or result.rollouts is None:
        return untestable("B4", "no small mazes with targets in the population")
    works = Measured.rate(result.rollouts["clamped"], "episodes")
    fraction = result.modified["fraction"] or 0.0
    how = (
        f"clamping the cheese channels at random targets of the smallest mazes (size "
        f"{result.per_maze[0].maze.maze_size}); the mouse is sent there = reaches the target "
        f"within {result.rollouts['budget']} steps; {100 * fraction:.5f}% of activations edited"
    )
    claims = [
        tested(
            "B4",
            "in more than half of the episodes",
            how,
            works,
            0.5,
            True,
            confidence=0.80,
            evidence="retarget_small",
        ),
        tested(
            "B4",
            'in more than 80% ("arbitrary cells")',
            how,
            works,
            0.8,
            True,
            confidence=0.80,
            evidence="retarget_small",
        ),
    ]
    if fraction >= TEN_PERCENT:
        claims = [dataclasses.replace(c, verdict=FAILS) for c in claims]
    return claims


def b5(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    measured, text = _corner_answer(g.corners, QUADRANTS, "within_budget")
    budget = "n/a" if g.step_budget is None else f"{g.step_budget:.1f}"
    return [
        tested(
            "B5",
            "",
            f"the cheese in the top-left / bottom-right corner cell of the "
            f"{g.corner_mazes} largest mazes (size {g.largest_size}); reached within the step "
            f"budget ({budget} steps: the mean steps to a cheese in the top-right cell of the "
            f"same mazes)",
            measured,
            B_SUCCESS,
            False,
            confidence=0.75,
            evidence="generalisation",
            note=text,
        )
    ]


def b6(ev: Evidence) -> list[Claim]:
    corners = ev.retarget_corners().corners
    if corners is None:
        return untestable("B6", "the corner experiment did not run")
    claim = tested(
        "B6",
        "",
        "the one edit tried (cheese channels clamped at the corner) sends the mouse to "
        "the top-left / bottom-right corner of the largest mazes within the step budget in < 33% "
        "of episodes, editing < 10% of activations",
        Measured.rate(corners["pooled_clamped"], "episodes"),
        B_SUCCESS,
        False,
        confidence=0.75,
        evidence="retarget_corners",
        note="a universal claim: holds only for the edit tried",
    )
    return [claim]


def b7(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    return [
        tested(
            "B7",
            "",
            f"the cheese next to the mouse's start in the bottom-left corner of the "
            f"{g.corner_mazes} largest mazes; reached within the step budget",
            Measured.rate(g.corners["bottom_left"]["within_budget"], "episodes"),
            0.5,
            True,
            confidence=0.55,
            evidence="generalisation",
        )
    ]


def b8(ev: Evidence) -> list[Claim]:
    b8 = ev.probes().b8()
    if b8 is None:
        return untestable("B8", "no probe of the exact cheese cell ran")
    return [
        tested(
            "B8",
            "",
            f"the best probe of the exact cheese cell by its worst maze size "
            f"({b8['probe']} at {b8['layer']}; worst size {b8['worst_maze_size']}), held-out "
            "mazes",
            Measured.rate(b8["worst_size_accuracy"], "observations"),
            0.90,
            True,
            confidence=0.80,
            evidence="probes",
        )
    ]


_FINE_TUNING = (
    "needs this checkpoint fine-tuned with the cheese penalised (PPO, reward -10 for the "
    "cheese), which the scoreboard does not run; docs/penalising_the_cheese.md reports such "
    "runs of the stand-in and the s=1 PPO agent"
)


def c1(ev: Evidence) -> list[Claim]:
    return untestable("C1", _FINE_TUNING)


def c2(ev: Evidence) -> list[Claim]:
    return untestable("C2", _FINE_TUNING)
