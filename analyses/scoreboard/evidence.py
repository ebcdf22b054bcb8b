"""The experiments behind the predictions scoreboard, each run once and shared by the
predictions that use it: the toolkit's analyses at the scoreboard's sample sizes (looked up
in the registry when the scoreboard runs, never imported: an analysis does not import
another), the scoreboard's own experiments (:mod:`analyses.scoreboard.experiments`,
:mod:`analyses.scoreboard.interpretable`) and the edit searches
(:mod:`analyses.measure.edit_search`).

The test mazes are the population the scoreboard was given (every level of a seed range);
whatever is chosen from data is chosen on selection mazes, levels of the same mode from the
selection seed range (:mod:`analyses.measure.splits`), disjoint by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analyses.core.inputs import DEFAULT_LAYER, Levels
from analyses.core.records import Playing, Records
from analyses.core.result import AnalysisResult
from analyses.core.spec import Analysis
from analyses.measure.cheese_channels import score_channels
from analyses.measure.edit_search import Episodes, Scored, clamp_family, score_family
from analyses.measure.retarget import seeded_subset
from analyses.measure.retarget_paths import target_paths
from analyses.measure.splits import SELECTION_FIRST_SEED, disjoint
from analyses.scoreboard import experiments, interpretable
from analyses.scoreboard.thresholds import threshold
from hooked_impala.maze import TOP_RIGHT_5, Maze, MazeRenderer, decision_square
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT

#: Step budget of the retargeting searches (A8, B4): the retarget analysis's default.
REACH_STEPS = 64


@dataclass(frozen=True)
class Sizes:
    """Sample sizes of the scoreboard's experiments (``QUICK`` or ``FULL``)."""

    levels: int  # behaviour regression
    size_levels: int  # maze-size and corner study; also the greedy rerun of the regression
    probe_levels: int
    steering_mazes: int  # cheese and top-right vectors
    retarget_mazes: int  # A9's heatmaps; A8's search (test and selection each)
    corner_mazes: int  # B2/B6's search on the largest mazes (test and selection each)
    quadrant_mazes: int  # A1; A2's moved start
    channel_mazes: int  # A10 (test and selection each)
    quick: bool
    suppression_mazes: int = 0  # A4's search (test and selection each); 0: steering_mazes
    bootstrap: int = 200  # resamples of the behaviour regression's whole fit
    max_steps: int = PROCGEN_STEP_LIMIT  # episode limit of the level studies (tests: fewer)


QUICK = Sizes(200, 200, 120, 16, 6, 4, 40, 16, quick=True, suppression_mazes=12, bootstrap=50)
FULL = Sizes(10_000, 2_000, 2_000, 100, 32, 16, 500, 100, quick=False, suppression_mazes=100)


def analysis(name: str) -> Analysis:
    """An analysis of the registry, looked up when the scoreboard runs (the registry lists
    the scoreboard too, so it cannot be imported when this module is)."""
    from analyses.core import registry

    return registry.analysis(name)


