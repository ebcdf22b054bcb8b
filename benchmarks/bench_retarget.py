"""Retargeting heatmap of one 25x25 hard maze (every open target) vs bare forward passes.

    python benchmarks/bench_retarget.py [--checkpoint model_160022528] [--repeats 3]

``retarget_maze`` computes, for every target, the normalised path probability without
intervention, clamped and with the cheese moved: ``result.forwards`` observations in all.
Prints its time / (forwards x the batched bare forward time per observation), goal <= 1.5.
The bare forward runs as many observations of the same maze, at the same batch size; each
repeat times the two back to back and the median ratio is the result. The clamp (channel 0
of the default layer set to 1.0) does not change the cost. Not a test: run it alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from analyses.core.cli import DEFAULT_CHECKPOINT
from analyses.core.inputs import DEFAULT_LAYER
from analyses.measure.retarget_paths import retarget_maze
from hooked_impala import cli
from hooked_impala.maze import MazeRenderer, mazes_from_seeds
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.policy import vector_field_cells


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def largest_hard_maze(first_seed: int, renderer: MazeRenderer):
    """The first hard level from ``first_seed`` whose maze fills the 25x25 world."""
    seed = first_seed
    while True:
        for maze in mazes_from_seeds(range(seed, seed + 64), "hard", renderer):
            if maze.maze_size == maze.world_size:
                return maze
        seed += 64


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    cli.add_device_argument(parser)
    args = parser.parse_args()
    model = cli.load_model(args.checkpoint, args.device)
    if model is None:
        raise SystemExit(1)
    renderer = MazeRenderer()
    maze = largest_hard_maze(args.first_seed, renderer)

    def heatmap():
        return retarget_maze(
            model,
            maze,
            layer=DEFAULT_LAYER,
            channels=[0],
            magnitude=1.0,
            batch_size=args.batch_size,
            renderer=renderer,
        )

    result = heatmap()
    cells = vector_field_cells(maze)
    reps = int(np.ceil(args.batch_size / len(cells)))
    obs = torch.from_numpy(observe_mouse_on_cells(maze.to_state(), cells * reps, renderer))
    obs = obs[: args.batch_size].to(model.device)
    batches = int(np.ceil(result.forwards / len(obs)))

    def bare():  # as many observations as the heatmap runs, in full batches
        with torch.no_grad():
            for _ in range(batches):
                model(obs)

    # Each repeat times the two back to back, so a busy machine slows both alike (the first
    # heatmap above was the warm-up).
    bare_times, heatmap_times = [], []
    for _ in range(args.repeats):
        bare_times.append(seconds(bare) / (batches * len(obs)))
        heatmap_times.append(seconds(heatmap))
    ratios = [h / (result.forwards * b) for h, b in zip(heatmap_times, bare_times)]
    print(
        f"{args.checkpoint}: hard seed {maze.seed} ({maze.maze_size}x{maze.maze_size}), "
        f"{len(result.targets)} targets, {result.forwards} forwards, {args.repeats} repeats, "
        f"device {model.device}, torch threads {torch.get_num_threads()}\n"
        f"bare forward {statistics.median(bare_times) * 1e3:.3f} ms/obs (batch {len(obs)}) | "
        f"heatmap {statistics.median(heatmap_times):.2f} s | ratio per repeat "
        f"{', '.join(f'{r:.3f}' for r in ratios)}; median {statistics.median(ratios):.3f} "
        "(goal <= 1.5)",
        flush=True,
    )
    renderer.close()


if __name__ == "__main__":
    main()
