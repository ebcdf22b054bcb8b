"""The result of the maze view: one maze's fields, channel maps and episode."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from analyses.core.result import AnalysisResult
from analyses.maze_view.figures import Which, episode_figure, maps_figure
from analyses.maze_view.settings import STATE_FILE, InterventionSettings, Ranking
from hooked_impala.interventions import ModifiedCount
from hooked_impala.maze import Maze
from hooked_impala.policy import Episode, VectorField


@dataclass(kw_only=True)
class MazeViewResult(AnalysisResult):
    """One maze's view. ``maps`` are ``(2, k, H, W)``: original and intervened activations of
    the ``channels`` at ``maps_hook`` with the mouse on its cell (both equal without an
    intervention); ``modified`` is None without an intervention; ``episode`` None when no
    rollout was asked for."""

    maze: Maze
    intervention: InterventionSettings
    original: VectorField
    intervened: VectorField
    modified: ModifiedCount | None
    maps_hook: str
    ranking: Ranking
    channels: list[int]
    maps: np.ndarray
    episode: Episode | None = None
    observation: np.ndarray = field(repr=False)

    def numbers(self) -> dict:
        mouse = self.maze.mouse
        arrow_change = np.hypot(*(self.intervened.arrows - self.original.arrows).T)
        at_mouse = {}
        if mouse in self.original.cells:
            at_mouse = {
                "original": self.original.at(mouse).tolist(),
                "intervened": self.intervened.at(mouse).tolist(),
            }
        out = {
            "maze": {
                "seed": self.maze.seed,
                "mode": self.maze.distribution_mode,
                "maze_size": self.maze.maze_size,
                "mouse": mouse,
                "cheese": self.maze.cheese,
            },
            "intervention": self.intervention.describe(),
            "fraction_modified": None if self.modified is None else self.modified.fraction,
            "cells": len(self.original.cells),
            "mean_arrow_change": float(arrow_change.mean()) if len(arrow_change) else 0.0,
            "max_arrow_change": float(arrow_change.max()) if len(arrow_change) else 0.0,
            "probs_at_mouse": at_mouse,
            "maps_hook": self.maps_hook,
            "ranking": self.ranking,
            "channels": self.channels,
        }
        if self.episode is not None:
            out["episode"] = {
                "reached_cheese": self.episode.reached_cheese,
                "steps": self.episode.steps,
                "cells": self.episode.cells,
            }
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "cells": np.asarray(self.original.cells, dtype=np.int64).reshape(-1, 2),
            "probs_original": self.original.probs,
            "probs_intervened": self.intervened.probs,
            "maps": self.maps,
            "observation": self.observation,
        }
        if self.episode is not None:
            out["episode_cells"] = np.asarray(self.episode.cells, dtype=np.int64)
        return out

    def figures(self) -> dict[str, go.Figure]:
        image = self.observation
        out = {"field": self.original.figure(f"original — {self._where()}", image=image)}
        if self.modified is not None:
            label = f"{self.intervention.describe()} — {self._where()}"
            out["intervened"] = self.intervened.figure(label, image=image)
            out["difference"] = self.intervened.diff(self.original).figure(
                f"intervened − original ({self.modified.fraction:.2%} of activations modified)",
                image=image,
            )
        out["maps"] = self.maps_figure()
        if self.episode is not None:
            out["rollout"] = episode_figure(self.original, self.episode.cells)
        return out

    def _where(self) -> str:
        return f"seed {self.maze.seed}, {self.maze.maze_size}×{self.maze.maze_size}"

    def maps_figure(self, which: Which = "original") -> go.Figure:
        return maps_figure(
            self.maps, self.channels, self.maps_hook, self.ranking, self.maze.mouse, which
        )

    def summary(self) -> str:
        n = self.numbers()
        lines = [
            f"maze seed {self.maze.seed} ({self.maze.maze_size}×{self.maze.maze_size}), "
            f"mouse {self.maze.mouse}, cheese {self.maze.cheese}",
            f"intervention: {n['intervention']}",
        ]
        if self.modified is not None:
            lines.append(
                f"  modifies {self.modified.fraction:.3%} of the network's activations; "
                f"arrows move {n['mean_arrow_change']:.3f} on average "
                f"(max {n['max_arrow_change']:.3f}) over {n['cells']} cells"
            )
        lines.append(f"top channels at {self.maps_hook} by {self.ranking}: {self.channels}")
        if self.episode is not None:
            outcome = "reached the cheese" if self.episode.reached_cheese else "no cheese"
            lines.append(f"episode: {outcome} in {self.episode.steps} steps")
        return "\n".join(lines)

    def write_into(self, folder: Path) -> list[str]:
        names = super().write_into(folder)
        (folder / STATE_FILE).write_bytes(self.maze.to_state())
        return [*names, STATE_FILE]
