"""Activation patching for ``HookedImpala``: clean/corrupted maze pairs, exact patching
grids (per channel, per position block, per both; denoising and noising), attribution
patching (plain and integrated) with its agreement with the exact grid, and minimal
channel circuits under mean ablation.

>>> pairs = PairBatch.of(make_pairs(mazes, Corruption.CHEESE_MOVED))  # or metric="field"
>>> exact = patch_channels(model, pairs, ["embedder.block2.res1.resadd_out"])
>>> atp = attribution_patch(model, pairs, exact.components)
>>> agreement(exact, atp)
"""

from hooked_impala.patching.attribution import agreement, attribution_patch
from hooked_impala.patching.circuit import (
    Circuit,
    FaithfulnessCurve,
    faithfulness_curve,
    mean_activation,
    minimal_circuit,
)
from hooked_impala.patching.components import Component, Granularity, grid, masks
from hooked_impala.patching.exact import (
    Direction,
    PatchingResult,
    default_hooks,
    patch,
    patch_channel_positions,
    patch_channels,
    patch_grid,
    patch_positions,
)
from hooked_impala.patching.pairs import (
    FIELD_CELLS,
    Corruption,
    MazePair,
    Metric,
    PairBatch,
    PairMetric,
    check_metric,
    decision_metric,
    field_cells,
    make_pairs,
    move_metric,
    pair_observations,
)
from hooked_impala.patching.sweep import patch_sweep

__all__ = [
    "FIELD_CELLS",
    "Circuit",
    "Component",
    "Corruption",
    "Direction",
    "FaithfulnessCurve",
    "Granularity",
    "MazePair",
    "Metric",
    "PairBatch",
    "PairMetric",
    "PatchingResult",
    "agreement",
    "attribution_patch",
    "check_metric",
    "decision_metric",
    "default_hooks",
    "faithfulness_curve",
    "field_cells",
    "grid",
    "make_pairs",
    "masks",
    "mean_activation",
    "minimal_circuit",
    "move_metric",
    "pair_observations",
    "patch",
    "patch_channel_positions",
    "patch_channels",
    "patch_grid",
    "patch_positions",
    "patch_sweep",
]
