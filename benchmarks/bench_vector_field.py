"""Vector field of a 25x25 hard maze (seed 17, 336 open cells) vs a bare forward pass.

    python benchmarks/bench_vector_field.py [--seed 17] [--repeats 5]

For random-weight s=1 and s=4 models, prints
  * vector-field time / bare-forward time on the same observations (goals: <= 1.3 at s=1,
    <= 1.1 at s=4);
  * the straightforward way (a fresh procgen env per cell, set its state, observe, then
    the same forward) and how many times slower it is than ``vector_field``
    (goal: >= 3x at s=1).
The bare forward is timed on the real maze observations. Not a test: run it alone.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import add_device_argument, chosen_device, median_seconds

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.maze import Maze, MazeRenderer
from hooked_impala.policy import vector_field, vector_field_cells


def straightforward(model: HookedImpala, maze: Maze, seed: int) -> np.ndarray:
    from hooked_impala.maze.procgen_env import ProcgenGym3Env

    frames = []
    for cell in vector_field_cells(maze):
        env = ProcgenGym3Env(
            num=1, env_name="maze", distribution_mode="hard", start_level=seed, num_levels=1
        )
        env.callmethod("set_state", [maze.with_mouse(cell).to_state()])
        frames.append(env.observe()[1]["rgb"][0])
        env.close()
    with torch.no_grad():
        obs = torch.from_numpy(np.stack(frames)).to(model.device)
        return model(obs).movement_probs.cpu().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--repeats", type=int, default=5)
    add_device_argument(parser)
    args = parser.parse_args()
    device = chosen_device(args)
    maze = Maze.from_seed(args.seed, distribution_mode="hard")
    cells = vector_field_cells(maze)
    renderer = MazeRenderer()
    print(
        f"hard seed {args.seed}: {len(cells)} cells, median of {args.repeats}, device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    for scale in (1, 4):
        torch.manual_seed(0)
        model = HookedImpala(ImpalaConfig.from_scale(scale)).to(device).eval()
        field = vector_field(model, maze, renderer=renderer)
        obs = torch.from_numpy(renderer.observe([maze.with_mouse(c) for c in cells])).to(device)
        with torch.no_grad():
            bare = median_seconds(lambda: model(obs), args.repeats)
        timed = median_seconds(lambda: vector_field(model, maze, renderer=renderer), args.repeats)
        naive = median_seconds(
            lambda: straightforward(model, maze, args.seed), max(1, args.repeats // 2)
        )
        assert np.allclose(straightforward(model, maze, args.seed), field.probs, atol=1e-6)
        print(
            f"s={scale}: bare forward {bare * 1e3:7.1f} ms | vector_field {timed * 1e3:7.1f} ms "
            f"(ratio {timed / bare:.3f}) | straightforward {naive * 1e3:7.1f} ms "
            f"(ratio {naive / bare:.2f}; vector_field is {naive / timed:.1f}x faster)",
            flush=True,
        )
    renderer.close()


if __name__ == "__main__":
    main()
