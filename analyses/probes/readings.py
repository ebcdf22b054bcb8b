"""The probes read for predictions A5 and B8, with the maze as the unit.

Several test observations come from one maze (up to ``positions_per_maze``), so an accuracy's
interval is a bootstrap over test mazes, not a Wilson interval over observations. B8 picks a
probe (its layer and kind) before scoring it: it is picked on one half of the test mazes (the
selection half, by seeded permutation of their seeds) and scored size by size on the other
half, and a maze size is judged only with at least ``MIN_SIZE_MAZES`` mazes there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from analyses.core.inputs import DEFAULT_LAYER
from analyses.probes.labels import A5_THRESHOLD, B8_THRESHOLD
from hooked_impala.stats import Estimate, bootstrap_over_mazes, widened

if TYPE_CHECKING:
    from analyses.probes.result import ProbesResult

#: A maze size with fewer scored test mazes than this is listed, not judged (B8).
MIN_SIZE_MAZES = 20
#: Which test mazes choose B8's probe (the rest score it).
SELECTION_SEED = 0


def over_mazes(correct: np.ndarray, seeds: np.ndarray) -> dict | None:
    """The mean of ``correct`` (per observation) with a bootstrap interval over the mazes in
    ``seeds``, saved (None below two mazes)."""
    found = bootstrap_over_mazes(correct.astype(float), seeds)
    return None if found is None else found.as_dict()


def estimate_text(saved: dict | None) -> str:
    """``0.774 [0.75, 0.80] (n = 400 mazes)`` for an ``Estimate.as_dict()``."""
    if saved is None:
        return "n/a"
    return str(Estimate.from_dict(saved))


def a5(result: ProbesResult) -> dict | None:
    """The linear probes of the cheese's position at the first residual add of block 2: the
    exact cell (one class per world cell), and the row and the column decoded by probes of
    their own (one class per world row, per column), right one by one and both together;
    each with a maze-bootstrap interval, widened by the spread of the refitted probes'
    accuracies where the run refitted them (``refit_predictions``)."""
    if DEFAULT_LAYER not in result.hooks or "cheese_cell" not in result.labels:
        return None
    h = result.hooks.index(DEFAULT_LAYER)
    shown = result.test_cheese[:, 0] >= 0
    if not shown.any():
        return None
    true = result.test_cheese[shown]
    seeds = result.test_seed[shown]
    cell = true[:, 0] * result.world_size + true[:, 1]

    def right(cells, rows, columns) -> dict[str, np.ndarray]:
        row, column = rows == true[:, 0], columns == true[:, 1]
        both = row & column
        return {"exact_cell": cells == cell, "row_and_column": both, "row": row, "column": column}

    main = right(
        result.cheese_cell_prediction[shown, h],
        result.cheese_row_prediction[shown, h],
        result.cheese_column_prediction[shown, h],
    )
    refits = result.refit_predictions
    spread = [] if refits is None else [right(*r[shown].T) for r in refits]  # one per refit

    def reading(key: str) -> dict | None:
        found = bootstrap_over_mazes(main[key].astype(float), seeds)
        if found is None:
            return None
        if spread and key in ("exact_cell", "row_and_column"):  # A5's two claims
            accuracies = [float(s[key].mean()) for s in spread]
            found = widened(found, accuracies, f"{len(spread)} refitted probes", (0.0, 1.0))
        return found.as_dict()

    exact = reading("exact_cell")
    return {
        "layer": DEFAULT_LAYER,
        "exact_cell": exact,
        **{key: reading(key) for key in ("row_and_column", "row", "column")},
        "observations": int(shown.sum()),
        "refits": len(spread),
        "above_70_percent": exact is not None and exact["value"] > A5_THRESHOLD,
    }


def _halves(seeds: np.ndarray) -> np.ndarray:
    """True for the observations of the selection half of the test mazes."""
    unique = np.unique(seeds)
    order = np.random.default_rng(SELECTION_SEED).permutation(unique)
    return np.isin(seeds, order[: len(unique) // 2])


def _worst_size(result: ProbesResult, h: int, k: int, rows: np.ndarray) -> float | None:
    """The lowest accuracy over maze sizes on ``rows`` (pooled observations per size)."""
    values = []
    for size in np.unique(result.test_size[rows]):
        at = rows & (result.test_size == size) & (result.trials[:, k] > 0)
        if at.any():
            values.append(result.hits[at, h, k].clip(0).sum() / result.trials[at, k].sum())
    return min(values) if values else None


def b8(result: ProbesResult) -> dict | None:
    """The probe of the exact cheese cell whose worst maze size is best on the selection half
    (the linear cheese-cell probes; conv probes on layers whose grid resolves cells), scored
    on the other half size by size (module docstring)."""
    selection = _halves(result.test_seed)
    candidates = []
    for label in ("cheese_cell", "cheese_square"):
        if label not in result.labels:
            continue
        k = result.labels.index(label)
        for h in range(len(result.hooks)):
            if not result.applies(h, k):
                continue
            if label == "cheese_square" and not result.resolves_cells(h):
                continue
            worst = _worst_size(result, h, k, selection)
            if worst is not None:
                candidates.append((worst, h, label))
    if not candidates:
        return None
    _, h, label = max(candidates, key=lambda c: c[0])
    k = result.labels.index(label)
    test = ~selection
    by_size, too_few = {}, []
    for size in np.unique(result.test_size[test]):
        at = test & (result.test_size == size) & (result.trials[:, k] > 0)
        mazes = len(np.unique(result.test_seed[at]))
        if mazes < MIN_SIZE_MAZES:
            too_few.append(int(size))
            continue
        by_size[int(size)] = over_mazes(result.hits[at, h, k].clip(0) > 0, result.test_seed[at])
    judged = {s: e for s, e in by_size.items() if e is not None}
    worst = (
        min(judged, key=lambda s: (judged[s]["value"], judged[s]["ci95"][0])) if judged else None
    )
    return {
        "layer": result.hooks[h],
        "probe": label,
        "selection_mazes": len(np.unique(result.test_seed[selection])),
        "test_mazes": len(np.unique(result.test_seed[test])),
        "worst_maze_size": worst,
        "worst_size_accuracy": None if worst is None else judged[worst],
        "by_maze_size": by_size,
        "too_few": too_few,
        "above_90_percent_for_every_size": worst is not None
        and judged[worst]["value"] > B8_THRESHOLD,
    }
