"""Causal maps of the network: which channels carry the decision between the cheese and the
top right, found by activation patching, estimated by attribution patching, and cut down to
a minimal circuit (library: :mod:`hooked_impala.patching`).

Each maze with a decision square gives a clean/corrupted pair (default: the cheese moved
to a cell the mouse would leave by another move). For every channel of every selected
hook, the clean activation is patched into the corrupted run (``--direction denoising``) or
the reverse (``noising``); the effect is the fraction of the clean - corrupted gap in
log P(cheese move) - log P(top-right move) at the decision square. Attribution patching
estimates the same grid from one forward and backward per pair (and an integrated variant,
``--ig-steps``); their agreement with the exact grid is reported per hook. At
``--circuit-layer``, channels enter in attribution order (computed on selection pairs),
every other channel mean-ablated (means over the selection mazes), until the selection
pairs keep ``--threshold`` of the gap; the kept fraction is scored on the test pairs.
``--metric field`` reads the whole vector field instead of the decision square: every pair
gives up to ``--field-cells`` cells, each scored by log P(move towards the clean cheese);
the fractions are then shares of the field's mean change (intervals still over mazes).

    python -m analyses.patching --mazes 40 --hooks embedder.block2.res1.resadd_out
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from analyses.core.inputs import DEFAULT_LAYER, Inputs, NotApplicable
from analyses.core.result import RunMetadata
from analyses.core.spec import SWEEP, Option, analysis, hooks_option
from analyses.measure.cheese_channels import (
    RETARGET_CHANNELS,
    overlap_with_chance,
    top_cheese_channels,
)
from analyses.measure.splits import selection_mazes
from analyses.patching.result import PatchingAnalysisResult, SpatialMaps
from hooked_impala import cli
from hooked_impala.maze import MazeRenderer
from hooked_impala.model import HookedImpala
from hooked_impala.patching import (
    FIELD_CELLS,
    Component,
    Corruption,
    Granularity,
    Metric,
    PairBatch,
    agreement,
    attribution_patch,
    check_metric,
    grid,
    make_pairs,
    minimal_circuit,
    patch,
    patch_sweep,
)
from hooked_impala.sweep import Backend

#: How many of the circuit layer's channels (attribution order) get a spatial map.
MAP_CHANNELS = 4

#: Every residual add and every convolution output (forward order).
DEFAULT_HOOKS = tuple(
    f"embedder.block{b}.{name}"
    for b in (1, 2, 3)
    for name in ("conv_out",)
    + tuple(f"res{r}.{part}" for r in (1, 2) for part in ("conv1_out", "conv2_out", "resadd_out"))
)
#: The residual adds only: the quick form's grid.
RESIDUAL_HOOKS = tuple(h for h in DEFAULT_HOOKS if h.endswith("resadd_out"))


def split(n: int, seed: int) -> tuple[list[int], list[int]]:
    """Pair indices into selection and test halves (a seeded shuffle; the maze is the pair)."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    half = n // 2
    return sorted(order[:half]), sorted(order[half:])


