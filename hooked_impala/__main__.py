"""The main job: load a checkpoint, look inside it on a few mazes, write a small report.

    python -m hooked_impala [--checkpoint NAME_OR_PATH] [--mode easy] [--out out/demo]

Prints the movement distribution at the start of each maze, the cached shape of every
residual add, and rollout success; writes a vector-field figure (HTML) and the numbers
(JSON) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from hooked_impala import Movement, load_pretrained
from hooked_impala.files import write_atomically
from hooked_impala.pretrained import CheckpointError, CheckpointUnavailableError
from hooked_impala.runtime import keep_freed_memory

DEFAULT_CHECKPOINT = "model_160022528"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hooked_impala", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="registry name or path (default: %(default)s)")
    parser.add_argument("--mode", choices=["easy", "hard"], default="easy", help="procgen distribution_mode (default: %(default)s)")
    parser.add_argument("--first-seed", type=int, default=1000, help="first level seed (default: %(default)s)")
    parser.add_argument("--mazes", type=int, default=16, help="number of mazes (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mazes < 1:
        print(f"--mazes must be at least 1, got {args.mazes}", file=sys.stderr)
        return 2
    keep_freed_memory()
    from hooked_impala.maze import MazeRenderer, mazes_from_seeds
    from hooked_impala.maze.rollout import rollout
    from hooked_impala.maze.vector_field import vector_field

    try:
        model = load_pretrained(args.checkpoint)
    except (CheckpointError, CheckpointUnavailableError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"checkpoint {model.checkpoint.name} ({model.checkpoint.path}), channels {model.cfg.channels}")

    seeds = list(range(args.first_seed, args.first_seed + args.mazes))
    started = time.perf_counter()
    with MazeRenderer() as renderer:
        mazes = mazes_from_seeds(seeds, args.mode, renderer=renderer)
        obs = torch.from_numpy(renderer.observe(mazes))
        with torch.no_grad():
            out, cache = model.run_with_cache(obs, names_filter=lambda name: name.endswith("resadd_out"))
        field = vector_field(model, mazes[0], renderer=renderer)

    print(f"\nmovement probabilities at the start cell ({args.mode} mode):")
    print("seed   " + "  ".join(f"{m.name:>5}" for m in Movement) + "   value")
    for seed, probs, value in zip(seeds, out.movement_probs, out.value):
        print(f"{seed:<6} " + "  ".join(f"{p:5.3f}" for p in probs) + f"  {value:6.3f}")
    print("\ncached residual adds:")
    for name, tensor in cache.items():
        print(f"  {name:<34} {tuple(tensor.shape)}")

    episodes = rollout(model, mazes, distribution_mode=args.mode, seed=0)
    print(f"\nrollouts: reached the cheese in {sum(e.reached_cheese for e in episodes.episodes)}/{len(episodes)} mazes")

    figure_path = args.out / f"vector_field_seed{seeds[0]}.html"
    write_atomically(figure_path, field.figure(title=f"{model.checkpoint.name}: {args.mode} seed {seeds[0]}").to_html(include_plotlyjs=True))
    summary = {
        "checkpoint": {"name": model.checkpoint.name, "sha256": model.checkpoint.sha256},
        "mode": args.mode,
        "seeds": seeds,
        "start_movement_probs": {str(s): p.tolist() for s, p in zip(seeds, out.movement_probs)},
        "residual_add_shapes": {n: list(t.shape) for n, t in cache.items()},
        "rollout_success_rate": episodes.success_rate,
        "rollout_steps": [e.steps for e in episodes.episodes],
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_atomically(args.out / "summary.json", json.dumps(summary, indent=2))
    print(f"wrote {figure_path} and {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
