"""Interventions as named values: each one is a small frozen object whose ``hooks()`` are
forward hooks ``[(hook name, fn)]`` for ``run_with_hooks``, ``model.hooks()``,
``vector_field`` and ``rollout``. They compose by concatenation::

    steer = add_vector("embedder.block2.res1.resadd_out", cheese_vec, coeff=-1.0)
    linear = remove_relus(model)
    out = model.run_with_hooks(obs, fwd_hooks=[*steer.hooks(), *linear.hooks()])

``hooks_of(*interventions)`` does the same concatenation. Tensors are moved to the
activation's device and dtype when the hook fires, so an intervention built on the CPU works
on a model anywhere.

Each hook function also knows whether it acts on every position alone and on every
observation alike (``positionwise``): then ``window(activation, rows, cols, hook)`` applies it
to windows of the activation, and the incremental forward
(:mod:`hooked_impala.incremental`) keeps its windows through it. A value given per
observation (a vector with a batch dimension, a clamp position per observation) is not
positionwise: the incremental forward runs full activations from that hook on.
"""

from typing import Protocol, runtime_checkable

from hooked_impala.hooks import HookSpec
from hooked_impala.interventions.clamp import ClampAt, clamp_channels
from hooked_impala.interventions.modified import ModifiedCount, count_modified, network_size
from hooked_impala.interventions.relus import RemoveRelus, relu_names, remove_relus
from hooked_impala.interventions.values import (
    Ablation,
    AddVector,
    ReplaceActivation,
    ReplaceChannels,
    ablate_channels,
    ablation_values,
    add_vector,
    replace_activation,
)

__all__ = [
    "Ablation",
    "AddVector",
    "ClampAt",
    "Intervention",
    "ModifiedCount",
    "RemoveRelus",
    "ReplaceActivation",
    "ReplaceChannels",
    "ablate_channels",
    "ablation_values",
    "add_vector",
    "clamp_channels",
    "count_modified",
    "hooks_of",
    "network_size",
    "relu_names",
    "remove_relus",
    "replace_activation",
]


@runtime_checkable
class Intervention(Protocol):
    """Anything with ``hooks() -> [(hook name, fn)]``."""

    def hooks(self) -> list[HookSpec]: ...


def hooks_of(*interventions: Intervention) -> list[HookSpec]:
    """The forward hooks of several interventions, in order."""
    return [spec for intervention in interventions for spec in intervention.hooks()]