def standard(mazes: list[Maze]) -> list[Maze]:
    """The mazes with a decision square and the cheese outside the top-right 5x5."""
    return [
        m
        for m in mazes
        if decision_square(m) is not None and m.cheese not in set(TOP_RIGHT_5.cells(m))
    ]


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
        self.extra: dict[str, object] = {}  # the scoreboard's own experiments
        self._mazes: dict[str, list[Maze]] = {}

    def _once(self, key: str, make: Callable[[], object], store: dict) -> object:
        if key not in store:
            store[key] = make()
        return store[key]

    def level_range(self, count: int) -> Levels:
        seeds = self.levels.seeds
        return Levels(self.levels.mode, range(seeds.start, seeds.start + min(count, len(seeds))))

    def mazes(self, selection: bool = False) -> list[Maze]:
        """The test population's levels (or as many selection levels), generated once."""
        key = "selection" if selection else "test"
        if key not in self._mazes:
            count = min(self.sizes.levels, len(self.levels))
            if selection:  # enough for every search's selection mazes
                count = min(count, self.sizes.size_levels)
            first = SELECTION_FIRST_SEED if selection else self.levels.seeds.start
            levels = Levels(self.levels.mode, range(first, first + count))
            with MazeRenderer() as renderer:
                self._mazes[key] = list(levels.mazes(renderer))
        if selection:
            disjoint([m.seed for m in self._mazes["selection"]], self.levels.seeds)
        return self._mazes[key]

    # --- the toolkit's analyses ------------------------------------------------------------

    def _analysis(self, key: str, name: str, make: Callable[[Analysis], AnalysisResult]):
        return self._once(key, lambda: make(analysis(name)), self.results)

    def behaviour(self, greedy: bool = False) -> AnalysisResult:
        key = "behaviour_greedy" if greedy else "behaviour"
        # Greedy episodes that loop play all 500 steps: the rerun uses the smaller count.
        count = self.sizes.size_levels if greedy else self.sizes.levels

        def make(behaviour: Analysis) -> AnalysisResult:
            options = {"bootstrap": self.sizes.bootstrap}
            options = {k: v for k, v in options.items() if k in {o.name for o in behaviour.options}}
            return behaviour.run(
                self.model,
                self.level_range(count),
                playing=Playing(
                    max_steps=PROCGEN_STEP_LIMIT, greedy=greedy, records=self.records.below(key)
                ),
                seed=self.seed,
                progress=self.progress,
                **options,
            )

        return self._analysis(key, "behaviour", make)

    def generalisation(self) -> AnalysisResult:
        return self._analysis(
            "generalisation",
            "generalisation",
            lambda a: a.run(
                self.model,
                self.level_range(self.sizes.size_levels),
                playing=Playing(records=self.records.below("generalisation")),
                seed=self.seed,
                progress=self.progress,
            ),
        )

    def probes(self) -> AnalysisResult:
        def make(probes: Analysis) -> AnalysisResult:
            options = probes.keywords(probes.quick) if self.sizes.quick else {}
            return probes.run(
                self.model,
                self.level_range(self.sizes.probe_levels),
                seed=self.seed,
                progress=self.progress,
                **options,
            )

        return self._analysis("probes", "probes", make)

    def _steering(self, name: str) -> AnalysisResult:
        test = standard(self.mazes())[: self.sizes.steering_mazes]
        return self._analysis(
            name,
            name,
            lambda a: a.run_on_mazes(
                self.model, test, seed=self.seed, progress=self.progress, quick=self.sizes.quick
            ),
        )

    def cheese_vector(self) -> AnalysisResult:
        return self._steering("cheese_vector")

    def top_right_vector(self) -> AnalysisResult:
        return self._steering("top_right_vector")

    def retarget(self) -> AnalysisResult:
        """Heatmaps of random targets in mazes of every size (the channels and the clamp's
        magnitude are chosen on the retarget analysis's own selection mazes)."""
        test = standard(self.mazes())[: self.sizes.retarget_mazes]

        def make(retarget: Analysis) -> AnalysisResult:
            quick = retarget.quick if self.sizes.quick else {}
            return retarget.run(
                self.model,
                test,
                seed=self.seed,
                progress=self.progress,
                **{**quick, "targets_per_maze": 0},
            )

        return self._analysis("retarget", "retarget", make)

    # --- the scoreboard's own experiments --------------------------------------------------

    def quadrants(self) -> experiments.Outcomes:
        test = self.mazes()[: self.sizes.quadrant_mazes]
        return self._once(
            "quadrants",
            lambda: experiments.quadrants(
                self.model, test, max_steps=self.sizes.max_steps, seed=self.seed
            ),
            self.extra,
        )

    def start_moved(self) -> experiments.PairedOutcomes:
        test = standard(self.mazes())[: self.sizes.quadrant_mazes]
        return self._once(
            "start_moved",
            lambda: experiments.start_moved(
                self.model, test, max_steps=self.sizes.max_steps, seed=self.seed
            ),
            self.extra,
        )

    def ranking(self) -> list[int]:
        """The cheese channels of the cheese-vector layer, ranked on selection mazes."""
        mazes = standard(self.mazes(selection=True))[:8]
        return self._once(
            "ranking",
            lambda: score_channels(self.model, mazes, seed=self.seed).ranked(),
            self.extra,
        )

    def suppression(self) -> experiments.Suppression:
        count = self.sizes.suppression_mazes or self.sizes.steering_mazes
        test = standard(self.mazes())[:count]
        selection = standard(self.mazes(selection=True))[:count]
        # The cheese-vector analysis's rollout lengths (within the runs' episode limit).
        steps = min(self.sizes.max_steps, 128 if self.sizes.quick else 256)
        return self._once(
            "suppression",
            lambda: experiments.suppression(
                self.model,
                selection,
                test,
                self.ranking(),
                DEFAULT_LAYER,
                top_right_limit=threshold("A4.top_right").value,
                max_steps=steps,
                seed=self.seed,
            ),
            self.extra,
        )

    def interpretable(self) -> interpretable.Interpretable:
        rule = threshold("A10.r")
        count = self.sizes.channel_mazes
        return self._once(
            "interpretable",
            lambda: interpretable.interpretable_channels(
                self.model,
                self.mazes(selection=True)[:count],
                self.mazes()[:count],
                threshold=rule.value,
                sensitivity=rule.sensitivity,
                seed=self.seed,
            ),
            self.extra,
        )

    # --- the edit searches -----------------------------------------------------------------

    def _targets(self, mazes: list[Maze], per_maze: int, salt: int) -> Episodes:
        chosen_mazes, targets = [], []
        for maze in mazes:
            start = maze.with_mouse(maze.start_cell)
            paths, _ = target_paths(start)
            for target in seeded_subset(sorted(paths), per_maze, [self.seed, maze.seed, salt]):
                chosen_mazes.append(start)
                targets.append(target)
        return Episodes(tuple(chosen_mazes), tuple(targets))

    def reach(self, kind: str) -> tuple[Scored, Episodes, Episodes, int] | None:
        """The family scored on selection episodes, and the test episodes, for "random"
        targets in mazes of every size (A8), the "smallest" mazes (B4) or the "corners"
        of the largest (B2, B6); the step budget. None when the population has none."""
        return self._once(f"reach_{kind}", lambda: self._reach(kind), self.extra)

    def _reach(self, kind: str) -> tuple[Scored, Episodes, Episodes, int] | None:
        tests, selections = standard(self.mazes()), standard(self.mazes(selection=True))
        budget = REACH_STEPS
        if kind == "random":
            count, per_maze = self.sizes.retarget_mazes, 2
            pick = lambda mazes, salt: self._targets(mazes[:count], per_maze, salt)  # noqa: E731
        elif kind == "smallest":
            smallest = min((m.maze_size for m in tests), default=None)
            tests = [m for m in tests if m.maze_size == smallest and len(m.open_cells) > 2]
            selections = [m for m in selections if m.maze_size == smallest]
            count = self.sizes.retarget_mazes
            pick = lambda mazes, salt: self._targets(mazes[:count], 4, salt)  # noqa: E731
        else:
            corners = self.corner_episodes(tests, selections)
            if corners is None:
                return None
            tests_e, selections_e, budget = corners
            return self._scored(selections_e, budget), selections_e, tests_e, budget
        test_e, selection_e = pick(tests, 1), pick(selections, 2)
        if not len(test_e) or not len(selection_e):
            return None
        return self._scored(selection_e, budget), selection_e, test_e, budget

    def _scored(self, selection: Episodes, budget: int) -> Scored:
        mazes = list(dict.fromkeys(selection.mazes))[:8]
        family = clamp_family(self.model, mazes, DEFAULT_LAYER, self.ranking())
        return score_family(self.model, family, selection, budget, self.seed)

    def corner_episodes(
        self, tests: list[Maze], selections: list[Maze]
    ) -> tuple[Episodes, Episodes, int] | None:
        """The top-left and bottom-right corners of the largest mazes as targets, within the
        step budget the agent needs to reach a cheese in the top-right region (from the
        generalisation study), keeping only corners whose shortest path fits the budget."""
        if not tests:
            return None
        largest = max(m.maze_size for m in tests)
        budget_steps = getattr(self.generalisation(), "step_budget", None)
        budget = PROCGEN_STEP_LIMIT if budget_steps is None else max(1, int(np.ceil(budget_steps)))
        count = self.sizes.corner_mazes

        def episodes(mazes: list[Maze]) -> Episodes:
            chosen_mazes, targets = [], []
            for maze in [m for m in mazes if m.maze_size == largest][:count]:
                start = maze.with_mouse(maze.start_cell)
                paths, _ = target_paths(start)
                lo, hi = maze.margin, maze.margin + maze.maze_size - 1
                for corner in ((hi, lo), (lo, hi)):  # top-left, bottom-right
                    if corner in paths and len(paths[corner]) - 1 <= budget:
                        chosen_mazes.append(start)
                        targets.append(corner)
            return Episodes(tuple(chosen_mazes), tuple(targets))

        test_e, selection_e = episodes(tests), episodes(selections)
        if not len(test_e) or not len(selection_e):
            return None
        return test_e, selection_e, budget
