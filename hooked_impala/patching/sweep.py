"""Exact patching over many pairs as a sweep: the pairs split into chunks, each chunk rendered
and patched where :func:`hooked_impala.sweep.run_sweep` runs it (in this process, or on Ray
with the same ``Backend`` as the other sweeps), the rows joined back in pair order.

A pair's row does not depend on its chunk: each pair's patched runs see only that pair's
activations (up to float rounding of a batch of another size).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from tqdm.auto import tqdm

from hooked_impala.model import HookedImpala
from hooked_impala.patching.components import Component
from hooked_impala.patching.exact import Direction, PatchingResult, patch
from hooked_impala.patching.pairs import MazePair, PairBatch
from hooked_impala.sweep import Backend, chunked, run_sweep

#: Pairs per chunk: small enough to spread over workers, large enough to batch.
CHUNK_PAIRS = 8


def _chunk_rows(
    model: HookedImpala,
    pairs: Sequence[MazePair],
    *,
    components: Sequence[Component],
    direction: Direction,
    batch_size: int,
) -> list[tuple]:
    """One row per pair of the chunk: (patched metrics (K,), clean, corrupted, maze id)."""
    found = patch(
        model, PairBatch.of(list(pairs)), components, direction=direction, batch_size=batch_size
    )
    return [
        (found.values[p], found.clean[p], found.corrupted[p], found.mazes[p])
        for p in range(len(pairs))
    ]


def patch_sweep(
    model: HookedImpala,
    pairs: Sequence[MazePair],
    components: Sequence[Component],
    *,
    direction: Direction = "denoising",
    batch_size: int = 256,
    backend: Backend = Backend(),
    chunk_pairs: int = CHUNK_PAIRS,
    progress: bool = False,
) -> PatchingResult:
    """:func:`~hooked_impala.patching.exact.patch` of ``components`` in every pair of
    ``pairs`` (``P`` :class:`MazePair` values), chunk by chunk on ``backend``; the same result
    as one call on all pairs (values ``(P, K)`` in pair order).

    Raises:
        ValueError: no pairs.
        SweepError: as :func:`~hooked_impala.sweep.run_sweep` (Ray missing, a failed chunk).
    """
    if not pairs:
        raise ValueError("no pairs to patch (an empty list)")
    work = partial(
        _chunk_rows, components=list(components), direction=direction, batch_size=batch_size
    )
    chunks = chunked(list(pairs), chunk_pairs)
    rows = list(
        tqdm(
            run_sweep(model, chunks, work, backend=backend, ordered=True),
            total=len(pairs),
            desc="exact patching",
            unit="pair",
            disable=not progress,
        )
    )
    values, clean, corrupted, mazes = zip(*rows)
    return PatchingResult(
        tuple(components),
        torch.stack(values),
        torch.stack(clean),
        torch.stack(corrupted),
        tuple(mazes),
        direction,
    )
