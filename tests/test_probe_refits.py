"""A5's refitted probes: a weighted row counts as that many copies of it, refits on
resampled mazes read a planted position, and their spread widens A5's interval by exactly
the quadrature sum (and not at all when every refit agrees)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from analyses.core.inputs import DEFAULT_LAYER
from analyses.measure.probe_estimators import StreamingRidge
from analyses.probes import readings
from analyses.probes.fitting import Refits
from hooked_impala.stats import Z_95, Estimate, widened


def test_a_weighted_row_counts_as_that_many_copies() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 6)) + 2.0, rng.normal(size=(50, 3))
    weights = rng.poisson(1.0, 50).astype(float)
    weighted, repeated = StreamingRidge(6, 3), StreamingRidge(6, 3)
    for start in range(0, 50, 16):  # in batches, as the activations stream past
        part = slice(start, start + 16)
        weighted.update(x[part], y[part], weights[part])
    copies = np.repeat(np.arange(50), weights.astype(int))
    repeated.update(x[copies], y[copies])
    weighted.fit(), repeated.fit()
    assert weighted.n == len(copies)
    for alpha in (0.1, 10.0):
        assert np.allclose(weighted.decision(x, alpha), repeated.decision(x, alpha), atol=1e-9)
    with pytest.raises(ValueError, match="row weights"):
        StreamingRidge(6, 3).update(x, y, -weights)


def test_widened_adds_the_spread_in_quadrature_and_stays_in_bounds() -> None:
    e = Estimate(0.5, 0.4, 0.65, 100, "mazes", "bootstrap")
    spread = np.array([0.45, 0.5, 0.55])
    sd = spread.std(ddof=1)
    w = widened(e, spread, "3 refits", (0.0, 1.0))
    assert w.low == pytest.approx(0.5 - np.hypot(0.1, Z_95 * sd))
    assert w.high == pytest.approx(0.5 + np.hypot(0.15, Z_95 * sd))
    assert (w.value, w.n, w.unit) == (0.5, 100, "mazes") and "3 refits" in w.method
    assert widened(e, [0.3, 0.3], "same").low == pytest.approx(0.4)  # no spread, no change
    near_top = widened(Estimate(0.98, 0.95, 1.0, 10), [0.7, 0.99], "wide", (0.0, 1.0))
    assert near_top.high == 1.0
    for bad in ([0.5], [0.5, np.nan]):
        with pytest.raises(ValueError, match="two or more finite"):
            widened(e, bad, "bad")


def planted_result(refit_predictions) -> SimpleNamespace:
    """40 test mazes, one observation each; the main probe is right in the even mazes."""
    n, world = 40, 5
    cheese = np.tile([[1, 2]], (n, 1))
    right = np.arange(n) % 2 == 0
    return SimpleNamespace(
        hooks=[DEFAULT_LAYER],
        labels=["cheese_cell"],
        test_seed=np.arange(n),
        test_cheese=cheese,
        world_size=world,
        cheese_cell_prediction=np.where(right, 1 * world + 2, 0)[:, None],
        cheese_row_prediction=np.where(right, 1, 0)[:, None],
        cheese_column_prediction=np.where(right, 2, 0)[:, None],
        refit_predictions=refit_predictions,
    )


def test_a5s_interval_widens_by_the_refits_spread() -> None:
    plain = readings.a5(planted_result(None))
    assert plain["refits"] == 0
    # Refits that all answer as the main probe: the interval is the bootstrap's.
    base = planted_result(None)
    main = [base.cheese_cell_prediction, base.cheese_row_prediction, base.cheese_column_prediction]
    same = np.stack([np.concatenate(main, axis=1)] * 4)
    agreeing = readings.a5(planted_result(same))
    assert agreeing["refits"] == 4
    assert agreeing["exact_cell"]["ci95"] == pytest.approx(plain["exact_cell"]["ci95"])
    # Refits right in 16, 20, 24 mazes: accuracies 0.4, 0.5, 0.6 (sd 0.1).
    spread = np.zeros((3, 40, 3), dtype=np.int64)
    for r, k in enumerate((16, 20, 24)):
        spread[r, :k] = [1 * 5 + 2, 1, 2]
    wide = readings.a5(planted_result(spread))
    value, (low, high) = plain["exact_cell"]["value"], plain["exact_cell"]["ci95"]
    assert wide["exact_cell"]["value"] == value == 0.5
    assert wide["exact_cell"]["ci95"][0] == pytest.approx(value - np.hypot(value - low, Z_95 * 0.1))
    assert wide["exact_cell"]["ci95"][1] == pytest.approx(
        value + np.hypot(high - value, Z_95 * 0.1)
    )
    assert wide["row_and_column"]["ci95"][0] < plain["row_and_column"]["ci95"][0]
    assert wide["row"] == plain["row"]  # the single coordinates are not widened


def test_refits_resample_mazes_and_read_a_planted_cheese() -> None:
    """The activations are the cheese's cell one-hot (plus noise): every refit, whatever
    mazes it drew and whatever its projection, reads it; each maze's weight is a Poisson
    draw, and observations without the cheese answer -1."""
    rng = np.random.default_rng(0)
    world, n, count = 4, 240, 5
    mazes = np.repeat(np.arange(60), 4)
    cheese = rng.integers(0, world, size=(n, 2))
    acts = torch.from_numpy(
        np.eye(world * world)[cheese[:, 0] * world + cheese[:, 1]].repeat(4, 1)
        + 0.01 * rng.normal(size=(n, 4 * world * world))
    )
    present = rng.random(n) > 0.2
    batch = SimpleNamespace(cheese=cheese, present=present, maze_seed=mazes)
    refits = Refits((4 * world * world,), 32, world, np.arange(60), count, seed=3)
    assert refits.weights.shape == (count, 60) and 0.8 < refits.weights.mean() < 1.2
    assert len({p.random_state for p in refits.projectors}) == count  # one projection each
    refits.train(acts, batch)
    refits.fit()
    got = refits.predict(acts, batch, 1e-3)
    assert got.shape == (count, n, 3)
    assert (got[:, ~present] == -1).all()
    want = np.stack([cheese[:, 0] * world + cheese[:, 1], cheese[:, 0], cheese[:, 1]], 1)
    assert (got[:, present] == want[present]).mean() > 0.95
    # A refit sees only the mazes it drew: one drawing none at all has nothing to fit.
    empty = Refits((4 * world * world,), 32, world, np.arange(60), 1, seed=3)
    empty.weights[:] = 0
    empty.train(acts, batch)
    with pytest.raises(ValueError, match="no rows"):
        empty.fit()
