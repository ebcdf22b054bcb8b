"""ReLUs removed by hooks: each named ReLU's input is stashed at ``<relu>_in`` and returned at
``<relu>_out``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from hooked_impala.hooks import HookPoint, HookSpec
from hooked_impala.model import HookedImpala


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
