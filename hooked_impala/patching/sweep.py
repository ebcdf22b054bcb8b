"""Exact patching over many pairs as a sweep: the pairs split into chunks, each chunk rendered
and patched where :func:`hooked_impala.sweep.run_sweep` runs it (in this process, or on Ray
with the same ``Backend`` as the other sweeps), the rows joined back in pair order.

A pair's rows (one at its decision square, or one per field cell) do not depend on its chunk:
each pair's patched runs see only that pair's activations (up to float rounding of a batch of
another size).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from tqdm.auto import tqdm

from hooked_impala.model import HookedImpala
from hooked_impala.patching.components import Component
from hooked_impala.patching.exact import Direction, PatchingResult, patch
from hooked_impala.patching.pairs import FIELD_CELLS, MazePair, Metric, PairBatch, field_cells
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
    metric: Metric,
    max_cells: int,
) -> list[list[tuple]]:
    """Per pair of the chunk, its rows: (patched metrics (K,), clean, corrupted, maze id)."""
    batch = PairBatch.of(list(pairs), metric=metric, max_cells=max_cells)
    found = patch(model, batch, components, direction=direction, batch_size=batch_size)
    rows = [
        (found.values[r], found.clean[r], found.corrupted[r], found.mazes[r])
        for r in range(len(found.mazes))
    ]
    if metric is Metric.DECISION:
        return [[row] for row in rows]
    ends = np.cumsum([len(field_cells(pair, max_cells)) for pair in pairs])
    return [rows[end - n : end] for end, n in zip(ends, np.diff(ends, prepend=0))]


def patch_sweep(
    model: HookedImpala,
    pairs: Sequence[MazePair],
    components: Sequence[Component],
    *,
    direction: Direction = "denoising",
    batch_size: int = 256,
    metric: Metric | str = Metric.DECISION,
    max_cells: int = FIELD_CELLS,
    backend: Backend = Backend(),
    chunk_pairs: int = CHUNK_PAIRS,
    progress: bool = False,
) -> PatchingResult:
    """:func:`~hooked_impala.patching.exact.patch` of ``components`` in every pair of
    ``pairs`` (``P`` :class:`MazePair` values), chunk by chunk on ``backend``; the same result
    as one call on all pairs (values ``(R, K)`` in pair order: ``R = P`` rows for the decision
    metric, a row per field cell for ``metric="field"``; see :meth:`PairBatch.of`).

    Raises:
        ValueError: no pairs.
        SweepError: as :func:`~hooked_impala.sweep.run_sweep` (Ray missing, a failed chunk).
    """
    if not pairs:
        raise ValueError("no pairs to patch (an empty list)")
    work = partial(
        _chunk_rows,
        components=list(components),
        direction=direction,
        batch_size=batch_size,
        metric=Metric(metric),
        max_cells=max_cells,
    )
    chunks = chunked(list(pairs), chunk_pairs)
    per_pair = list(
        tqdm(
            run_sweep(model, chunks, work, backend=backend, ordered=True),
            total=len(pairs),
            desc="exact patching",
            unit="pair",
            disable=not progress,
        )
    )
    values, clean, corrupted, mazes = zip(*(row for rows in per_pair for row in rows))
    return PatchingResult(
        tuple(components),
        torch.stack(values),
        torch.stack(clean),
        torch.stack(corrupted),
        tuple(mazes),
        direction,
    )
