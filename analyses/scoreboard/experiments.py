"""The scoreboard's own experiments, for predictions no analysis measures as stated:

* ``quadrants`` (A1): the cheese moved to a random cell of the top-left or bottom-right
  quadrant, outside the training region;
* ``start_moved`` (A2): the mouse started two columns further from the left wall, paired
  with the usual start in the same maze;
* ``suppression`` (A4): a declared family of patches that should cut cheese-seeking, chosen
  on selection mazes and confirmed on test mazes, paired with the unpatched agent.

Each returns per-maze outcomes; intervals are over mazes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from analyses.measure.steering import pair_vectors
from hooked_impala.interventions import add_vector, clamp_channels
from hooked_impala.maze import TOP_RIGHT_5, Cell, Maze, MazeRenderer, Tile
from hooked_impala.model import HookedImpala
from hooked_impala.policy import rollout
from hooked_impala.stats import Estimate, bootstrap_over_mazes, paired_difference

QUADRANTS = ("top_left", "bottom_right")


@dataclass(frozen=True)
class Outcomes:
    """One outcome per episode, with the maze each episode was played in."""

    reached: np.ndarray  # bool (N,)
    mazes: np.ndarray  # int (N,): maze seeds
    labels: np.ndarray | None = None  # str (N,): e.g. the quadrant

    def estimate(self, label: str | None = None) -> Estimate | None:
        """The share reached, with a 95% interval over mazes (None below two mazes)."""
        keep = np.ones(len(self.reached), bool) if label is None else self.labels == label
        if not keep.any():
            return None
        return bootstrap_over_mazes(self.reached[keep].astype(float), self.mazes[keep])

    def as_dict(self) -> dict:
        return {
            "episodes": int(len(self.reached)),
            "mazes": len(set(self.mazes.tolist())),
            "reached": int(self.reached.sum()),
        }


def quadrant_cells(maze: Maze, quadrant: str) -> list[Cell]:
    """Open inner cells of a quadrant, outside the top-right 5x5 training region, other than
    the mouse's start. The inner maze is cut at its middle row and column, which belong to
    no quadrant (rows count from the bottom)."""
    middle = maze.margin + (maze.maze_size - 1) / 2
    top = left = quadrant == "top_left"
    region = set(TOP_RIGHT_5.cells(maze))
    return [
        (r, c)
        for r, c in maze.open_cells
        if maze.in_inner((r, c))
        and (r, c) != maze.start_cell
        and (r, c) not in region
        and ((r > middle) if top else (r < middle))
        and ((c < middle) if left else (c > middle))
    ]


def quadrants(model: HookedImpala, mazes: Sequence[Maze], *, max_steps: int, seed: int) -> Outcomes:
    """A1: in each maze of side >= 5, the cheese moved to a uniformly drawn cell of each
    quadrant (``quadrant_cells``); one sampled episode each within ``max_steps`` (procgen's
    500 in the scoreboard's runs)."""
    edited, labels, seeds = [], [], []
    for maze in mazes:
        if maze.maze_size < 5:
            continue
        for q, quadrant in enumerate(QUADRANTS):
            cells = quadrant_cells(maze, quadrant)
            if cells:
                rng = np.random.default_rng([seed, maze.seed, q])
                edited.append(maze.with_cheese(cells[rng.integers(len(cells))]))
                labels.append(quadrant)
                seeds.append(maze.seed)
    played = rollout(model, edited, max_steps=max_steps, seed=seed) if edited else None
    reached = [e.reached_cheese for e in played.episodes] if played else []
    return Outcomes(np.array(reached, bool), np.array(seeds, int), np.array(labels))


def moved_start(maze: Maze, columns: int = 2) -> Cell | None:
    """The open cell of the inner maze's bottom row nearest to ``columns`` to the right of
    the start (None when the row has no open cell that far)."""
    row, first = maze.start_cell
    wanted = first + columns
    candidates = [
        (row, c)
        for c in range(wanted, maze.margin + maze.maze_size)
        if maze.world_grid[row, c] != Tile.WALL and (row, c) != maze.cheese
    ]
    return min(candidates, key=lambda cell: cell[1]) if candidates else None


@dataclass(frozen=True)
class PairedOutcomes:
    """Two outcomes per maze: with the usual start (``near``) and the moved one (``far``)."""

    near: np.ndarray
    far: np.ndarray
    mazes: np.ndarray

    def difference(self) -> Estimate | None:
        """P(near) − P(far), paired over mazes."""
        if len(self.mazes) < 2:
            return None
        return paired_difference(self.far.astype(float), self.near.astype(float), self.mazes)


def start_moved(
    model: HookedImpala, mazes: Sequence[Maze], *, max_steps: int, seed: int
) -> PairedOutcomes:
    """A2's "near the left wall": in mazes of side >= 7, one episode from the usual start
    (the inner maze's bottom-left cell) and one from the bottom-row cell two columns to its
    right; the same action seeds; success = reached the cheese within ``max_steps``."""
    chosen = [(m, moved_start(m)) for m in mazes if m.maze_size >= 7]
    chosen = [(m, cell) for m, cell in chosen if cell is not None]
    if not chosen:
        return PairedOutcomes(np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, int))
    near = [m.with_mouse(m.start_cell) for m, _ in chosen]
    far = [m.with_mouse(cell) for m, cell in chosen]
    played = rollout(model, near + far, max_steps=max_steps, seed=seed).episodes
    hits = np.array([e.reached_cheese for e in played], bool)
    return PairedOutcomes(hits[: len(near)], hits[len(near) :], np.array([m.seed for m in near]))


