"""Existential claims as searches: "some edit can send the mouse to a chosen cell" is judged
by a declared family of edits, each scored on selection mazes, the best one confirmed on
disjoint test mazes against the no-edit baseline; "no edit can" becomes "none of these N
could". Every edit's footprint (the share of activations it changes, network-wide and in
its layer) is measured, so a budget ("at most X% of activations") picks among the edits
within it.

The family (``clamp_family``) is the paper's retargeting edit at several strengths: the top
1, 3 or 8 cheese channels (ranked on the selection mazes) clamped at the target's grid
square to 2, 4, 6 or 8 times the channels' typical peak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from analyses.measure.channels import spatial_shape
from analyses.measure.retarget import auto_magnitude, fraction_modified, reached_within
from hooked_impala.interventions import clamp_channels
from hooked_impala.maze import Cell, Maze, layer_positions
from hooked_impala.model import HookedImpala
from hooked_impala.policy import rollout
from hooked_impala.stats import Estimate, bootstrap_over_mazes

#: The declared family: how many of the top cheese channels, and multiples of their
#: typical peak (the retarget analysis's default is 3 channels at 4x).
CHANNEL_COUNTS = (1, 3, 8)
PEAK_MULTIPLES = (2.0, 4.0, 6.0, 8.0)


@dataclass(frozen=True)
class ClampEdit:
    """``channels`` of ``layer`` held at ``magnitude`` (``multiple`` × their typical peak) at
    the target's grid square, at every step."""

    layer: str
    channels: tuple[int, ...]
    multiple: float
    magnitude: float

    @property
    def name(self) -> str:
        return f"clamp top {len(self.channels)} {list(self.channels)} = {self.multiple:g}x peak"

    def hooks_for(self, positions: torch.Tensor):
        """Forward hooks for the episodes still playing, whose targets' squares are
        ``positions`` ``(N, 2)`` (``rollout`` passes the indices of the running episodes)."""

        def hooks(indices: np.ndarray) -> list:
            at = positions[torch.from_numpy(np.asarray(indices, dtype=np.int64))]
            return clamp_channels(self.layer, self.channels, self.magnitude, at=at).hooks()

        return hooks


def clamp_family(
    model: HookedImpala, mazes: Sequence[Maze], layer: str, ranking: Sequence[int]
) -> list[ClampEdit]:
    """The declared family, its magnitudes measured on ``mazes`` (the selection mazes)."""
    edits = []
    for count in CHANNEL_COUNTS:
        channels = tuple(int(c) for c in ranking[:count])
        peak = auto_magnitude(model, mazes, layer, channels) / 4.0  # auto is 4x the peak
        for multiple in PEAK_MULTIPLES:
            edits.append(ClampEdit(layer, channels, multiple, multiple * peak))
    return edits


@dataclass(frozen=True)
class Episodes:
    """One episode per (maze, target): the mazes (mouse at the start) and their targets."""

    mazes: tuple[Maze, ...]
    targets: tuple[Cell, ...]

    @property
    def maze_ids(self) -> np.ndarray:
        return np.array([m.seed for m in self.mazes])

    def __len__(self) -> int:
        return len(self.targets)


def reached(
    model: HookedImpala,
    edit: ClampEdit | None,
    episodes: Episodes,
    budget: int,
    seed: int,
) -> np.ndarray:
    """``(N,)`` bool: the mouse stood on its target within ``budget`` steps, under ``edit``
    (None: no edit). Actions are drawn per (seed, level seed): every edit sees the same
    random numbers."""
    if not len(episodes):
        return np.zeros(0, dtype=bool)
    hooks: object = []
    if edit is not None:
        _, size, _ = spatial_shape(model, edit.layer)
        world = episodes.mazes[0].world_size
        positions = torch.from_numpy(layer_positions(list(episodes.targets), world, size))
        hooks = edit.hooks_for(positions)
    played = rollout(
        model, list(episodes.mazes), max_steps=budget, seed=seed, fwd_hooks=hooks, progress=False
    )
    return np.array(
        [reached_within(e.cells, t, budget) for e, t in zip(played.episodes, episodes.targets)]
    )


@dataclass(frozen=True)
class Footprint:
    """The share of activation values an edit changes per forward pass: of the whole network
    and of its layer (the clamp's own hook)."""

    network: float
    layer: float


def footprint(model: HookedImpala, edit: ClampEdit, episodes: Episodes) -> Footprint:
    numbers = fraction_modified(
        model,
        list(episodes.mazes),
        list(episodes.targets),
        edit.layer,
        edit.channels,
        edit.magnitude,
    )
    return Footprint(float(numbers["fraction"]), float(numbers["fraction_of_hooked"]))


