"""Timing and command-line setup shared by the benchmark scripts."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from hooked_impala import cli
from hooked_impala.pretrained import default_device


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    cli.add_device_argument(parser)  # --device, as every script of the project takes it


def checkpoint_parser(description: str, mazes: int) -> argparse.ArgumentParser:
    """The command line of a benchmark that plays a checkpoint on mazes: the script's
    docstring as its help, ``--checkpoint`` (the s=1 PPO agent by default), ``--mazes`` and
    ``--device``; the script adds its own flags."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="model_160022528")
    parser.add_argument("--mazes", type=int, default=mazes)
    add_device_argument(parser)
    return parser


def chosen_device(args: argparse.Namespace) -> torch.device:
    """The ``--device`` asked for, or the library's default (CUDA when there is one)."""
    return args.device or default_device()


def _finish_gpu_work() -> None:
    # CUDA runs asynchronously: without waiting, a timer measures only the launch.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    _finish_gpu_work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _finish_gpu_work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
