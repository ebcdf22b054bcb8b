"""Sparse-dictionary training throughput: activation vectors per second at the default sizes.

    python benchmarks/bench_dictionary.py [--steps 200] [--vectors 1000000]

For each default hook at scale 1 (its channels C: 16 or 32), a TopK autoencoder of the
default size (8·C latents, k = 8) trains on ``--vectors`` random channel vectors (the cost of
a step does not depend on the values) for ``--steps`` steps of the default batch, twice:
with the default settings (no latent dies within so few steps, so the auxiliary loss is
skipped) and with every latent counted dead at once (the auxiliary loss on every step, the
slower path); the time is the median of three runs after a warm-up. Also the splice:
vectors per second through ``TopKSAE.reconstruct`` (no gradient), the cost a spliced
forward pass adds at that hook. Not a test: run it alone, on an idle machine.
"""

from __future__ import annotations

import argparse

import torch
from timing import median_seconds

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.dictionary import DEFAULT_HOOKS, SAEConfig, TrainConfig, to_vectors, train_sae


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--vectors", type=int, default=1_000_000)
    args = parser.parse_args()
    shapes = HookedImpala(ImpalaConfig()).hook_shapes(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for hook in DEFAULT_HOOKS:
        _, channels, h, w = shapes[hook]
        config = SAEConfig.default(channels)
        vectors = torch.randn(args.vectors, channels)
        speeds = {}
        # dead_after = 1 makes every silent latent dead at once: the auxiliary loss every step.
        for name, train in (
            ("default", TrainConfig(steps=args.steps)),
            ("auxiliary loss every step", TrainConfig(steps=args.steps, dead_after=1)),
        ):

            def run(vectors=vectors, config=config, train=train, hook=hook):
                return train_sae(vectors, config, hook=hook, train=train)

            seconds = median_seconds(run, repeats=3)
            speeds[name] = (args.steps * train.batch / seconds, seconds)
        trained = run()
        activation = torch.randn(256, channels, h, w)
        with torch.no_grad():
            splice_s = median_seconds(lambda a=activation: trained.sae.reconstruct(a), repeats=5)
        n = len(to_vectors(activation))
        print(
            f"{hook} (C={channels}, size={config.size}, k={config.k}, aux_k={config.aux_k}, "
            f"batch {train.batch}): training "
            + "; ".join(
                f"{name} {v:,.0f} vectors/s ({args.steps} steps in {s:.2f} s)"
                for name, (v, s) in speeds.items()
            )
            + f"; splice {n / splice_s:,.0f} vectors/s ({n} vectors = 256 observations of "
            f"{h}x{w} in {1000 * splice_s:.1f} ms)"
        )


if __name__ == "__main__":
    main()
