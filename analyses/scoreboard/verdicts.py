"""Verdicts on pre-registered predictions: a measured value with its 95% interval (an
:class:`~hooked_impala.stats.Estimate`: value, interval, n, unit, method) against a
threshold on the predicted side.

* **holds**: the whole interval lies on the predicted side of the threshold;
* **fails**: the whole interval lies on the other side;
* **inconclusive**: the interval straddles the threshold; ``more_mazes_to_decide`` says how
  many more mazes would shrink it enough, if the value stayed where it is;
* **not testable**: the checkpoint or the data cannot answer (the reason is given);
* **answered**: a prediction that is a question; the measurement is the answer.

The predictions themselves (IDs and texts) are read from ``predictions.md``: the shared file
beside the project when it is there, else the copy packaged with the scoreboard.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from pathlib import Path

from hooked_impala.stats import Z_95, Estimate, Rate

#: z of a two-sided 5% test plus z of 80% power: the smallest effect a run could detect is
#: about this many standard errors.
DETECTABLE_Z = Z_95 + 0.8416212335729143


class Verdict(StrEnum):
    """The verdict on one claim (its value is the word shown)."""

    HOLDS = "holds"
    FAILS = "fails"
    INCONCLUSIVE = "inconclusive"
    NOT_TESTABLE = "not testable"
    ANSWERED = "answered"

    @property
    def decided(self) -> bool:
        return self in (Verdict.HOLDS, Verdict.FAILS)


HOLDS, FAILS, INCONCLUSIVE = Verdict.HOLDS, Verdict.FAILS, Verdict.INCONCLUSIVE
NOT_TESTABLE, ANSWERED = Verdict.NOT_TESTABLE, Verdict.ANSWERED

PACKAGED = Path(__file__).with_name("predictions.md")
SHARED = Path(__file__).resolve().parents[3] / "shared" / "predictions.md"


def judge(measured: Estimate | None, threshold: float, above: bool) -> Verdict:
    """The verdict on "the value is above ``threshold``" (``above``) or below it."""
    if measured is None:
        return NOT_TESTABLE
    if (measured.low > threshold) if above else (measured.high < threshold):
        return HOLDS
    if (measured.high < threshold) if above else (measured.low > threshold):
        return FAILS
    return INCONCLUSIVE


def more_mazes_to_decide(measured: Estimate, threshold: float) -> int | None:
    """Roughly how many more mazes would make the interval exclude ``threshold``, if the value
    stayed put (an interval's half-width shrinks as 1/sqrt(n)); None if the value sits on
    the threshold, where no sample size decides, or the interval has no width."""
    half = (measured.high - measured.low) / 2
    gap = abs(measured.value - threshold)
    if gap == 0 or half == 0:
        return None
    needed = math.ceil(measured.n * (half / gap) ** 2)
    return max(needed - measured.n, 1)


def smallest_detectable(measured: Estimate) -> float:
    """The smallest difference from the value that a run of this size would detect with
    80% power at the 5% level: about (1.96 + 0.84) standard errors, the standard error read
    off the interval."""
    return DETECTABLE_Z * measured.standard_error


def rate_estimate(rate: Rate | dict, unit: str = "mazes") -> Estimate | None:
    """A rate (one independent outcome per ``unit``: Wilson) from a ``Rate`` or its
    ``as_dict()``; None when nothing was counted."""
    if isinstance(rate, dict):
        rate = Rate(rate["k"], rate["n"])
    return rate.estimate(unit)


def difference_of_rates(a: Rate, b: Rate) -> Estimate | None:
    """``a - b`` of two independent rates (different mazes, one outcome each) with
    Newcombe's interval (from the Wilson intervals); None when either counted nothing."""
    if not a.n or not b.n:
        return None
    (la, ha), (lb, hb) = a.interval, b.interval
    pa, pb = a.value, b.value
    low = pa - pb - math.sqrt((pa - la) ** 2 + (hb - pb) ** 2)
    high = pa - pb + math.sqrt((ha - pa) ** 2 + (pb - lb) ** 2)
    # min/max: at 0 or n the Wilson bound equals the value only up to float rounding.
    return Estimate(pa - pb, min(low, pa - pb), max(high, pa - pb), a.n + b.n, "mazes", "Newcombe")


_ID = re.compile(r"^- ([A-Z]\d+)\. (.*)$")


def read_predictions(path: Path | None = None) -> dict[str, str]:
    """Prediction ID -> its text, in file order: from ``path``, else the shared file when it
    exists, else the packaged copy."""
    if path is None:
        path = SHARED if SHARED.is_file() else PACKAGED
    predictions: dict[str, str] = {}
    current = None
    for line in Path(path).read_text().splitlines():
        match = _ID.match(line)
        if match:
            current = match.group(1)
            predictions[current] = match.group(2).strip()
        elif current and line.startswith("  ") and line.strip():
            predictions[current] += " " + line.strip()
        else:
            current = None
    if not predictions:
        raise ValueError(f"{path}: no predictions found (lines like '- A1. text')")
    return predictions
