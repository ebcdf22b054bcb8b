"""Probes: where in the network is the cheese's (and the mouse's) location known?

Mini, Udell, Turner et al. report that convolutional probes recover the cheese's location
nearly perfectly from blocks 1–2, that whether a cell is open is recoverable perfectly in
block 1 and near chance in block 3, and a "found the cheese" probe at 78–85% against a 68%
baseline. Pre-registered predictions: linear probes at the first residual add of block 2
recover the cheese position with more than 70% accuracy (A5); some layer recovers the exact
cheese location with more than 90% accuracy for every maze size (B8).

**Data.** Every level of a seed range (:class:`~analyses.inputs.Levels`), each with the
mouse on ``positions_per_maze`` open cells of its inner maze (not the cheese's), drawn with
a seeded rng per maze, facing left or right at random; each observation has its cheese
removed (``Maze.without_cheese``) with probability ``without_cheese``. The placements are
rendered by procgen in batches of edited mazes: for a few placements per maze that is
cheaper than ``observe_mouse_on_cells``, which draws a background frame plus one frame per
``(row mod 3, col mod 3)`` group (0.75 s against 1.5 s for 300 mazes × 4). Labels, all in
world cells ``(row, col)``, row 0 at the bottom:

===============  =======  ===========================================================
label            probe    value
===============  =======  ===========================================================
cheese_cell      linear   the cheese's world cell, class ``row·W + col`` (W = world
                          side), on observations that show the cheese: the *exact* cell
mouse_cell       linear   the mouse's world cell, same classes, every observation
cheese_present   linear   whether the cheese is in the picture
cell_open        linear   for each cell of the world's central 5×5 block, open or wall
                          (one binary output per cell; accuracy over (observation, cell))
cheese_square    conv     the layer's grid square under the cheese cell's centre
mouse_square     conv     the same for the mouse
===============  =======  ===========================================================

**Split.** The levels are split *by maze* (a seeded permutation of the seeds): 70% train,
10% validation (the ridge penalty), 20% test (``test_fraction``); every observation of a
maze is in its maze's set, so the test mazes are unseen. Accuracy is on the test mazes,
with a 95% Wilson interval, against *chance* (1/K, K = the number of distinct values of the
label in the training set; 1/2 for ``cell_open``) and the *majority* baseline (always answer
the training set's most frequent value; per cell for ``cell_open``).

**Linear probes, streamed.** A 10k-observation cache of block 1 at s = 4 (65,536 values per
observation) would not fit in memory, so nothing is cached: activations are computed a batch
at a time through the hook API and reduced on the spot.

* Each layer with more than ``features`` values is mapped to ``features`` dimensions by a
  fixed sparse random projection (scikit-learn's ``SparseRandomProjection``, density
  1/√D: about √D·``features`` non-zeros, 3 MB at block 1 of s = 4). Random projections
  keep linear structure (Johnson–Lindenstrauss); pooling the map instead would blur exactly
  the spatial detail a location probe needs (in a side check on 400 s = 1 levels, a ridge
  probe of the mouse's cell at block 1 scored 96% on the full layer, 94% on a 1,024-d
  projection and 65% on the layer average-pooled to 8×8).
* The probe is scikit-learn's ``RidgeClassifier`` (least squares on one-hot targets with an
  intercept; argmax, or threshold ½ for binary labels), fitted from its sufficient
  statistics (n, Σx, Σy, XᵀX, XᵀY), which are summed batch by batch: the fit is exact —
  ``tests/test_probes.py`` checks it against ``RidgeClassifier`` itself — and its memory
  does not grow with the number of levels. Least squares rather than logistic regression:
  one D×D factorisation serves every label and penalty, and in that side check (1,600
  observations) it was as accurate as ``LogisticRegression`` or better, in seconds instead
  of minutes.
* The penalty α is chosen per layer and label on the validation mazes from
  ``ALPHAS`` × (mean eigenvalue of the centred XᵀX).

**Convolutional probes.** A 1×1 convolution (C → 1) scores every grid square of a spatial
layer; a softmax over the squares that hold some world cell's centre
(:func:`~hooked_impala.maze.layer_positions`) gives the predicted square. It has C weights
(a bias is a constant over squares: it cannot change a softmax), is trained with Adam
online, deterministically (from zero weights, in batch order), ``conv_steps`` steps spread
over the training batches as they stream past, and ties go to the square most frequent in
training (so a probe of a constant layer scores the majority baseline). Accuracy is the
*square* accuracy: in easy mode a layer of side ≥ 15 (blocks 1 and 2) has one cell centre
per square, so square = exact cell; block 3's 8×8 grid (and hard mode's 25×25 world on
block 2's 16×16) puts two or more cells' centres in some squares, and there the square is
coarser than the cell. Also reported: answers within one square (Chebyshev).

**Memory bound.** Per layer: two D×D and D×(2W² + 26) float64 sums (D = ``features``;
about 20 MB at D = 1024 in easy mode; after the fit, the eigenvectors take their place),
the projection, C probe weights; plus the observations of one block of 128 levels (12 KB
per observation; with the dataset made on Ray, up to twice ``workers`` blocks that finished
ahead of their turn) and one batch of activations of every probed hook. Only
per-test-observation hit counts (bytes) grow with the number of levels.

**Where the data is made.** Rendering the placements is a sweep (``--ray``,
``--ray-address``, ``--workers``; :func:`analyses.probe_data.probe_dataset`): blocks of
levels made in this process or as Ray tasks, passed on in order. The forward passes and the
fits stay in this process, so the result does not depend on it.

    python -m analyses.probes --checkpoint model_160022528 --mazes 2000
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import operator
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Int
from plotly.subplots import make_subplots
from sklearn.random_projection import SparseRandomProjection
from tqdm.auto import tqdm

from analyses import cli as analyses_cli
from analyses.inputs import DEFAULT_LAYER, Levels
from analyses.probe_data import (
    VALIDATION_FRACTION,
    ProbeBatch,
    fraction,
    open_probe_cells,
    probe_dataset,
    split_levels,
)
from analyses.probe_estimators import ConvProbe, StreamingRidge, one_hot
from analyses.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.spec import SWEEP_OPTIONS, Analysis, Option
from hooked_impala import checks, cli
from hooked_impala.maze import (
    WORLD_SIZES,
    layer_positions,
)
from hooked_impala.model import HookedImpala
from hooked_impala.stats import Rate
from hooked_impala.sweep import Backend

__all__ = [
    "DEFAULT_HOOKS",
    "LABELS",
    "ProbesResult",
    "run",
]

DEFAULT_HOOKS: tuple[str, ...] = (
    *(f"embedder.block{b}.res{r}.resadd_out" for b in (1, 2, 3) for r in (1, 2)),
    "embedder.relu3_out",
    "embedder.fc_out",
)
LINEAR_LABELS: tuple[str, ...] = ("cheese_cell", "mouse_cell", "cheese_present", "cell_open")
CONV_LABELS: tuple[str, ...] = ("cheese_square", "mouse_square")
LABELS: tuple[str, ...] = LINEAR_LABELS + CONV_LABELS
# Ridge penalties, in units of the mean eigenvalue of the centred Gram matrix, so the same
# grid suits layers of any scale; the validation mazes pick one per layer and label.
ALPHAS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
B8_THRESHOLD = 0.9
A5_THRESHOLD = 0.7


# --- linear probes ---------------------------------------------------------------------------


@dataclass
class LinearProbes:
    """The linear probes of one hook: a projection, then two streamed ridge fits (every
    observation: mouse, cheese present, cells open; observations showing the cheese:
    cheese cell)."""

    hook: str
    projector: SparseRandomProjection | None
    every: StreamingRidge
    with_cheese: StreamingRidge
    cells: int  # W²: classes of the location labels
    alphas: dict[str, float] | None = None  # the chosen relative penalty per label

    @classmethod
    def make(cls, hook: str, size: int, features: int, world: int, k: int, seed: int):
        projector = None
        if size > features:
            projector = SparseRandomProjection(n_components=features, random_state=seed)
            projector.fit(np.zeros((1, size), dtype=np.float32))
        dim = min(size, features)
        cells = world * world
        return cls(
            hook, projector, StreamingRidge(dim, cells + 1 + k), StreamingRidge(dim, cells), cells
        )

    def features(self, acts: torch.Tensor) -> np.ndarray:
        flat = acts.detach().flatten(1).cpu().numpy()
        if self.projector is None:
            return flat.astype(np.float64)
        return np.asarray(self.projector.transform(flat), dtype=np.float64)

    def targets(self, batch: ProbeBatch, world: int) -> tuple[np.ndarray, np.ndarray]:
        mouse = batch.mouse[:, 0] * world + batch.mouse[:, 1]
        every = np.concatenate(
            [one_hot(mouse, self.cells), batch.present[:, None], batch.open], axis=1
        )
        cheese = batch.cheese[batch.present]
        return every, one_hot(cheese[:, 0] * world + cheese[:, 1], self.cells)

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
        shown), cheese present ``(n,)``, cells open ``(n, k)``, at the relative penalties."""
        c = self.cells
        alpha = np.empty(len(self.every.sum_y))
        alpha[:c] = relative["mouse_cell"] * self.every.scale
        alpha[c] = relative["cheese_present"] * self.every.scale
        alpha[c + 1 :] = relative["cell_open"] * self.every.scale
        out = self.every.decision(z, alpha)
        cheese = np.full(len(z), -1, dtype=np.int64)
        if batch.present.any():
            scores = self.with_cheese.decision(
                z[batch.present], relative["cheese_cell"] * self.with_cheese.scale
            )
            cheese[batch.present] = scores.argmax(1)
        return {
            "cheese_cell": cheese,
            "mouse_cell": out[:, :c].argmax(1),
            "cheese_present": out[:, c] > 0.5,
            "cell_open": out[:, c + 1 :] > 0.5,
        }


