"""The inference layer: maze-clustered bootstrap, paired differences, Wilson, Holm, Spearman,
each against a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from hooked_impala.stats import (
    Estimate,
    Rate,
    bootstrap_over_mazes,
    holm,
    independent_difference,
    paired_difference,
    spearman,
)


def clustered(rng: np.random.Generator, mazes: int, per_maze: int, spread: float):
    """Bernoulli outcomes whose probability is drawn per maze: ``per_maze`` outcomes share
    their maze's probability (0.5 ± spread), so they are correlated within a maze. The
    population rate is 0.5."""
    p = np.clip(0.5 + rng.uniform(-spread, spread, size=mazes), 0, 1)
    outcomes = rng.random((mazes, per_maze)) < p[:, None]
    ids = np.repeat(np.arange(mazes), per_maze)
    return outcomes.reshape(-1).astype(float), ids


def test_maze_bootstrap_covers_where_wilson_is_too_narrow() -> None:
    """200 synthetic studies of 30 mazes x 20 correlated outcomes: the maze bootstrap's 95%
    interval covers the true rate about 95% of the time; Wilson over the 600 outcomes,
    treating them as independent, covers it far less often."""
    rng = np.random.default_rng(7)
    covered_bootstrap = covered_wilson = 0
    studies = 200
    for study in range(studies):
        values, ids = clustered(rng, mazes=30, per_maze=20, spread=0.45)
        found = bootstrap_over_mazes(values, ids, resamples=1000, seed=study)
        covered_bootstrap += found.low <= 0.5 <= found.high
        low, high = Rate(int(values.sum()), len(values)).interval
        covered_wilson += low <= 0.5 <= high
    assert 0.88 <= covered_bootstrap / studies <= 0.99
    assert covered_wilson / studies < 0.7  # measured: 0.57-0.61 over three seeds


def test_maze_bootstrap_width_matches_the_cluster_standard_error() -> None:
    """With equal maze sizes the mean is the mean of the maze means, whose standard error
    is their sd / sqrt(mazes): the interval's width is about 2 x 1.96 of it."""
    rng = np.random.default_rng(0)
    maze_means = rng.normal(0, 1, size=60)
    values = np.repeat(maze_means, 5) + rng.normal(0, 0.01, size=300)
    ids = np.repeat(np.arange(60), 5)
    found = bootstrap_over_mazes(values, ids, resamples=4000)
    expected = 2 * 1.96 * values.reshape(60, 5).mean(1).std(ddof=1) / np.sqrt(60)
    assert found.value == pytest.approx(values.mean())
    assert found.width == pytest.approx(expected, rel=0.15)
    assert found.n == 60 and found.unit == "mazes" and "maze bootstrap" in found.method


def test_any_statistic_and_maze_order() -> None:
    """A custom statistic sees the pooled rows of each resample; relabelling the mazes
    changes nothing; the value is the statistic of all rows."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(40, 2))
    ids = np.repeat(np.arange(10), 4)
    ratio = lambda rows: rows[:, 0].sum() / (np.abs(rows[:, 1]).sum())
    a = bootstrap_over_mazes(values, ids, ratio, resamples=500, seed=3)
    b = bootstrap_over_mazes(values, ids + 100, ratio, resamples=500, seed=3)
    assert a == b and a.value == pytest.approx(ratio(values))


def test_paired_difference_uses_the_pairing() -> None:
    """A planted shift of +0.1 on mazes that differ a lot from one another: the paired
    interval is tight around 0.1, far narrower than the spread between mazes."""
    rng = np.random.default_rng(2)
    base = np.repeat(rng.normal(0, 5, size=25), 4)
    after = base + 0.1 + rng.normal(0, 0.01, size=100)
    ids = np.repeat(np.arange(25), 4)
    found = paired_difference(base, after, ids)
    assert found.value == pytest.approx(0.1, abs=0.01)
    assert found.low < 0.1 < found.high and found.width < 0.02
    assert found.method.startswith("paired")
    ratio = paired_difference(base, after, ids, statistic=np.median)
    assert ratio.value == pytest.approx(np.median(after) - np.median(base))


def test_degenerate_and_undefined() -> None:
    assert bootstrap_over_mazes([1.0, 2.0, 3.0], [0, 0, 0]) is None  # one maze
    same = bootstrap_over_mazes([1.0, 1.0, 1.0, 1.0], [0, 0, 1, 1])
    assert same.low == same.value == same.high == 1.0 and "degenerate" in same.method
    with pytest.raises(ValueError, match="NaN or infinite"):
        bootstrap_over_mazes([1.0, float("nan")], [0, 1])
    with pytest.raises(ValueError, match="one maze id per observation"):
        bootstrap_over_mazes([1.0, 2.0], [0, 1, 2])
    with pytest.raises(ValueError, match="one shape"):
        paired_difference([1.0, 2.0], [1.0], [0, 1])


def test_wilson_is_an_estimate_only_for_counted_rates() -> None:
    assert Rate(0, 0).estimate() is None
    e = Rate(3, 10).estimate()
    assert (e.low, e.high) == pytest.approx(Rate(3, 10).interval) and e.method == "Wilson"
    assert Estimate.from_dict(e.as_dict()) == e
    with pytest.raises(ValueError, match="lies in its interval"):
        Estimate(0.5, 0.6, 0.7, 3)


def test_holm_by_hand() -> None:
    # Sorted p: 0.01, 0.02, 0.04 -> 3*0.01, max(0.03, 2*0.02), max(0.04, 1*0.04)
    assert holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, 1.5])


def test_spearman_by_hand() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ties get mean ranks: x ranks 1.5, 1.5, 3, 4 against y ranks 1, 2, 3, 4.
    assert spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1, 2, 3, np.nan], [1, 2, 3, 9]) == pytest.approx(1.0)


def test_two_honest_runs_differ_at_the_5_percent_level_one_time_in_twenty() -> None:
    """2,000 pairs of runs of the same rate (Wilson intervals, 400 mazes each): the re-run lies
    outside the first run's interval about one time in six, but the test of the difference
    rejects about one time in twenty; a planted shift of 0.1 is found about nine times in ten."""
    rng = np.random.default_rng(0)
    outside = rejected = found = 0
    trials = 2000
    for _ in range(trials):
        first, again, shifted = (Rate(int(rng.binomial(400, p)), 400) for p in (0.7, 0.7, 0.8))
        a, b, c = (r.estimate() for r in (first, again, shifted))
        outside += not a.low <= b.value <= a.high
        rejected += independent_difference(a, b)[1] < 0.05
        found += independent_difference(a, c)[1] < 0.05
    assert 0.12 < outside / trials < 0.22
    assert 0.03 < rejected / trials < 0.07
    assert 0.85 < found / trials < 0.96  # the power at this n: about 0.91
    difference, p = independent_difference(Estimate(0.5, 0.4, 0.6, 50), Estimate(0.7, 0.6, 0.8, 50))
    assert difference.value == pytest.approx(0.2) and p == pytest.approx(0.0056, abs=1e-4)
    same = Estimate(1.0, 1.0, 1.0, 20)
    assert independent_difference(same, same)[1] == 1.0  # two degenerate runs that agree
