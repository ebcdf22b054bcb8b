"""Channels held at a value: everywhere (a ``ReplaceChannels``), or at one position of the
layer's grid, or one position per observation (``ClampAt``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from hooked_impala import checks
from hooked_impala.hooks import HookPoint, HookSpec
from hooked_impala.interventions.values import ReplaceChannels


def grid_positions(
    positions: torch.Tensor, activation: torch.Tensor, hook: HookPoint, what: str
) -> torch.Tensor:
    """``positions`` ``(1, 2)`` or ``(N, 2)`` (grid squares ``(i, j)``, one for all or one per
    observation) checked against the ``(N, C, H, W)`` activation at ``hook`` and returned as
    ``(N, 2)`` on its device. Checked when the hook fires: only then are the batch and the
    grid known. ``what`` names the positions in the errors, which name the hook too."""
    n, _, h, w = activation.shape
    pos = positions.to(activation.device)
    if pos.shape[0] not in (1, n):
        raise ValueError(
            f"{pos.shape[0]} {what} at {hook.name!r} for a batch of {n}; "
            "pass one per observation or one for all"
        )
    if ((pos < 0) | (pos >= torch.tensor([h, w], device=pos.device))).any():
        raise ValueError(
            f"{what} must lie in the {h}x{w} grid of {hook.name!r}, got "
            f"{pos.unique(dim=0).tolist()[:4]}"
        )
    return pos.expand(n, 2)


@dataclass(frozen=True)
class ClampAt:
    """Channels ``channels`` at ``hook`` set to ``value`` at one spatial position ``(i, j)``
    of the layer's grid (image row 0 at the top), or one position per observation:
    ``positions`` is ``(2,)`` or ``(N, 2)`` int. Everything else is left alone."""

    hook: str
    channels: tuple[int, ...]
    value: float
    positions: torch.Tensor

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", checks.real("value", self.value))

    def hooks(self) -> list[HookSpec]:
        return [(self.hook, _Clamp(self.channels, self.value, self.positions.reshape(-1, 2)))]


@dataclass(frozen=True, eq=False)
class _Clamp:
    channels: tuple[int, ...]
    value: float
    positions: torch.Tensor  # (1, 2) or (N, 2)

    @property
    def positionwise(self) -> bool:
        return self.positions.shape[0] == 1

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        if activation.ndim != 4:
            raise ValueError(
                f"clamping at a position needs a (N, C, H, W) activation; {hook.name!r} "
                f"is {tuple(activation.shape)}"
            )
        n, c = activation.shape[:2]
        if max(self.channels) >= c:
            raise ValueError(f"channels {list(self.channels)} at {hook.name!r}: it has {c}")
        pos = grid_positions(self.positions, activation, hook, "clamp positions")
        rows = torch.arange(n, device=activation.device)[:, None]
        out = activation.clone()
        chans = torch.tensor(self.channels, device=activation.device)[None, :]
        out[rows, chans, pos[:, :1], pos[:, 1:]] = self.value
        return out

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        # Windows that miss the position keep the reference's clamped value outside them.
        i, j = self.positions[0].tolist()
        at = (rows == i)[:, None, :, None] & (cols == j)[:, None, None, :]  # (N, 1, h, w)
        out = activation.clone()
        chans = list(self.channels)
        out[:, chans] = out[:, chans].masked_fill(at, self.value)
        return out


def clamp_channels(
    hook: str, channels: Iterable[int], value: float, at: object = None
) -> ReplaceChannels | ClampAt:
    """Channels at ``hook`` held at ``value``: everywhere (``at=None``), or only at the
    layer-grid position ``at = (i, j)`` or one position per observation, ``(N, 2)`` ints
    (``hooked_impala.maze.layer_positions`` maps maze cells to them)."""
    value = checks.real("value", value)
    chans = tuple(int(c) for c in channels)
    if not chans:
        raise ValueError("clamp_channels needs at least one channel")
    if min(chans) < 0:
        raise ValueError(f"channels must be non-negative, got {list(chans)}")
    if at is None:
        return ReplaceChannels(hook, chans, torch.tensor(value))
    positions = torch.as_tensor(at)
    if positions.dtype.is_floating_point or positions.shape[-1:] != (2,) or positions.ndim > 2:
        raise ValueError(
            f"at must be an (i, j) pair or (N, 2) ints, got shape {tuple(positions.shape)}"
        )
    return ClampAt(hook, chans, value, positions.long())
