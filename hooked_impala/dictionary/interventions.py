"""Interventions with a dictionary, as values with ``hooks()`` like those of
:mod:`hooked_impala.interventions` (they compose with them by concatenation):

* ``splice(hook, sae)``: the activation at ``hook`` replaced by the autoencoder's
  reconstruction, position by position — how much of the policy the dictionary carries;
* ``add_latent(hook, sae, latent, coeff, at=...)``: ``coeff`` times the latent's decoder
  direction added at one grid square (or one per observation), as ``clamp_channels(...,
  at=...)`` sets channels there — steering with a dictionary feature.

Both act on every position alone (the splice everywhere, the addition at one square for all
observations), so the incremental forward keeps its windows through them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hooked_impala.dictionary.sae import TopKSAE
from hooked_impala.hooks import HookPoint, HookSpec
from hooked_impala.interventions.clamp import grid_positions


def _spatial(activation: torch.Tensor, hook: HookPoint, channels: int, what: str) -> None:
    if activation.ndim != 4:
        raise ValueError(
            f"{what} needs a spatial (N, C, H, W) activation; {hook.name!r} is "
            f"{tuple(activation.shape)}"
        )
    if activation.shape[1] != channels:
        raise ValueError(
            f"{what}: the dictionary takes {channels} channels, {hook.name!r} has "
            f"{activation.shape[1]}"
        )


@dataclass(frozen=True)
class Splice:
    """The activation at ``hook`` replaced by ``sae``'s reconstruction of it."""

    hook: str
    sae: TopKSAE

    def hooks(self) -> list[HookSpec]:
        return [(self.hook, _Splice(self.sae))]


@dataclass(frozen=True, eq=False)
class _Splice:
    sae: TopKSAE
    positionwise = True

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        _spatial(activation, hook, self.sae.config.channels, "splicing a dictionary")
        if not torch.isfinite(activation).all():
            raise ValueError(f"the activation at {hook.name!r} holds NaN or infinite values")
        # The activation goes to the dictionary and its reconstruction comes back, so a
        # dictionary kept on the CPU serves a model on any device, and the caller's stays put.
        here = self.sae.W_dec.device
        with torch.no_grad():
            rebuilt = self.sae.reconstruct(activation.to(here, torch.float32))
        return rebuilt.to(activation.device, activation.dtype)

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        return self(activation, hook)


def splice(hook: str, sae: TopKSAE) -> Splice:
    """Replace the activation at ``hook`` by ``sae``'s reconstruction (see the module)."""
    if not isinstance(sae, TopKSAE):
        raise TypeError(f"splice takes a TopKSAE, got {type(sae).__name__}")
    return Splice(hook, sae.eval())


@dataclass(frozen=True)
class AddAt:
    """``vector`` (``(C,)``) added at one grid square ``(i, j)`` of ``hook``'s activation, or
    one square per observation: ``positions`` is ``(1, 2)`` or ``(N, 2)`` ints."""

    hook: str
    vector: torch.Tensor
    positions: torch.Tensor

    def hooks(self) -> list[HookSpec]:
        return [(self.hook, _AddAt(self.vector, self.positions))]


@dataclass(frozen=True, eq=False)
class _AddAt:
    vector: torch.Tensor  # (C,)
    positions: torch.Tensor  # (1, 2) or (N, 2)

    @property
    def positionwise(self) -> bool:
        return self.positions.shape[0] == 1

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        _spatial(activation, hook, len(self.vector), "adding a latent's direction")
        n = activation.shape[0]
        pos = grid_positions(self.positions, activation, hook, "positions")
        out = activation.clone()
        batch = torch.arange(n, device=activation.device)
        vector = self.vector.to(device=activation.device, dtype=activation.dtype)
        out[batch, :, pos[:, 0], pos[:, 1]] += vector
        return out

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        i, j = self.positions[0].tolist()
        at = (rows == i)[:, None, :, None] & (cols == j)[:, None, None, :]  # (N, 1, h, w)
        vector = self.vector.to(device=activation.device, dtype=activation.dtype)
        return activation + at.to(activation.dtype) * vector[None, :, None, None]


def add_latent(hook: str, sae: TopKSAE, latent: int, coeff: float, at: object) -> AddAt:
    """``coeff`` × latent ``latent``'s decoder direction (``sae.latent_direction``) added at
    the layer-grid square ``at = (i, j)``, or one square per observation, ``(N, 2)`` ints
    (``hooked_impala.maze.layer_positions`` maps maze cells to them)."""
    direction = sae.latent_direction(latent)
    positions = torch.as_tensor(at)
    if positions.dtype.is_floating_point or positions.shape[-1:] != (2,) or positions.ndim > 2:
        raise ValueError(
            f"at must be an (i, j) pair or (N, 2) ints, got shape {tuple(positions.shape)}"
        )
    return AddAt(hook, float(coeff) * direction, positions.long().reshape(-1, 2))
