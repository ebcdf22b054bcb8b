"""Fitting the probes of one hook as the data streams past: linear probes (a random
projection, then streamed ridge fits) and the conv probes; the counts behind the chance and
majority baselines; the hits of the linear probes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Int
from sklearn.random_projection import SparseRandomProjection

from analyses.measure.probe_data import ProbeBatch, open_probe_cells
from analyses.measure.probe_estimators import ConvProbe, StreamingRidge, one_hot
from analyses.probes.labels import ALPHAS, CONV_LABELS, LABELS, LINEAR_LABELS
from hooked_impala.maze import layer_positions


@dataclass
class LinearProbes:
    """The linear probes of one hook: a projection, then two streamed ridge fits (every
    observation: mouse, cheese present, cells open; observations showing the cheese: the
    cheese's cell, one class per world cell, and its row and its column, each a probe of
    its own with one class per world row or column — A5's "Cartesian coordinates")."""

    hook: str
    projector: SparseRandomProjection | None
    every: StreamingRidge
    with_cheese: StreamingRidge
    cells: int  # W²: classes of the location labels
    world: int  # W: classes of the cheese's row and column probes
    alphas: dict[str, float] | None = None  # the chosen relative penalty per label

    @classmethod
    def make(cls, hook: str, size: int, features: int, world: int, k: int, seed: int):
        dim, cells = min(size, features), world * world
        every, with_cheese = StreamingRidge(dim, cells + 1 + k), cheese_ridge(dim, world)
        return cls(hook, projection(size, features, seed), every, with_cheese, cells, world)

    def features(self, acts: torch.Tensor) -> np.ndarray:
        return projected(self.projector, acts)

    def targets(self, batch: ProbeBatch, world: int) -> tuple[np.ndarray, np.ndarray]:
        mouse = batch.mouse[:, 0] * world + batch.mouse[:, 1]
        every = np.concatenate(
            [one_hot(mouse, self.cells), batch.present[:, None], batch.open], axis=1
        )
        return every, cheese_targets(batch, world)

    def update(self, z: np.ndarray, batch: ProbeBatch, world: int) -> None:
        every, cheese = self.targets(batch, world)
        self.every.update(z, every)
        if batch.present.any():
            self.with_cheese.update(z[batch.present], cheese)

    def fit(self) -> None:
        self.every.fit()
        self.with_cheese.fit()

    def answers(
        self, z: np.ndarray, batch: ProbeBatch, relative: dict[str, float]
    ) -> dict[str, np.ndarray]:
        """Predicted values per label: cell classes ``(n,)`` (-1 where the cheese is not
        shown), cheese present ``(n,)``, cells open ``(n, k)``, at the relative penalties;
        besides, ``cheese_row`` and ``cheese_column`` ``(n,)`` (-1 without the cheese) from
        their own probes, at the cheese cell's penalty (validation picks none for them)."""
        c = self.cells
        alpha = np.empty(len(self.every.sum_y))
        alpha[:c] = relative["mouse_cell"] * self.every.scale
        alpha[c] = relative["cheese_present"] * self.every.scale
        alpha[c + 1 :] = relative["cell_open"] * self.every.scale
        out = self.every.decision(z, alpha)
        cheese, row, column = np.full((3, len(z)), -1, dtype=np.int64)
        if batch.present.any():
            found = cheese_answers(
                self.with_cheese, z[batch.present], relative["cheese_cell"], self.world
            )
            cheese[batch.present], row[batch.present], column[batch.present] = found.T
        return {
            "cheese_cell": cheese,
            "cheese_row": row,
            "cheese_column": column,
            "mouse_cell": out[:, :c].argmax(1),
            "cheese_present": out[:, c] > 0.5,
            "cell_open": out[:, c + 1 :] > 0.5,
        }


def projection(size: int, features: int, seed: int) -> SparseRandomProjection | None:
    """The sparse random projection from ``size`` values to ``features`` (None when the
    layer has no more than ``features`` values: the probes see it whole)."""
    if size <= features:
        return None
    projector = SparseRandomProjection(n_components=features, random_state=seed)
    return projector.fit(np.zeros((1, size), dtype=np.float32))


def projected(projector: SparseRandomProjection | None, acts: torch.Tensor) -> np.ndarray:
    """``(n, features)`` float64: the activations ``(n, ...)`` flattened and projected."""
    flat = acts.detach().flatten(1).cpu().numpy()
    if projector is None:
        return flat.astype(np.float64)
    return np.asarray(projector.transform(flat), dtype=np.float64)


def cheese_ridge(dim: int, world: int) -> StreamingRidge:
    """The ridge of the observations showing the cheese: its cell (W² classes), then its
    row and its column (W classes each)."""
    return StreamingRidge(dim, world * world + 2 * world)


def cheese_targets(batch: ProbeBatch, world: int) -> np.ndarray:
    """``cheese_ridge``'s one-hot targets for the observations of ``batch`` showing it."""
    cheese = batch.cheese[batch.present]
    cell = one_hot(cheese[:, 0] * world + cheese[:, 1], world * world)
    return np.concatenate([cell, one_hot(cheese[:, 0], world), one_hot(cheese[:, 1], world)], 1)


def cheese_answers(ridge: StreamingRidge, z: np.ndarray, alpha: float, world: int) -> np.ndarray:
    """``(n, 3)`` the cheese cell, row and column ``ridge`` answers for features ``z`` of
    observations showing the cheese, at the relative penalty ``alpha``."""
    scores = ridge.decision(z, alpha * ridge.scale)
    c = world * world
    parts = (scores[:, :c], scores[:, c : c + world], scores[:, c + world :])
    return np.stack([p.argmax(1) for p in parts], axis=1)


class Refits:
    """A5's cheese probes fitted again ``count`` times, each on a bootstrap resample of the
    training mazes (every maze weighted by a Poisson(1) draw: a maze drawn twice counts
    twice) and through its own random projection, at the penalty the main probe chose.

    Their accuracies on the same test mazes spread as a re-run's probe would for its other
    training mazes and projection: the spread the test-maze bootstrap does not see (a
    re-run of the committed full run differed from it by more than that bootstrap allowed).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        features: int,
        world: int,
        train_seeds: Int[np.ndarray, " m"],
        count: int,
        seed: int,
    ):
        self.world, self.train_seeds = world, np.asarray(train_seeds)
        rng = np.random.default_rng([seed, 0xB007])
        # (count, training mazes): how often each refit draws each maze.
        self.weights = rng.poisson(1.0, (count, len(self.train_seeds))).astype(np.float64)
        size, dim = math.prod(shape), min(math.prod(shape), features)
        self.projectors = [
            projection(size, features, int(s)) for s in rng.integers(0, 2**31 - 1, count)
        ]
        self.ridges = [cheese_ridge(dim, world) for _ in range(count)]

    def train(self, acts: torch.Tensor, batch: ProbeBatch) -> None:
        if not batch.present.any():
            return
        shown = acts[torch.from_numpy(batch.present)]
        maze = np.searchsorted(self.train_seeds, batch.maze_seed[batch.present])
        targets = cheese_targets(batch, self.world)
        for projector, ridge, weights in zip(self.projectors, self.ridges, self.weights):
            ridge.update(projected(projector, shown), targets, weights[maze])

    def fit(self) -> None:
        for ridge in self.ridges:
            ridge.fit()

    def predict(self, acts: torch.Tensor, batch: ProbeBatch, alpha: float) -> np.ndarray:
        """``(count, n, 3)`` each refit's cheese cell, row and column (-1 where the cheese is
        not shown) at the relative penalty ``alpha``."""
        out = np.full((len(self.ridges), len(batch.present), 3), -1, dtype=np.int64)
        if batch.present.any():
            shown = acts[torch.from_numpy(batch.present)]
            for r, (projector, ridge) in enumerate(zip(self.projectors, self.ridges)):
                z = projected(projector, shown)
                out[r, batch.present] = cheese_answers(ridge, z, alpha, self.world)
        return out


def flat_squares(cells: Int[np.ndarray, "n 2"], world: int, side: int) -> Int[np.ndarray, " n"]:
    """Flat ``i·S + j`` grid squares under world ``cells`` on a ``side``-square layer."""
    ij = layer_positions([tuple(c) for c in cells.tolist()], world, side)
    return ij[:, 0] * side + ij[:, 1]


class LayerProbes:
    """Every probe of one hook: the linear probes, and the two conv probes if the hook is a
    square spatial map (``side`` > 0)."""

    def __init__(self, hook: str, shape: tuple[int, ...], features: int, world: int, seed: int):
        self.hook, self.world = hook, world
        k = len(open_probe_cells(world))
        self.linear = LinearProbes.make(hook, math.prod(shape), features, world, k, seed)
        spatial = len(shape) == 3 and shape[1] == shape[2]
        self.side = shape[1] if spatial else 0
        self.conv: list[ConvProbe] = []
        if spatial:
            every_cell = np.array([(r, c) for r in range(world) for c in range(world)])
            candidates = np.unique(flat_squares(every_cell, world, self.side))
            self.conv = [ConvProbe(shape[0], self.side, candidates) for _ in CONV_LABELS]

    def train(self, acts: torch.Tensor, batch: ProbeBatch, conv_steps: int) -> None:
        self.linear.update(self.linear.features(acts), batch, self.world)
        if self.conv:
            present = batch.present
            cheese = flat_squares(batch.cheese[present], self.world, self.side)
            self.conv[0].train(acts[torch.from_numpy(present)], cheese, conv_steps)
            self.conv[1].train(acts, flat_squares(batch.mouse, self.world, self.side), conv_steps)

    def validate(self, acts: torch.Tensor, batch: ProbeBatch) -> np.ndarray:
        """``(4, len(ALPHAS))`` correct linear answers at each relative penalty."""
        z = self.linear.features(acts)
        return np.stack(
            [
                linear_hits(
                    self.linear.answers(z, batch, dict.fromkeys(LINEAR_LABELS, alpha)),
                    batch,
                    self.world,
                ).sum(0)
                for alpha in ALPHAS
            ],
            axis=1,
        )

    def test(self, acts: torch.Tensor, batch: ProbeBatch) -> dict[str, np.ndarray]:
        """Per observation: ``hits`` ``(n, 6)`` over ``LABELS`` (-1: no conv probe),
        ``within`` ``(n, 2)`` conv answers within one square, ``cheese_pred``,
        ``cheese_row_pred``, ``cheese_column_pred`` ``(n,)`` the linear probes' answers."""
        n = len(batch)
        answers = self.linear.answers(self.linear.features(acts), batch, self.linear.alphas)
        hits = np.full((n, len(LABELS)), -1, np.int16)
        within = np.full((n, len(CONV_LABELS)), -1, np.int16)
        hits[:, : len(LINEAR_LABELS)] = linear_hits(answers, batch, self.world)
        side = self.side
        for c, (probe, cells) in enumerate(zip(self.conv, (batch.cheese, batch.mouse))):
            defined = cells[:, 0] >= 0
            squares = flat_squares(np.where(defined[:, None], cells, 0), self.world, side)
            pred = probe.predict(acts)
            near = (np.abs(pred // side - squares // side) <= 1) & (
                np.abs(pred % side - squares % side) <= 1
            )
            hits[:, len(LINEAR_LABELS) + c] = (pred == squares) & defined
            within[:, c] = near & defined
        return {
            "hits": hits,
            "within": within,
            "cheese_pred": answers["cheese_cell"],
            "cheese_row_pred": answers["cheese_row"],
            "cheese_column_pred": answers["cheese_column"],
        }


@dataclass
class LabelCounts:
    """How often each label value occurs among the training observations: chance levels and
    majority answers come from these."""

    world: int
    n: int = 0
    cheese: np.ndarray | None = None  # (W²,) per world cell
    mouse: np.ndarray | None = None
    present: np.ndarray | None = None  # (2,) absent, present
    open: np.ndarray | None = None  # (k,) open count per probed cell

    def add(self, batch: ProbeBatch) -> None:
        w2 = self.world * self.world
        if self.cheese is None:
            k = batch.open.shape[1]
            self.cheese, self.mouse = np.zeros(w2, np.int64), np.zeros(w2, np.int64)
            self.present, self.open = np.zeros(2, np.int64), np.zeros(k, np.int64)
        shown = batch.cheese[batch.present]
        self.n += len(batch)
        self.cheese += np.bincount(shown[:, 0] * self.world + shown[:, 1], minlength=w2)
        self.mouse += np.bincount(batch.mouse[:, 0] * self.world + batch.mouse[:, 1], minlength=w2)
        self.present += np.bincount(batch.present.astype(np.int64), minlength=2)
        self.open += batch.open.sum(0)

    def n_train(self) -> dict[str, int]:
        shown = int(self.present[1])
        return {
            **dict.fromkeys(("cheese_cell", "cheese_square"), shown),
            **dict.fromkeys(("mouse_cell", "cheese_present", "cell_open", "mouse_square"), self.n),
        }

    def baselines(
        self, test: dict[str, np.ndarray], sides: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chance ``(H, 6)`` and the majority answer's hits ``(n_test, 6, H)`` over
        ``LABELS``; chance is NaN where a hook has no probe of the label."""
        world, present = self.world, test["present"]
        cheese = np.where(present, test["cheese"][:, 0] * world + test["cheese"][:, 1], -1)
        mouse = test["mouse"][:, 0] * world + test["mouse"][:, 1]
        chance = np.full((len(sides), len(LABELS)), np.nan)
        hits = np.zeros((len(present), len(LABELS), len(sides)), np.int16)
        # np.argmax takes the first of equal counts, as the ridge probe's argmax does on a
        # constant layer; binary ties go to "no", as its ½ threshold does.
        linear = {
            "cheese_cell": (self.cheese, cheese == np.argmax(self.cheese)),
            "mouse_cell": (self.mouse, mouse == np.argmax(self.mouse)),
            "cheese_present": (self.present, present == (self.present[1] > self.present[0])),
            "cell_open": (np.ones(2), (test["open"] == (2 * self.open > self.n)).sum(1)),
        }
        for k, (counted, hit) in enumerate(linear.values()):
            chance[:, k] = 1.0 / max(1, int((counted > 0).sum()))
            hits[:, k, :] = hit[:, None]
        every_cell = np.array([(r, c) for r in range(world) for c in range(world)])
        for h, side in enumerate(sides):
            if not side:
                continue
            squares = flat_squares(every_cell, world, side)
            for c, (counted, index) in enumerate(((self.cheese, cheese), (self.mouse, mouse))):
                per_square = np.bincount(squares, weights=counted, minlength=side * side)
                k = len(LINEAR_LABELS) + c
                chance[h, k] = 1.0 / max(1, int((per_square > 0).sum()))
                top = int(np.argmax(per_square))  # the conv probe's tie rule on a flat map
                hits[:, k, h] = (index >= 0) & (squares[np.maximum(index, 0)] == top)
        return chance, hits


def linear_hits(answers: dict[str, np.ndarray], batch: ProbeBatch, world: int) -> np.ndarray:
    """``(n, 4)`` correct answers per observation for ``LINEAR_LABELS`` (0..k for
    ``cell_open``; 0 for the cheese cell where the cheese is not shown)."""
    present = batch.present
    cheese = np.where(present, batch.cheese[:, 0] * world + batch.cheese[:, 1], -1)
    return np.stack(
        [
            (answers["cheese_cell"] == cheese) & present,
            answers["mouse_cell"] == batch.mouse[:, 0] * world + batch.mouse[:, 1],
            answers["cheese_present"] == present,
            (answers["cell_open"] == batch.open).sum(1),
        ],
        axis=1,
    ).astype(np.int16)
