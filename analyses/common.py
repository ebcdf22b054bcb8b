"""What every analysis shares: inputs, maze selection, decision-square targets, the result
protocol (``figures()``, ``save(dir)``) and the command-line plumbing.

The protocol: ``analyses/<name>.py`` exposes ``run(model, inputs, **params) -> <Name>Result``
where ``inputs`` are observations (uint8 ``(N, 64, 64, 3)``) or mazes; activations come only
through the model's hook API. A result is a dataclass with ``metadata`` (checkpoint, hooks,
parameters, seeds), ``numbers()`` (JSON), ``arrays()`` (NPZ), ``figures()`` (plotly) and
``summary()`` (text); ``save(dir)`` writes ``result.json``, ``arrays.npz`` and one HTML file per
figure, each atomically. ``main(argv)`` of each module is built with ``cli()`` below.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import UInt8

from hooked_impala.actions import Movement
from hooked_impala.files import write_atomically
from hooked_impala.maze import Maze, MazeRenderer, decision_square, mazes_from_seeds, path_to_cheese, path_to_top_right
from hooked_impala.maze.regions import region_cells
from hooked_impala.model import HookedImpala

DEFAULT_LAYER = "embedder.block2.res1.resadd_out"  # the paper's cheese-vector layer
DEFAULT_CHECKPOINT = "standin_s1"  # bundled: the main job runs offline
Inputs = Sequence[Maze] | np.ndarray | torch.Tensor


# --- inputs ----------------------------------------------------------------------------


def observations(inputs: Inputs, renderer: MazeRenderer | None = None) -> UInt8[torch.Tensor, "n 64 64 3"]:
    """uint8 ``(N, 64, 64, 3)`` observations of mazes (rendered by procgen) or passed through."""
    if isinstance(inputs, torch.Tensor):
        return inputs
    if isinstance(inputs, np.ndarray):
        return torch.from_numpy(inputs)
    items = list(inputs)
    if not all(isinstance(m, Maze) for m in items):
        kinds = sorted({type(m).__name__ for m in items})
        raise TypeError(f"inputs must be observations (tensor/array) or Maze values, got {kinds}")
    own = renderer is None
    renderer = renderer or MazeRenderer()
    try:
        return torch.from_numpy(renderer.observe(items))
    finally:
        if own:
            renderer.close()


# --- maze selection --------------------------------------------------------------------


def select_mazes(
    count: int,
    distribution_mode: str = "easy",
    first_seed: int = 0,
    require_decision_square: bool = True,
    cheese_outside_top_right: bool = True,
    renderer: MazeRenderer | None = None,
    max_seeds: int = 100_000,
) -> list[Maze]:
    """The first ``count`` levels from ``first_seed`` that have a decision square and (by
    default) the cheese outside the top-right 5×5 region: the mazes where the two goals
    disagree, as in the behavioural studies."""
    chosen: list[Maze] = []
    seed = first_seed
    while len(chosen) < count:
        if seed - first_seed > max_seeds:
            raise ValueError(f"only {len(chosen)} of {count} mazes qualify among seeds {first_seed}..{seed}")
        batch = mazes_from_seeds(range(seed, seed + 4 * count), distribution_mode, renderer)
        seed += 4 * count
        for maze in batch:
            if require_decision_square and decision_square(maze) is None:
                continue
            if cheese_outside_top_right and maze.cheese in set(region_cells(maze, "top-right:5")):
                continue
            chosen.append(maze)
            if len(chosen) == count:
                break
    return chosen


# --- decision squares ------------------------------------------------------------------


def _movement_between(a: tuple[int, int], b: tuple[int, int]) -> Movement:
    delta = (b[0] - a[0], b[1] - a[1])
    for m in Movement:
        if m.delta == delta and m is not Movement.NOOP:
            return m
    raise ValueError(f"cells {a} and {b} are not neighbours")


@dataclass(frozen=True)
class DecisionPoint:
    """A maze with the mouse on its decision square, and the two competing moves."""

    maze: Maze
    cell: tuple[int, int]
    cheese_move: Movement
    top_right_move: Movement


def decision_points(mazes: Sequence[Maze]) -> list[DecisionPoint]:
    """The decision point of each maze that has one (others are skipped)."""
    points = []
    for maze in mazes:
        ds = decision_square(maze)
        if ds is None:
            continue
        to_cheese, to_top = path_to_cheese(maze), path_to_top_right(maze)
        i = to_cheese.index(ds)
        points.append(
            DecisionPoint(maze.with_mouse(ds), ds, _movement_between(ds, to_cheese[i + 1]), _movement_between(ds, to_top[i + 1]))
        )
    return points


def decision_metric(points: Sequence[DecisionPoint]) -> Callable[[Any], torch.Tensor]:
    """``output -> (N,)``: log P(cheese-ward move) − log P(top-right-ward move) per point."""
    cheese = torch.tensor([int(p.cheese_move) for p in points])
    top = torch.tensor([int(p.top_right_move) for p in points])

    def metric(output) -> torch.Tensor:
        log_probs = output.movement_log_probs
        rows = torch.arange(log_probs.shape[0], device=log_probs.device)
        return log_probs[rows, cheese.to(log_probs.device)] - log_probs[rows, top.to(log_probs.device)]

    return metric


# --- results ---------------------------------------------------------------------------


def checkpoint_metadata(model: HookedImpala) -> dict:
    record = model.checkpoint
    if record is None:
        return {"name": "(in-memory model)", "sha256": None}
    return {"name": record.name, "sha256": record.sha256}


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Movement):
        return value.name
    return value


@dataclass
class AnalysisResult:
    """Base of every analysis result. Subclasses add fields and override the four views."""

    metadata: dict = field(default_factory=dict)

    def numbers(self) -> dict:
        return {}

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def figures(self) -> dict:
        return {}

    def summary(self) -> str:
        return json.dumps(to_jsonable(self.numbers()), indent=2)

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``result.json`` (metadata + numbers), ``arrays.npz`` and ``<figure>.html``.

        Every file is written atomically. HTML files embed plotly.js (no CDN)."""
        out = Path(out_dir)
        written = [write_atomically(out / "result.json", json.dumps(to_jsonable({"metadata": self.metadata, "numbers": self.numbers()}), indent=2))]
        arrays = {k: np.asarray(v) for k, v in self.arrays().items()}
        if arrays:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            written.append(write_atomically(out / "arrays.npz", buffer.getvalue()))
        for name, fig in self.figures().items():
            written.append(write_atomically(out / f"{name}.html", fig.to_html(include_plotlyjs=True, full_html=True)))
        return written


