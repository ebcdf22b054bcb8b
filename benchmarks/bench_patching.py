"""Exact patching grid vs bare forwards, and attribution patching vs the exact grid.

    python benchmarks/bench_patching.py [--checkpoint model_160022528] [--mazes 24]

On the s=1 PPO agent (default), with cheese-moved pairs at the mazes' decision squares:

1. **Patched-forward throughput / bare forward throughput** at the same batch size: the
   exact per-channel grid of one hook (P pairs x C channels patched variants) against
   ``model(obs)`` on as many observations in batches of the same size (goal >= 0.8).
2. **AtP compute ratio and recall**: the exact per-channel grid over every residual add and
   convolution output against attribution patching of the same grid (one forward and
   backward per pair), wall time ratio (goal >= 50x) and the recall of the exact top-20
   per hook (goal >= 0.8); also for the integrated variant.

Both ratios are measured in this one run (back to back). Not a test: run it alone (two
torch jobs on two cores slow each other several-fold).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from timing import checkpoint_parser

from analyses.core.inputs import DEFAULT_LAYER, select_mazes
from hooked_impala import cli
from hooked_impala.maze import MazeRenderer
from hooked_impala.patching import (
    Corruption,
    PairBatch,
    agreement,
    attribution_patch,
    default_hooks,
    make_pairs,
    patch_channels,
)


def seconds(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = checkpoint_parser(__doc__, mazes=24)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--ig-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = cli.load_model(args.checkpoint, args.device)
    if model is None:
        raise SystemExit(1)
    with MazeRenderer() as renderer:
        mazes = select_mazes(args.mazes, "easy", renderer=renderer)
        pairs = PairBatch.of(make_pairs(mazes, Corruption.CHEESE_MOVED), renderer)
    print(
        f"{args.checkpoint}: {len(pairs)} cheese-moved pairs, batch {args.batch}, "
        f"device {model.device}, torch threads {torch.get_num_threads()}",
        flush=True,
    )

    # 1. Patched forwards of one hook's channel grid vs bare forwards, same batch size; each
    # repeat times the three back to back, the median ratio is the result.
    hook = DEFAULT_LAYER
    n_channels = model.hook_shapes()[hook][1]
    variants = len(pairs) * n_channels
    obs = pairs.corrupted[torch.arange(variants) % len(pairs)].to(model.device)

    def bare():
        with torch.no_grad():
            for chunk in obs.split(args.batch):
                model(chunk)

    def grid(from_hook):
        return lambda: patch_channels(
            model, pairs, [hook], batch_size=args.batch, from_hook=from_hook
        )

    patch_channels(model, pairs.subset(range(2)), [hook])  # warm-up
    ratios = {True: [], False: []}
    for _ in range(args.repeats):
        bare_s, _ = seconds(bare)
        for from_hook in (True, False):
            patched_s, _ = seconds(grid(from_hook))
            ratios[from_hook].append(bare_s / patched_s)
    for from_hook, label in ((True, "from the hook"), (False, "full forwards")):
        print(
            f"exact grid at {hook}, {label}: {variants} patched forwards; throughput "
            f"patched / bare, median of {args.repeats}: {np.median(ratios[from_hook]):.2f} "
            f"(runs {', '.join(f'{r:.2f}' for r in ratios[from_hook])}; goal >= 0.8)",
            flush=True,
        )

    # 2. The whole grid: exact vs attribution patching.
    hooks = default_hooks(model)
    exact_s, exact = seconds(lambda: patch_channels(model, pairs, hooks, batch_size=args.batch))
    atp_s, atp = seconds(lambda: attribution_patch(model, pairs, exact.components))
    ig_s, ig = seconds(
        lambda: attribution_patch(model, pairs, exact.components, steps=args.ig_steps)
    )
    print(
        f"exact grid: {len(hooks)} hooks, {len(exact.components)} channels, "
        f"{exact.values.numel()} patched forwards in {exact_s:.1f} s; mean gap {exact.gap:.3f}"
    )
    for name, result, secs in (("AtP", atp, atp_s), (ig.method, ig, ig_s)):
        found = agreement(exact, result, top=20)
        # A hook with 20 channels or fewer has every channel in its top 20: recall 1 says
        # nothing there, so the mean and minimum leave those hooks out.
        telling = [v for v in found.values() if v["components"] > 20]
        recall = np.array([v["top20_recall"] for v in telling])
        rho = np.array([np.nan if v["spearman"] is None else v["spearman"] for v in found.values()])
        print(
            f"{name}: {secs:.2f} s, compute ratio exact/{name} {exact_s / secs:.1f}x "
            "(goal >= 50x); "
            f"top-20 recall over the {len(telling)} hooks with > 20 channels: mean "
            f"{recall.mean():.2f}, min {recall.min():.2f} (goal >= 0.8); "
            f"Spearman mean {np.nanmean(rho):.2f}"
        )
        for h, v in found.items():
            spear = "n/a" if v["spearman"] is None else f"{v['spearman']:.2f}"
            print(f"    {h:<40} recall {v['top20_recall']:.2f}  Spearman {spear}")


if __name__ == "__main__":
    main()
