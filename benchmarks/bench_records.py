"""Rollout-records throughput vs the bare batched forward pass, at s=1.

    python benchmarks/bench_records.py [--checkpoint model_160022528] [--mazes 2048]
        [--slots 256] [--mode easy]

Plays one episode per maze (seeds 0..mazes-1) with the engine under ``collect_records`` and
counts policy steps per second. Two references:

* the model's forward pass on full batches of ``slots`` real observations (the best case);
* the same forward pass over exactly the batch sizes the engine ran, step by step (its batch
  shrinks at the end, when the last long episodes play on alone): engine / this isolates
  what the issue calls the overhead, env stepping and bookkeeping (goal: >= 0.8).

And, within the engine's own run, the share of its time spent in its forward passes (from
the first hook point to the last): the same ratio without the noise between two runs.

Also ``collect_records`` end to end (maze generation and parquet included). Not a test: run
it alone, on an idle machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from timing import add_device_argument, chosen_device, median_seconds

from hooked_impala import HookedImpala, ImpalaConfig, load_pretrained
from hooked_impala.maze import mazes_from_seeds, observe
from hooked_impala.policy import collect_records, play


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", default="model_160022528", help="or 'random'")
    parser.add_argument("--mazes", type=int, default=2048)
    parser.add_argument("--slots", type=int, default=256)
    parser.add_argument("--mode", default="easy")
    parser.add_argument("--repeats", type=int, default=10)
    add_device_argument(parser)
    args = parser.parse_args()
    device = chosen_device(args)
    if args.checkpoint == "random":
        torch.manual_seed(0)
        model = HookedImpala(ImpalaConfig()).to(device).eval()
    else:
        model = load_pretrained(args.checkpoint, device=device, progress=False)
    mazes = mazes_from_seeds(range(args.mazes), args.mode)
    obs = torch.from_numpy(observe(mazes[: args.slots])).to(device)
    with torch.no_grad():
        full = median_seconds(lambda: model(obs), args.repeats) / len(obs)  # s per observation

    sizes: list[int] = []  # the engine's batch at every step, recorded by a hook on the input
    inside = [0.0]  # seconds spent inside the engine's forward passes (first to last hook)

    def enter(activation, hook):
        sizes.append(activation.shape[0])
        inside.append(-time.perf_counter())

    def leave(activation, hook):
        inside[-1] += time.perf_counter()

    hooks = [("input", enter), (list(model.hook_dict)[-1], leave)]
    start = time.perf_counter()
    steps = sum(e.steps for _, e in play(model, mazes, slots=args.slots, fwd_hooks=hooks))
    engine = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        for size in sizes:
            model(obs[:size])
    same_batches = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        table = collect_records(
            model, range(args.mazes), out, mode=args.mode, slots=args.slots, progress=False
        )
        recorded = time.perf_counter() - start
    assert int(table["steps"].sum()) == steps == sum(sizes)  # the same episodes
    print(
        f"{args.checkpoint} ({args.mode}, {args.mazes} mazes, {steps} steps in {len(sizes)} "
        f"batches (mean {steps / len(sizes):.0f}), {args.slots} slots, device {device}, "
        f"torch threads "
        f"{torch.get_num_threads()})\n"
        f"  bare forward, full batches      {1 / full:8.0f} obs/s\n"
        f"  bare forward, the engine's batches {steps / same_batches:5.0f} obs/s\n"
        f"  engine (play)                   {steps / engine:8.0f} steps/s: "
        f"{full * steps / engine:.3f} of full batches, "
        f"{same_batches / engine:.3f} of the same batches (env stepping and bookkeeping)\n"
        f"  the engine's own forward passes   {sum(inside) / engine:.3f} of its time (same run)\n"
        f"  collect_records                 {steps / recorded:8.0f} steps/s: "
        f"{same_batches / recorded:.3f} of the same batches (generation and parquet included)"
    )


if __name__ == "__main__":
    main()