# --- A4: patches that cut cheese-seeking -------------------------------------------------------

#: The declared family: the cheese vector (each maze's own, at the start) at these
#: coefficients, and the top-k cheese channels (ranked on selection mazes) held at 0.
CHEESE_VECTOR_COEFFS = (-0.5, -1.0, -2.0, -3.0)
ZEROED_CHANNELS = (1, 3, 8)


@dataclass(frozen=True)
class Patch:
    name: str
    coeff: float | None = None  # cheese vector
    channels: tuple[int, ...] = ()  # zeroed everywhere

    def hooks(self, layer: str, vectors: torch.Tensor | None):
        if self.coeff is None:
            return clamp_channels(layer, self.channels, 0.0).hooks()

        def steer(indices: np.ndarray) -> list:  # each running episode its own vector
            return add_vector(layer, vectors[torch.as_tensor(indices)], self.coeff).hooks()

        return steer


def patch_family(ranking: Sequence[int]) -> list[Patch]:
    patches = [Patch(f"cheese vector x{c:g}", coeff=c) for c in CHEESE_VECTOR_COEFFS]
    for k in ZEROED_CHANNELS:
        channels = tuple(int(c) for c in ranking[:k])
        patches.append(Patch(f"top {k} cheese channels {list(channels)} = 0", channels=channels))
    return patches


@dataclass(frozen=True)
class Played:
    """Per maze: reached the cheese, reached the top-right 5x5 region (bools (N,))."""

    cheese: np.ndarray
    top_right: np.ndarray


def play_patched(
    model: HookedImpala,
    mazes: Sequence[Maze],
    patch: Patch | None,
    layer: str,
    *,
    max_steps: int,
    seed: int,
) -> Played:
    starts = [m.with_mouse(m.start_cell) for m in mazes]
    hooks: object = []
    if patch is not None:
        vectors = None
        if patch.coeff is not None:
            with MazeRenderer() as renderer:
                pairs = [(m, m.without_cheese()) for m in starts]
                vectors = pair_vectors(model, pairs, layer, renderer)
        hooks = patch.hooks(layer, vectors)
    played = rollout(
        model, starts, max_steps=max_steps, seed=seed, fwd_hooks=hooks, progress=False
    ).episodes
    return Played(
        np.array([e.reached_cheese for e in played], bool),
        np.array([e.top_right_step is not None for e in played], bool),
    )


