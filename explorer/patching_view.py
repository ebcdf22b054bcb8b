"""The patching map of the maze on screen: which channels of one layer carry the choice
between the cheese and the top right in this maze.

The maze on screen (with its edits, the mouse put on its decision square) is the clean maze;
its corrupted twin differs in one declared way (:class:`~hooked_impala.patching.Corruption`,
random cells drawn with seed 0). Each channel's effect is the fraction of the clean −
corrupted gap in log P(cheese move) − log P(top-right move) it restores when its clean
activation is patched into the corrupted run: estimated by attribution patching (one
forward and backward, the default) or measured exactly (one patched forward per channel).
The page's interventions do not act here: this is the network as loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import plotly.graph_objects as go

from hooked_impala.maze import Maze, MazeRenderer
from hooked_impala.model import HookedImpala
from hooked_impala.patching import (
    Corruption,
    Granularity,
    MazePair,
    PairBatch,
    attribution_patch,
    grid,
    make_pairs,
    patch,
)

#: Below this |gap| (nats) the corruption leaves the choice as it was: nothing to restore.
MIN_GAP = 1e-4


class Method(StrEnum):
    """How the map is made: estimated from gradients, or by patching each channel."""

    ATTRIBUTION = "attribution"
    EXACT = "exact"


@dataclass(frozen=True)
class PatchingMap:
    """``fraction``: ``(C,)`` the share of the gap each channel of ``hook`` restores;
    ``gap``: clean − corrupted metric (nats); ``seconds``: the time it took."""

    hook: str
    method: Method
    pair: MazePair
    fraction: np.ndarray
    gap: float
    seconds: float

    def describe(self) -> str:
        """What was compared, in words, for the page's status line."""
        pair = self.pair
        changed = {
            Corruption.CHEESE_MOVED: f"the cheese moved to {pair.corrupted.cheese}",
            Corruption.CHEESE_REMOVED: "the cheese removed",
            Corruption.WALL_ON_CHEESE_PATH: "a wall on the path to the cheese",
            Corruption.MOUSE_MOVED: f"the mouse moved to {pair.corrupted.mouse}",
        }[pair.corruption]
        return (
            f"clean: this maze, the mouse on its decision square {pair.cell}; corrupted: "
            f"{changed}; gap {self.gap:+.3f} nats (log P(cheese move) − log P(top-right "
            f"move)); {self.method.value} patching took {self.seconds:.2f} s"
        )


def patching_map(
    model: HookedImpala,
    maze: Maze,
    hook: str,
    corruption: Corruption,
    method: Method,
    renderer: MazeRenderer | None = None,
) -> PatchingMap:
    """Each channel of ``hook``'s restored fraction in ``maze`` (module docstring).

    Raises:
        ValueError: the maze has no decision square (or no corruption of that kind), or the
            corruption does not change the choice (|gap| < ``MIN_GAP``).
    """
    started = time.perf_counter()
    try:
        pairs = make_pairs([maze], corruption, seed=0)
    except ValueError:
        raise ValueError(
            f"this maze gives no {corruption.value} pair: it needs a decision square (a fork "
            "where the paths to the cheese and to the top right part)"
        ) from None
    batch = PairBatch.of(pairs, renderer)
    hook = model.resolve_hook_name(hook)
    channels = grid(hook, model.hook_shapes()[hook][1:], Granularity.CHANNEL)
    if method is Method.EXACT:
        result = patch(model, batch, channels)
    else:
        result = attribution_patch(model, batch, channels)
    if abs(result.gap) < MIN_GAP:
        raise ValueError(
            f"the corruption ({corruption.value}) leaves this maze's choice as it was (gap "
            f"{result.gap:+.1e} nats): nothing to restore"
        )
    return PatchingMap(
        hook,
        method,
        pairs[0],
        result.fraction().numpy(),
        result.gap,
        time.perf_counter() - started,
    )


def patching_figure(found: PatchingMap) -> go.Figure:
    """One bar per channel: the share of the gap it restores (1: all of it)."""
    channels = np.arange(len(found.fraction))
    fig = go.Figure(
        go.Bar(
            x=channels,
            y=found.fraction,
            hovertemplate="channel %{x}: %{y:.3f} of the gap<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{found.method.value} patching at {found.hook}: share of the gap each channel "
        "restores (clean into corrupted)",
        xaxis_title="channel",
        yaxis_title="fraction of the gap restored",
        height=340,
        margin=dict(l=60, r=20, t=50, b=40),
    )
    return fig
