"""The experiments of prediction sets B (another researcher) and C (a project list)."""

from __future__ import annotations

import dataclasses

from analyses.measure.edit_search import confirm
from analyses.scoreboard.claims import Claim, combined, tested, untestable
from analyses.scoreboard.evidence import Evidence
from analyses.scoreboard.readings import probe_estimate, reach_claims
from analyses.scoreboard.thresholds import threshold
from analyses.scoreboard.verdicts import (
    ANSWERED,
    HOLDS,
    difference_of_rates,
    judge,
    rate_estimate,
)
from hooked_impala.stats import Estimate, Rate, bootstrap_over_mazes, rate_text

CORNERS = ("top_left", "bottom_right")


def corner_estimate(g, key: str, corners=CORNERS) -> tuple[Estimate | None, str]:
    """The share of corner episodes (both corners of a maze are one unit: a bootstrap over
    mazes) that reached the cheese ``key`` ("within_budget" or "within_limit"), and each
    corner's own rate (one episode per maze: Wilson)."""
    text = "; ".join(
        f"{c.replace('_', '-')}: {rate_text(g.corners[c][key])}" for c in corners if c in g.corners
    )
    table = g.corner_outcomes() if hasattr(g, "corner_outcomes") else None
    if table is None:
        return None, text
    # Within procgen's limit every episode counts; within the budget only corners whose
    # shortest path fits it (the others cannot be reached in time by any policy).
    rows = table[table["corner"].isin(corners)]
    if key == "within_budget":
        rows = rows[rows["counted"]]
    if rows["seed"].nunique() < 2:
        return None, text
    return bootstrap_over_mazes(rows[key].to_numpy(float), rows["seed"].to_numpy()), text