def flat_squares(cells: Int[np.ndarray, "n 2"], world: int, side: int) -> Int[np.ndarray, " n"]:
    """Flat ``i·S + j`` grid squares under world ``cells`` on a ``side``-square layer."""
    ij = layer_positions([tuple(c) for c in cells.tolist()], world, side)
    return ij[:, 0] * side + ij[:, 1]


# --- result ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ProbesResult(AnalysisResult):
    """Held-out probe accuracies, layer × label.

    Attributes:
        hooks: probed hooks (forward order as given); labels: ``LABELS`` probed (no
            ``cheese_present`` when no cheese was removed).
        mode, world_size, levels, features, conv_steps, positions_per_maze: the settings.
        split_seeds: ``{"train", "validation", "test"}`` level seeds.
        n_train, n_test: ``(L,)`` observations carrying each label per set.
        hits: ``(n_test, H, L)`` correct answers per test observation (0..k for
            ``cell_open``, -1 where the probe does not apply: conv labels of non-spatial
            layers); trials: ``(n_test, L)`` answers asked (0 where the label is undefined,
            k for ``cell_open``); majority_hits: ``(n_test, L, H)`` hits of the majority
            answer (conv labels: per layer resolution).
        chance, majority: ``(H, L)`` (NaN where the probe does not apply).
        within_one: ``(n_test, H, 2)`` conv predictions within one square (Chebyshev).
        alphas: ``(H, 4)`` chosen relative ridge penalties of the linear labels.
        layer_sides: ``(H,)`` grid side of spatial hooks (0 otherwise).
        test_seed, test_size: ``(n_test,)`` each test observation's maze.
        test_cheese, cheese_cell_prediction: ``(n_test, 2)`` true cheese cell and
            ``(n_test, H)`` the linear probe's class (-1 without cheese), for A5.
    """

    hooks: list[str]
    labels: list[str]
    mode: str
    world_size: int
    levels: int
    features: int
    conv_steps: int
    positions_per_maze: int
    split_seeds: dict[str, np.ndarray]
    n_train: np.ndarray
    n_test: np.ndarray
    hits: np.ndarray
    trials: np.ndarray
    majority_hits: np.ndarray
    chance: np.ndarray
    majority: np.ndarray
    within_one: np.ndarray
    alphas: np.ndarray
    layer_sides: np.ndarray
    test_seed: np.ndarray
    test_size: np.ndarray
    test_cheese: np.ndarray
    cheese_cell_prediction: np.ndarray

    # -- rates

    def applies(self, hook: int, label: int) -> bool:
        return bool((self.hits[:, hook, label] >= 0).all()) and self.trials[:, label].sum() > 0

    def rate(self, hook: int, label: int, rows: np.ndarray | None = None) -> Rate:
        keep = slice(None) if rows is None else rows
        return Rate(
            int(self.hits[keep, hook, label].clip(0).sum()), int(self.trials[keep, label].sum())
        )

    def majority_rate(self, hook: int, label: int, rows: np.ndarray | None = None) -> Rate:
        keep = slice(None) if rows is None else rows
        return Rate(
            int(self.majority_hits[keep, label, hook].sum()), int(self.trials[keep, label].sum())
        )

    def accuracy(self) -> np.ndarray:
        """``(H, L)`` held-out accuracy (NaN where the probe does not apply)."""
        out = np.full((len(self.hooks), len(self.labels)), np.nan)
        for h in range(len(self.hooks)):
            for k in range(len(self.labels)):
                if self.applies(h, k):
                    out[h, k] = self.rate(h, k).value
        return out

    def best_layers(self) -> dict[str, int]:
        """Label -> index of the hook with the highest accuracy (first of equals)."""
        acc = self.accuracy()
        return {
            label: int(np.nanargmax(acc[:, k]))
            for k, label in enumerate(self.labels)
            if not np.isnan(acc[:, k]).all()
        }

    def by_maze_size(self, hook: int, label: int) -> dict[int, tuple[Rate, Rate]]:
        """Maze size -> (probe accuracy, majority baseline) on the test observations."""
        out = {}
        for size in np.unique(self.test_size):
            rows = self.test_size == size
            if self.trials[rows, label].sum():
                out[int(size)] = (
                    self.rate(hook, label, rows),
                    self.majority_rate(hook, label, rows),
                )
        return out

    def resolves_cells(self, hook: int) -> bool:
        """True if the hook's grid puts every world cell's centre on its own square."""
        return int(self.layer_sides[hook]) >= self.world_size

    def a5(self) -> dict | None:
        """Linear cheese-cell probe at the first residual add of block 2 (prediction A5):
        exact cell, and row and column separately ("Cartesian coordinates")."""
        if DEFAULT_LAYER not in self.hooks or "cheese_cell" not in self.labels:
            return None
        h = self.hooks.index(DEFAULT_LAYER)
        shown = self.test_cheese[:, 0] >= 0
        pred = self.cheese_cell_prediction[shown, h]
        true = self.test_cheese[shown]
        rows, cols = pred // self.world_size, pred % self.world_size
        exact = self.rate(h, self.labels.index("cheese_cell"))
        return {
            "layer": DEFAULT_LAYER,
            "exact_cell": exact.as_dict(),
            "row": Rate(int((rows == true[:, 0]).sum()), len(true)).as_dict(),
            "column": Rate(int((cols == true[:, 1]).sum()), len(true)).as_dict(),
            "above_70_percent": exact.value is not None and exact.value > A5_THRESHOLD,
        }

    def b8(self) -> dict | None:
        """The probe of the exact cheese cell whose worst maze size is best (prediction B8):
        the linear cheese-cell probes, and conv probes on layers that resolve cells."""
        candidates = []
        for label in ("cheese_cell", "cheese_square"):
            if label not in self.labels:
                continue
            k = self.labels.index(label)
            for h in range(len(self.hooks)):
                if not self.applies(h, k) or (
                    label == "cheese_square" and not self.resolves_cells(h)
                ):
                    continue
                sizes = self.by_maze_size(h, k)
                # The lowest accuracy; among equals, the one with the lowest interval bound.
                worst = min(sizes, key=lambda s: (sizes[s][0].value, sizes[s][0].interval[0]))
                candidates.append((sizes[worst][0].value, h, label, worst, sizes))
        if not candidates:
            return None
        value, h, label, worst, sizes = max(candidates, key=lambda c: c[0])
        return {
            "layer": self.hooks[h],
            "probe": label,
            "worst_maze_size": worst,
            "worst_size_accuracy": sizes[worst][0].as_dict(),
            "by_maze_size": {s: r.as_dict() for s, (r, _) in sizes.items()},
            "above_90_percent_for_every_size": value > B8_THRESHOLD,
        }

    # -- views

    def table(self) -> list[dict]:
        rows = []
        for h, hook in enumerate(self.hooks):
            for k, label in enumerate(self.labels):
                if not self.applies(h, k):
                    continue
                conv = label in CONV_LABELS
                row = {
                    "layer": hook,
                    "label": label,
                    "probe": "conv" if conv else "linear",
                    "accuracy": self.rate(h, k).as_dict(),
                    "chance": float(self.chance[h, k]),
                    "majority": float(self.majority[h, k]),
                    "n_train": int(self.n_train[k]),
                    "n_test": int(self.n_test[k]),
                }
                if conv:
                    c = CONV_LABELS.index(label)
                    row["within_one_square"] = Rate(
                        int(self.within_one[:, h, c].clip(0).sum()), int(self.trials[:, k].sum())
                    ).as_dict()
                    row["square_is_cell"] = self.resolves_cells(h)
                else:
                    row["ridge_alpha_relative"] = float(self.alphas[h, LINEAR_LABELS.index(label)])
                rows.append(row)
        return rows

    def numbers(self) -> dict:
        best = self.best_layers()
        return {
            "levels": self.levels,
            "mode": self.mode,
            "mazes": {name: len(s) for name, s in self.split_seeds.items()},
            "test_observations": int(len(self.test_seed)),
            "positions_per_maze": self.positions_per_maze,
            "features": self.features,
            "conv_steps": self.conv_steps,
            "table": self.table(),
            "best_layer": {
                label: {
                    "layer": self.hooks[h],
                    "accuracy": self.rate(h, self.labels.index(label)).as_dict(),
                }
                for label, h in best.items()
            },
            "by_maze_size_at_best_layer": {
                label: {
                    "layer": self.hooks[h],
                    "sizes": {
                        s: {"accuracy": r.as_dict(), "majority": m.value}
                        for s, (r, m) in self.by_maze_size(h, self.labels.index(label)).items()
                    },
                }
                for label, h in best.items()
            },
            "a5": self.a5(),
            "b8": self.b8(),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "hooks": np.array(self.hooks),
            "labels": np.array(self.labels),
            "accuracy": self.accuracy(),
            "chance": self.chance,
            "majority": self.majority,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "hits": self.hits,
            "trials": self.trials,
            "majority_hits": self.majority_hits,
            "within_one": self.within_one,
            "ridge_alpha_relative": self.alphas,
            "test_seed": self.test_seed,
            "test_maze_size": self.test_size,
            "test_cheese": self.test_cheese,
            "cheese_cell_prediction": self.cheese_cell_prediction,
            **{f"{name}_seeds": s for name, s in self.split_seeds.items()},
        }

    def figures(self) -> dict[str, go.Figure]:
        return {
            "accuracy_by_layer": self.layer_figure(),
            "accuracy_by_maze_size": self.size_figure(),
        }

    def layer_figure(self) -> go.Figure:
        names = [short(h) for h in self.hooks]
        cols = 3
        rows = math.ceil(len(self.labels) / cols)
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(self.labels))
        for k in range(len(self.labels)):
            r, c = k // cols + 1, k % cols + 1
            layers = [h for h in range(len(self.hooks)) if self.applies(h, k)]
            if not layers:
                continue
            x = [names[h] for h in layers]
            rates = [self.rate(h, k) for h in layers]
            low = [rt.value - rt.interval[0] for rt in rates]
            high = [rt.interval[1] - rt.value for rt in rates]
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[rt.value for rt in rates],
                    mode="lines+markers",
                    name="probe",
                    legendgroup="probe",
                    showlegend=k == 0,
                    line={"color": "#1f77b4"},
                    error_y={"type": "data", "array": high, "arrayminus": low},
                    customdata=[[rt.k, rt.n] for rt in rates],
                    hovertemplate="%{x}: %{y:.1%} (%{customdata[0]}/%{customdata[1]})"
                    "<extra></extra>",
                ),
                row=r,
                col=c,
            )
            for what, values, dash, colour in (
                ("majority", self.majority, "dash", "#d62728"),
                ("chance", self.chance, "dot", "#7f7f7f"),
            ):
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=[float(values[h, k]) for h in layers],
                        mode="lines",
                        name=what,
                        legendgroup=what,
                        showlegend=k == 0,
                        line={"dash": dash, "color": colour},
                        hovertemplate=f"{what} %{{y:.1%}}<extra></extra>",
                    ),
                    row=r,
                    col=c,
                )
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
        fig.update_xaxes(tickangle=-45, type="category")
        fig.update_layout(
            title=(
                f"Held-out probe accuracy by layer ({len(self.split_seeds['test'])} unseen "
                f"{self.mode} mazes, {len(self.test_seed)} observations; 95% intervals)"
            ),
            height=380 * rows + 120,
        )
        return fig

    def size_figure(self) -> go.Figure:
        best = self.best_layers()
        cols = 3
        rows = max(1, math.ceil(len(best) / cols))
        titles = [f"{label} at {short(self.hooks[h])}" for label, h in best.items()]
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles)
        for n, (label, h) in enumerate(best.items()):
            r, c = n // cols + 1, n % cols + 1
            sizes = self.by_maze_size(h, self.labels.index(label))
            x = [str(s) for s in sizes]
            rates = [rt for rt, _ in sizes.values()]
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[rt.value for rt in rates],
                    mode="lines+markers",
                    name="probe",
                    legendgroup="probe",
                    showlegend=n == 0,
                    line={"color": "#1f77b4"},
                    error_y={
                        "type": "data",
                        "array": [rt.interval[1] - rt.value for rt in rates],
                        "arrayminus": [rt.value - rt.interval[0] for rt in rates],
                    },
                    customdata=[[rt.k, rt.n] for rt in rates],
                    hovertemplate="size %{x}: %{y:.1%} (%{customdata[0]}/%{customdata[1]})"
                    "<extra></extra>",
                ),
                row=r,
                col=c,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[m.value for _, m in sizes.values()],
                    mode="lines",
                    name="majority",
                    legendgroup="majority",
                    showlegend=n == 0,
                    line={"dash": "dash", "color": "#d62728"},
                    hovertemplate="majority %{y:.1%}<extra></extra>",
                ),
                row=r,
                col=c,
            )
        fig.add_hline(y=B8_THRESHOLD, line_dash="dot", line_color="#7f7f7f", row="all", col="all")
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
        fig.update_xaxes(title_text="maze size", type="category")
        fig.update_layout(
            title="Accuracy by maze size at each label's best layer (dotted: 90%, B8's bar)",
            height=340 * rows + 120,
        )
        return fig

    def summary(self) -> str:
        mazes = {name: len(s) for name, s in self.split_seeds.items()}
        width = max(len(short(h)) for h in self.hooks)
        head = "".join(f"{label:>15}" for label in self.labels)
        lines = [
            f"Probes on {self.levels} {self.mode} levels: {mazes['train']} train / "
            f"{mazes['validation']} validation / {mazes['test']} test mazes (split by maze), "
            f"{self.positions_per_maze} mouse positions per maze; {len(self.test_seed)} test "
            "observations.",
            f"Linear: ridge classifiers on ≤{self.features} random-projection features; conv: "
            f"1×1 conv + softmax over squares, {self.conv_steps} Adam steps.",
            "Held-out accuracy (%):",
            f"  {'layer':<{width}}{head}",
        ]
        acc = self.accuracy()
        for h, hook in enumerate(self.hooks):
            cells = "".join(f"{'—':>15}" if np.isnan(v) else f"{100 * v:>15.1f}" for v in acc[h])
            lines.append(f"  {short(hook):<{width}}{cells}")
        for what, values in (("chance", self.chance), ("majority", self.majority)):
            cells = ""
            for k in range(len(self.labels)):
                col = values[:, k][~np.isnan(values[:, k])]
                if len(col) == 0:
                    cells += f"{'—':>15}"
                elif np.ptp(col) < 5e-4:
                    cells += f"{100 * col[0]:>15.1f}"
                else:
                    cells += f"{f'{100 * col.min():.1f}–{100 * col.max():.1f}':>15}"
            lines.append(f"  {what:<{width}}{cells}")
        counts = ", ".join(f"{lb} {int(n)}" for lb, n in zip(self.labels, self.n_test))
        lines.append(f"  test observations per label: {counts} (cell_open: × 25 cells each)")
        for label, h in self.best_layers().items():
            best = self.rate(h, self.labels.index(label))
            lines.append(f"  best for {label}: {short(self.hooks[h])}, {best}")
        a5 = self.a5()
        if a5:
            lines.append(
                f"A5 (linear, {short(a5['layer'])}, >70%): exact cell "
                f"{rate_str(a5['exact_cell'])}; row {rate_str(a5['row'])}; column "
                f"{rate_str(a5['column'])}"
            )
        b8 = self.b8()
        if b8:
            verdict = "yes" if b8["above_90_percent_for_every_size"] else "no"
            lines.append(
                f"B8 (exact cheese cell >90% for every maze size): best worst-size probe is "
                f"{b8['probe']} at {short(b8['layer'])}, worst size {b8['worst_maze_size']}: "
                f"{rate_str(b8['worst_size_accuracy'])}; every size above 90%: {verdict}"
            )
        return "\n".join(lines)


