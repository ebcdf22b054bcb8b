"""How an analysis declares itself: its name, the question it answers, how it chooses its
inputs from a set of mazes, its options (which become command-line flags) and the small
settings the report and the docs run it with.

Every analysis module defines ``ANALYSIS = Analysis(...)`` next to its ``run``, and
``analyses/__init__.py`` lists the module. The command line (``analyses.cli``), the report
and the docs loop over that list, so a new analysis is one file plus one line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyses.inputs import Inputs, Levels
from analyses.result import AnalysisResult
from hooked_impala import cli
from hooked_impala.maze import DEFAULT_MODE, Maze
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT
from hooked_impala.pretrained import load_pretrained


@dataclass(frozen=True)
class Option:
    """One keyword of ``run`` exposed as ``--<name-with-dashes>``.

    ``kind`` parses one value (default: the type of ``default``); ``choices`` limits the
    values; ``many`` takes one or more values; a bool default becomes ``--x/--no-x``.
    """

    name: str
    default: Any
    help: str
    kind: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    many: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Analysis:
    """An analysis as the command line, the report and the docs see it.

    ``run(model, inputs, *, seed, progress, **options)`` does the work; ``select(mazes)``
    picks its inputs from the standard maze set (decision squares, every open cell, ...);
    ``quick`` overrides options for the report and the docs (small, fast settings);
    ``min_mazes``: fewer mazes than this make no sense for it.

    ``levels``: the analysis studies a population of levels instead (``inputs`` is
    :class:`~analyses.inputs.Levels`, every level of a range of seeds, and ``select`` is not
    used): ``--mazes`` defaults to this many, the report and the docs use ``quick_levels``.

    ``checkpoint``: the checkpoint the analysis needs, which its script, the report and the
    docs run it on (``weight_diff``: a fine-tuned checkpoint that names its parent); None:
    any checkpoint (the script's ``--checkpoint``, the report's).
    """

    name: str
    question: str
    run: Callable[..., AnalysisResult]
    select: Callable[[Sequence[Maze]], Inputs]
    options: tuple[Option, ...] = ()
    quick: Mapping[str, Any] = field(default_factory=dict)
    min_mazes: int = 1
    levels: int | None = None
    quick_levels: int = 200
    checkpoint: str | None = None

    def run_on_mazes(
        self,
        model: HookedImpala,
        mazes: Sequence[Maze],
        *,
        seed: int = 0,
        progress: bool = False,
        quick: bool = False,
        **options: Any,
    ) -> AnalysisResult:
        """Select the inputs from ``mazes`` and run, with ``quick`` settings if asked."""
        chosen = {**(self.quick if quick else {}), **options}
        if self.levels is None:
            inputs = self.select(mazes)
        else:
            mode = mazes[0].distribution_mode if mazes else DEFAULT_MODE
            inputs = Levels(mode, range(self.quick_levels if quick else self.levels))
        return self.run(model, inputs, seed=seed, progress=progress, **chosen)


def model_for(analysis: Analysis, model: HookedImpala) -> HookedImpala:
    """The model the report and the docs run ``analysis`` on: ``model``, or the checkpoint
    the analysis needs (``Analysis.checkpoint``), loaded onto ``model``'s device."""
    if analysis.checkpoint is None:
        return model
    return load_pretrained(analysis.checkpoint, device=model.device, progress=False)


def records_flag(text: str) -> str | Path:
    """argparse type of ``--records``: "auto", or a folder results can be written into."""
    return "auto" if text == "auto" else cli.output_folder(text)


#: ``run(..., max_observations)``: measure on a seeded sample of the inputs
#: (``analyses.inputs.at_most``).
MAX_OBSERVATIONS = Option(
    "max_observations",
    None,
    "at most this many observations (a seeded sample)",
    kind=cli.positive_int,
)

#: Where an analysis's maze sweep runs (``run(..., ray, ray_address, workers)``: the rollouts
#: of ``collect_records``, the retargeting heatmaps, the probes' dataset): in-process, or on
#: Ray. Not part of the results' metadata: the results are the same either way.
SWEEP_OPTIONS = (
    Option(
        "ray",
        False,
        "run the maze sweep (rollouts, heatmaps, probe data) on Ray: a local instance started "
        "for the run, or the cluster of RAY_ADDRESS when set (needs pip install "
        '"hooked-impala[ray]")',
    ),
    Option(
        "ray_address",
        None,
        "run the maze sweep on this Ray cluster (HOST:PORT, as printed by ray start --head); "
        "implies --ray",
        kind=str,
    ),
    Option(
        "workers",
        None,
        "sweep chunks run at once on Ray, one CPU each (None: one per CPU Ray has)",
        kind=cli.positive_int,
    ),
)

#: The options of the analyses built on rollout records (``run(..., max_steps, greedy,
#: records, ray, ray_address, workers)``): the step limit, sampled or greedy actions, where
#: to keep the records and where to play them.
ROLLOUT_OPTIONS = (
    Option(
        "max_steps",
        PROCGEN_STEP_LIMIT,
        "step limit of an episode (procgen's own is 500)",
        kind=cli.integer(1, PROCGEN_STEP_LIMIT),
    ),
    Option("greedy", False, "most probable actions instead of sampled ones"),
    Option(
        "records",
        "auto",
        "folder for the rollout records, reused (or resumed) by a rerun with the same "
        "settings; 'auto': a folder under out/records named by the analysis, checkpoint and "
        "settings",
        kind=records_flag,
    ),
    *SWEEP_OPTIONS,
)
