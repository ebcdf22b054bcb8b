"""Statistics that are not about mazes but are used on them everywhere: every reported
number is an :class:`Estimate` (a value, its 95% interval, the number of independent units
behind it, the unit and the method), never a number alone.

**The maze is the unit.** Several observations (targets, steps, corners, mouse cells) from
one maze are not independent, so an interval over them resamples whole mazes:

* :func:`bootstrap_over_mazes` — any statistic of the pooled observations, with a
  cluster bootstrap over mazes (``scipy.stats.bootstrap`` over maze indices; BCa, falling
  back to the percentile interval where BCa is undefined);
* :func:`paired_difference` — the same statistic after minus before an edit on the same
  mazes, the two resampled together (paired);
* :class:`Rate` — k of n with Wilson's interval, **only** where each maze gives one
  Bernoulli outcome (``Rate.estimate()``);
* :func:`holm` — Holm's step-down adjustment when a claim picks the best of a family;
* :func:`spearman` — rank correlation (``scipy.stats.spearmanr``), None where undefined.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as scipy_stats

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95

Statistic = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Estimate:
    """A value with its 95% interval, ``n`` independent units (``unit``, mazes unless
    said otherwise) and the ``method`` that made the interval."""

    value: float
    low: float
    high: float
    n: int
    unit: str = "mazes"
    method: str = ""

    def __post_init__(self) -> None:
        numbers = (self.value, self.low, self.high)
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError(f"an estimate's value and interval are finite numbers: {self}")
        # Float rounding can put a bound a hair inside the value: compare with a tolerance.
        slack = 1e-9 * max(1.0, abs(self.value))
        if not (self.low - slack <= self.value <= self.high + slack) or self.n < 1:
            raise ValueError(f"an estimate lies in its interval, with n >= 1: {self}")

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def standard_error(self) -> float:
        """The interval's half-width over the normal quantile: an approximate standard error."""
        return self.width / (2 * Z_95)

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "ci95": [self.low, self.high],
            "n": self.n,
            "unit": self.unit,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, saved: dict) -> Estimate:
        low, high = saved["ci95"]
        return cls(saved["value"], low, high, saved["n"], saved["unit"], saved.get("method", ""))

    def __str__(self) -> str:
        return f"{self.value:.3g} (95% CI {self.low:.3g}–{self.high:.3g}; n = {self.n} {self.unit})"


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n``, with the Wilson score interval (sensible at 0, n and small n). Valid
    as an interval only when the ``n`` outcomes are independent: one per maze."""

    k: int
    n: int

    @classmethod
    def of(cls, outcomes: Iterable) -> Rate:
        """From outcomes (bools, 0/1, numpy bools)."""
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

    def estimate(self, unit: str = "mazes") -> Estimate | None:
        """The rate as an :class:`Estimate` (method "Wilson"); None for n = 0."""
        if not self.n:
            return None
        low, high = self.interval
        value = self.value
        return Estimate(value, min(low, value), max(high, value), self.n, unit, "Wilson")

    def as_dict(self) -> dict:
        low, high = self.interval or (None, None)
        return {"rate": self.value, "k": self.k, "n": self.n, "ci95": [low, high]}

    def __str__(self) -> str:
        if not self.n:
            return "n/a (n = 0)"
        low, high = self.interval
        return f"{self.value:.1%} ({self.k}/{self.n}; 95% CI {low:.1%}–{high:.1%})"


def mean_with_interval(values: ArrayLike, unit: str = "mazes") -> Estimate | None:
    """The mean of independent values (one per ``unit``) with a normal 95% interval; None
    below 2 values (below ~30 values a t interval would be slightly wider)."""
    values = [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = Z_95 * sd / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half, len(values), unit, "normal")


def rate_text(saved: dict) -> str:
    """A saved rate as text: ``str(Rate)`` of ``Rate.as_dict()``; for a share of episodes
    with an interval over mazes (``Estimate.as_dict()`` plus ``k`` and ``episodes``), the
    share, the counts and the interval with its unit."""
    if "episodes" not in saved:
        return str(Rate(saved["k"], saved["n"]))
    if saved["value"] is None:
        return "n/a (nothing played)"
    low, high = saved["ci95"]
    return (
        f"{saved['value']:.1%} ({saved['k']}/{saved['episodes']} episodes in {saved['n']} "
        f"{saved['unit']}; 95% CI {low:.1%}–{high:.1%}, {saved['method']})"
    )


def _groups(values: np.ndarray, mazes: ArrayLike) -> list[np.ndarray]:
    """The rows of ``values`` of each maze, mazes in first-seen order."""
    mazes = np.asarray(mazes)
    if mazes.ndim != 1 or len(mazes) != len(values):
        raise ValueError(
            f"mazes must give one maze id per observation: {len(values)} observations, "
            f"mazes of shape {mazes.shape}"
        )
    order = dict.fromkeys(mazes.tolist())
    index = {m: i for i, m in enumerate(order)}
    codes = np.array([index[m] for m in mazes.tolist()], dtype=np.int64)
    return [values[codes == i] for i in range(len(order))]


def bootstrap_over_mazes(
    values: ArrayLike,
    mazes: ArrayLike,
    statistic: Statistic | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    unit: str = "mazes",
) -> Estimate | None:
    """``statistic`` of the pooled observations (default: their mean) with a 95% interval
    from a bootstrap that resamples whole mazes with replacement.

    ``values``: ``(n,)`` or ``(n, k)`` observations (rows); ``mazes``: ``(n,)`` the maze id
    of each row. ``statistic`` receives the rows of a resample, pooled. None below two
    mazes (no interval can be made). When every resample gives the same value (every maze
    alike) the interval has zero width and the method says "degenerate". NaN or inf in
    ``values`` is an error: a result must not be silently garbage."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise ValueError(f"bootstrap_over_mazes: {bad} of the values are NaN or infinite")
    groups = _groups(values, mazes)
    if len(groups) < 2:
        return None
    fast = statistic is None
    stat: Statistic = statistic or (lambda rows: float(rows.mean()))
    value = float(stat(values))
    if fast:  # the mean of pooled rows: a ratio of per-maze sums, vectorised
        sums = np.array([g.sum(0) for g in groups])
        counts = np.array([len(g) for g in groups], dtype=np.float64)
        if sums.ndim > 1:
            raise ValueError("the default statistic (the mean) takes one value per row")

        def resampled(index, axis=-1):
            return sums[index].sum(axis) / counts[index].sum(axis)

        vectorized = True
    else:

        def resampled(index):
            return float(stat(np.concatenate([groups[i] for i in index])))

        vectorized = False
    index = np.arange(len(groups))
    rng = np.random.default_rng(seed)
    method = "BCa"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate jackknife: handled below
        result = scipy_stats.bootstrap(
            (index,),
            resampled,
            n_resamples=resamples,
            vectorized=vectorized,
            confidence_level=CONFIDENCE,
            method="BCa",
            rng=rng,
        )
        low, high = result.confidence_interval
        if not (np.isfinite(low) and np.isfinite(high)):
            method = "percentile"
            low, high = np.percentile(result.bootstrap_distribution, [2.5, 97.5])
    described = f"maze bootstrap ({method}, {resamples} resamples)"
    if low == high:
        described = f"degenerate: every resample equal; {described}"
    return Estimate(
        value, min(float(low), value), max(float(high), value), len(groups), unit, described
    )


