"""Interventions that put values into activations: add a vector, replace an activation,
replace or ablate channels (zero, mean, resample). Each hook function also runs on the
incremental forward's windows when its value is shared by every observation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch

from hooked_impala import checks
from hooked_impala.hooks import HookPoint, HookSpec
from hooked_impala.incremental import window_of

Ablation = Literal["zero", "mean", "resample"]


def like(value: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    return value.to(device=activation.device, dtype=activation.dtype)


def shared(value: torch.Tensor) -> bool:
    """True for a value every observation of a spatial layer shares: a scalar, or ``(C, H,
    W)`` / ``(1, C, H, W)`` (possibly broadcasting, e.g. ``(C, 1, 1)``)."""
    return value.ndim in (0, 3) or (value.ndim == 4 and value.shape[0] == 1)


def through_windows(
    value: torch.Tensor, activation: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """A shared ``value`` (see ``_shared``) as the windows ``activation`` ``(N, C, h, w)`` sees."""
    value = like(value, activation)
    value = value[0] if value.ndim == 4 else value
    if value.ndim == 3 and value.shape[-2:] != (1, 1):
        value = window_of(value, rows, cols)
    return value.expand_as(activation)


def check_fits(value: torch.Tensor, activation: torch.Tensor, hook: HookPoint, what: str) -> None:
    """``value`` is the activation's shape without the batch (or broadcasts to it, e.g.
    ``(C, 1, 1)``), or with it: ``(N, ...)`` matching the batch. Checked here, where the
    hook is known, so a mismatch names it instead of failing in torch's arithmetic."""
    shape, target = tuple(value.shape), tuple(activation.shape)
    per_observation = value.ndim == activation.ndim
    if per_observation and shape[0] not in (1, target[0]):
        raise ValueError(
            f"{what} at {hook.name!r} holds {shape[0]} rows for a batch of "
            f"{target[0]}; pass one per observation or one for all"
        )
    body = shape[1:] if per_observation else shape
    fits = len(body) < len(target) and all(
        v in (1, t) for v, t in zip(reversed(body), reversed(target[1:]))
    )
    if not fits:
        raise ValueError(
            f"{what} at {hook.name!r} has shape {shape}; the activation there is "
            f"{target}: pass {target[1:]} (the same for every observation) or "
            f"(N, {', '.join(map(str, target[1:]))}) (one per observation)"
        )


@dataclass(frozen=True)
class AddVector:
    """activation + coeff × vector at ``hook``. ``vector`` is the activation's shape without
    the batch (added to every observation) or with it (one vector per observation)."""

    hook: str
    vector: torch.Tensor
    coeff: float = 1.0

    def __post_init__(self) -> None:
        checks.finite_tensor("vector", self.vector)
        object.__setattr__(self, "coeff", checks.real("coeff", self.coeff))

    def hooks(self) -> list[HookSpec]:
        return [(self.hook, _Add(self.vector, self.coeff))]


@dataclass(frozen=True, eq=False)
class _Add:
    vector: torch.Tensor
    coeff: float

    @property
    def positionwise(self) -> bool:
        return shared(self.vector)

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        check_fits(self.vector, activation, hook, "the vector")
        return activation + self.coeff * like(self.vector, activation)

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        return activation + self.coeff * through_windows(self.vector, activation, rows, cols)


@dataclass(frozen=True)
class ReplaceActivation:
    """The activation at ``hook`` replaced by ``value`` (broadcast over the batch if it has
    none). Inside ``torch.func`` transforms ``value`` may be a traced tensor."""

    hook: str
    value: torch.Tensor

    def __post_init__(self) -> None:
        checks.finite_tensor("value", self.value)

    def hooks(self) -> list[HookSpec]:
        return [(self.hook, _Replace(self.value))]


@dataclass(frozen=True, eq=False)
class _Replace:
    value: torch.Tensor

    @property
    def positionwise(self) -> bool:
        return shared(self.value)

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        check_fits(self.value, activation, hook, "the replacement")
        return like(self.value, activation).expand_as(activation)

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        return through_windows(self.value, activation, rows, cols)


@dataclass(frozen=True)
class ReplaceChannels:
    """Channels ``channels`` (dim 1) at ``hook`` replaced by the same channels of
    ``replacement`` (the activation's shape, with or without the batch)."""

    hook: str
    channels: tuple[int, ...]
    replacement: torch.Tensor

    def __post_init__(self) -> None:
        checks.finite_tensor("replacement", self.replacement)

    def hooks(self) -> list[HookSpec]:
        return [(self.hook, _ReplaceChannels(list(self.channels), self.replacement))]


@dataclass(frozen=True, eq=False)
class _ReplaceChannels:
    index: list[int]
    replacement: torch.Tensor

    @property
    def positionwise(self) -> bool:
        return shared(self.replacement)

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        if max(self.index, default=-1) >= activation.shape[1]:
            raise ValueError(
                f"channels {self.index} at {hook.name!r}: it has {activation.shape[1]} channels"
            )
        check_fits(self.replacement, activation, hook, "the replacement")
        return self._put(activation, like(self.replacement, activation).expand_as(activation))

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        return self._put(activation, through_windows(self.replacement, activation, rows, cols))

    def _put(self, activation: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        out = activation.clone()
        out[:, self.index] = source[:, self.index]
        return out


def add_vector(hook: str, vector: torch.Tensor, coeff: float = 1.0) -> AddVector:
    return AddVector(hook, checks.finite_tensor("vector", vector).detach(), coeff)


def replace_activation(hook: str, value: torch.Tensor) -> ReplaceActivation:
    return ReplaceActivation(hook, value)


def ablation_values(
    reference: torch.Tensor, method: Ablation, generator: torch.Generator | None = None
) -> torch.Tensor:
    """What an ablation puts in place of ``reference`` ``(N, C, ...)`` activations:
    zeros; the mean over the N observations; or resampling — each observation takes the
    activation of another observation (a random derangement, seeded by ``generator``)."""
    checks.finite_tensor("reference", reference)
    if method == "zero":
        return torch.zeros_like(reference)
    if method == "mean":
        return reference.mean(0, keepdim=True).expand_as(reference)
    if method == "resample":
        n = reference.shape[0]
        if n < 2:
            raise ValueError("resampling needs at least two observations to draw from")
        perm = torch.randperm(n, generator=generator)
        perm = torch.where(perm == torch.arange(n), perm.roll(1), perm)
        return reference[perm]
    raise ValueError(f"ablation must be 'zero', 'mean' or 'resample', got {method!r}")


def ablate_channels(
    hook: str,
    channels: Iterable[int],
    method: Ablation = "zero",
    reference: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> ReplaceChannels:
    """Channels at ``hook`` set to zero, or (``mean``/``resample``) to values drawn from
    ``reference`` activations ``(N, C, ...)`` of the same observations the model will see."""
    if method != "zero" and reference is None:
        raise ValueError(f"{method} ablation needs reference activations (N, C, ...)")
    if method == "zero":
        values = torch.zeros(()) if reference is None else torch.zeros_like(reference)
    else:
        values = ablation_values(reference, method, generator)
    return ReplaceChannels(hook, tuple(int(c) for c in channels), values.detach())
