"""The command line of every analysis: ``python -m analyses.<name> --help``.

The flags every analysis takes (checkpoint, mazes, mode, seeds, output folder) plus one flag
per declared ``Option``; the checkpoint is loaded, the standard mazes selected, the analysis
run on the inputs it selects, its summary printed and its files saved.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import torch

from analyses.core.inputs import Levels, select_mazes
from analyses.core.saving import check_output_folder
from analyses.core.spec import Analysis
from hooked_impala import cli
from hooked_impala.maze import MazeRenderer

DEFAULT_CHECKPOINT = "standin_s1"  # bundled: the scripts run offline


def common_parser(
    prog: str, description: str, mazes: int, out: str, checkpoint: str = DEFAULT_CHECKPOINT
) -> argparse.ArgumentParser:
    """The flags every analysis script and the report take, each checked on parsing."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint",
        default=checkpoint,
        help="registry name or path (default: %(default)s)",
    )
    cli.add_common_arguments(parser, mazes=mazes, out=out)
    return parser


def model_and_mazes(args: argparse.Namespace):
    """The checkpoint and the standard mazes the common flags ask for (None: error printed)."""
    torch.manual_seed(args.seed)
    model = cli.load_model(args.checkpoint, args.device)
    if model is None:
        return None
    with MazeRenderer() as renderer:
        mazes = select_mazes(args.mazes, args.mode, args.first_seed, renderer=renderer)
    return model, mazes


def main(analysis: Analysis, argv: Sequence[str] | None = None) -> int:
    """Parse, load, select, run, print the summary, save."""
    description = sys.modules[analysis.run.__module__].__doc__ or analysis.question
    parser = common_parser(
        f"python -m analyses.{analysis.name}",
        description,
        mazes=analysis.levels or 16,
        out=f"out/{analysis.name}",
        checkpoint=analysis.checkpoint or DEFAULT_CHECKPOINT,
    )
    for option in analysis.options:
        option.add_to(parser)
    args = parser.parse_args(argv)
    if args.mazes < analysis.min_mazes:
        parser.error(
            f"--mazes must be at least {analysis.min_mazes} for {analysis.name}, got {args.mazes}"
        )
    try:  # before any work: never replace a folder of the user's
        check_output_folder(args.out, analysis.name)
        options = {o.name: o.value(args) for o in analysis.options}
    except ValueError as err:  # OutputFolderError, a bad Ray setting
        parser.error(str(err))
    if analysis.levels is None:
        loaded = model_and_mazes(args)
        if loaded is None:
            return 1
        run = lambda: analysis.run_on_mazes(*loaded, seed=args.seed, progress=True, **options)
    else:  # every level of --mazes seeds from --first-seed, checked before any work
        try:
            levels = Levels(args.mode, range(args.first_seed, args.first_seed + args.mazes))
        except ValueError as err:
            parser.error(f"--first-seed/--mazes: {err}")
        torch.manual_seed(args.seed)
        model = cli.load_model(args.checkpoint, args.device)
        if model is None:
            return 1
        run = lambda: analysis.run(model, levels, seed=args.seed, progress=True, **options)
    started = time.perf_counter()
    try:
        result = run()
        written = result.save(args.out)
    except (ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    print(f"wrote {', '.join(str(p) for p in written)} ({time.perf_counter() - started:.1f} s)")
    return 0
