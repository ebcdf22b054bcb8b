"""The experiments behind the predictions scoreboard, each run once and shared by the
predictions that use it: the toolkit's analyses at the scoreboard's sample sizes (looked up
in the registry, never imported: an analysis does not import another), plus two small
experiments no analysis covers (the cheese in a random cell of the top-left or bottom-right
quadrant, A1; block-1 channels that copy a maze feature, A10).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from analyses.core.inputs import Levels
from analyses.core.records import Records
from analyses.core.result import AnalysisResult
from analyses.core.spec import Analysis
from hooked_impala.maze import Cell, Maze, MazeRenderer, Tile
from hooked_impala.maze.render import OBS_SHAPE
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, rollout
from hooked_impala.stats import Rate

#: The output of the first IMPALA block (prediction A10).
FIRST_BLOCK_OUT = "embedder.block1.res2.resadd_out"
#: |Pearson r| with a maze feature at which a channel counts as "trivially interpretable".
INTERPRETABLE_R = 0.8
QUADRANTS = ("top_left", "bottom_right")


@dataclass(frozen=True)
class Sizes:
    """Sample sizes of the scoreboard's experiments (``QUICK`` or ``FULL``)."""

    levels: int  # behaviour regression
    size_levels: int  # maze-size and corner study; also the greedy rerun of the regression
    probe_levels: int
    steering_mazes: int  # cheese and top-right vectors
    retarget_mazes: int
    corner_mazes: int  # retargeting to the corners of the largest mazes
    quadrant_mazes: int  # A1
    channel_mazes: int  # A10
    quick: bool


QUICK = Sizes(200, 200, 60, 16, 6, 4, 40, 16, quick=True)
FULL = Sizes(10_000, 2_000, 2_000, 100, 32, 16, 500, 100, quick=False)


def quadrant_cells(maze: Maze, quadrant: str) -> list[Cell]:
    """Open inner cells of a quadrant other than the mouse's start. The inner maze is cut at
    its middle row and column, which belong to no quadrant (rows count from the bottom)."""
    middle = maze.margin + (maze.maze_size - 1) / 2
    top, left = quadrant == "top_left", quadrant == "top_left"
    return [
        (r, c)
        for r, c in maze.open_cells
        if maze.in_inner((r, c))
        and (r, c) != maze.start_cell
        and ((r > middle) if top else (r < middle))
        and ((c < middle) if left else (c > middle))
    ]


def square_cells(world_size: int, layer_size: int) -> np.ndarray:
    """``(layer_size,)`` world row (or column, from the left) under each layer square's centre;
    rows count from the bottom, squares from the image's top: use ``[::-1]`` for rows."""
    centres = (np.arange(layer_size) + 0.5) * OBS_SHAPE[0] / layer_size
    return np.floor(centres * world_size / OBS_SHAPE[0]).astype(int)


def analysis(name: str) -> Analysis:
    """An analysis of the registry, looked up when the scoreboard runs (the registry lists
    the scoreboard too, so it cannot be imported when this module is)."""
    from analyses.core import registry

    return registry.analysis(name)