def short(hook: str) -> str:
    return hook.removeprefix("embedder.")


def rate_str(saved: dict) -> str:
    return str(Rate(saved["k"], saved["n"]))


# --- run -------------------------------------------------------------------------------------


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
        ``within`` ``(n, 2)`` conv answers within one square, ``cheese_pred`` ``(n,)``."""
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
        return {"hits": hits, "within": within, "cheese_pred": answers["cheese_cell"]}


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


def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    hooks: Sequence[str] = DEFAULT_HOOKS,
    positions_per_maze: int = 4,
    without_cheese: float = 0.25,
    features: int = 1024,
    conv_steps: int = 300,
    test_fraction: float = 0.2,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
    ray: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
) -> ProbesResult:
    """Fit linear and convolutional probes on the training mazes of ``inputs`` at each hook,
    choose the ridge penalty on the validation mazes, and score them on the test mazes.

    Args:
        inputs: every level of a seed range (at least 3 levels).
        hooks: hook names (or aliases) to probe; conv probes only on square spatial ones.
        positions_per_maze: mouse placements per maze (fewer if it has fewer free cells).
        without_cheese: probability that an observation has its cheese removed (0: no
            ``cheese_present`` label).
        features: dimension the linear probes see (random projection above it).
        conv_steps: Adam steps of each conv probe, spread over the training batches.
        test_fraction: share of the mazes held out for testing.
        batch_size: observations per forward pass.
        ray, ray_address, workers: where the dataset (the rendered placements and their
            labels, ``probe_data.probe_dataset``) is made: in this process (default), or as
            Ray tasks, a block of levels each, on a local instance (``ray``; the cluster of
            ``RAY_ADDRESS`` when set), on the cluster at ``ray_address``, ``workers`` at
            once. The forward passes and the fits run here, in the blocks' order, so the
            result is the same either way.
    """
    if not isinstance(inputs, Levels):
        raise ValueError(
            "probes study every level of a seed range: pass analyses.inputs.Levels(mode, "
            f"range(...)), got {type(inputs).__name__}"
        )
    if isinstance(hooks, str) or not hooks:
        raise ValueError(f"hooks must be a non-empty list of hook names, got {hooks!r}")
    hooks = list(dict.fromkeys(model.resolve_hook_name(h) for h in hooks))
    positions_per_maze = checks.integer("positions_per_maze", positions_per_maze, minimum=1)
    without_cheese = fraction("without_cheese", without_cheese, closed_low=True)
    features = checks.integer("features", features, minimum=2, maximum=4096)
    conv_steps = checks.integer("conv_steps", conv_steps, minimum=1)
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    seed = checks.integer("seed", seed, minimum=0, maximum=checks.MAX_SEED)
    backend = Backend(ray=ray, address=ray_address, workers=workers)  # Ray checked here
    splits = split_levels(inputs.seeds, test_fraction, seed)

    world = WORLD_SIZES[inputs.mode]
    shapes = model.hook_shapes(1)
    layers = [
        LayerProbes(hook, shapes[hook][1:], features, world, seed + h)
        for h, hook in enumerate(hooks)
    ]
    # conv_steps spread over the training batches (the count assumes full placements).
    train_batches = math.ceil(len(splits["train"]) * positions_per_maze / batch_size)
    steps_per_batch = math.ceil(conv_steps / train_batches)
    counts = LabelCounts(world)
    val_hits = np.zeros((len(hooks), len(LINEAR_LABELS), len(ALPHAS)))
    test_rows: list[dict[str, np.ndarray]] = []

    # The blocks of every split in order (train, validation, test), each read to its end
    # before the next split's: made here or on Ray (a sweep), the probes see the same.
    dataset = probe_dataset(
        splits, inputs.mode, positions_per_maze=positions_per_maze,
        without_cheese=without_cheese, seed=seed, backend=backend,
    )  # fmt: skip

    # Every split has a level (split_levels), so each is one group, in probe_dataset's order.
    by_split = itertools.groupby(dataset, key=operator.itemgetter(0))

    def activations(split: str) -> Iterator[tuple[ProbeBatch, dict[str, torch.Tensor]]]:
        name, blocks = next(by_split)
        assert name == split, (name, split)
        for _, block, levels in blocks:
            for start in range(0, len(block), batch_size):
                batch = block.rows(start, start + batch_size)
                # Blocks made on Ray arrive read-only (torch warns): a copy only then.
                obs = torch.from_numpy(np.require(batch.obs, requirements="W")).to(model.device)
                with torch.no_grad():
                    _, cache = model.run_with_cache(obs, names_filter=hooks)
                yield batch, {h: cache[h].cpu() for h in hooks}
            bar.update(levels)

    with (
        contextlib.closing(dataset),  # also on Ctrl-C: stops the Ray tasks still running
        tqdm(total=len(inputs), desc="probes", unit="maze", disable=not progress) as bar,
    ):
        for batch, acts in activations("train"):
            counts.add(batch)
            for layer in layers:
                layer.train(acts[layer.hook], batch, steps_per_batch)
        for layer in layers:
            layer.linear.fit()
        for batch, acts in activations("validation"):
            for h, layer in enumerate(layers):
                val_hits[h] += layer.validate(acts[layer.hook], batch)
        for h, layer in enumerate(layers):
            # The best validation accuracy; ties go to the larger penalty.
            best = len(ALPHAS) - 1 - np.argmax(val_hits[h, :, ::-1], axis=1)
            layer.linear.alphas = {lb: ALPHAS[int(b)] for lb, b in zip(LINEAR_LABELS, best)}
        for batch, acts in activations("test"):
            per_layer = [layer.test(acts[layer.hook], batch) for layer in layers]
            test_rows.append(
                {
                    "seed": batch.maze_seed,
                    "size": batch.maze_size,
                    "cheese": batch.cheese,
                    "mouse": batch.mouse,
                    "present": batch.present,
                    "open": batch.open,
                    **{key: np.stack([r[key] for r in per_layer], axis=1) for key in per_layer[0]},
                }
            )

    test = {key: np.concatenate([r[key] for r in test_rows]) for key in test_rows[0]}
    present = test["present"].astype(np.int16)
    every = np.ones_like(present)
    k_open = test["open"].shape[1]
    # Answers asked per observation and label: the cheese's only where it is shown.
    trials = np.stack([present, every, every, k_open * every, present, every], axis=1)
    sides = [layer.side for layer in layers]
    chance, majority_hits = counts.baselines(test, sides)
    asked = trials.sum(0)
    majority = np.where(np.isnan(chance), np.nan, majority_hits.sum(0).T / np.maximum(asked, 1))

    labels = [lb for lb in LABELS if not (lb == "cheese_present" and without_cheese == 0.0)]
    keep = [LABELS.index(lb) for lb in labels]
    n_train = counts.n_train()
    return ProbesResult(
        metadata=RunMetadata(
            analysis="probes",
            checkpoint=CheckpointRef.of(model),
            hooks=tuple(hooks),
            seed=seed,
            maze_seeds=tuple(inputs.seeds),
            parameters={
                "mode": inputs.mode,
                "positions_per_maze": positions_per_maze,
                "without_cheese": without_cheese,
                "features": features,
                "conv_steps": conv_steps,
                "test_fraction": test_fraction,
                "batch_size": batch_size,
            },
        ),
        hooks=hooks,
        labels=labels,
        mode=inputs.mode,
        world_size=world,
        levels=len(inputs),
        features=features,
        conv_steps=conv_steps,
        positions_per_maze=positions_per_maze,
        split_seeds=splits,
        n_train=np.array([n_train[lb] for lb in labels]),
        n_test=(trials[:, keep] > 0).sum(0),
        hits=test["hits"][:, :, keep],
        trials=trials[:, keep],
        majority_hits=majority_hits[:, keep, :],
        chance=chance[:, keep],
        majority=majority[:, keep],
        within_one=test["within"],
        alphas=np.array([[layer.linear.alphas[lb] for lb in LINEAR_LABELS] for layer in layers]),
        layer_sides=np.array(sides),
        test_seed=test["seed"],
        test_size=test["size"],
        test_cheese=test["cheese"],
        cheese_cell_prediction=test["cheese_pred"],
    )


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


def _fraction_type(name: str, closed_low: bool, upper: float = 1.0):
    def parse(text: str) -> float:
        try:
            return fraction(name, float(text), closed_low=closed_low, upper=upper)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = "a fraction"
    return parse


ANALYSIS = Analysis(
    name="probes",
    question="Where in the network is the cheese's (and the mouse's) location known?",
    run=run,
    select=list,  # not used: probes take every level of a seed range (``levels``)
    options=(
        Option(
            "hooks",
            list(DEFAULT_HOOKS),
            "hooks to probe (replaces the default list)",
            kind=cli.hook_name,
            many=True,
        ),
        Option("positions_per_maze", 4, "mouse placements per maze", kind=cli.integer(1, 256)),
        Option(
            "without_cheese",
            0.25,
            "share of observations with the cheese removed",
            kind=_fraction_type("without_cheese", closed_low=True),
        ),
        Option(
            "features",
            1024,
            "dimension of the linear probes' random projection",
            kind=cli.integer(2, 4096),
        ),
        Option("conv_steps", 300, "Adam steps per conv probe", kind=cli.positive_int),
        Option(
            "test_fraction",
            0.2,
            "share of mazes held out for testing",
            kind=_fraction_type("test_fraction", closed_low=False, upper=1 - VALIDATION_FRACTION),
        ),
        Option("batch_size", 64, "observations per forward pass", kind=cli.positive_int),
        *SWEEP_OPTIONS,
    ),
    quick={"features": 256},
    min_mazes=3,
    levels=2000,
    quick_levels=60,
)

if __name__ == "__main__":
    sys.exit(analyses_cli.main(ANALYSIS))
