"""Small networks built for tests whose right answers are known by construction."""

from __future__ import annotations

import torch

from hooked_impala import HookedImpala, ImpalaConfig


def small_model(seed: int = 0) -> HookedImpala:
    """Widths 4/8/8, fc 32, random weights drawn from ``seed``."""
    torch.manual_seed(seed)
    return HookedImpala(ImpalaConfig(channels=(4, 8, 8), fc_features=32)).eval()


def only_channel_reaches_output(k: int) -> HookedImpala:
    """Every path from ``embedder.block2.res1.resadd_out`` to the logits runs through channel
    k: block2.res2's and block3's residual convs are zeroed (they pass their input through)
    and block3's first conv reads channel k only."""
    model = small_model(3)
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.startswith(("embedder.block2.res2", "embedder.block3.res")) and isinstance(
                module, torch.nn.Conv2d
            ):
                module.weight.zero_()
                module.bias.zero_()
        conv = model.embedder.block3.conv
        keep = conv.weight[:, k].clone()
        conv.weight.zero_()
        conv.weight[:, k] = keep
        conv.bias.zero_()
    return model
