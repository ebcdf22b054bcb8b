"""How an analysis declares itself: its name, the question it answers, how it chooses its
inputs from a set of mazes, its options (which become command-line flags) and the small
settings the report and the docs run it with.

Every analysis declares its ``run`` with ``@analysis(...)`` (which makes ``run.analysis``,
an :class:`Analysis`), and ``analyses.core.registry`` lists it. The command line
(``analyses.core.cli``), the report and the docs loop over that list, so a new analysis is
one module plus one registry line.

An option's default is written once, in ``run``'s signature: ``Analysis`` reads it from
there, so the library call, the command line, the report and the docs cannot disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analyses.core.inputs import Inputs, Levels
from analyses.core.records import Records
from analyses.core.result import AnalysisResult, keeps_arguments
from hooked_impala import cli
from hooked_impala.maze import DEFAULT_MODE, Maze
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT
from hooked_impala.pretrained import load_pretrained
from hooked_impala.sweep import Backend

#: An option whose default has not been read from ``run`` yet.
_UNSET: Any = object()


@dataclass(frozen=True)
class Option:
    """One keyword of ``run`` exposed as ``--<name-with-dashes>``.

    ``kind`` parses one value (default: the type of the default); ``choices`` limits the
    values; ``many`` takes one or more values; a bool default becomes ``--x/--no-x``.
    ``default`` is filled in from ``run``'s signature by :class:`Analysis`.
    """

    name: str
    help: str
    kind: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    many: bool = False
    default: Any = field(default=_UNSET, compare=False)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add this option's flag(s) to ``parser``."""
        if isinstance(self.default, bool):
            parser.add_argument(
                self.flag,
                dest=self.name,
                default=self.default,
                help=self.help,
                action=argparse.BooleanOptionalAction,
            )
            return
        kind = self.kind or (type(self.default[0]) if self.many else type(self.default))
        parser.add_argument(
            self.flag,
            dest=self.name,
            type=kind,
            default=self.default,
            choices=self.choices,
            nargs="+" if self.many else None,
            help=f"{self.help} (default: %(default)s)",
        )

    def value(self, args: argparse.Namespace) -> Any:
        """The keyword's value from parsed flags."""
        return getattr(args, self.name)


@dataclass(frozen=True)
class SweepOption(Option):
    """``run(..., sweep: Backend)``: where a maze sweep runs, as three flags (``--ray``,
    ``--ray-address``, ``--workers``) that make one :class:`~hooked_impala.sweep.Backend`."""

    name: str = "sweep"
    help: str = "where the maze sweep runs"

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--ray",
            action="store_true",
            help="run the maze sweep (rollouts, heatmaps, probe data) on Ray: a local instance "
            "started for the run, or the cluster of RAY_ADDRESS when set (needs pip install "
            '"hooked-impala[ray]")',
        )
        parser.add_argument(
            "--ray-address",
            default=None,
            help="run the maze sweep on this Ray cluster (HOST:PORT, as printed by ray start "
            "--head); implies --ray",
        )
        parser.add_argument(
            "--workers",
            type=cli.positive_int,
            default=None,
            help="sweep chunks run at once on Ray, one CPU each (default: one per CPU Ray has)",
        )

    def value(self, args: argparse.Namespace) -> Backend:
        return Backend(ray=args.ray, address=args.ray_address, workers=args.workers)


@dataclass(frozen=True)
class Group(Option):
    """``run(..., <name>: <Settings>)``: settings that travel together as one value (a frozen
    dataclass), each field with a flag of its own (``members``, named as the fields; a field
    without a member keeps its value). ``default`` (from ``run``'s signature) gives each
    flag its default; ``--set <analysis>.<field>=V`` and ``quick`` change one field."""

    members: tuple[Option, ...] = ()

    def member_defaults(self) -> tuple[Option, ...]:
        return tuple(
            dataclasses.replace(m, default=getattr(self.default, m.name)) for m in self.members
        )

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        for member in self.member_defaults():
            member.add_to(parser)

    def value(self, args: argparse.Namespace) -> Any:
        return self.with_fields({m.name: m.value(args) for m in self.members})

    def with_fields(self, values: Mapping[str, Any], base: Any = None) -> Any:
        """``base`` (default: the default value) with these fields changed."""
        return dataclasses.replace(self.default if base is None else base, **values)


