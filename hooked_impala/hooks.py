"""The hook core: ``HookPoint``, ``HookedRootModule`` and ``ActivationCache``.

TransformerLens calling conventions, without depending on ``transformer_lens``:

>>> logits, cache = model.run_with_cache(obs, names_filter=lambda n: n.endswith("resadd_out"))
>>> model.run_with_hooks(obs, fwd_hooks=[("embedder.block2.res1.resadd_out", fn)])
>>> with model.hooks(fwd_hooks=[(name, fn)], bwd_hooks=[(name, grad_fn)]):
...     out = model(obs)

A hook function is ``fn(activation, hook) -> Tensor | None``: a returned tensor replaces
the activation (forward) or the gradient (backward); ``hook.name`` is the hook's name.

This module knows no architecture: any ``nn.Module`` tree that contains ``HookPoint``
modules and calls ``setup()`` after building them gets the whole API.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import torch
from torch import nn

HookFn = Callable[..., Union[torch.Tensor, None]]
NamesFilter = Union[None, str, Sequence[str], Callable[[str], bool]]
HookSpec = tuple[Union[str, Callable[[str], bool]], HookFn]
Direction = Literal["fwd", "bwd"]


class HookNameError(KeyError):
    """An unknown hook name; the message lists the closest valid names."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def _closest(name: str, names: Sequence[str]) -> str:
    """`` Closest: [...].`` for a likely typo of one of ``names``, else empty."""
    close = difflib.get_close_matches(name, list(names), n=5, cutoff=0.5)
    return f" Closest: {close}." if close else ""


@dataclass(frozen=True)
class _Handle:
    point: "HookPoint"
    fn: HookFn
    direction: Direction


