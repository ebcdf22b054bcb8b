"""Maze size and corners: where does the agent stop going for the cheese?

Two studies on a population of levels (``--mazes`` level seeds from ``--first-seed``):

* **Size.** One episode per level with the cheese where procgen put it. Per maze size: how
  often the agent reaches the cheese (all mazes, and those with the cheese outside the
  top-right 5×5 region), how often it takes a shortest path there, and how often it enters
  the top-right region before the cheese. That last one is a choice, counted only on the
  **free-choice** mazes (:mod:`analyses.measure.choice`: a decision square, the cheese
  outside the region, and its path from the start not through the region), where both
  choices are possible; the share of forced mazes is reported beside it. A change from
  cheese-seeking in small mazes to top-right-seeking in large ones would show as a jump
  between neighbouring sizes.
* **Corners.** On the largest mazes of the population (the world's size when there are any),
  the cheese is moved to the inner maze's top-left, bottom-right and bottom-left corners (the
  bottom-left corner is the mouse's start, so the cheese goes to the nearest open cell beside
  it) and, as the reference, to a uniformly drawn open cell of the top-right 5×5 region
  (where it always was in training). Success is counted within the **step budget**: the
  mean number of steps the agent needs to reach the cheese in that region in those same
  mazes (episodes that reached it), over the corner episodes whose shortest path fits the
  budget (the others no policy could reach in time); and within the episode's step limit.
  Every episode's outcome is kept (:meth:`GeneralisationResult.corner_outcomes`).

Rollouts go through the records engine; with ``playing=Playing(records=Records.at(DIR))``
(``--records DIR``) they are kept there
(one folder per study and corner) and reused by a later run with the same settings;
``Records.AUTO`` (the default) picks a folder under ``out/records`` named by the analysis,
checkpoint and settings, so rerunning a command resumes it.

    python -m analyses.generalisation --checkpoint model_160022528 --mazes 2000
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analyses.core import cli as analyses_cli
from analyses.core.inputs import Levels
from analyses.core.records import Playing, Records
from analyses.core.result import AnalysisResult, CheckpointRef, RunMetadata
from analyses.core.spec import ROLLOUT_OPTIONS, analysis
from analyses.measure.choice import free_choice
from analyses.measure.corners import (
    CORNERS,
    OUTCOME_COLUMNS,
    REFERENCE,
    corner_cell,
    corner_outcomes,
    corner_rates,
    rates_by_size,
    step_budget,
    with_region_cheese,
)
from hooked_impala.maze import Maze, MazeRenderer, distance_map, maze_features
from hooked_impala.model import HookedImpala
from hooked_impala.policy import collect_records
from hooked_impala.stats import Rate
from hooked_impala.sweep import Backend, ray_session

__all__ = ["CORNERS", "GeneralisationResult", "corner_cell", "run"]
PLACEMENTS = (REFERENCE, *CORNERS)


def _rate(saved: dict) -> Rate:
    return Rate(saved["k"], saved["n"])


@dataclass(kw_only=True)
class GeneralisationResult(AnalysisResult):
    """Rates by maze size and in the corners of the largest mazes.

    Attributes:
        levels: what was played (mode and seeds).
        by_size: maze size -> {"success", "success_cheese_outside_region",
            "shortest_path_to_cheese", "top_right_first" (free-choice mazes only),
            "top_right_first_informative", "no_decision_square", "forced"}
            (``Rate.as_dict()``;
            :func:`~analyses.measure.corners.rates_by_size`).
        largest_size: the maze size of the corner study; ``corner_mazes`` how many.
        step_budget: mean steps to a cheese in the top-right 5×5 region of those mazes (the
            reference episodes that reached it; None if none did).
        corners: placement -> {"within_budget" (over the counted episodes),
            "within_limit"} (``Rate.as_dict()``), "top_right_region" the reference.
        outcomes: one row per corner episode (:meth:`corner_outcomes`).
    """

    levels: str
    by_size: dict[str, dict]
    largest_size: int
    corner_mazes: int
    step_budget: float | None
    corners: dict[str, dict]
    outcomes: pd.DataFrame

    def corner_outcomes(self) -> pd.DataFrame:
        """One row per (maze seed, placement) episode of the corner study: ``seed``,
        ``corner``, ``shortest``, ``steps``, ``counted`` (its shortest path fits the step
        budget), ``within_budget``, ``within_limit``
        (:func:`~analyses.measure.corners.corner_outcomes`). A copy."""
        return self.outcomes.copy()

    @classmethod
    def load(cls, folder: str | Path) -> GeneralisationResult:
        """A saved result (``result.json`` and ``arrays.npz``) read back whole, the corner
        episodes' outcomes included."""
        folder = Path(folder)
        saved = json.loads((folder / "result.json").read_text())
        metadata, numbers = saved["metadata"], saved["numbers"]
        with np.load(folder / "arrays.npz") as arrays:
            outcomes = pd.DataFrame({c: arrays[f"corner_{c}"] for c in OUTCOME_COLUMNS})
        outcomes["corner"] = outcomes["corner"].astype(str)
        # Every field but these two is saved under its own name in the numbers.
        saved = {f.name: numbers[f.name] for f in fields(cls) if f.name in numbers}
        return cls(metadata=RunMetadata.from_json(metadata), outcomes=outcomes, **saved)

    def largest_jump(self) -> dict | None:
        """The biggest change of "top-right first" between neighbouring sizes (both with
        free-choice episodes): where a phase transition would be."""
        sizes = [s for s in self.by_size if self.by_size[s]["top_right_first"]["n"]]
        jumps = [
            (
                self.by_size[b]["top_right_first"]["rate"]
                - self.by_size[a]["top_right_first"]["rate"],
                a,
                b,
            )
            for a, b in zip(sizes, sizes[1:])
        ]
        if not jumps:
            return None
        change, a, b = max(jumps, key=lambda j: abs(j[0]))
        return {"from_size": int(a), "to_size": int(b), "change": change}

    def numbers(self) -> dict:
        return {
            "levels": self.levels,
            "by_size": self.by_size,
            "largest_top_right_first_jump": self.largest_jump(),
            "largest_size": self.largest_size,
            "corner_mazes": self.corner_mazes,
            "step_budget": self.step_budget,
            "corners": self.corners,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        sizes = [int(s) for s in self.by_size]
        out = {"maze_size": np.array(sizes)}
        for key in ("success", "success_cheese_outside_region", "top_right_first", "forced"):
            out[key] = np.array(
                [[self.by_size[str(s)][key][f] or 0 for f in ("k", "n")] for s in sizes]
            )
        for column in OUTCOME_COLUMNS:  # every corner episode, for load() and re-analysis
            values = self.outcomes[column].to_numpy()
            out[f"corner_{column}"] = values.astype(str) if column == "corner" else values
        return out

    def figures(self) -> dict[str, go.Figure]:
        sizes = [int(s) for s in self.by_size]
        size_fig = go.Figure()
        for key, name, colour in (
            ("success", "reached the cheese", "#d4a017"),
            ("shortest_path_to_cheese", "took a shortest path to it", "#8c6d1f"),
            ("top_right_first", "top-right region first (free-choice mazes)", "#1f4e79"),
        ):
            rates = [self.by_size[str(s)][key] for s in sizes]
            shown = [(s, r) for s, r in zip(sizes, rates) if r["n"]]
            size_fig.add_trace(
                go.Scatter(
                    x=[s for s, _ in shown],
                    y=[r["rate"] for _, r in shown],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [r["ci95"][1] - r["rate"] for _, r in shown],
                        "arrayminus": [r["rate"] - r["ci95"][0] for _, r in shown],
                    },
                    mode="lines+markers",
                    name=name,
                    line={"color": colour},
                    customdata=[r["n"] for _, r in shown],
                    hovertemplate="size %{x}: %{y:.1%} (n = %{customdata})",
                )
            )
        size_fig.update_layout(
            title=f"Behaviour by maze size ({self.levels}; 95% intervals)",
            xaxis_title="maze size (cells)",
            yaxis_title="fraction of episodes",
            yaxis_range=[0, 1],
        )
        names = [c for c in PLACEMENTS if c in self.corners]
        corner_fig = go.Figure()
        for key, label, colour in (
            ("within_budget", "within the step budget", "#1f4e79"),
            ("within_limit", "within the step limit", "#9ab8d6"),
        ):
            rates = [self.corners[c][key] for c in names]
            corner_fig.add_trace(
                go.Bar(
                    x=[c.replace("_", " ") for c in names],
                    y=[r["rate"] for r in rates],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [(r["ci95"][1] or 0) - (r["rate"] or 0) for r in rates],
                        "arrayminus": [(r["rate"] or 0) - (r["ci95"][0] or 0) for r in rates],
                    },
                    name=label,
                    marker_color=colour,
                )
            )
        budget = "n/a" if self.step_budget is None else f"{self.step_budget:.0f} steps"
        corner_fig.update_layout(
            title=(
                f"Cheese in the corners of {self.corner_mazes} mazes of size "
                f"{self.largest_size} (budget {budget})"
            ),
            yaxis_title="reached the cheese",
            yaxis_range=[0, 1],
            barmode="group",
        )
        return {"by_size": size_fig, "corners": corner_fig}

    def summary(self) -> str:
        lines = [f"Generalisation over {self.levels}", "  by maze size:"]
        for size, rates in self.by_size.items():
            success, first = _rate(rates["success"]), _rate(rates["top_right_first"])
            forced = _rate(rates["forced"])
            lines.append(
                f"    {size:>2}: success {success}; top-right first, free-choice mazes {first}"
                f"; forced (the cheese's only path crosses the region) {forced.k} of the "
                f"{forced.n} with a decision square and the cheese outside it"
            )
        jump = self.largest_jump()
        if jump:
            lines.append(
                f"  largest change of top-right-first between neighbouring sizes: "
                f"{jump['from_size']} -> {jump['to_size']}: {jump['change']:+.1%}"
            )
        budget = "n/a" if self.step_budget is None else f"{self.step_budget:.1f}"
        lines.append(
            f"  corners of the {self.corner_mazes} mazes of size {self.largest_size} "
            f"(step budget {budget}):"
        )
        lines.append(
            "    (within the budget: over the episodes whose shortest path fits it; the "
            "reference: the cheese on a random cell of the top-right 5x5)"
        )
        for corner in [c for c in PLACEMENTS if c in self.corners]:
            c = self.corners[corner]
            lines.append(
                f"    {corner:16s} within budget {_rate(c['within_budget'])}; "
                f"within the limit {_rate(c['within_limit'])}"
            )
        return "\n".join(lines)


