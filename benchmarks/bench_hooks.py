"""run_with_cache (every hook) vs a plain forward, s=1 and s=4, batch 64.

    python benchmarks/bench_hooks.py [--repeats 10] [--batch 64]

Measures in two fresh processes: (a) a plain ``import hooked_impala``, which keeps freed
memory in the process (the default, see ``hooked_impala.runtime``), and (b) one with
``HOOKED_IMPALA_SYSTEM_MALLOC=1`` (glibc's default malloc). Prints median times and their
ratio (goal: <= 1.10). Not a test: timings depend on the machine; run it alone (two torch
jobs on two cores slow each other several-fold).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import torch
from timing import add_device_argument, chosen_device, median_seconds

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.runtime import SYSTEM_MALLOC_ENV, allocator_tuned


def forward_and_cache_seconds(
    model: HookedImpala, obs: torch.Tensor, repeats: int
) -> tuple[float, float]:
    with torch.no_grad():
        plain = median_seconds(lambda: model(obs), repeats)
        cached = median_seconds(lambda: model.run_with_cache(obs), repeats)
    return plain, cached


def measure(batch: int, repeats: int, device: torch.device) -> None:
    """Time this process as it was started (its allocator is set at import)."""
    opted_out = os.environ.get(SYSTEM_MALLOC_ENV, "") not in ("", "0")
    name = f"(b) {SYSTEM_MALLOC_ENV}=1" if opted_out else "(a) import hooked_impala"
    state = "[freed memory kept]" if allocator_tuned() else "[glibc default]"
    label = f"{name:<33} {state:<19}"
    torch.manual_seed(0)
    obs = torch.randint(0, 256, (batch, 64, 64, 3), dtype=torch.uint8).to(device)
    for scale in (1, 4):
        model = HookedImpala(ImpalaConfig.from_scale(scale)).to(device).eval()
        plain, cached = forward_and_cache_seconds(model, obs, repeats)
        print(
            f"{label} s={scale}: forward {plain * 1e3:7.1f} ms   run_with_cache (all "
            f"{len(model.hook_dict)} hooks) {cached * 1e3:7.1f} ms   ratio {cached / plain:.3f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    add_device_argument(parser)
    args = parser.parse_args()
    device = chosen_device(args)
    if args.child:
        measure(args.batch, args.repeats, device)
        return
    threads = torch.get_num_threads()
    print(
        f"batch {args.batch}, median of {args.repeats}, device {device}, torch threads {threads}",
        flush=True,
    )
    base_env = {k: v for k, v in os.environ.items() if k != SYSTEM_MALLOC_ENV}
    for extra in ({}, {SYSTEM_MALLOC_ENV: "1"}):
        # A fresh process each: the allocator is set once, at import, for the whole process.
        cmd = [sys.executable, __file__, "--batch", str(args.batch)]
        cmd += ["--repeats", str(args.repeats), "--device", str(device), "--child"]
        subprocess.run(cmd, env={**base_env, **extra}, check=True)


if __name__ == "__main__":
    main()
