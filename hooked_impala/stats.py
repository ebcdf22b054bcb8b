"""Rates with their sample size and a 95% interval, so no rate is reported alone."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n``, with the Wilson score interval (sensible at 0, n and small n)."""

    k: int
    n: int

    @classmethod
    def of(cls, outcomes: Iterable[bool]) -> Rate:
        values = [bool(v) for v in outcomes]
        return cls(sum(values), len(values))

    @property
    def value(self) -> float | None:
        """k / n, or None when nothing was counted (n = 0)."""
        return self.k / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The 95% Wilson score interval, or None for n = 0."""
        if not self.n:
            return None
        p, z2 = self.k / self.n, Z_95**2
        centre = (p + z2 / (2 * self.n)) / (1 + z2 / self.n)
        half = Z_95 * math.sqrt(p * (1 - p) / self.n + z2 / (4 * self.n**2)) / (1 + z2 / self.n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def as_dict(self) -> dict:
        low, high = self.interval or (None, None)
        return {"rate": self.value, "k": self.k, "n": self.n, "ci95": [low, high]}

    def __str__(self) -> str:
        if not self.n:
            return "n/a (n = 0)"
        low, high = self.interval
        return f"{self.value:.1%} ({self.k}/{self.n}; 95% CI {low:.1%}–{high:.1%})"


def rate_text(saved: dict) -> str:
    """``str(Rate)`` of a rate saved with ``Rate.as_dict()``."""
    return str(Rate(saved["k"], saved["n"]))
