"""Rollout records in-process vs on Ray (local instance, single-thread workers), at s=1.

    python benchmarks/bench_sweep.py [--checkpoint model_160022528] [--mazes 512]
        [--workers 2] [--chunk-size N] [--max-steps 500] [--mode easy]

Plays one episode per maze (seeds 0..mazes-1) with ``collect_records`` twice: in this
process (its defaults: chunks of 256, torch's own thread count, ``--device``), then as Ray
tasks on a local instance of ``--workers`` CPUs, one torch thread each, in chunks of
``--chunk-size`` (default: mazes / (2 * workers), two chunks per worker). Ray's start and
the workers' first import are timed apart (once per sweep, not per maze), after which the
sweep is timed like the in-process one. Prints mazes/s, the ratio Ray / in-process, whether
the records are identical, and mazes per hour per core (Ray's rate per single-thread
worker), which sizes a cluster. Not a test: run it alone, on an idle machine (the load
average is printed: well above 0 before the start, something else is running).
"""

from __future__ import annotations

import os
import tempfile
import time

import pandas as pd
import ray
import torch
from timing import checkpoint_parser, chosen_device

from hooked_impala import load_pretrained
from hooked_impala.policy import collect_records
from hooked_impala.policy.rollout import PROCGEN_STEP_LIMIT


def main() -> None:
    # --device is the in-process run's; Ray's workers run on the CPU.
    parser = checkpoint_parser(__doc__, mazes=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--max-steps", type=int, default=PROCGEN_STEP_LIMIT)
    parser.add_argument("--mode", default="easy")
    args = parser.parse_args()
    device = chosen_device(args)
    chunk_size = args.chunk_size or max(1, args.mazes // (2 * args.workers))
    model = load_pretrained(args.checkpoint, device=device, progress=False)
    common = {"mode": args.mode, "max_steps": args.max_steps, "progress": False}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        collect_records(model, range(10**6, 10**6 + 8), f"{tmp}/warm", **common)  # warm-up
        start = time.perf_counter()
        local = collect_records(model, range(args.mazes), f"{tmp}/local", **common)
        local_s = time.perf_counter() - start

        start = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="warning")
        on_ray = {**common, "ray": True, "chunk_size": 1}
        warm = range(10**6, 10**6 + args.workers)  # one tiny chunk per worker: their imports
        collect_records(model, warm, f"{tmp}/ray_warm", **on_ray)
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        remote = collect_records(
            model, range(args.mazes), f"{tmp}/ray", **{**on_ray, "chunk_size": chunk_size}
        )
        ray_s = time.perf_counter() - start
        ray.shutdown()
    try:
        pd.testing.assert_frame_equal(local, remote)
        same = "identical"
    except AssertionError:
        same = "NOT identical (float rounding in small batches; see records.py)"
    local_rate, ray_rate = args.mazes / local_s, args.mazes / ray_s
    per_core = ray_rate / args.workers * 3600
    steps = int(local["steps"].sum())
    print(
        f"{args.checkpoint} ({args.mode}, {args.mazes} mazes, max_steps {args.max_steps}, "
        f"{steps} steps, {steps / args.mazes:.0f} per maze)\n"
        f"  in-process ({device}, {torch.get_num_threads()} torch threads, chunks of 256) "
        f"{local_rate:7.2f} mazes/s  ({local_s:.1f} s)\n"
        f"  Ray, {args.workers} single-thread workers, chunks of {chunk_size:<4d} "
        f"{ray_rate:7.2f} mazes/s  ({ray_s:.1f} s; start and first imports {startup_s:.1f} s "
        f"apart)\n"
        f"  Ray / in-process  {ray_rate / local_rate:.2f}\n"
        f"  records           {same}\n"
        f"  per core          {per_core:,.0f} mazes/hour: 100,000 mazes take "
        f"{100_000 / per_core:.1f} core-hours\n"
        f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