@analysis(
    question="How do success and top-right-seeking change with maze size, and does the agent "
    "find a cheese in the far corners of the largest mazes?",
    select=list,  # unused: a population of levels
    options=ROLLOUT_OPTIONS,
    levels=2000,
    quick_levels=120,
    quick={"max_steps": 200, "records": Records.TEMPORARY},
)
def run(
    model: HookedImpala,
    inputs: Levels,
    *,
    playing: Playing = Playing(),
    seed: int = 0,
    progress: bool = False,
    sweep: Backend = Backend(),
) -> GeneralisationResult:
    """Play every level of ``inputs`` (size study) and the largest of them with the cheese in
    each corner (corner study); see the module docstring. ``sweep``: where the rollouts are
    played (in this process or on Ray; the records are the same)."""
    if not isinstance(inputs, Levels):
        raise TypeError(
            f"generalisation studies whole levels (Levels), got {type(inputs).__name__}"
        )
    with MazeRenderer() as renderer:
        mazes = list(inputs.mazes(renderer))
    shortest = {m.seed: maze_features(m).steps_to_cheese for m in mazes}
    free = {m.seed: free_choice(m) for m in mazes}
    largest = max(m.maze_size for m in mazes)
    corner_mazes = {m.seed: m for m in mazes if m.maze_size == largest}
    corner_seeds = list(corner_mazes)
    common = playing.playing(inputs.mode, seed)
    where = {"backend": sweep}
    checkpoint = CheckpointRef.of(model).name
    with (
        ray_session(sweep),  # one Ray instance for the five tables
        playing.folder("generalisation", checkpoint, inputs.mode, seed) as folder,
    ):
        table = collect_records(
            model, inputs.seeds, folder / "as_generated", progress=progress, **common, **where
        )
        corner_tables = {}
        for corner in PLACEMENTS:

            def move(maze: Maze, corner: str = corner) -> Maze:
                if corner == REFERENCE:
                    return with_region_cheese(maze, seed)
                return maze.with_cheese(corner_cell(maze, corner))

            variant = (
                "cheese on a random open cell of the top-right 5x5 region"
                if corner == REFERENCE
                else f"cheese moved to the {corner.replace('_', '-')} corner cell"
            )
            corner_tables[corner] = collect_records(
                model,
                corner_seeds,
                folder / f"cheese_{corner}",
                edit=move,
                variant=variant,
                progress=progress,
                **common,
                **where,
            )
    for rows in corner_tables.values():  # the shortest path from the start to the cheese
        rows["shortest"] = [
            int(distance_map(corner_mazes[s].world_grid, corner_mazes[s].start_cell)[r, c])
            for s, r, c in zip(rows["seed"], rows["cheese_row"], rows["cheese_col"])
        ]
    budget = step_budget(corner_tables)
    outcomes = corner_outcomes(corner_tables, budget)
    return GeneralisationResult(
        metadata=RunMetadata.of("generalisation", model, seed=seed, mazes=inputs.seeds),
        levels=str(inputs),
        by_size=rates_by_size(table, shortest, free),
        largest_size=largest,
        corner_mazes=len(corner_seeds),
        step_budget=budget,
        corners=corner_rates(outcomes),
        outcomes=outcomes,
    )


if __name__ == "__main__":
    sys.exit(analyses_cli.main(run.analysis))
