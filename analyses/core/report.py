"""The main job: every analysis on one checkpoint over a few mazes, as a browsable report.

    python -m analyses.report [--checkpoint NAME_OR_PATH] [--mazes 8] [--only NAME ...]

Runs each analysis of the registry (``analyses.core.registry``) with its quick settings on
the inputs it selects from the same mazes; writes one folder per analysis (``result.json``,
``arrays.npz``, figures as HTML) and an ``index.html`` linking them with each analysis's
summary. For other settings, run an analysis alone: ``python -m analyses.<name> --help``.
"""

from __future__ import annotations

import argparse
import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analyses.core.cli import common_parser, model_and_mazes
from analyses.core.inputs import NotApplicable
from analyses.core.registry import ANALYSES
from analyses.core.result import CheckpointRef
from analyses.core.saving import check_output_folder, result_folder, write_marker
from analyses.core.spec import Analysis, SweepOption, model_for
from hooked_impala.files import write_atomically
from hooked_impala.maze import Maze

REPORT = "report"  # the owner of the report's folder (analyses.core.saving)


@dataclass(frozen=True)
class Section:
    analysis: Analysis
    summary: str
    files: list[Path]
    seconds: float


def index_page(
    checkpoint: CheckpointRef, sections: Sequence[Section], mazes: Sequence[Maze], seconds: float
) -> str:
    seeds = ", ".join(str(m.seed) for m in mazes)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>hooked-impala report</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.4}"
        "pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}"
        "h2{border-bottom:1px solid #ccc}</style></head><body>",
        "<h1>hooked-impala report</h1>",
        f"<p>Checkpoint <b>{html.escape(checkpoint.name)}</b> (sha256 "
        f"<code>{html.escape(str(checkpoint.sha256))}</code>); {len(mazes)} "
        f"{html.escape(mazes[0].distribution_mode)} mazes with a decision square and the cheese "
        f"outside the top-right 5×5 (seeds {seeds}); {seconds:.0f} s.</p>",
    ]
    for s in sections:
        name = s.analysis.name
        links = " · ".join(f"<a href='{name}/{p.name}'>{p.name}</a>" for p in s.files)
        parts += [
            f"<h2>{name}</h2>",
            f"<p><i>{html.escape(s.analysis.question)}</i> ({s.seconds:.1f} s)</p>",
            f"<pre>{html.escape(s.summary)}</pre>",
            f"<p>{links}</p>",
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def settable(analysis: Analysis) -> list:
    """The options ``--set`` can change: all but where sweeps run (the report's own)."""
    return [o for o in analysis.settable() if not isinstance(o, SweepOption)]


def parse_overrides(
    settings: Sequence[str], analyses: Sequence[Analysis]
) -> dict[str, dict[str, Any]]:
    """``["channel_attribution.ig_steps=64", ...]`` ->
    ``{"channel_attribution": {"ig_steps": 64}}``, each value parsed as its option's
    command-line flag would parse it."""
    by_name = {a.name: a for a in analyses}
    overrides: dict[str, dict[str, Any]] = {}
    for setting in settings:
        target, _, text = setting.partition("=")
        name, _, option_name = target.partition(".")
        analysis = by_name.get(name)
        options = {o.name: o for o in settable(analysis)} if analysis else {}
        if not text or option_name not in options:
            known = [f"{a.name}.{o.name}" for a in analyses for o in settable(a)]
            raise ValueError(
                f"--set {setting!r}: expected NAME.OPTION=VALUE with NAME.OPTION one of {known}"
            )
        option = options[option_name]
        if isinstance(option.default, bool):  # --x / --no-x
            args = [
                option.flag if text.lower() in ("1", "true", "yes") else "--no-" + option.flag[2:]
            ]
        else:  # one value, or comma-separated values for a many-valued option
            args = [option.flag, *text.split(",")]
        parser = argparse.ArgumentParser(
            prog=f"--set {target}", exit_on_error=False, add_help=False
        )
        option.add_to(parser)
        try:
            parsed = parser.parse_args(args)
        except (argparse.ArgumentError, SystemExit) as err:  # 3.11 still exits on bad choices
            raise ValueError(f"--set {setting!r}: {err}") from None
        overrides.setdefault(name, {})[option_name] = option.value(parsed)
    return overrides


def main(argv: Sequence[str] | None = None, analyses: Sequence[Analysis] | None = None) -> int:
    """The report over ``analyses`` (default: every analysis of the registry)."""
    analyses = list(analyses) if analyses is not None else list(ANALYSES)
    names = [a.name for a in analyses]
    parser = common_parser("python -m analyses.report", __doc__, mazes=8, out="out/report")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=names,
        metavar="NAME",
        help=f"run only these analyses ({', '.join(names)})",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="NAME.OPTION=VALUE",
        help="override an analysis option, e.g. channel_attribution.ig_steps=64",
    )
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.set, analyses)
        check_output_folder(args.out, REPORT)  # before any work: never over a user's folder
    except ValueError as err:
        parser.error(str(err))
    chosen = [a for a in analyses if not args.only or a.name in args.only]
    # Analyses of a population of levels play their own quick_levels, not the --mazes.
    on_mazes = [a for a in chosen if a.levels is None]
    needed = max((a.min_mazes for a in on_mazes), default=1)
    if args.mazes < needed:
        parser.error(
            f"--mazes must be at least {needed} for "
            f"{[a.name for a in on_mazes if a.min_mazes == needed]}"
        )
    out = args.out
    started = time.perf_counter()
    loaded = model_and_mazes(args)
    if loaded is None:
        return 1
    model, mazes = loaded
    checkpoint = CheckpointRef.of(model)
    print(f"checkpoint {checkpoint.name}; mazes {[m.seed for m in mazes]}")
    sections = []
    # The whole report is written aside and swapped in at the end: an interrupted run leaves
    # the previous report untouched, never a folder mixing two runs.
    with result_folder(out, REPORT) as staging:
        for analysis in chosen:
            t = time.perf_counter()
            options = overrides.get(analysis.name, {})
            try:
                subject = model_for(analysis, model)
                result = analysis.run_on_mazes(
                    subject, mazes, seed=args.seed, quick=True, **options
                )
            except NotApplicable as err:  # too few of these mazes suit it: say so, go on
                seconds = time.perf_counter() - t
                sections.append(Section(analysis, f"not run on these mazes: {err}", [], seconds))
                print(f"\n== {analysis.name}: not run on these mazes: {err}", flush=True)
                continue
            (staging / analysis.name).mkdir()
            files = [out / analysis.name / n for n in result.write_into(staging / analysis.name)]
            seconds = time.perf_counter() - t
            sections.append(Section(analysis, result.summary(), files, seconds))
            print(f"\n== {analysis.name} ({seconds:.1f} s)\n{sections[-1].summary}", flush=True)
        page = index_page(checkpoint, sections, mazes, time.perf_counter() - started)
        write_atomically(staging / "index.html", page)
        write_marker(staging, REPORT)
    print(f"\nwrote {out / 'index.html'}")
    return 0
