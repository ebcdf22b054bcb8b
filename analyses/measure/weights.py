"""The network's weight layers as matrices, shared by the weight analyses (``weight_diff``,
``weight_svd``): every convolution as ``out × (in·k·k)``, every linear layer as it is."""

from __future__ import annotations

import torch
from torch import nn

from hooked_impala.model import HookedImpala


def weight_layers(model: HookedImpala) -> dict[str, nn.Conv2d | nn.Linear]:
    """``{module path: layer}`` of every convolution and linear layer, forward order
    (``embedder.block1.conv`` … ``embedder.fc``, ``fc_policy``, ``fc_value``)."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d | nn.Linear)
    }


def as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """``(out, in·k·k)`` for a convolution's ``(out, in, k, k)`` kernel; a matrix as it is."""
    return weight.reshape(weight.shape[0], -1)
