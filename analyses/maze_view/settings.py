"""An intervention composed from the toolkit's list, as plain values: the explorer's state, a
result's parameters, a command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from analyses.core.inputs import DEFAULT_LAYER
from analyses.measure.channels import check_channels, spatial_shape
from analyses.measure.steering import activation_difference
from hooked_impala.hooks import HookSpec
from hooked_impala.interventions import add_vector, clamp_channels, hooks_of, remove_relus
from hooked_impala.maze import Cell, Maze, MazeRenderer, layer_position
from hooked_impala.model import HookedImpala

Ranking = Literal["peak", "mouse", "change"]
RolloutKind = Literal["greedy", "sampled", "none"]
#: What ``save`` writes beside the analyses' usual files: the maze, for ``--state``.
STATE_FILE = "maze.state"


@dataclass(frozen=True)
class InterventionSettings:
    """An intervention composed from the toolkit's list, as plain values (so it can be a
    page's state, a result's parameters and a command line).

    ``layer``: where the vectors are added and the channels clamped; ``clamp_cell``: the
    maze cell ``(row, col)`` (row 0 at the bottom) whose grid square the channels are held at
    ``clamp_value`` in; ``remove_relus``: every ReLU becomes the identity.
    """

    layer: str = DEFAULT_LAYER
    cheese_coeff: float = 0.0
    top_right_coeff: float = 0.0
    clamp_channels: tuple[int, ...] = ()
    clamp_value: float = 5.0
    clamp_cell: Cell | None = None
    remove_relus: bool = False

    @property
    def clamps(self) -> bool:
        """Channels are clamped: some are named and the cell to clamp them at is chosen."""
        return bool(self.clamp_channels) and self.clamp_cell is not None

    @property
    def is_empty(self) -> bool:
        return not (self.cheese_coeff or self.top_right_coeff or self.clamps or self.remove_relus)

    def describe(self) -> str:
        """A short label, e.g. "cheese vector ×-1 + clamp [55] = 5 at (3, 4)"."""
        parts = []
        if self.cheese_coeff:
            parts.append(f"cheese vector ×{self.cheese_coeff:g}")
        if self.top_right_coeff:
            parts.append(f"top-right vector ×{self.top_right_coeff:g}")
        if self.clamps:
            cell = tuple(self.clamp_cell)
            parts.append(f"clamp {list(self.clamp_channels)} = {self.clamp_value:g} at {cell}")
        if self.remove_relus:
            parts.append("no ReLUs")
        return " + ".join(parts) or "no intervention"

    def flags(self) -> list[str]:
        """The command-line flags of this script that make the same intervention."""
        out = [] if self.layer == DEFAULT_LAYER else ["--layer", self.layer]
        if self.cheese_coeff:
            out += ["--cheese-coeff", f"{self.cheese_coeff:g}"]
        if self.top_right_coeff:
            out += ["--top-right-coeff", f"{self.top_right_coeff:g}"]
        if self.clamps:
            out += ["--clamp-channels", *map(str, self.clamp_channels)]
            out += ["--clamp-cell", *map(str, self.clamp_cell), "--clamp-value"]
            out.append(f"{self.clamp_value:g}")
        if self.remove_relus:
            out.append("--remove-relus")
        return out

    def hooks(
        self, model: HookedImpala, maze: Maze, renderer: MazeRenderer | None = None
    ) -> list[HookSpec]:
        """The forward hooks of this intervention in ``maze``; ValueError naming what is
        missing (no cheese for a cheese vector, no margin for a top-right path, a channel the
        layer does not have, a clamp cell outside the world)."""
        parts = []
        if self.cheese_coeff or self.top_right_coeff or self.clamp_channels:
            n_channels, size, _ = spatial_shape(model, self.layer)
        if self.cheese_coeff:
            if maze.cheese is None:
                raise ValueError("the cheese vector needs a cheese in the maze")
            vector = activation_difference(
                model, maze, maze.without_cheese(), self.layer, renderer
            )[0]
            parts.append(add_vector(self.layer, vector, self.cheese_coeff))
        if self.top_right_coeff:
            if maze.margin == 0:
                raise ValueError(
                    "the top-right vector needs a wall margin: this maze fills the world, "
                    "so it has no path to open to the top right"
                )
            vector = activation_difference(
                model, maze.with_top_right_path(), maze, self.layer, renderer
            )[0]
            parts.append(add_vector(self.layer, vector, self.top_right_coeff))
        if self.clamps:
            channels = check_channels(self.clamp_channels, n_channels, self.layer)
            at = layer_position(tuple(self.clamp_cell), maze.world_size, size)
            parts.append(clamp_channels(self.layer, channels, self.clamp_value, at=at))
        if self.remove_relus:
            parts.append(remove_relus(model))
        return hooks_of(*parts)