@dataclass(frozen=True)
class Search:
    """A family searched on selection episodes and the chosen edit scored on test episodes.

    Attributes:
        edits: the family, in its declared order; ``footprints``: each edit's footprint.
        selection_rates: each edit's success rate on the selection episodes.
        chosen: index of the edit with the highest selection rate among those ``allowed``
            (within the budget), or None when no edit is allowed.
        test: the chosen edit's success on the test episodes, with a maze-level interval;
            ``baseline``: the unedited agent's on the same episodes.
        budget_steps: the step budget of every episode.
    """

    edits: tuple[ClampEdit, ...]
    footprints: tuple[Footprint, ...]
    selection_rates: tuple[float, ...]
    allowed: tuple[bool, ...]
    chosen: int | None
    test: Estimate | None
    baseline: Estimate | None
    budget_steps: int
    selection_seeds: tuple[int, ...]
    test_seeds: tuple[int, ...]

    @property
    def tried(self) -> int:
        """How many edits the claim could have used (those within the budget)."""
        return sum(self.allowed)

    @property
    def chosen_edit(self) -> ClampEdit | None:
        return None if self.chosen is None else self.edits[self.chosen]

    def describe(self) -> str:
        if self.chosen is None:
            return f"no edit of the family of {len(self.edits)} is within the budget"
        edit, fp = self.edits[self.chosen], self.footprints[self.chosen]
        return (
            f"{edit.name} (best of {self.tried} edits within the budget on "
            f"{len(set(self.selection_seeds))} selection mazes: "
            f"{self.selection_rates[self.chosen]:.0%}; changes {100 * fp.network:.4f}% of the "
            f"network's activations, {100 * fp.layer:.3f}% of its layer's)"
        )

    def as_dict(self) -> dict:
        return {
            "family": [
                {
                    "edit": e.name,
                    "channels": list(e.channels),
                    "magnitude": e.magnitude,
                    "percent_of_network": 100 * f.network,
                    "percent_of_layer": 100 * f.layer,
                    "selection_rate": r,
                    "within_budget": a,
                }
                for e, f, r, a in zip(
                    self.edits, self.footprints, self.selection_rates, self.allowed
                )
            ],
            "chosen": None if self.chosen_edit is None else self.chosen_edit.name,
            "test": None if self.test is None else self.test.as_dict(),
            "baseline": None if self.baseline is None else self.baseline.as_dict(),
            "budget_steps": self.budget_steps,
            "selection_seeds": list(self.selection_seeds),
            "test_seeds": list(self.test_seeds),
        }


@dataclass(frozen=True)
class Scored:
    """Every edit of a family scored once on selection episodes (budgets pick from it)."""

    edits: tuple[ClampEdit, ...]
    footprints: tuple[Footprint, ...]
    rates: tuple[float, ...]


def score_family(
    model: HookedImpala, edits: Sequence[ClampEdit], selection: Episodes, budget: int, seed: int
) -> Scored:
    """Each edit's footprint and success rate on the selection episodes."""
    rates, prints = [], []
    for edit in edits:
        hits = reached(model, edit, selection, budget, seed)
        rates.append(float(hits.mean()) if len(hits) else 0.0)
        prints.append(footprint(model, edit, selection))
    return Scored(tuple(edits), tuple(prints), tuple(rates))


def confirm(
    model: HookedImpala,
    scored: Scored,
    selection: Episodes,
    test: Episodes,
    budget: int,
    seed: int,
    max_fraction: float | None = None,
) -> Search:
    """Choose the best edit within ``max_fraction`` of the network's activations (None: any)
    on the selection scores, and measure it and the unedited agent on the test episodes."""
    allowed = tuple(max_fraction is None or f.network <= max_fraction for f in scored.footprints)
    candidates = [i for i, ok in enumerate(allowed) if ok]
    chosen = max(candidates, key=lambda i: (scored.rates[i], -i)) if candidates else None
    ids = test.maze_ids
    test_estimate = baseline = None
    if len(test):
        base_hits = reached(model, None, test, budget, seed)
        baseline = bootstrap_over_mazes(base_hits.astype(float), ids, seed=seed) or None
        if chosen is not None:
            hits = reached(model, scored.edits[chosen], test, budget, seed)
            test_estimate = bootstrap_over_mazes(hits.astype(float), ids, seed=seed)
    return Search(
        edits=scored.edits,
        footprints=scored.footprints,
        selection_rates=scored.rates,
        allowed=allowed,
        chosen=chosen,
        test=test_estimate,
        baseline=baseline,
        budget_steps=budget,
        selection_seeds=tuple(selection.maze_ids.tolist()),
        test_seeds=tuple(ids.tolist()),
    )
