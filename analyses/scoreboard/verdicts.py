"""Verdicts on pre-registered predictions: a measured value with its 95% interval against a
predicted threshold.

* **holds**: the whole interval lies on the predicted side of the threshold;
* **fails**: the whole interval lies on the other side;
* **inconclusive**: the interval straddles the threshold; ``more_mazes_to_decide`` says how
  many more mazes would shrink it enough, if the value stayed where it is;
* **not testable**: the checkpoint or the data cannot answer (the reason is given);
* **answered**: a prediction that is a question; the measurement is the answer.

The predictions themselves (IDs and texts) are read from ``predictions.md``: the shared file
beside the project when it is there, else the copy packaged with ``analyses``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hooked_impala.stats import Z_95, Rate


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


@dataclass(frozen=True)
class Measured:
    """A measured value, its 95% interval, and the number of mazes (or episodes) behind it."""

    value: float
    low: float
    high: float
    n: int
    unit: str = "mazes"

    @classmethod
    def rate(cls, rate: Rate | dict, unit: str = "mazes") -> Measured | None:
        """From a ``Rate`` or its ``as_dict()``; None when nothing was counted."""
        if isinstance(rate, dict):
            rate = Rate(rate["k"], rate["n"])
        if not rate.n:
            return None
        low, high = rate.interval
        return cls(rate.value, min(low, rate.value), max(high, rate.value), rate.n, unit)

    def __post_init__(self) -> None:
        if not (self.low <= self.value <= self.high) or self.n < 1:
            raise ValueError(f"a measured value lies in its interval, with n >= 1: {self}")

    def as_dict(self) -> dict:
        return {"value": self.value, "ci95": [self.low, self.high], "n": self.n, "unit": self.unit}

    def __str__(self) -> str:
        return f"{self.value:.3g} (95% CI {self.low:.3g}–{self.high:.3g}; n = {self.n} {self.unit})"


def judge(measured: Measured | None, threshold: float, above: bool) -> Verdict:
    """The verdict on "the value is above ``threshold``" (``above``) or below it."""
    if measured is None:
        return NOT_TESTABLE
    if (measured.low > threshold) if above else (measured.high < threshold):
        return HOLDS
    if (measured.high < threshold) if above else (measured.low > threshold):
        return FAILS
    return INCONCLUSIVE


def more_mazes_to_decide(measured: Measured, threshold: float) -> int | None:
    """Roughly how many more mazes would make the interval exclude ``threshold``, if the value
    stayed put (an interval's half-width shrinks as 1/sqrt(n)); None if the value sits on
    the threshold, where no sample size decides."""
    half = (measured.high - measured.low) / 2
    gap = abs(measured.value - threshold)
    if gap == 0:
        return None
    needed = math.ceil(measured.n * (half / gap) ** 2)
    return max(needed - measured.n, 1)


def ratio_of_rates(after: Rate, before: Rate) -> Measured | None:
    """``after / before`` of two independent rates with the Katz log interval (0.5 added to
    zero counts); None when ``before`` counted nothing or had no success."""
    if not after.n or not before.n or not before.k:
        return None
    k1, k0 = max(after.k, 0.5), before.k
    ratio = after.k / after.n / (before.k / before.n)
    se = math.sqrt(max(1 / k1 - 1 / after.n, 0) + max(1 / k0 - 1 / before.n, 0))
    centre = math.log(k1 / after.n / (k0 / before.n))
    low, high = math.exp(centre - Z_95 * se), math.exp(centre + Z_95 * se)
    return Measured(ratio, min(low, ratio), max(high, ratio), after.n + before.n)


def difference_of_rates(a: Rate, b: Rate) -> Measured | None:
    """``a - b`` of two independent rates with Newcombe's interval (from the Wilson
    intervals); None when either counted nothing."""
    if not a.n or not b.n:
        return None
    (la, ha), (lb, hb) = a.interval, b.interval
    pa, pb = a.value, b.value
    low = pa - pb - math.sqrt((pa - la) ** 2 + (hb - pb) ** 2)
    high = pa - pb + math.sqrt((ha - pa) ** 2 + (pb - lb) ** 2)
    # min/max: at 0 or n the Wilson bound equals the value only up to float rounding.
    return Measured(pa - pb, min(low, pa - pb), max(high, pa - pb), a.n + b.n)


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