def cut(before: np.ndarray, after: np.ndarray) -> float:
    """The proportional cut 1 − after/before of a count (0 when nothing happened before)."""
    total = float(np.sum(before))
    return 0.0 if total == 0 else 1.0 - float(np.sum(after)) / total


@dataclass(frozen=True)
class Suppression:
    """A4's search: each patch's cheese and top-right cuts on the selection mazes, the
    chosen patch, and its paired cuts on the test mazes (intervals over mazes)."""

    patches: tuple[str, ...]
    selection_cheese_cut: tuple[float, ...]
    selection_top_right_cut: tuple[float, ...]
    chosen: int | None
    cheese_cut: Estimate | None
    top_right_cut: Estimate | None
    baseline_cheese: float | None
    baseline_top_right: float | None
    selection_seeds: tuple[int, ...]
    test_seeds: tuple[int, ...]

    def as_dict(self) -> dict:
        return {
            "family": [
                {"patch": p, "selection_cheese_cut": c, "selection_top_right_cut": t}
                for p, c, t in zip(
                    self.patches, self.selection_cheese_cut, self.selection_top_right_cut
                )
            ],
            "chosen": None if self.chosen is None else self.patches[self.chosen],
            "cheese_cut": None if self.cheese_cut is None else self.cheese_cut.as_dict(),
            "top_right_cut": None if self.top_right_cut is None else self.top_right_cut.as_dict(),
            "baseline": {"cheese": self.baseline_cheese, "top_right": self.baseline_top_right},
            "selection_seeds": list(self.selection_seeds),
            "test_seeds": list(self.test_seeds),
        }


def suppression(
    model: HookedImpala,
    selection: Sequence[Maze],
    test: Sequence[Maze],
    ranking: Sequence[int],
    layer: str,
    *,
    top_right_limit: float,
    max_steps: int,
    seed: int,
) -> Suppression:
    """Score every patch on the selection mazes (proportional cuts of reaching the cheese
    and the top-right region against the unpatched agent), choose the one that cuts the
    cheese most while cutting the top right by at most ``top_right_limit`` (if none does:
    the one cutting the top right least), and measure its cuts on the test mazes, paired
    maze by maze with the unpatched agent (a bootstrap over mazes)."""
    family = patch_family(ranking)
    play = {"max_steps": max_steps, "seed": seed}
    base = play_patched(model, selection, None, layer, **play)
    cheese_cuts, top_cuts = [], []
    for patch in family:
        after = play_patched(model, selection, patch, layer, **play)
        cheese_cuts.append(cut(base.cheese, after.cheese))
        top_cuts.append(cut(base.top_right, after.top_right))
    within = [i for i, t in enumerate(top_cuts) if t <= top_right_limit]
    chosen = (
        max(within, key=lambda i: (cheese_cuts[i], -i))
        if within
        else min(range(len(family)), key=lambda i: (top_cuts[i], i))
    )
    before = play_patched(model, test, None, layer, **play)
    after = play_patched(model, test, family[chosen], layer, **play)
    ids = np.array([m.seed for m in test])
    rows = np.stack([before.cheese, after.cheese, before.top_right, after.top_right], 1)
    cheese_cut = top_cut = None
    if before.cheese.any() and len(ids) >= 2:
        cheese_cut = bootstrap_over_mazes(rows, ids, lambda r: cut(r[:, 0], r[:, 1]), seed=seed)
    if before.top_right.any() and len(ids) >= 2:
        top_cut = bootstrap_over_mazes(rows, ids, lambda r: cut(r[:, 2], r[:, 3]), seed=seed)
    return Suppression(
        patches=tuple(p.name for p in family),
        selection_cheese_cut=tuple(cheese_cuts),
        selection_top_right_cut=tuple(top_cuts),
        chosen=chosen,
        cheese_cut=cheese_cut,
        top_right_cut=top_cut,
        baseline_cheese=float(before.cheese.mean()) if len(ids) else None,
        baseline_top_right=float(before.top_right.mean()) if len(ids) else None,
        selection_seeds=tuple(m.seed for m in selection),
        test_seeds=tuple(ids.tolist()),
    )
