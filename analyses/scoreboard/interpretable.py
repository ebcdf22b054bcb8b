"""A10: channels after the first IMPALA block that copy a maze feature.

Each channel of the first block's output is correlated (Pearson, over every grid square of
start observations) with four features of the world cell under the square: wall, open,
cheese, mouse. A channel counts as trivially interpretable when |r| with some feature
reaches the threshold. Which channels, and with which feature, is chosen on selection
mazes; the count is of those that reach the threshold again on the test mazes, with a
percentile bootstrap over test mazes (sufficient statistics per maze, so a resample is a
sum). The count is also given at other thresholds (the threshold is our reading).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats as scipy_stats

from hooked_impala.maze import Maze, MazeRenderer, Tile
from hooked_impala.maze.render import OBS_SHAPE
from hooked_impala.model import HookedImpala
from hooked_impala.stats import BOOTSTRAP_RESAMPLES, CONFIDENCE, Estimate

#: The output of the first IMPALA block (prediction A10).
FIRST_BLOCK_OUT = "embedder.block1.res2.resadd_out"
FEATURES = ("wall", "open", "cheese", "mouse")


def square_cells(world_size: int, layer_size: int) -> np.ndarray:
    """``(layer_size,)`` world row (or column, from the left) under each layer square's centre;
    rows count from the bottom, squares from the image's top: use ``[::-1]`` for rows."""
    centres = (np.arange(layer_size) + 0.5) * OBS_SHAPE[0] / layer_size
    return np.floor(centres * world_size / OBS_SHAPE[0]).astype(int)


def maps_and_features(model: HookedImpala, mazes: Sequence[Maze]) -> tuple[np.ndarray, np.ndarray]:
    """``(n, C, L·L)`` activations of the first block's output and ``(n, 4, L·L)`` feature
    indicators of the cell under each square, for the mazes' start observations."""
    with MazeRenderer() as renderer:
        obs = torch.from_numpy(renderer.observe(list(mazes))).to(model.device)
    with torch.no_grad():
        _, cache = model.run_with_cache(obs, names_filter=[FIRST_BLOCK_OUT])
    acts = cache[FIRST_BLOCK_OUT].double().cpu().numpy()
    n, channels, size, _ = acts.shape
    features = np.zeros((n, len(FEATURES), size, size))
    for k, maze in enumerate(mazes):
        rows = square_cells(maze.world_size, size)[::-1]
        cols = square_cells(maze.world_size, size)
        grid = maze.world_grid[np.ix_(rows, cols)]
        features[k, 0] = grid == int(Tile.WALL)
        features[k, 1] = grid != int(Tile.WALL)
        for f, cell in ((2, maze.cheese), (3, maze.mouse)):
            if cell is not None:
                features[k, f] = (rows[:, None] == cell[0]) & (cols[None] == cell[1])
    return acts.reshape(n, channels, -1), features.reshape(n, len(FEATURES), -1)


def moments(acts: np.ndarray, features: np.ndarray, pairs: Sequence[tuple[int, int]]):
    """Per maze and (channel, feature) pair: n, Σx, Σy, Σx², Σy², Σxy ``(mazes, pairs, 6)``."""
    x = acts[:, [c for c, _ in pairs]]  # (n, p, s)
    y = features[:, [f for _, f in pairs]]
    count = np.full(x.shape[:2], x.shape[2], dtype=float)
    return np.stack([count, x.sum(2), y.sum(2), (x * x).sum(2), (y * y).sum(2), (x * y).sum(2)], -1)


def pearson(sums: np.ndarray) -> np.ndarray:
    """Pearson r from summed moments ``(..., 6)``; 0 where either variable is constant."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(sums, -1, 0)
    cov = sxy - sx * sy / n
    vx, vy = sxx - sx * sx / n, syy - sy * sy / n
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vx * vy)
    return np.where((vx > 1e-12 * np.abs(sxx) + 1e-300) & (vy > 0), r, 0.0)


def best_features(acts: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: the feature with the largest |r| over all squares, and that r."""
    channels = acts.shape[1]
    pairs = [(c, f) for c in range(channels) for f in range(len(FEATURES))]
    r = pearson(moments(acts, features, pairs).sum(0)).reshape(channels, len(FEATURES))
    best = np.abs(r).argmax(1)
    return best, r[np.arange(channels), best]


