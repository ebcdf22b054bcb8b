"""How many activation values an intervention changes (``count_modified``), of every value
the network computes (``network_size``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from hooked_impala.hooks import HookPoint, HookSpec
from hooked_impala.model import HookedImpala


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