# --- command line ----------------------------------------------------------------------


def base_parser(name: str, doc: str) -> argparse.ArgumentParser:
    """The arguments every analysis script takes; add analysis-specific ones after."""
    parser = argparse.ArgumentParser(prog=f"python -m analyses.{name}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="registry name or path (default: %(default)s)")
    parser.add_argument("--mazes", type=int, default=16, help="number of mazes (default: %(default)s)")
    parser.add_argument("--mode", choices=["easy", "hard"], default="easy", help="procgen distribution_mode (default: %(default)s)")
    parser.add_argument("--first-seed", type=int, default=0, help="first level seed to consider (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default: out/{name})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser


def load_model_and_mazes(args: argparse.Namespace) -> tuple[HookedImpala, list[Maze]] | None:
    """The checkpoint and the mazes a script's ``base_parser`` arguments ask for; prints the
    error and returns None when the checkpoint cannot be had."""
    from hooked_impala.pretrained import CheckpointError, CheckpointUnavailableError, load_pretrained
    from hooked_impala.runtime import keep_freed_memory

    keep_freed_memory()
    torch.manual_seed(args.seed)
    try:
        model = load_pretrained(args.checkpoint)
    except (CheckpointError, CheckpointUnavailableError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return None
    with MazeRenderer() as renderer:
        return model, select_mazes(args.mazes, args.mode, args.first_seed, renderer=renderer)


def cli(name: str, doc: str, add_arguments: Callable[[argparse.ArgumentParser], None], run_from_args: Callable[[HookedImpala, list[Maze], argparse.Namespace], AnalysisResult], argv: list[str] | None = None) -> int:
    """Parse arguments, load the model, select mazes, run, print the summary, save."""
    parser = base_parser(name, doc)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.mazes < 1:
        parser.error(f"--mazes must be at least 1, got {args.mazes}")
    loaded = load_model_and_mazes(args)
    if loaded is None:
        return 1
    try:
        result = run_from_args(*loaded, args)
    except (ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    written = result.save(args.out or Path("out") / name)
    print(result.summary())
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
