"""Command-line plumbing shared by every script of the project (the library's own
``python -m hooked_impala.policy.evaluation`` and ``python -m hooked_impala.train``, and each
``python -m analyses.<name>``): the common flags, argument types that fail with the flag's
name, and loading a checkpoint with a one-line error instead of a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import torch

from hooked_impala import checks
from hooked_impala.maze import DEFAULT_MODE, DistributionMode, Region
from hooked_impala.model import HookedImpala, ImpalaConfig
from hooked_impala.pretrained import CheckpointError, CheckpointUnavailableError, load_pretrained

MODES: tuple[str, ...] = get_args(DistributionMode)


def _argparse_type(parse: Callable[[str], Any], check: Callable[[Any], Any], what: str):
    """An argparse type: parse the text, then apply a ``checks`` function; failures become
    argparse's own error, which names the flag."""

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return check(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).replace("value ", "", 1)) from None

    convert.__name__ = what  # argparse names the type in some messages
    return convert


def integer(minimum: int | None = None, maximum: int | None = None):
    """argparse type: an integer within [minimum, maximum]."""
    return _argparse_type(int, lambda v: checks.integer("value", v, minimum, maximum), "an integer")


def real(minimum: float | None = None):
    """argparse type: a finite number, at least ``minimum`` if given."""
    return _argparse_type(float, lambda v: checks.real("value", v, minimum), "a number")


positive_int = integer(1)
seed = integer(0, checks.MAX_SEED)
finite = real()
nonnegative = real(0.0)
output_folder = _argparse_type(str, lambda v: checks.output_folder("value", v), "a folder")
output_file = _argparse_type(str, lambda v: checks.output_file("value", v), "a file path")
device = _argparse_type(str, lambda v: checks.device("value", v), "a torch device")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        type=device,
        default=None,
        help="torch device for the model: cpu, cuda, cuda:1, mps (default: cuda when a GPU "
        "is available, else cpu)",
    )


def add_common_arguments(parser: argparse.ArgumentParser, mazes: int, out: str) -> None:
    """The flags of every script that runs a checkpoint on mazes, each checked on parsing."""
    parser.add_argument(
        "--mazes", type=positive_int, default=mazes, help="number of mazes (default: %(default)s)"
    )
    add_mode_argument(parser)
    parser.add_argument(
        "--first-seed",
        type=seed,
        default=0,
        help="first level seed to consider (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=output_folder, default=Path(out), help="output folder (default: %(default)s)"
    )
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default: %(default)s)")
    add_device_argument(parser)


def training_parser(prog: str, description: str, checkpoint: str) -> argparse.ArgumentParser:
    """The parser of a training command (``python -m hooked_impala.train`` and its ``ppo``
    mode) with the flags every run takes: ``--out``, ``--resume`` (from ``OUT/<checkpoint>``,
    the file the run saves its progress in), ``--no-progress`` and ``--device``. Each mode
    adds the fields of its own config."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=output_folder, required=True, help="output folder")
    parser.add_argument("--resume", action="store_true", help=f"continue from OUT/{checkpoint}")
    parser.add_argument("--no-progress", action="store_true")
    add_device_argument(parser)
    return parser


@functools.cache
def _hook_names_model() -> HookedImpala:
    # Hook names do not depend on the widths: a one-channel network knows them all.
    return HookedImpala(ImpalaConfig(channels=(1, 1, 1), fc_features=1))


def hook_name(text: str) -> str:
    """argparse type: a hook name or alias of ``HookedImpala``, checked before loading."""
    try:
        return _hook_names_model().resolve_hook_name(text)
    except KeyError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def region(text: str) -> Region:
    """argparse type for ``--region``: ``top-right:5`` or ``anywhere``."""
    try:
        return Region.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def mode(text: str) -> str:
    """argparse type: a distribution mode."""
    if text not in MODES:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(MODES)}, got {text!r}")
    return text


def add_mode_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="procgen distribution_mode (default: %(default)s)",
    )


def load_model(checkpoint: str, device: torch.device | None = None) -> HookedImpala | None:
    """The checkpoint (registry name or path) on ``device`` (default: ``default_device()``),
    or None after printing why it cannot be had."""
    try:
        return load_pretrained(checkpoint, device=device)
    except (CheckpointError, CheckpointUnavailableError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
