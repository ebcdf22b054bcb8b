"""A claim: one testable part of a pre-registered prediction, with its measurement, the
predicted side of a threshold and the verdict (:mod:`analyses.scoreboard.verdicts`); and the
helpers every experiment uses to make one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from analyses.scoreboard.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_TESTABLE,
    Measured,
    Verdict,
    judge,
    more_mazes_to_decide,
)
from hooked_impala.stats import Rate

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
    verdict: Verdict
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
        id,
        part,
        operationalisation,
        verdict,
        measured,
        threshold,
        above,
        confidence,
        evidence,
        note,
    )


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


def combined(parts: list[Verdict]) -> Verdict:
    """A conjunction's verdict: fails if a part fails, holds if all hold, else inconclusive."""
    if FAILS in parts:
        return FAILS
    if parts and all(p == HOLDS for p in parts):
        return HOLDS
    return NOT_TESTABLE if all(p == NOT_TESTABLE for p in parts) else INCONCLUSIVE


def untestable(id: str, why: str, operationalisation: str = "") -> list[Claim]:
    return [Claim(id, "", operationalisation, NOT_TESTABLE, note=why)]


def saved_rate(saved: dict) -> Rate:
    """A ``Rate`` from its ``as_dict()``."""
    return Rate(saved["k"], saved["n"])