def paired_difference(
    before: ArrayLike,
    after: ArrayLike,
    mazes: ArrayLike,
    statistic: Statistic | None = None,
    **bootstrap,
) -> Estimate | None:
    """``statistic(after) − statistic(before)`` (default: means) of observations paired on
    the same mazes, with a 95% interval from resampling mazes — both conditions of a maze
    go together. ``before``/``after``: ``(n,)`` per observation; ``mazes``: ``(n,)``;
    ``bootstrap``: :func:`bootstrap_over_mazes`'s keywords (``resamples``, ``seed``,
    ``unit``)."""
    before, after = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    if before.shape != after.shape or before.ndim != 1:
        raise ValueError(
            f"paired_difference takes before and after of one shape (n,): got {before.shape} "
            f"and {after.shape}"
        )
    if statistic is None:  # the mean of differences is the difference of means
        found = bootstrap_over_mazes(after - before, mazes, **bootstrap)
    else:
        found = bootstrap_over_mazes(
            np.stack([before, after], 1),
            mazes,
            lambda rows: statistic(rows[:, 1]) - statistic(rows[:, 0]),
            **bootstrap,
        )
    if found is None:
        return None
    return replace(found, method=f"paired {found.method}")


def independent_difference(first: Estimate, second: Estimate) -> tuple[Estimate, float]:
    """``second − first`` of two estimates from independent samples (two runs on different
    mazes), with a normal 95% interval and the two-sided p-value of "no difference". Each
    run's standard error is read off the side of its own interval that faces the other
    value (so a skewed or bounded interval counts its relevant side). Two zero-width
    intervals: p = 1 when the values agree, else 0."""
    towards = [
        (e.high if other >= e.value else e.low) - e.value
        for e, other in ((first, second.value), (second, first.value))
    ]
    se = math.hypot(*towards) / Z_95
    d = second.value - first.value
    if se == 0:
        p = 1.0 if d == 0 else 0.0
    else:
        p = float(2 * scipy_stats.norm.sf(abs(d) / se))
    n = min(first.n, second.n)
    difference = Estimate(d, d - Z_95 * se, d + Z_95 * se, n, first.unit, "normal, two runs")
    return difference, p


def widened(
    estimate: Estimate,
    spread: ArrayLike,
    source: str,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Estimate:
    """``estimate`` with its interval widened by a second, independent source of variance:
    ``spread`` holds the statistic recomputed over that source's draws (e.g. probes refitted
    on resampled training data, scored on the same test data), whose standard deviation adds
    in quadrature to each side's half-width; the result is clipped to ``bounds``."""
    values = np.asarray(spread, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
        raise ValueError(f"widened takes two or more finite values of the spread, got {values!r}")
    sd = float(values.std(ddof=1))
    v = estimate.value
    low = max(bounds[0], v - math.hypot(v - estimate.low, Z_95 * sd))
    high = min(bounds[1], v + math.hypot(estimate.high - v, Z_95 * sd))
    method = f"{estimate.method}; widened by {source} (their sd {sd:.3g})"
    return replace(estimate, low=low, high=high, method=method)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order: reject
    hypothesis i at level a when its adjusted p <= a."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or ((p < 0) | (p > 1) | ~np.isfinite(p)).any():
        raise ValueError(f"holm takes p-values in [0, 1], got {p_values!r}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]).clip(max=1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def spearman(x: ArrayLike, y: ArrayLike) -> float | None:
    """Spearman's rank correlation of the finite pairs (ties get their mean rank); None below
    three pairs or when either variable is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(scipy_stats.spearmanr(x, y).statistic)