@dataclass(frozen=True)
class Analysis:
    """An analysis as the command line, the report and the docs see it.

    ``run(model, inputs, *, seed, progress, **options)`` does the work; ``select(mazes)``
    picks its inputs from the standard maze set (decision squares, every open cell, ...);
    ``quick`` overrides options for the report and the docs (small, fast settings);
    ``min_mazes``: fewer mazes than this make no sense for it.

    ``levels``: the analysis studies a population of levels instead (``inputs`` is
    :class:`~analyses.core.inputs.Levels`, every level of a range of seeds, and ``select``
    is not used): ``--mazes`` defaults to this many, the report and the docs use
    ``quick_levels``.

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

    def __post_init__(self) -> None:
        keywords = inspect.signature(self.run).parameters
        filled = []
        for option in self.options:
            parameter = keywords.get(option.name)
            if parameter is None or parameter.default is inspect.Parameter.empty:
                raise TypeError(
                    f"analysis {self.name!r}: option {option.name!r} must be a keyword of its "
                    "run() with a default (the default is written there, once)"
                )
            filled.append(dataclasses.replace(option, default=parameter.default))
        object.__setattr__(self, "options", tuple(filled))
        unknown = set(self.quick) - {o.name for o in self.settable()}
        if unknown:
            raise TypeError(f"analysis {self.name!r}: quick settings {unknown} are not options")

    def settable(self) -> list[Option]:
        """The options one by one, a group's fields in place of the group."""
        one_by_one = (o.member_defaults() if isinstance(o, Group) else (o,) for o in self.options)
        return [option for options in one_by_one for option in options]

    def keywords(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``run``'s keywords for ``settings`` by option (a group's fields may be given one by
        one: they change its value, the given one or the default)."""
        out = dict(settings)
        for group in (o for o in self.options if isinstance(o, Group)):
            fields_given = {m.name: out.pop(m.name) for m in group.members if m.name in out}
            if fields_given:
                out[group.name] = group.with_fields(fields_given, out.get(group.name))
        return out

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
        chosen = self.keywords({**(self.quick if quick else {}), **options})
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


def steering_options(rollout_coeff: float) -> tuple[Option, ...]:
    """The options of a steering analysis (``run(..., layer, coeffs, extras)``, ``extras`` a
    :class:`~analyses.measure.steering.SteeringExtras`): rollouts compare the original with
    the own vector at ``rollout_coeff``."""
    rollouts = f"also compare rollouts, original vs coefficient {rollout_coeff:+g}"
    return (
        Option("layer", "hook to add the vector at", kind=cli.hook_name),
        Option("coeffs", "coefficients to sweep", kind=cli.finite, many=True),
        Group(
            "extras",
            "what is measured besides the sweep",
            members=(
                Option("rollouts", rollouts),
                Option(
                    "rollout_max_steps",
                    "rollout step limit",
                    kind=cli.integer(1, PROCGEN_STEP_LIMIT),
                ),
            ),
        ),
    )


def channels_option(name: str, help: str) -> Option:
    """``run(..., <name>: Sequence[int])``: one or more channel indices."""
    return Option(name, help, kind=cli.integer(0), many=True)


def hooks_option(help: str) -> Option:
    """``run(..., hooks: Sequence[str])``: one or more hook names."""
    return Option("hooks", help, kind=cli.hook_name, many=True)


#: ``run(..., max_observations)``: measure on a seeded sample of the inputs
#: (``analyses.core.inputs.at_most``).
MAX_OBSERVATIONS = Option(
    "max_observations", "at most this many observations (a seeded sample)", kind=cli.positive_int
)

#: ``run(..., sweep)``: where an analysis's maze sweep runs (the rollouts of
#: ``collect_records``, the retargeting heatmaps, the probes' dataset): in-process, or on
#: Ray. Not part of the results' metadata: the results are the same either way.
SWEEP = SweepOption()

#: ``run(..., records)``: where the rollout records are kept (``Records``).
RECORDS = Option(
    "records",
    "folder for the rollout records, reused (or resumed) by a rerun with the same settings; "
    "'auto': a folder under out/records named by the analysis, checkpoint and settings; "
    "'temporary': removed after the run",
    kind=Records.parse,
)

#: The options of the analyses built on rollout records (``run(..., playing, sweep)``): how
#: the levels are played (``Playing``: the step limit, sampled or greedy actions, where to
#: keep the records) and where.
ROLLOUT_OPTIONS = (
    Group(
        "playing",
        "how each level is played",
        members=(
            Option(
                "max_steps",
                "step limit of an episode (procgen's own is 500)",
                kind=cli.integer(1, PROCGEN_STEP_LIMIT),
            ),
            Option("greedy", "most probable actions instead of sampled ones"),
            RECORDS,
        ),
    ),
    SWEEP,
)


def analysis(
    *,
    question: str,
    select: Callable[[Sequence[Maze]], Inputs],
    name: str | None = None,
    record_arguments: bool = True,
    **settings: Any,
) -> Callable[[Callable[..., AnalysisResult]], Callable[..., AnalysisResult]]:
    """Declare the decorated ``run(model, inputs, *, options...)`` an analysis:
    ``run.analysis`` becomes its :class:`Analysis` (``settings``: its other fields), named
    after its module (``analyses.<name>``, the name ``python -m`` runs) unless ``name`` is
    given, and its results record the keywords it was called with
    (:func:`~analyses.core.result.keeps_arguments`) unless ``record_arguments`` is False (an
    analysis whose result already records its settings in another form). The declaration
    stands above the signature whose defaults it reads."""

    def declare(run: Callable[..., AnalysisResult]) -> Callable[..., AnalysisResult]:
        recorded = keeps_arguments(run) if record_arguments else run
        # Run as a script the module is __main__; its spec still holds its real name.
        module = sys.modules[run.__module__]
        where = (module.__spec__.name if module.__spec__ else run.__module__).split(".")
        if name is None and (len(where) < 2 or where[0] != "analyses"):
            raise TypeError(f"{'.'.join(where)}.run is outside analyses/: give its name=")
        called = name or where[1]
        spec = Analysis(name=called, question=question, run=recorded, select=select, **settings)
        recorded.analysis = spec  # type: ignore[attr-defined]
        return recorded

    return declare


def steering_analysis(question: str, rollout_coeff: float):
    """:func:`analysis` for a steering analysis: it finds the decision squares in the mazes
    it is given, needs two (a vector transfers from the next maze), takes
    :func:`steering_options` and in its quick form shorter rollouts."""
    return analysis(
        question=question,
        select=list,
        options=steering_options(rollout_coeff),
        quick={"rollout_max_steps": 128},
        min_mazes=2,
    )
