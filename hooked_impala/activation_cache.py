"""``ActivationCache``: what ``run_with_cache`` returns, and the hook-name error it shares.

``HookNameError`` and ``closest_hint`` live here (and are re-exported by
``hooked_impala.hooks``) so that the cache needs nothing from the hook core: ``hooks`` imports
this module, never the reverse.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence

import torch


class HookNameError(KeyError):
    """An unknown hook name; the message lists the closest valid names."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def closest_hint(name: str, names: Sequence[str]) -> str:
    """`` Closest: [...].`` for a likely typo of one of ``names``, else empty."""
    close = difflib.get_close_matches(name, list(names), n=5, cutoff=0.5)
    return f" Closest: {close}." if close else ""


class ActivationCache(Mapping[str, torch.Tensor]):
    """Activations (and ``<name>_grad`` gradients) by hook name, read-only.

    ``cache[name]`` raises a ``HookNameError`` listing close names for a typo. ``aliases``
    maps alternative names (e.g. the paper's layer names) onto hook names.
    """

    def __init__(
        self,
        cache: dict[str, torch.Tensor],
        aliases: Mapping[str, str] | None = None,
        has_batch_dim: bool = True,
    ) -> None:
        self._cache = dict(cache)
        self._aliases = dict(aliases or {})
        self.has_batch_dim = has_batch_dim

    def __getitem__(self, name: str) -> torch.Tensor:
        key = self._aliases.get(name, name)
        if key not in self._cache:
            raise HookNameError(
                f"{name!r} is not in this cache ({len(self._cache)} entries)."
                f"{closest_hint(name, list(self._cache))} Was it excluded by names_filter?"
            )
        return self._cache[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._aliases.get(name, name) in self._cache

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    def __repr__(self) -> str:
        return f"ActivationCache({len(self)} tensors: {list(self._cache)})"

    def to(self, device: str | torch.device) -> ActivationCache:
        moved = {k: v.to(device) for k, v in self._cache.items()}
        return ActivationCache(moved, self._aliases, self.has_batch_dim)

    def cpu(self) -> ActivationCache:
        return self.to("cpu")

    def remove_batch_dim(self) -> ActivationCache:
        """Drop a batch dimension of size 1 from every tensor."""
        if not self.has_batch_dim:
            return self
        for name, value in self._cache.items():
            if value.shape[0] != 1:
                raise ValueError(
                    f"remove_batch_dim needs batch size 1, but {name!r} has shape "
                    f"{tuple(value.shape)}"
                )
        squeezed = {k: v[0] for k, v in self._cache.items()}
        return ActivationCache(squeezed, self._aliases, has_batch_dim=False)
