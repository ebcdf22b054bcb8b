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

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import torch

from hooked_impala import checks
from hooked_impala.hooks import HookPoint, HookSpec
from hooked_impala.incremental import window_of
from hooked_impala.model import HookedImpala

Ablation = Literal["zero", "mean", "resample"]


@runtime_checkable
class Intervention(Protocol):
    """Anything with ``hooks() -> [(hook name, fn)]``."""

    def hooks(self) -> list[HookSpec]: ...


def hooks_of(*interventions: Intervention) -> list[HookSpec]:
    """The forward hooks of several interventions, in order."""
    return [spec for intervention in interventions for spec in intervention.hooks()]


def _like(value: torch.Tensor, activation: torch.Tensor) -> torch.Tensor:
    return value.to(device=activation.device, dtype=activation.dtype)


def _shared(value: torch.Tensor) -> bool:
    """True for a value every observation of a spatial layer shares: a scalar, or ``(C, H,
    W)`` / ``(1, C, H, W)`` (possibly broadcasting, e.g. ``(C, 1, 1)``)."""
    return value.ndim in (0, 3) or (value.ndim == 4 and value.shape[0] == 1)


def _through_windows(
    value: torch.Tensor, activation: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """A shared ``value`` (see ``_shared``) as the windows ``activation`` ``(N, C, h, w)`` sees."""
    value = _like(value, activation)
    value = value[0] if value.ndim == 4 else value
    if value.ndim == 3 and value.shape[-2:] != (1, 1):
        value = window_of(value, rows, cols)
    return value.expand_as(activation)


def _check_fits(value: torch.Tensor, activation: torch.Tensor, hook: HookPoint, what: str) -> None:
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
            f"{target}: pass {target[1:]} (every observation) or {target} (one per observation)"
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
        return _shared(self.vector)

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        _check_fits(self.vector, activation, hook, "the vector")
        return activation + self.coeff * _like(self.vector, activation)

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        return activation + self.coeff * _through_windows(self.vector, activation, rows, cols)


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
        return _shared(self.value)

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        _check_fits(self.value, activation, hook, "the replacement")
        return _like(self.value, activation).expand_as(activation)

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        return _through_windows(self.value, activation, rows, cols)


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
        return _shared(self.replacement)

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        if max(self.index, default=-1) >= activation.shape[1]:
            raise ValueError(
                f"channels {self.index} at {hook.name!r}: it has {activation.shape[1]} channels"
            )
        _check_fits(self.replacement, activation, hook, "the replacement")
        return self._put(activation, _like(self.replacement, activation).expand_as(activation))

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor:
        return self._put(activation, _through_windows(self.replacement, activation, rows, cols))

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
        n, c, h, w = activation.shape
        if max(self.channels) >= c:
            raise ValueError(f"channels {list(self.channels)} at {hook.name!r}: it has {c}")
        pos = self.positions.to(activation.device)
        if pos.shape[0] not in (1, n):
            raise ValueError(
                f"{pos.shape[0]} clamp positions at {hook.name!r} for a batch of {n}; "
                "pass one per observation or one for all"
            )
        if ((pos < 0) | (pos >= torch.tensor([h, w], device=pos.device))).any():
            raise ValueError(
                f"clamp positions must lie in the {h}x{w} grid of {hook.name!r}, got "
                f"{pos.unique(dim=0).tolist()[:4]}"
            )
        pos = pos.expand(n, 2)
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


@dataclass(frozen=True)
class ModifiedCount:
    """How many activation values an intervention changed, per observation.

    ``changed``: values the hooks changed, summed over the observations; ``at_hooks``: the
    values of the hooked activations; ``network``: every value the network computes
    (:func:`network_size`), each times the number of observations.
    """

    changed: int
    at_hooks: int
    network: int

    @property
    def fraction(self) -> float:
        """changed / every activation value of the forward passes."""
        return self.changed / self.network

    @property
    def fraction_of_hooked(self) -> float:
        """changed / the values of the hooked activations."""
        return self.changed / self.at_hooks if self.at_hooks else 0.0


def _computed_by_a_layer(name: str) -> bool:
    # ``*_in`` hooks and ``flatten_out`` see a value another hook already counted (the
    # previous layer's output, a reshape); ``input`` is the observation, not an activation.
    return name != "input" and not name.endswith("_in") and not name.endswith("flatten_out")


def network_size(model: HookedImpala) -> int:
    """Activation values of one forward pass: the outputs of every conv, pool, ReLU,
    residual add and linear layer (the ``*_in`` hooks, ``flatten_out`` and ``input`` repeat
    values counted elsewhere). s=1: 401,936; s=4: 1,606,160."""
    shapes = model.hook_shapes(1)
    return sum(math.prod(shape[1:]) for name, shape in shapes.items() if _computed_by_a_layer(name))


def count_modified(
    model: HookedImpala, obs: torch.Tensor, fwd_hooks: Sequence[HookSpec]
) -> ModifiedCount:
    """Run ``obs`` with ``fwd_hooks`` and count the activation values they change (a hook
    that sets a value to what it already was changes nothing)."""
    counts = {"changed": 0, "at_hooks": 0}

    def counting(fn):
        def wrapped(activation: torch.Tensor, hook: HookPoint):
            before = activation.detach().clone()
            result = fn(activation, hook)
            after = activation if result is None else result
            counts["changed"] += int((after != before).sum())
            counts["at_hooks"] += before.numel()
            return result

        return wrapped

    with torch.no_grad():
        model.run_with_hooks(obs, fwd_hooks=[(name, counting(fn)) for name, fn in fwd_hooks])
    return ModifiedCount(counts["changed"], counts["at_hooks"], network_size(model) * len(obs))


def relu_names(model: HookedImpala) -> list[str]:
    """Every ReLU, named by its hook prefix (``embedder.block1.res1.relu1``), forward order."""
    return [
        name[: -len("_in")]
        for name in model.hook_dict
        if name.endswith("_in") and name.rsplit(".", 1)[-1].startswith("relu")
    ]


@dataclass(frozen=True)
class RemoveRelus:
    """The named ReLUs become the identity: the input is stashed at ``<relu>_in`` and
    returned at ``<relu>_out``."""

    relus: tuple[str, ...]

    def hooks(self) -> list[HookSpec]:
        specs: list[HookSpec] = []
        for relu in self.relus:
            stash = _Stash()
            specs += [(f"{relu}_in", stash.keep), (f"{relu}_out", stash.restore)]
        return specs


class _Stash:
    """One ReLU's removal: ``keep`` its input, ``restore`` it as the output. Elementwise, so
    the same on windows (the incremental forward switches to full activations at a ReLU's
    input, never between the two)."""

    def __init__(self) -> None:
        self.pre: torch.Tensor | None = None
        self.keep, self.restore = _StashHook(self, keep=True), _StashHook(self, keep=False)


@dataclass(frozen=True, eq=False)
class _StashHook:
    stash: _Stash
    keep: bool
    positionwise = True

    def __call__(self, activation: torch.Tensor, hook: HookPoint) -> torch.Tensor | None:
        if self.keep:
            self.stash.pre = activation
            return None
        pre, self.stash.pre = self.stash.pre, None
        return pre

    def window(self, activation, rows, cols, hook: HookPoint) -> torch.Tensor | None:
        return self(activation, hook)


def remove_relus(model: HookedImpala, relus: Sequence[str] | None = None) -> RemoveRelus:
    """Remove ``relus`` (default: every ReLU of ``model``); unknown names are an error."""
    known = relu_names(model)
    chosen = known if relus is None else list(relus)
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise ValueError(f"unknown ReLUs {unknown}; ReLUs are: {known}")
    return RemoveRelus(tuple(chosen))
