"""Command-line plumbing shared by every script of the project (the library's own
``python -m hooked_impala.policy.evaluate`` and ``python -m hooked_impala.train``, and each
``python -m analyses.<name>``): the common flags, argument types that fail with the flag's
name, and loading a checkpoint with a one-line error instead of a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import get_args

from hooked_impala.maze import DEFAULT_MODE, DistributionMode, Region
from hooked_impala.model import HookedImpala
from hooked_impala.pretrained import CheckpointError, CheckpointUnavailableError, load_pretrained

MODES: tuple[str, ...] = get_args(DistributionMode)


def region(text: str) -> Region:
    """argparse type for ``--region``: ``top-right:5`` or ``anywhere``."""
    try:
        return Region.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_mode_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="procgen distribution_mode (default: %(default)s)",
    )


def load_model(checkpoint: str) -> HookedImpala | None:
    """The checkpoint (registry name or path), or None after printing why it cannot be had."""
    try:
        return load_pretrained(checkpoint)
    except (CheckpointError, CheckpointUnavailableError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
