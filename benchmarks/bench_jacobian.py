"""Full Jacobian of the movement log-probs w.r.t. the block2.res1 residual add, per observation,
as a multiple of one forward pass (goal: <= 20x), s=1 and s=4 random-weight models.

    python benchmarks/bench_jacobian.py [--observations 32] [--repeats 3]

Both are timed on the same real maze observations (decision squares of easy mazes); the
multiple is (Jacobian time per observation) / (batched forward time per observation).
Not a test: run it alone.
"""

from __future__ import annotations

import argparse

import torch
from timing import add_device_argument, chosen_device, median_seconds

from analyses.core.inputs import DEFAULT_LAYER, select_mazes
from analyses.measure.jacobian import jacobians
from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.maze import decision_points, observe


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--observations", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    add_device_argument(parser)
    args = parser.parse_args()
    device = chosen_device(args)
    points = decision_points(select_mazes(args.observations, "easy"))
    obs = torch.from_numpy(observe([p.maze for p in points])).to(device)
    print(
        f"{len(obs)} observations, median of {args.repeats}, device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    for scale in (1, 4):
        torch.manual_seed(0)
        model = HookedImpala(ImpalaConfig.from_scale(scale)).to(device).eval()
        with torch.no_grad():
            forward = median_seconds(lambda: model(obs), args.repeats)
        jac = median_seconds(lambda: jacobians(model, obs, DEFAULT_LAYER), args.repeats)
        shape = tuple(jacobians(model, obs[:1], DEFAULT_LAYER).shape[1:])
        print(
            f"s={scale}: forward {forward / len(obs) * 1e3:6.2f} ms/obs | Jacobian {shape} "
            f"{jac / len(obs) * 1e3:7.2f} ms/obs | multiple {jac / forward:.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
