"""Choose on one set of mazes, score on another.

Whatever an analysis picks from data — channels, a layer, a probe, an edit, a threshold — it
picks on **selection mazes** and reports on the **test mazes** it was given. The selection
mazes are levels from a seed range no standard run uses (``SELECTION_FIRST_SEED`` and up),
chosen by the same rule as the test mazes, so the two sets are disjoint by construction;
:func:`disjoint` checks it anyway, and every result records both seed lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analyses.core.inputs import Levels, select_mazes
from hooked_impala.maze import Maze, MazeRenderer, mazes_from_seeds

#: Selection mazes come from seeds at and above this: 10^7, far above any standard run
#: (the population studies use seeds 0..10,000, the scripts --first-seed 0 by default).
SELECTION_FIRST_SEED = 10_000_000


class SplitError(ValueError):
    """Selection and test mazes overlap: what was chosen would be scored on itself."""


@dataclass(frozen=True)
class Split:
    """The seeds of the selection mazes and of the test mazes (disjoint)."""

    selection: tuple[int, ...]
    test: tuple[int, ...]

    def __post_init__(self) -> None:
        disjoint(self.selection, self.test)

    def as_dict(self) -> dict:
        return {
            "selection_seeds": list(self.selection),
            "test_seeds": list(self.test),
            "rule": f"selection mazes from seeds >= {SELECTION_FIRST_SEED:,}, disjoint from "
            "the test mazes",
        }


def disjoint(selection: Sequence[int], test: Sequence[int]) -> None:
    """SplitError naming the shared seeds when the two sets overlap."""
    shared = sorted(set(selection) & set(test))
    if shared:
        raise SplitError(
            f"selection and test mazes share the levels {shared[:10]}"
            + (f" and {len(shared) - 10} more" if len(shared) > 10 else "")
            + ": what is chosen on the selection mazes must be scored on other mazes"
        )


def selection_mazes(test: Sequence[Maze], count: int | None = None) -> list[Maze]:
    """``count`` (default: as many as ``test``) standard mazes — a decision square, the cheese
    outside the top-right 5×5, as :func:`~analyses.core.inputs.select_mazes` picks them — of
    the test mazes' distribution mode, from the selection seed range."""
    if not test:
        raise ValueError("selection_mazes needs the test mazes (their mode and seeds)")
    mode = test[0].distribution_mode
    chosen = select_mazes(count or len(test), mode, first_seed=SELECTION_FIRST_SEED)
    disjoint([m.seed for m in chosen], [m.seed for m in test])
    return chosen


def selection_levels(test: Levels, count: int | None = None) -> Levels:
    """Every level of a seed range as large as ``test`` (or ``count``) from the selection
    range, in the test levels' mode."""
    levels = Levels(
        test.mode, range(SELECTION_FIRST_SEED, SELECTION_FIRST_SEED + (count or len(test)))
    )
    disjoint(levels.seeds, test.seeds)
    return levels


def selection_levels_mazes(
    test: Levels, count: int, renderer: MazeRenderer | None = None
) -> list[Maze]:
    """The first ``count`` levels of the selection range, as Maze values."""
    return mazes_from_seeds(selection_levels(test, count).seeds, test.mode, renderer)
