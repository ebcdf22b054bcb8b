"""Small networks built for tests whose right answers are known by construction."""

from __future__ import annotations

from collections import OrderedDict

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


LAYER = "embedder.block2.res1.resadd_out"
CARRIER = 5  # the one channel of LAYER through which anything reaches the logits
GREEN_THRESHOLD = 221.5 / 255  # above every procgen pixel's green but the cheese's


def cheese_carrier_model() -> HookedImpala:
    """Every path from ``LAYER`` to the logits runs through channel ``CARRIER``
    (``only_channel_reaches_output``), and that channel gets a strong cheese signal: block1's
    channel 0 is a gain-200 green detector (the cheese's bright pixel), block1's residual
    convs pass it through, and block2's conv adds it to ``CARRIER``. Without the detector
    the random network's clean-corrupted gap is ~3e-5; with it ~0.1."""
    model = only_channel_reaches_output(CARRIER)
    with torch.no_grad():
        b1 = model.embedder.block1
        b1.conv.weight[0].zero_()
        b1.conv.weight[0, 1, 1, 1] = 200.0
        b1.conv.bias[0] = -200.0 * GREEN_THRESHOLD
        for res in (b1.res1, b1.res2):
            for conv in (res.conv1, res.conv2):
                conv.weight.zero_()
                conv.bias.zero_()
        model.embedder.block2.conv.weight[CARRIER, 0, 1, 1] += 1.0
    return model


def random_state_dict(scale: int, seed: int) -> OrderedDict[str, torch.Tensor]:
    """A state dict of the scale-``scale`` network, weights N(0, 0.05²) drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    shapes = HookedImpala(ImpalaConfig.from_scale(scale)).state_dict()
    return OrderedDict((k, torch.randn(v.shape, generator=gen) * 0.05) for k, v in shapes.items())
