"""A claim: one testable part of a pre-registered prediction, with its measurement (an
:class:`~hooked_impala.stats.Estimate`: value, interval, n, unit, method), the predicted side
of a threshold (:mod:`analyses.scoreboard.thresholds`) and the verdict; and the helpers every
experiment uses to make one."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from analyses.scoreboard.thresholds import Threshold, threshold
from analyses.scoreboard.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTABLE,
    Verdict,
    judge,
    more_mazes_to_decide,
    smallest_detectable,
)
from hooked_impala.stats import Estimate


@dataclass(frozen=True)
class Claim:
    """One testable part of a prediction and its verdict.

    ``threshold`` and ``above`` are the predicted side ("the value is above / below
    threshold"); ``threshold_key`` names it in the thresholds table, and ``sensitivity``
    holds the verdict at other values of a threshold that is not in the prediction's words;
    ``evidence`` names the experiment whose figures decided it; ``search`` and ``split``
    describe an edit search and the selection/test mazes where something was chosen;
    ``note`` says what else a reader needs (the answer of a question, why not testable, how
    many more mazes would decide it, the smallest effect the run could detect, a caveat)."""

    id: str
    part: str
    operationalisation: str
    verdict: Verdict
    measured: Estimate | None = None
    threshold: float | None = None
    above: bool | None = None
    confidence: float | None = None
    evidence: str = ""
    note: str = ""
    threshold_key: str = ""
    sensitivity: tuple[tuple[float, Verdict], ...] = ()
    search: dict | None = field(default=None, compare=False)
    split: dict | None = field(default=None, compare=False)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "part": self.part,
            "operationalisation": self.operationalisation,
            "verdict": self.verdict,
            "measured": None if self.measured is None else self.measured.as_dict(),
            "threshold": self.threshold,
            "threshold_key": self.threshold_key or None,
            "predicted_side": None if self.above is None else ("above" if self.above else "below"),
            "sensitivity": [[t, v] for t, v in self.sensitivity],
            "confidence": self.confidence,
            "evidence": self.evidence,
            "note": self.note,
            "search": self.search,
            "split": self.split,
        }


def claim_from_dict(saved: dict) -> Claim:
    """A claim as ``Claim.as_dict()`` saved it (a committed result read back)."""
    side = saved.get("predicted_side")
    measured = saved.get("measured")
    return Claim(
        id=saved["id"],
        part=saved["part"],
        operationalisation=saved["operationalisation"],
        verdict=Verdict(saved["verdict"]),
        measured=None if measured is None else Estimate.from_dict(measured),
        threshold=saved.get("threshold"),
        above=None if side is None else side == "above",
        confidence=saved.get("confidence"),
        evidence=saved.get("evidence", ""),
        note=saved.get("note", ""),
        threshold_key=saved.get("threshold_key") or "",
        sensitivity=tuple((t, Verdict(v)) for t, v in saved.get("sensitivity", [])),
        search=saved.get("search"),
        split=saved.get("split"),
    )


def sensitivity(measured: Estimate | None, rule: Threshold, above: bool) -> tuple:
    """The verdict at each value of ``rule.sensitivity`` (empty for a threshold in the
    prediction's own words)."""
    if measured is None or rule.in_the_prediction:
        return ()
    return tuple((t, judge(measured, t, above)) for t in rule.sensitivity)


def tested(
    id: str,
    part: str,
    operationalisation: str,
    measured: Estimate | None,
    key: str,
    above: bool,
    *,
    value: float | None = None,
    confidence: float | None = None,
    evidence: str = "",
    note: str = "",
    why_not: str = "",
    search: dict | None = None,
    split: dict | None = None,
) -> Claim:
    """A claim judged from one measurement against the threshold ``key`` of the table
    (``value`` when the prediction names several, e.g. A4's X), with its sensitivity line.
    ``why_not``: the reason when ``measured`` is None (nothing to measure)."""
    rule = threshold(key)
    level = rule.value if value is None else value
    verdict = judge(measured, level, above)
    if verdict == NOT_TESTABLE:
        note = why_not or note or "nothing to measure on these mazes"
    return Claim(
        id=id,
        part=part,
        operationalisation=operationalisation,
        verdict=verdict,
        measured=measured,
        threshold=level,
        above=above,
        confidence=confidence,
        evidence=evidence,
        note=note,
        threshold_key=key,
        sensitivity=sensitivity(measured, rule, above) if value is None else (),
        search=search,
        split=split,
    )


def explained(claim: Claim) -> Claim:
    """A claim with what a reader needs to weigh it: for an inconclusive one, about how many
    more mazes would decide it (or that another part of a conjunction is undecided); for a
    decided one, the smallest effect this run could have detected."""
    if claim.measured is None or claim.threshold is None:
        return claim
    if claim.verdict.decided:
        extra = (
            f"smallest difference from {claim.measured.value:.3g} this run could detect "
            f"(80% power): {smallest_detectable(claim.measured):.3g}"
        )
    elif claim.verdict != INCONCLUSIVE:
        return claim
    elif judge(claim.measured, claim.threshold, bool(claim.above)) != INCONCLUSIVE:
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


def verdict_of(claims: list[Claim]) -> str:
    """One prediction's verdict: its claims', or a count when its parts disagree."""
    verdicts = Counter(c.verdict for c in claims)
    if len(verdicts) == 1:
        return next(iter(verdicts))
    return "mixed: " + ", ".join(f"{v} {n}" for v, n in verdicts.most_common())


def combined(parts: list[Verdict]) -> Verdict:
    """A conjunction's verdict: fails if a part fails, holds if all hold, else inconclusive."""
    if FAILS in parts:
        return FAILS
    if parts and all(p == HOLDS for p in parts):
        return HOLDS
    return NOT_TESTABLE if all(p == NOT_TESTABLE for p in parts) else INCONCLUSIVE


def untestable(id: str, why: str, operationalisation: str = "", part: str = "") -> list[Claim]:
    return [Claim(id, part, operationalisation, NOT_TESTABLE, note=why)]