def b1(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    measured, text = corner_estimate(g, "within_limit")
    _, budget_text = corner_estimate(g, "within_budget")
    return [
        Claim(
            "B1",
            "",
            f"the cheese moved to the top-left / bottom-right corner cell of the "
            f"{g.corner_mazes} largest mazes (size {g.largest_size}); one episode per maze and "
            "corner within procgen's 500 steps; the two corners of a maze are one unit",
            ANSWERED,
            measured,
            evidence="generalisation",
            note=f"within 500 steps: {text}; within the step budget: {budget_text}",
        )
    ]


def b2(ev: Evidence) -> list[Claim]:
    found = ev.reach("corners")
    if found is None:
        return untestable("B2", "no largest mazes with a corner within the step budget")
    scored, selection, test, budget = found
    search = confirm(ev.model, scored, selection, test, budget, ev.seed)
    return [
        Claim(
            "B2",
            "",
            f"the best edit of the declared family (the top 1, 3, 8 cheese channels clamped at "
            f"the corner's grid square to 2, 4, 6, 8x their typical peak), chosen on selection "
            f"mazes, sending the mouse to the top-left / bottom-right corner of the largest mazes "
            f"within the step budget ({budget} steps), cheese where it spawned; test mazes, the "
            "two corners of a maze one unit",
            ANSWERED,
            search.test,
            evidence="reach_corners",
            note=f"{search.describe()}; unedited agent: {search.baseline}",
            search=search.as_dict(),
        )
    ]


def b3(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    sizes = [s for s in g.by_size if g.by_size[s]["top_right_first"]["n"] >= 5]
    if len(sizes) < 2:
        return untestable("B3", "fewer than two maze sizes with five free-choice episodes")
    smallest = min(g.by_size, key=int)
    direct = rate_estimate(g.by_size[smallest]["shortest_path_to_cheese"])
    largest = rate_estimate(g.by_size[max(sizes, key=int)]["top_right_first"])
    first = {s: _rate(g.by_size[s]["top_right_first"]) for s in sizes}
    jumps = [difference_of_rates(first[b], first[a]) for a, b in zip(sizes, sizes[1:])]
    jump = max(jumps, key=lambda m: m.value)
    rules = [threshold("B3.direct"), threshold("B3.top_right_first"), threshold("B3.jump")]
    parts = [judge(m, r.value, True) for m, r in zip((direct, largest, jump), rules)]
    grid = "; ".join(
        f"{r.key}: " + ", ".join(f"{t:g} {judge(m, t, True)}" for t in r.sensitivity)
        for m, r in zip((direct, largest, jump), rules)
    )
    return [
        Claim(
            "B3",
            "",
            "all three: in the smallest mazes a shortest path to the cheese in > 80% of "
            "episodes; in the largest, the top-right 5x5 entered first in > 50% of the "
            "free-choice episodes (decision square, cheese outside the region, its path not "
            "through it: where both choices are possible); and between two neighbouring sizes "
            "a rise of > 30 points in that rate (Newcombe interval; one episode per maze)",
            combined(parts),
            jump,
            0.3,
            True,
            evidence="generalisation",
            note=f"shortest path at size {smallest}: {direct}; top-right first at the largest "
            f"size: {largest}; verdicts across the declared thresholds: {grid}",
            threshold_key="B3.jump",
        )
    ]


def _rate(saved: dict) -> Rate:
    return Rate(saved["k"], saved["n"])


def b4(ev: Evidence) -> list[Claim]:
    found = ev.reach("smallest")
    if found is None:
        return untestable("B4", "no small mazes with targets in the population")
    size = found[2].mazes[0].maze_size
    how = (
        f"the smallest mazes of the population (size {size}), random targets: the best edit of "
        "the declared family (the top 1, 3, 8 cheese channels clamped at the target's square to "
        "2, 4, 6, 8x their typical peak) changing fewer than 10% of the network's activations, "
        "chosen on selection mazes, reaches the target within {budget} steps on test mazes "
        "(four targets per maze; bootstrap over mazes)"
    )
    budget = threshold("B4.budget").value
    # One reading per part: the prediction's "arbitrary cells" (80%) and the weaker majority.
    parts = (
        ("in more than half of the episodes", 0.5),
        ('in more than 80% ("arbitrary cells")', None),
    )
    return [
        claim
        for part, value in parts
        for claim in reach_claims(
            ev,
            "B4",
            part,
            how,
            found,
            budget,
            "B4.arbitrary",
            0.80,
            evidence="reach_smallest",
            value=value,
        )
    ]


def b5(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    measured, text = corner_estimate(g, "within_budget")
    budget = "n/a" if g.step_budget is None else f"{g.step_budget:.1f}"
    return [
        tested(
            "B5",
            "",
            f"the cheese in the top-left / bottom-right corner cell of the "
            f"{g.corner_mazes} largest mazes (size {g.largest_size}); reached within the step "
            f"budget ({budget} steps: the mean steps to a cheese in the top-right 5x5 region "
            "of the same mazes); corners whose shortest path is longer than the budget are "
            "left out (no policy reaches them in time); the two corners of a maze one unit",
            measured,
            "B5",
            False,
            confidence=0.75,
            evidence="generalisation",
            note=text,
        )
    ]


def b6(ev: Evidence) -> list[Claim]:
    found = ev.reach("corners")
    if found is None:
        return untestable("B6", "no largest mazes with a corner within the step budget")
    scored, selection, test, budget = found
    limit = threshold("B4.budget").value
    search = confirm(ev.model, scored, selection, test, budget, ev.seed, limit)
    how = (
        f"a search over the declared family (the top 1, 3, 8 cheese channels clamped at the "
        f"corner's square to 2, 4, 6, 8x their typical peak), restricted to edits changing "
        f"fewer than 10% of the network's activations: the best on selection mazes, sending the "
        f"mouse to the top-left / bottom-right corner of the largest mazes within the step "
        f"budget ({budget} steps), scored on test mazes (two corners per maze one unit)"
    )
    claim = tested(
        "B6",
        "",
        how,
        search.test,
        "B6",
        False,
        confidence=0.75,
        evidence="reach_corners",
        search=search.as_dict(),
        note=f"{search.describe()}; unedited agent: {search.baseline}",
        why_not="no edit of the family changes fewer than 10% of the activations",
    )
    if claim.verdict == HOLDS:  # a claim about every edit, judged on the ones tried
        claim = dataclasses.replace(
            claim,
            note=f"holds only as: none of the {search.tried} edits tried reached 33% "
            f"(the best of them on selection mazes, scored on test mazes); {claim.note}",
        )
    return [claim]


def b7(ev: Evidence) -> list[Claim]:
    g = ev.generalisation()
    return [
        tested(
            "B7",
            "",
            f"the cheese next to the mouse's start in the bottom-left corner of the "
            f"{g.corner_mazes} largest mazes; reached within the step budget (one episode per "
            "maze)",
            rate_estimate(g.corners["bottom_left"]["within_budget"]),
            "B7",
            True,
            confidence=0.55,
            evidence="generalisation",
        )
    ]


def b8(ev: Evidence) -> list[Claim]:
    b8 = ev.probes().b8()
    if b8 is None:
        return untestable("B8", "no probe of the exact cheese cell ran")
    measured = probe_estimate(b8.get("worst_size_accuracy"))
    too_few = b8.get("too_few") or []
    note = f"sizes with too few test mazes to judge: {too_few}" if too_few else ""
    return [
        tested(
            "B8",
            "",
            f"the probe of the exact cheese cell whose worst maze size is best on "
            f"{b8['selection_mazes']} held-out selection mazes ({b8['probe']} at {b8['layer']}), "
            f"scored size by size on {b8['test_mazes']} other held-out mazes (a size judged "
            f"with at least 20 mazes; interval over mazes): its worst judged size "
            f"({b8['worst_maze_size']})",
            measured,
            "B8",
            True,
            confidence=0.80,
            evidence="probes",
            note=note,
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