@analysis(
    question="Which channels carry the choice between the cheese and the top right?",
    select=list,  # the mazes: run() builds the pairs at their decision squares
    options=(
        Option(
            "corruption", "how the corrupted maze differs", choices=[c.value for c in Corruption]
        ),
        hooks_option("hooks whose channels are patched"),
        Option(
            "metric",
            "the decision square's two moves, or the cheese-ward move over the field",
            choices=[m.value for m in Metric],
        ),
        Option("field_cells", "cells per pair the field metric reads", kind=cli.integer(1)),
        Option(
            "direction", "clean into corrupted, or the reverse", choices=("denoising", "noising")
        ),
        Option("ig_steps", "integrated attribution steps", kind=cli.integer(2, 64)),
        Option("circuit_layer", "hook of the minimal circuit", kind=cli.hook_name),
        Option("threshold", "gap fraction the circuit keeps, in (0, 1]", kind=cli.real(0.0)),
        Option("top", "exact top-k whose recall is reported", kind=cli.integer(1)),
        Option("batch_size", "patched variants per forward", kind=cli.integer(1)),
        SWEEP,
    ),
    quick={"hooks": RESIDUAL_HOOKS, "ig_steps": 2},
    min_mazes=8,
)
def run(
    model: HookedImpala,
    inputs: Inputs,
    *,
    corruption: str = Corruption.CHEESE_MOVED.value,
    hooks: Sequence[str] = DEFAULT_HOOKS,
    direction: str = "denoising",
    ig_steps: int = 4,
    circuit_layer: str = DEFAULT_LAYER,
    threshold: float = 0.9,
    top: int = 20,
    batch_size: int = 256,
    metric: str = Metric.DECISION.value,
    field_cells: int = FIELD_CELLS,
    seed: int = 0,
    progress: bool = False,
    sweep: Backend = Backend(),
) -> PatchingAnalysisResult:
    """Exact and attribution patching per channel of ``hooks``, their agreement, and the
    minimal circuit at ``circuit_layer`` (module docstring). ``inputs``: mazes."""
    # Every argument checked before any work (a run over all hooks takes minutes).
    if not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")
    if direction not in ("denoising", "noising"):
        raise ValueError(f"direction must be 'denoising' or 'noising', got {direction!r}")
    if corruption not in [c.value for c in Corruption]:
        raise ValueError(
            f"unknown corruption {corruption!r}; one of {[c.value for c in Corruption]}"
        )
    check_metric(metric, corruption)
    for name, value, low in (
        ("field_cells", field_cells, 1),
        ("ig_steps", ig_steps, 1),
        ("top", top, 1),
        ("batch_size", batch_size, 1),
    ):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(inputs, (torch.Tensor, np.ndarray)) or not len(inputs):
        raise NotApplicable("patching needs mazes (to build clean/corrupted pairs)")
    if not hooks:
        raise ValueError("no hooks to patch (an empty list)")
    hooks = [model.resolve_hook_name(h) for h in hooks]
    circuit_layer = model.resolve_hook_name(circuit_layer)
    pairs = make_pairs(list(inputs), corruption, seed=seed)
    if len(pairs) < 4:
        raise NotApplicable(
            f"only {len(pairs)} of the mazes give pairs; selection and test halves need 4"
        )
    with MazeRenderer() as renderer:
        batch = PairBatch.of(pairs, renderer, metric=metric, max_cells=field_cells)
    started = time.perf_counter()
    shapes = model.hook_shapes()
    channels_of = [c for h in hooks for c in grid(h, shapes[h][1:], Granularity.CHANNEL)]
    # The exact grid is the costly part: a sweep over the pairs (in process, or on Ray).
    exact = patch_sweep(
        model,
        pairs,
        channels_of,
        direction=direction,
        batch_size=batch_size,
        metric=metric,
        max_cells=field_cells,
        backend=sweep,
        progress=progress,
    )
    exact_seconds = time.perf_counter() - started
    started = time.perf_counter()
    atp = attribution_patch(model, batch, exact.components, direction=direction)
    atp_seconds = time.perf_counter() - started
    started = time.perf_counter()
    atp_ig = attribution_patch(model, batch, exact.components, direction=direction, steps=ig_steps)
    ig_seconds = time.perf_counter() - started
    selection_idx, test_idx = split(len(pairs), seed)  # by pair: a maze's rows stay together
    selection = batch.of_mazes([pairs[i].seed for i in selection_idx])
    test = batch.of_mazes([pairs[i].seed for i in test_idx])
    channels = model.hook_shapes()[circuit_layer][1]
    comps = [Component(circuit_layer, c) for c in range(channels)]
    ranked = attribution_patch(model, selection, comps, direction=direction).fraction()
    order = ranked.argsort(descending=True).tolist()  # most restoring first
    circuit = minimal_circuit(
        model, selection, test, selection.clean, circuit_layer, order, threshold=threshold
    )
    # Where in the layer the strongest channels act: each patched square by square in one
    # test pair, drawn over that maze's frame (pairs differ in layout: maps are not averaged).
    shown = order[:MAP_CHANNELS]
    _, _, height, width = model.hook_shapes()[circuit_layer]
    squares = [
        Component(circuit_layer, c, (i, i + 1), (j, j + 1))
        for c in shown
        for i in range(height)
        for j in range(width)
    ]
    one = test.of_mazes(test.mazes[:1])  # with the field metric, its rows over the field
    spatial = patch(model, one, squares, direction=direction, batch_size=batch_size)
    maps = spatial.fraction().reshape(len(shown), height, width).numpy()
    # The cheese channels as the retarget analysis finds them (its own selection mazes):
    # does the circuit hold them more often than a random set of its size would?
    cheese = top_cheese_channels(
        model, selection_mazes(list(inputs)), RETARGET_CHANNELS, layer=circuit_layer, seed=seed
    )
    overlap = overlap_with_chance(circuit.channels or (), cheese, channels)
    return PatchingAnalysisResult(
        metadata=RunMetadata.of(
            "patching",
            model,
            seed=seed,
            hooks=tuple(dict.fromkeys([*hooks, circuit_layer])),
            mazes=(p.seed for p in pairs),
            parameters={
                "corruption": str(Corruption(corruption)),
                "metric": str(Metric(metric)),
                "selection_mazes": list(dict.fromkeys(selection.mazes)),
                "test_mazes": list(dict.fromkeys(test.mazes)),
            },
        ),
        exact=exact,
        atp=atp,
        atp_ig=atp_ig,
        agreement_atp=agreement(exact, atp, top=top),
        agreement_ig=agreement(exact, atp_ig, top=top),
        seconds={"exact": exact_seconds, "atp": atp_seconds, f"atp_ig{ig_steps}": ig_seconds},
        circuit=circuit,
        cheese_channels={"channels": cheese, **overlap},
        spatial=SpatialMaps(circuit_layer, shown, one.mazes[0], maps, one.clean[0].numpy()),
        top=top,
    )
