"""Checks shared by the channel-level analyses (cheese channels, retargeting, resampling):
the layer must be a square spatial map, and the channels named must exist there."""

from __future__ import annotations

from collections.abc import Sequence

from hooked_impala import checks
from hooked_impala.model import HookedImpala


def spatial_shape(model: HookedImpala, layer: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of a square spatial ``layer``; ValueError naming the hook otherwise."""
    shape = model.hook_shapes(1)[model.resolve_hook_name(layer)]
    if len(shape) != 4 or shape[2] != shape[3]:
        raise ValueError(
            f"this analysis needs a spatial (N, C, H, W) layer with H == W; {layer!r} has "
            f"shape {('N', *shape[1:])}"
        )
    return shape[1], shape[2], shape[3]


def check_channels(channels: Sequence[int], n_channels: int, layer: str) -> list[int]:
    """Distinct channel indices in ``0..n_channels-1``, or a ValueError naming the bad ones."""
    chosen = [checks.integer("channels", c, minimum=0) for c in channels]
    if not chosen:
        raise ValueError("channels must name at least one channel")
    bad = [c for c in chosen if c >= n_channels]
    if bad:
        raise ValueError(
            f"channels {bad} do not exist at {layer!r}: it has {n_channels} channels "
            f"(0..{n_channels - 1})"
        )
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"channels must be distinct, got {chosen}")
    return chosen