@dataclass(frozen=True)
class Interpretable:
    """Chosen on selection mazes, counted on test mazes.

    Attributes:
        threshold: |r| a channel must reach; ``channels``: of the layer.
        chosen: (channel, feature, r on selection) of the channels chosen.
        test_r: r of each chosen channel with its feature on the test mazes.
        counts: per threshold of ``sensitivity``: the count on the test mazes with its
            bootstrap interval over test mazes.
    """

    threshold: float
    channels: int
    chosen: tuple[tuple[int, str, float], ...]
    test_r: tuple[float, ...]
    counts: dict[float, Estimate | None]
    selection_seeds: tuple[int, ...]
    test_seeds: tuple[int, ...]

    @property
    def count(self) -> Estimate | None:
        return self.counts[self.threshold]

    def as_dict(self) -> dict:
        return {
            "layer": FIRST_BLOCK_OUT,
            "threshold_abs_r": self.threshold,
            "channels": self.channels,
            "chosen": [
                {"channel": c, "feature": f, "selection_r": r, "test_r": t}
                for (c, f, r), t in zip(self.chosen, self.test_r)
            ],
            "counts": {str(t): None if e is None else e.as_dict() for t, e in self.counts.items()},
            "selection_seeds": list(self.selection_seeds),
            "test_seeds": list(self.test_seeds),
        }


def interpretable_channels(
    model: HookedImpala,
    selection: Sequence[Maze],
    test: Sequence[Maze],
    *,
    threshold: float,
    sensitivity: Sequence[float],
    seed: int,
) -> Interpretable:
    """Choose on ``selection`` the channels whose best feature reaches |r| >= each threshold,
    and count on ``test`` those that reach it again, with a bootstrap over test mazes."""
    sel_acts, sel_features = maps_and_features(model, selection)
    test_acts, test_features = maps_and_features(model, test)
    feature, r_sel = best_features(sel_acts, sel_features)
    channels = sel_acts.shape[1]
    levels = sorted({*sensitivity, threshold})
    counts: dict[float, Estimate | None] = {}
    test_r_all = pearson(moments(test_acts, test_features, list(enumerate(feature))).sum(0))  # (C,)
    for level in levels:
        picked = [c for c in range(channels) if abs(r_sel[c]) >= level]
        counts[level] = count_interval(test_acts, test_features, picked, feature, level, seed)
    picked = [c for c in range(channels) if abs(r_sel[c]) >= threshold]
    return Interpretable(
        threshold=threshold,
        channels=channels,
        chosen=tuple((c, FEATURES[feature[c]], float(r_sel[c])) for c in picked),
        test_r=tuple(float(test_r_all[c]) for c in picked),
        counts=counts,
        selection_seeds=tuple(m.seed for m in selection),
        test_seeds=tuple(m.seed for m in test),
    )


def count_interval(
    acts: np.ndarray,
    features: np.ndarray,
    picked: Sequence[int],
    feature: np.ndarray,
    level: float,
    seed: int,
) -> Estimate | None:
    """How many of the ``picked`` channels reach |r| >= ``level`` with their feature on these
    mazes, with a percentile interval from resampling mazes (None below two mazes)."""
    n = len(acts)
    if n < 2:
        return None
    if not picked:
        return Estimate(0.0, 0.0, 0.0, n, "mazes", "none chosen on the selection mazes")
    per_maze = moments(acts, features, [(c, int(feature[c])) for c in picked])

    def statistic(index, axis=-1):
        r = pearson(per_maze[index].sum(-3))  # index (..., n) -> sums (..., p, 6)
        return (np.abs(r) >= level).sum(-1).astype(float)

    value = float(statistic(np.arange(n)))
    result = scipy_stats.bootstrap(
        (np.arange(n),),
        statistic,
        n_resamples=BOOTSTRAP_RESAMPLES,
        vectorized=True,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    method = f"selection/test split; maze bootstrap (percentile, {BOOTSTRAP_RESAMPLES} resamples)"
    return Estimate(value, min(float(low), value), max(float(high), value), n, "mazes", method)
