"""run_with_cache (every hook) vs a plain forward, s=1 and s=4, batch 64.

    python benchmarks/bench_hooks.py [--repeats 10]

Prints the median times and their ratio (goal: <= 1.10), once with glibc's default
allocator settings and once after ``hooked_impala.runtime.keep_freed_memory()`` (what the
project's entry points use), each in a fresh process. Not a test: timings depend on the
machine; run it alone (two torch jobs on two cores slow each other several-fold).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import torch

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.runtime import keep_freed_memory
from timing import median_seconds


def measure(batch: int, repeats: int, tuned: bool) -> None:
    if tuned and not keep_freed_memory():
        print("(keep_freed_memory is unavailable here: no glibc)")
    torch.manual_seed(0)
    obs = torch.randint(0, 256, (batch, 64, 64, 3), dtype=torch.uint8)
    label = "keep_freed_memory()" if tuned else "default malloc     "
    for scale in (1, 4):
        model = HookedImpala(ImpalaConfig.from_scale(scale)).eval()
        with torch.no_grad():
            plain = median_seconds(lambda: model(obs), repeats)
            cached = median_seconds(lambda: model.run_with_cache(obs), repeats)
        print(
            f"{label} s={scale}: forward {plain * 1e3:7.1f} ms   run_with_cache (all "
            f"{len(model.hook_dict)} hooks) {cached * 1e3:7.1f} ms   ratio {cached / plain:.3f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--only", choices=["default", "tuned"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        measure(args.batch, args.repeats, tuned=args.only == "tuned")
        return
    print(f"batch {args.batch}, median of {args.repeats}, torch threads {torch.get_num_threads()}")
    for mode in ("default", "tuned"):
        # A fresh process each: allocator settings cannot be undone within one.
        cmd = [sys.executable, __file__, "--batch", str(args.batch), "--repeats", str(args.repeats), "--only", mode]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