class Evidence:
    """Runs each experiment on first use and keeps its result for the other predictions."""

    def __init__(
        self,
        model: HookedImpala,
        levels: Levels,
        sizes: Sizes,
        *,
        seed: int,
        progress: bool,
        records: Records,
    ) -> None:
        self.model, self.levels, self.sizes = model, levels, sizes
        self.seed, self.progress, self.records = seed, progress, records
        self.results: dict[str, AnalysisResult] = {}  # the analyses that decided something
        self.extra: dict[str, dict] = {}  # the two experiments of this module
        self._mazes: list[Maze] | None = None

    def _once(self, key: str, make: Callable[[], AnalysisResult]) -> AnalysisResult:
        if key not in self.results:
            self.results[key] = make()
        return self.results[key]

    def records_for(self, experiment: str) -> Records:
        """Each experiment's own records folder under an explicit one."""
        return self.records.below(experiment)

    def level_range(self, count: int) -> Levels:
        seeds = self.levels.seeds
        return Levels(self.levels.mode, range(seeds.start, seeds.start + min(count, len(seeds))))

    def mazes(self) -> list[Maze]:
        """The levels of the population, generated once (the largest study's count)."""
        if self._mazes is None:
            with MazeRenderer() as renderer:
                self._mazes = list(self.level_range(self.sizes.levels).mazes(renderer))
        return self._mazes

    # --- the toolkit's analyses ------------------------------------------------------------

    def behaviour(self, greedy: bool = False) -> AnalysisResult:
        key = "behaviour_greedy" if greedy else "behaviour"
        # Greedy episodes that loop play all 500 steps: the rerun uses the smaller count.
        count = self.sizes.size_levels if greedy else self.sizes.levels
        return self._once(
            key,
            lambda: analysis("behaviour").run(
                self.model,
                self.level_range(count),
                max_steps=PROCGEN_STEP_LIMIT,
                greedy=greedy,
                records=self.records_for(key),
                seed=self.seed,
                progress=self.progress,
            ),
        )

    def generalisation(self) -> AnalysisResult:
        return self._once(
            "generalisation",
            lambda: analysis("generalisation").run(
                self.model,
                self.level_range(self.sizes.size_levels),
                records=self.records_for("generalisation"),
                seed=self.seed,
                progress=self.progress,
            ),
        )

    def probes(self) -> AnalysisResult:
        probes = analysis("probes")
        options = probes.quick if self.sizes.quick else {}
        return self._once(
            "probes",
            lambda: probes.run(
                self.model,
                self.level_range(self.sizes.probe_levels),
                seed=self.seed,
                progress=self.progress,
                **options,
            ),
        )

    def _steering(self, name: str) -> AnalysisResult:
        mazes = self.mazes()[: self.sizes.steering_mazes * 4]  # decision squares are ~half
        return self._once(
            name,
            lambda: analysis(name).run_on_mazes(
                self.model,
                mazes,
                seed=self.seed,
                progress=self.progress,
                quick=self.sizes.quick,
            ),
        )

    def cheese_vector(self) -> AnalysisResult:
        return self._steering("cheese_vector")

    def top_right_vector(self) -> AnalysisResult:
        return self._steering("top_right_vector")

    def _retarget(self, key: str, mazes: list[Maze], **options) -> AnalysisResult:
        retarget = analysis("retarget")
        quick = retarget.quick if self.sizes.quick else {}
        return self._once(
            key,
            lambda: retarget.run(
                self.model,
                mazes,
                seed=self.seed,
                progress=self.progress,
                **{**quick, **options},
            ),
        )

    def retarget(self) -> AnalysisResult:
        """Random targets in mazes of every size."""
        return self._retarget("retarget", self.mazes()[: self.sizes.retarget_mazes])

    def retarget_small(self) -> AnalysisResult | None:
        """Random targets in the smallest mazes of the population (B4)."""
        smallest = min(m.maze_size for m in self.mazes())
        small = [m for m in self.mazes() if m.maze_size == smallest and len(m.open_cells) > 2]
        if not small:
            return None
        return self._retarget(
            "retarget_small", small[: self.sizes.retarget_mazes], targets_per_maze=4
        )

    def retarget_corners(self) -> AnalysisResult:
        """The corners of the largest mazes of the population (B2, B6)."""
        largest = max(m.maze_size for m in self.mazes())
        chosen = [m for m in self.mazes() if m.maze_size == largest][: self.sizes.corner_mazes]
        return self._retarget("retarget_corners", chosen, corners=True, targets_per_maze=0)

    # --- this module's experiments ---------------------------------------------------------

    def quadrants(self) -> dict:
        """A1: the cheese moved to a uniformly drawn open cell of the top-left or bottom-right
        quadrant of mazes of side >= 5; one episode each, procgen's 500-step limit."""
        if "quadrants" not in self.extra:
            chosen = [m for m in self.mazes() if m.maze_size >= 5][: self.sizes.quadrant_mazes]
            edited, labels = [], []
            for maze in chosen:
                for q, quadrant in enumerate(QUADRANTS):
                    cells = quadrant_cells(maze, quadrant)
                    if cells:
                        rng = np.random.default_rng([self.seed, maze.seed, q])
                        edited.append(maze.with_cheese(cells[rng.integers(len(cells))]))
                        labels.append(quadrant)
            played = rollout(self.model, edited, seed=self.seed, progress=self.progress)
            reached = [e.reached_cheese for e in played.episodes]
            self.extra["quadrants"] = {
                "mazes": len(chosen),
                "pooled": Rate.of(reached).as_dict(),
                **{
                    q: Rate.of(r for r, k in zip(reached, labels) if k == q).as_dict()
                    for q in QUADRANTS
                },
            }
        return self.extra["quadrants"]

    def first_block_channels(self) -> dict:
        """A10: each channel of the first block's output correlated (Pearson, over every grid
        square of ``channel_mazes`` start observations) with four maze features of the cell
        under the square: wall, open, cheese, mouse. Channels with |r| >= INTERPRETABLE_R
        with some feature count as trivially interpretable."""
        if "first_block_channels" not in self.extra:
            mazes = self.mazes()[: self.sizes.channel_mazes]
            with MazeRenderer() as renderer:
                obs = torch.from_numpy(renderer.observe(mazes)).to(self.model.device)
            with torch.no_grad():
                _, cache = self.model.run_with_cache(obs, names_filter=[FIRST_BLOCK_OUT])
            acts = cache[FIRST_BLOCK_OUT].double().cpu().numpy()  # (n, c, L, L)
            n, channels, size, _ = acts.shape
            features = {name: np.zeros((n, size, size)) for name in ("wall", "open", "cheese")}
            features["mouse"] = np.zeros((n, size, size))
            for k, maze in enumerate(mazes):
                rows = square_cells(maze.world_size, size)[::-1]
                cols = square_cells(maze.world_size, size)
                grid = maze.world_grid[np.ix_(rows, cols)]
                features["wall"][k] = grid == int(Tile.WALL)
                features["open"][k] = grid != int(Tile.WALL)
                for name, cell in (("cheese", maze.cheese), ("mouse", maze.mouse)):
                    if cell is not None:
                        features[name][k] = (rows[:, None] == cell[0]) & (cols[None] == cell[1])
            flat = acts.transpose(1, 0, 2, 3).reshape(channels, -1)
            best = np.zeros(channels)
            best_feature = [""] * channels
            for name, values in features.items():
                r = _pearson_rows(flat, values.reshape(-1))
                better = np.abs(r) > np.abs(best)
                best = np.where(better, r, best)
                best_feature = [name if b else f for b, f in zip(better, best_feature)]
            chosen = np.flatnonzero(np.abs(best) >= INTERPRETABLE_R)
            self.extra["first_block_channels"] = {
                "layer": FIRST_BLOCK_OUT,
                "mazes": n,
                "channels": channels,
                "threshold_abs_r": INTERPRETABLE_R,
                "interpretable": [
                    {"channel": int(c), "feature": best_feature[c], "r": float(best[c])}
                    for c in chosen
                ],
                "best_abs_r": np.abs(best).tolist(),
            }
        return self.extra["first_block_channels"]


def _pearson_rows(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Pearson r of each row of ``rows`` (c, m) with ``values`` (m,); 0 for a constant."""
    a = rows - rows.mean(1, keepdims=True)
    b = values - values.mean()
    denominator = np.sqrt((a**2).sum(1) * (b**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, a @ b / denominator, 0.0)
