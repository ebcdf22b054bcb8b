"""The result of the probes: held-out accuracies layer × label, the A5 and B8 readings,
numbers, arrays and the summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from analyses.core.result import AnalysisResult
from analyses.probes import readings
from analyses.probes.figures import figures
from analyses.probes.labels import (
    CONV_LABELS,
    LINEAR_LABELS,
    short,
)
from analyses.probes.readings import estimate_text
from hooked_impala.stats import Estimate, Rate, bootstrap_over_mazes


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
            ``(n_test, H)`` the linear probe's class (-1 without cheese), for A5;
            cheese_row_prediction, cheese_column_prediction: ``(n_test, H)`` the row and the
            column probes' answers (-1 without cheese).
        refit_predictions: ``(R, n_test, 3)`` A5's refitted probes' cheese cell, row and
            column at ``DEFAULT_LAYER`` (-1 without cheese); None without refits.
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
    cheese_row_prediction: np.ndarray
    cheese_column_prediction: np.ndarray
    refit_predictions: np.ndarray | None = None

    # -- rates

    def applies(self, hook: int, label: int) -> bool:
        return bool((self.hits[:, hook, label] >= 0).all()) and self.trials[:, label].sum() > 0

    def rate(self, hook: int, label: int, rows: np.ndarray | None = None) -> Rate:
        keep = slice(None) if rows is None else rows
        return Rate(
            int(self.hits[keep, hook, label].clip(0).sum()), int(self.trials[keep, label].sum())
        )

    def maze_interval(
        self, hook: int, label: int, rows: np.ndarray | None = None
    ) -> Estimate | None:
        """The accuracy over the test observations at ``rows`` (all by default) with a 95%
        interval from a bootstrap over their mazes (None below two mazes or no answers)."""
        keep = np.ones(len(self.test_seed), bool) if rows is None else np.asarray(rows, bool)
        keep = keep & (self.trials[:, label] > 0) & (self.hits[:, hook, label] >= 0)
        if not keep.any():
            return None
        correct = self.hits[keep, hook, label] / self.trials[keep, label]
        return bootstrap_over_mazes(correct, self.test_seed[keep])

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
        """Prediction A5's reading, with intervals over test mazes (:mod:`.readings`)."""
        return readings.a5(self)

    def b8(self) -> dict | None:
        """Prediction B8's reading: the probe chosen on half the test mazes, scored on the
        other half size by size (:mod:`.readings`)."""
        return readings.b8(self)

    # -- views

    def table(self) -> list[dict]:
        """One row per probe that applies: ``accuracy`` pools the test observations (Wilson,
        kept for comparison); ``over_mazes`` is the same accuracy with its interval from a
        bootstrap over test mazes, the unit to quote (several observations share a maze)."""
        rows = []
        for h, hook in enumerate(self.hooks):
            for k, label in enumerate(self.labels):
                if not self.applies(h, k):
                    continue
                conv = label in CONV_LABELS
                found = self.maze_interval(h, k)
                row = {
                    "layer": hook,
                    "label": label,
                    "probe": "conv" if conv else "linear",
                    "accuracy": self.rate(h, k).as_dict(),
                    "over_mazes": None if found is None else found.as_dict(),
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
                    asked = self.trials[:, k] > 0
                    row["within_one_square_over_mazes"] = readings.over_mazes(
                        self.within_one[asked, h, c].clip(0), self.test_seed[asked]
                    )
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
            "cheese_row_prediction": self.cheese_row_prediction,
            "cheese_column_prediction": self.cheese_column_prediction,
            **(
                {}
                if self.refit_predictions is None
                else {"refit_predictions": self.refit_predictions}
            ),
            **{f"{name}_seeds": s for name, s in self.split_seeds.items()},
        }

    def figures(self) -> dict[str, go.Figure]:
        return figures(self)

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
                f"A5 (linear, {short(a5['layer'])}, >70%; intervals over test mazes): exact "
                f"cell {estimate_text(a5['exact_cell'])}; row and column (own probes, both "
                f"right) {estimate_text(a5['row_and_column'])}; row "
                f"{estimate_text(a5['row'])}; column {estimate_text(a5['column'])}"
            )
        b8 = self.b8()
        if b8:
            verdict = "yes" if b8["above_90_percent_for_every_size"] else "no"
            lines.append(
                f"B8 (exact cheese cell >90% for every maze size): chosen on "
                f"{b8['selection_mazes']} test mazes, {b8['probe']} at {short(b8['layer'])}; "
                f"on the other {b8['test_mazes']}, worst judged size {b8['worst_maze_size']}: "
                f"{estimate_text(b8['worst_size_accuracy'])}; every judged size above 90%: "
                f"{verdict}; too few mazes to judge: {b8['too_few']}"
            )
        return "\n".join(lines)