class HookPoint(nn.Module):
    """An identity module that hook functions can read and overwrite.

    Forward hooks see the activation and may return a replacement. Backward hooks see the
    gradient of the activation and may return a replacement. Hooks are looked up when the
    activation (or its gradient) passes, so a removed hook never fires again, even for a
    graph built while it was attached.
    """

    def __init__(self) -> None:
        super().__init__()
        self.name: str | None = None
        self.fwd_hooks: list[HookFn] = []
        self.bwd_hooks: list[HookFn] = []

    def add_hook(self, fn: HookFn, dir: Direction = "fwd") -> _Handle:  # noqa: A002 (TL's name)
        if dir not in ("fwd", "bwd"):
            raise ValueError(f"hook direction must be 'fwd' or 'bwd', got {dir!r}")
        if not callable(fn):
            raise TypeError(f"hook for {self.name!r} must be callable, got {type(fn).__name__}")
        (self.fwd_hooks if dir == "fwd" else self.bwd_hooks).append(fn)
        return _Handle(self, fn, dir)

    def remove_hooks(self, dir: Direction | Literal["both"] = "fwd") -> None:  # noqa: A002
        if dir in ("fwd", "both"):
            self.fwd_hooks.clear()
        if dir in ("bwd", "both"):
            self.bwd_hooks.clear()

    def _remove(self, handle: _Handle) -> None:
        hooks = self.fwd_hooks if handle.direction == "fwd" else self.bwd_hooks
        for i, fn in enumerate(hooks):
            if fn is handle.fn:
                del hooks[i]
                return

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in list(self.fwd_hooks):
            out = fn(x, hook=self)
            if out is not None:
                if not isinstance(out, torch.Tensor) or out.shape != x.shape:
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ValueError(
                        f"forward hook {getattr(fn, '__name__', fn)!r} on {self.name!r} returned "
                        f"{got}; it must return None or a tensor of shape {tuple(x.shape)}"
                    )
                x = out
        if self.bwd_hooks and x.requires_grad:
            # Identity so the tensor hook belongs to this point's output alone.
            x = x.view_as(x)
            x.register_hook(self._run_bwd_hooks)
        return x

    def _run_bwd_hooks(self, grad: torch.Tensor) -> torch.Tensor:
        for fn in list(self.bwd_hooks):
            out = fn(grad, hook=self)
            if out is not None:
                grad = out
        return grad

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class ActivationCache(Mapping[str, torch.Tensor]):
    """Activations (and ``<name>_grad`` gradients) by hook name, read-only.

    ``cache[name]`` raises a ``HookNameError`` listing close names for a typo. ``aliases``
    maps alternative names (e.g. the paper's layer names) onto hook names.
    """

    def __init__(
        self,
        cache: dict[str, torch.Tensor],
        model: nn.Module | None = None,
        aliases: Mapping[str, str] | None = None,
        has_batch_dim: bool = True,
    ) -> None:
        self._cache = dict(cache)
        self.model = model
        self._aliases = dict(aliases or {})
        self.has_batch_dim = has_batch_dim

    def __getitem__(self, name: str) -> torch.Tensor:
        key = self._aliases.get(name, name)
        if key not in self._cache:
            raise HookNameError(
                f"{name!r} is not in this cache ({len(self._cache)} entries)."
                f"{_closest(name, list(self._cache))} Was it excluded by names_filter?"
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

    def to(self, device: str | torch.device) -> "ActivationCache":
        moved = {k: v.to(device) for k, v in self._cache.items()}
        return ActivationCache(moved, self.model, self._aliases, self.has_batch_dim)

    def cpu(self) -> "ActivationCache":
        return self.to("cpu")

    def remove_batch_dim(self) -> "ActivationCache":
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
        return ActivationCache(squeezed, self.model, self._aliases, has_batch_dim=False)


class HookedRootModule(nn.Module):
    """Base class for a model whose intermediates are ``HookPoint`` modules.

    Subclasses build their modules, then call ``self.setup()``. Hook names are the module
    paths of the hook points (``embedder.block2.res1.resadd_out``). ``hook_aliases`` (a class
    attribute) maps extra names onto hook names everywhere a name is accepted.
    """

    hook_aliases: Mapping[str, str] = {}

    def setup(self) -> None:
        self.mod_dict: dict[str, nn.Module] = {}
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if name:
                self.mod_dict[name] = module
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module
        self._handles: list[_Handle] = []

    # --- adding and removing hooks -------------------------------------------------

    def resolve_hook_name(self, name: str) -> str:
        """The hook name for ``name`` (a hook name or an alias); an error names the typo."""
        name = self.hook_aliases.get(name, name)
        if name not in self.hook_dict:
            raise HookNameError(
                f"unknown hook name {name!r}.{_closest(name, list(self.hook_dict))} See "
                f"model.hook_dict for all {len(self.hook_dict)} names."
            )
        return name

    def _points(self, name_or_filter: str | Callable[[str], bool]) -> list[HookPoint]:
        if isinstance(name_or_filter, str):
            return [self.hook_dict[self.resolve_hook_name(name_or_filter)]]
        if callable(name_or_filter):
            return [p for n, p in self.hook_dict.items() if name_or_filter(n)]
        raise TypeError(
            "a hook target must be a hook name or a filter function name -> bool, got "
            f"{type(name_or_filter).__name__}"
        )

    def add_hook(
        self,
        name: str | Callable[[str], bool],
        hook: HookFn,
        dir: Direction = "fwd",  # noqa: A002
        is_permanent: bool = False,
    ) -> None:
        """Attach ``hook`` to the named point (or every point the filter accepts).

        Non-permanent hooks are removed by ``reset_hooks()``; permanent ones only by
        ``reset_hooks(including_permanent=True)``.
        """
        for point in self._points(name):
            handle = point.add_hook(hook, dir=dir)
            if not is_permanent:
                self._handles.append(handle)

    def reset_hooks(self, including_permanent: bool = False) -> None:
        """Remove every hook added through this model (all hooks if ``including_permanent``)."""
        if including_permanent:
            for point in self.hook_dict.values():
                point.remove_hooks("both")
        else:
            for handle in self._handles:
                handle.point._remove(handle)
        self._handles.clear()

    @contextlib.contextmanager
    def hooks(
        self,
        fwd_hooks: Sequence[HookSpec] = (),
        bwd_hooks: Sequence[HookSpec] = (),
        reset_hooks_end: bool = True,
    ) -> Iterator["HookedRootModule"]:
        """Attach hooks for the duration of a ``with`` block, removing them on any exit."""
        added: list[_Handle] = []
        try:
            for specs, direction in ((fwd_hooks, "fwd"), (bwd_hooks, "bwd")):
                for target, fn in specs:
                    for point in self._points(target):
                        added.append(point.add_hook(fn, dir=direction))
            yield self
        finally:
            if reset_hooks_end:
                for handle in added:
                    handle.point._remove(handle)

    def run_with_hooks(
        self,
        *model_args: Any,
        fwd_hooks: Sequence[HookSpec] = (),
        bwd_hooks: Sequence[HookSpec] = (),
        reset_hooks_end: bool = True,
        **model_kwargs: Any,
    ) -> Any:
        """Run the model with temporary hooks; they are removed even if anything raises.

        Backward hooks only fire during a backward pass, so with ``bwd_hooks`` either pass
        ``reset_hooks_end=False`` (and call ``reset_hooks()`` yourself) or use ``hooks()``.
        """
        if bwd_hooks and reset_hooks_end:
            raise ValueError(
                "bwd_hooks would be removed before any backward pass: use "
                "`with model.hooks(bwd_hooks=...)` around forward and backward, or "
                "reset_hooks_end=False"
            )
        if reset_hooks_end:
            with self.hooks(fwd_hooks, bwd_hooks):
                return self(*model_args, **model_kwargs)
        for target, fn in fwd_hooks:
            self.add_hook(target, fn, "fwd")
        for target, fn in bwd_hooks:
            self.add_hook(target, fn, "bwd")
        return self(*model_args, **model_kwargs)

    # --- caching ---------------------------------------------------------------------

    def get_caching_hooks(
        self,
        names_filter: NamesFilter = None,
        incl_bwd: bool = False,
        device: str | torch.device | None = None,
        cache: dict[str, torch.Tensor] | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[HookSpec], list[HookSpec]]:
        """Hooks that store activations (and gradients, as ``<name>_grad``) into ``cache``.

        Activations are detached: the cache is a record, not part of the graph.
        """
        cache = {} if cache is None else cache
        if names_filter is None:
            names = list(self.hook_dict)
        elif callable(names_filter):
            names = [n for n in self.hook_dict if names_filter(n)]
        else:  # a name or a list of names (aliases allowed; typos are named)
            wanted = [names_filter] if isinstance(names_filter, str) else list(names_filter)
            resolved = {self.resolve_hook_name(n) for n in wanted}
            names = [n for n in self.hook_dict if n in resolved]

        def stored(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.detach().to(device) if device else tensor.detach()

        def save(tensor: torch.Tensor, hook: HookPoint) -> None:
            cache[hook.name] = stored(tensor)

        def save_grad(tensor: torch.Tensor, hook: HookPoint) -> None:
            cache[f"{hook.name}_grad"] = stored(tensor)

        fwd: list[HookSpec] = [(n, save) for n in names]
        bwd: list[HookSpec] = [(n, save_grad) for n in names] if incl_bwd else []
        return cache, fwd, bwd

    def run_with_cache(
        self,
        *model_args: Any,
        names_filter: NamesFilter = None,
        device: str | torch.device | None = None,
        remove_batch_dim: bool = False,
        incl_bwd: bool = False,
        backward_of: Callable[[Any], torch.Tensor] | None = None,
        reset_hooks_end: bool = True,
        **model_kwargs: Any,
    ) -> tuple[Any, ActivationCache]:
        """Run the model and return ``(output, cache)``.

        ``names_filter``: None (every hook), a name, a list of names, or ``name -> bool``.
        ``incl_bwd``: also run a backward pass and cache gradients as ``<name>_grad``; the
        scalar to differentiate is ``backward_of(output)`` (required unless the output is
        itself a scalar tensor, as in TransformerLens with ``return_type="loss"``).
        """
        cache_dict, fwd, bwd = self.get_caching_hooks(names_filter, incl_bwd, device)
        with self.hooks(fwd, bwd, reset_hooks_end=reset_hooks_end):
            out = self(*model_args, **model_kwargs)
            if incl_bwd:
                target = backward_of(out) if backward_of is not None else out
                if not isinstance(target, torch.Tensor) or target.numel() != 1:
                    raise ValueError(
                        "incl_bwd=True needs a scalar to differentiate: pass "
                        "backward_of=lambda out: <scalar tensor>, e.g. "
                        "lambda out: out.value.sum()"
                    )
                target.backward()
        cache = ActivationCache(cache_dict, self, self.hook_aliases)
        return out, cache.remove_batch_dim() if remove_batch_dim else cache
