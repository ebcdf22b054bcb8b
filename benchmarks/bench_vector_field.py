"""Vector field of a 25x25 hard maze (seed 17, 336 open cells) vs a bare forward pass.

    python benchmarks/bench_vector_field.py [--seed 17] [--repeats 5] [--profile]

For random-weight s=1 and s=4 models, prints
  * the full vector field's time / bare-forward time on the same observations (goals:
    <= 1.3 at s=1, <= 1.1 at s=4);
  * the incremental vector field (``method="incremental"``: only what the mouse changes is
    recomputed) / the same bare forward (goal: <= 0.3 at s=4), and its largest difference
    from the full field;
  * the straightforward way (a fresh procgen env per cell, set its state, observe, then
    the same forward) and how many times slower it is than ``vector_field``
    (goal: >= 3x at s=1);
  * with --profile, where the incremental pass spends its time, layer by layer, with the
    share of each layer's grid its windows cover.
The last line is ``incremental/bare s=4: <ratio>``. Not a test: run it alone.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import add_device_argument, chosen_device, median_seconds

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.incremental import incremental_forward, window_fractions
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


def layer_profile(model: HookedImpala, obs: torch.Tensor) -> None:
    """Milliseconds per spatial layer of one incremental pass, and its window coverage."""
    fractions = window_fractions(model, obs, max_window_fraction=0.5)
    with torch.no_grad(), torch.profiler.profile() as prof:
        incremental_forward(model, obs)
    times = {e.key: e.cpu_time_total / 1e3 for e in prof.key_averages() if e.key in fractions}
    times.update(
        {e.key: e.cpu_time_total / 1e3 for e in prof.key_averages() if e.key.endswith("_out")}
    )
    total = sum(times.values())
    print(f"  {'layer':38s} {'ms':>7s} {'share':>6s}  window/grid")
    for name, ms in times.items():
        coverage = f"{fractions[name]:.3f}" if name in fractions else "full"
        print(f"  {name:38s} {ms:7.1f} {ms / total:6.1%}  {coverage}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="time each layer")
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
    ratios = {}
    for scale in (1, 4):
        torch.manual_seed(0)
        model = HookedImpala(ImpalaConfig.from_scale(scale)).to(device).eval()
        field = vector_field(model, maze, renderer=renderer, method="full")
        obs = torch.from_numpy(renderer.observe([maze.with_mouse(c) for c in cells])).to(device)
        with torch.no_grad():
            bare = median_seconds(lambda: model(obs), args.repeats)
        timed = median_seconds(
            lambda: vector_field(model, maze, renderer=renderer, method="full"), args.repeats
        )
        fast = median_seconds(
            lambda: vector_field(model, maze, renderer=renderer, method="incremental"),
            args.repeats,
        )
        incremental = vector_field(model, maze, renderer=renderer, method="incremental")
        naive = median_seconds(
            lambda: straightforward(model, maze, args.seed), max(1, args.repeats // 2)
        )
        assert np.allclose(straightforward(model, maze, args.seed), field.probs, atol=1e-6)
        ratios[scale] = fast / bare
        print(
            f"s={scale}: bare forward {bare * 1e3:7.1f} ms | vector_field full {timed * 1e3:7.1f} "
            f"ms (ratio {timed / bare:.3f}) | incremental {fast * 1e3:7.1f} ms (ratio "
            f"{fast / bare:.3f}, max |dP| {np.abs(incremental.probs - field.probs).max():.1e}) | "
            f"straightforward {naive * 1e3:7.1f} ms (ratio {naive / bare:.2f}; vector_field is "
            f"{naive / timed:.1f}x faster)",
            flush=True,
        )
        if args.profile:
            layer_profile(model, obs)
    renderer.close()
    print(f"incremental/bare s=1: {ratios[1]:.3f}")
    print(f"incremental/bare s=4: {ratios[4]:.3f}")


if __name__ == "__main__":
    main()
