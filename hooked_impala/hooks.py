"""The hook core, with TransformerLens's calling conventions but not its code:

>>> logits, cache = model.run_with_cache(obs, names_filter=lambda n: n.endswith("resadd_out"))
>>> with model.hooks(fwd_hooks=[(name, fn)], bwd_hooks=[(name, grad_fn)]):
...     out = model(obs)

A hook is ``fn(activation, hook) -> Tensor | None``; a returned tensor replaces the activation
(or gradient). Each hook, however added, is one ``LensHandle`` in its point's ``fwd_hooks`` or
``bwd_hooks``: the only record, so ``reset_hooks()`` misses none. Any ``nn.Module`` with
``HookPoint``s gets the API by calling ``setup()``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import torch
from torch import nn

from hooked_impala.activation_cache import ActivationCache, HookNameError, closest_hint

HookFn = Callable[..., torch.Tensor | None]
HookTarget = str | Callable[[str], bool]
HookSpec = tuple[HookTarget, HookFn]
NamesFilter = str | Sequence[str] | Callable[[str], bool] | None
Direction = Literal["fwd", "bwd"]
_Attachment = tuple[HookTarget, HookFn, Direction]
# What a hook's replacement must keep, compared every forward (no strings: _said is for errors)
_kind = lambda t: (tuple(t.shape), t.dtype, t.device) if isinstance(t, torch.Tensor) else type(t)
_said = lambda k: f"{k[0]} {k[1]} on {k[2]}" if isinstance(k, tuple) else k.__name__


@dataclass(frozen=True, eq=False)  # identity equality: one fn added twice is two handles
class LensHandle:
    """One attached hook; ``reset_hooks()`` removes it unless ``is_permanent``."""

    point: HookPoint
    fn: HookFn
    direction: Direction
    is_permanent: bool = False

    def remove(self) -> None:
        """Detach this hook (a no-op if it is already gone, e.g. after ``reset_hooks()``)."""
        with contextlib.suppress(ValueError):
            self.point._hooks(self.direction).remove(self)


class HookPoint(nn.Module):
    """An identity module whose hooks read and may replace the activation (forward) or its
    gradient (backward), looked up as the tensor passes: a removed hook never fires again."""

    def __init__(self) -> None:
        super().__init__()
        self.name: str | None = None
        self.fwd_hooks: list[LensHandle] = []
        self.bwd_hooks: list[LensHandle] = []

    def _hooks(self, dir: Direction) -> list[LensHandle]:
        if dir not in ("fwd", "bwd"):
            raise ValueError(f"hook direction must be 'fwd' or 'bwd', got {dir!r}")
        return self.fwd_hooks if dir == "fwd" else self.bwd_hooks

    def add_hook(
        self, fn: HookFn, dir: Direction = "fwd", is_permanent: bool = False
    ) -> LensHandle:
        if not callable(fn):
            raise TypeError(f"hook for {self.name!r} must be callable, got {type(fn).__name__}")
        handle = LensHandle(self, fn, dir, is_permanent)
        self._hooks(dir).append(handle)
        return handle

    def remove_hooks(
        self, dir: Direction | Literal["both"] = "fwd", including_permanent: bool = False
    ) -> None:
        for direction in ("fwd", "bwd") if dir == "both" else (dir,):
            hooks = self._hooks(direction)
            hooks[:] = [h for h in hooks if h.is_permanent and not including_permanent]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for handle in list(self.fwd_hooks):  # a copy: a hook may add or remove hooks
            out = handle.fn(x, hook=self)
            if out is not None:
                if _kind(out) != _kind(x):  # else it fails layers later, naming no hook
                    raise ValueError(
                        f"forward hook {getattr(handle.fn, '__name__', handle.fn)!r} on "
                        f"{self.name!r} returned {_said(_kind(out))}; it must return None or a "
                        f"tensor like its input: {_said(_kind(x))}"
                    )
                x = out
        if self.bwd_hooks and x.requires_grad:
            x = x.view_as(x)  # a new identity node, so the tensor hook is this point's alone
            x.register_hook(self._run_bwd_hooks)
        return x

    def _run_bwd_hooks(self, grad: torch.Tensor) -> torch.Tensor:
        for handle in list(self.bwd_hooks):
            out = handle.fn(grad, hook=self)
            grad = grad if out is None else out
        return grad

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class HookedRootModule(nn.Module):
    """Base for a model with ``HookPoint``s: build the modules, then call ``setup()``. Hook names
    are module paths; ``hook_aliases`` maps extra names onto them wherever names are accepted."""

    hook_aliases: Mapping[str, str] = {}

    def setup(self) -> None:
        self.hook_dict: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    def resolve_hook_name(self, name: str) -> str:
        """The hook name for ``name`` (a hook name or an alias); an error names the typo."""
        name = self.hook_aliases.get(name, name)
        if name not in self.hook_dict:
            raise HookNameError(
                f"unknown hook name {name!r}.{closest_hint(name, list(self.hook_dict))} See "
                f"model.hook_dict for all {len(self.hook_dict)} names."
            )
        return name

    def _points(self, target: HookTarget) -> list[HookPoint]:
        if isinstance(target, str):
            return [self.hook_dict[self.resolve_hook_name(target)]]
        if callable(target):
            return [p for n, p in self.hook_dict.items() if target(n)]
        kind = type(target).__name__
        raise TypeError(f"a hook target is a hook name or a filter (name -> bool), not {kind}")

    def _attach(self, specs: Iterable[_Attachment], is_permanent: bool = False) -> list[LensHandle]:
        """The one path by which hooks get on: all of ``specs``, or none if any fails."""
        handles: list[LensHandle] = []
        try:
            for target, fn, direction in specs:
                for point in self._points(target):
                    handles.append(point.add_hook(fn, direction, is_permanent))
        except BaseException:
            for handle in handles:
                handle.remove()
            raise
        return handles

    def add_hook(
        self, name: HookTarget, hook: HookFn, dir: Direction = "fwd", is_permanent: bool = False
    ) -> None:
        """Attach ``hook`` to the named point, or to every point the filter accepts."""
        self._attach([(name, hook, dir)], is_permanent)

    def reset_hooks(self, including_permanent: bool = False) -> None:
        """Remove every non-permanent hook, however added (all if ``including_permanent``)."""
        for point in self.hook_dict.values():
            point.remove_hooks("both", including_permanent)

    @contextlib.contextmanager
    def hooks(
        self,
        fwd_hooks: Sequence[HookSpec] = (),
        bwd_hooks: Sequence[HookSpec] = (),
        reset_hooks_end: bool = True,
    ) -> Iterator[HookedRootModule]:
        """Hooks for a ``with`` block, removed on any exit unless ``reset_hooks_end=False``."""
        specs = [(p, d) for d, given in (("fwd", fwd_hooks), ("bwd", bwd_hooks)) for p in given]
        if bad := [d for p, d in specs if not (isinstance(p, tuple | list) and len(p) == 2)]:
            given = fwd_hooks if bad[0] == "fwd" else bwd_hooks  # a bare ("name", fn) pair, say
            msg = f"{bad[0]}_hooks must be a list of (name, fn) pairs, also for one: [(name, fn)]"
            raise TypeError(f"{msg}; got {given!r:.80}")
        handles = self._attach([(target, fn, d) for (target, fn), d in specs])
        try:
            yield self
        finally:
            for handle in handles if reset_hooks_end else ():
                handle.remove()

    def run_with_hooks(
        self,
        *model_args: Any,
        fwd_hooks: Sequence[HookSpec] = (),
        bwd_hooks: Sequence[HookSpec] = (),
        reset_hooks_end: bool = True,
        **model_kwargs: Any,
    ) -> Any:
        """Run the model with hooks, removed afterwards even if anything raises. ``bwd_hooks``
        need ``reset_hooks_end=False`` (then ``reset_hooks()``), or use ``hooks()``."""
        if bwd_hooks and reset_hooks_end:
            raise ValueError(
                "bwd_hooks would be removed before any backward pass: use `with model.hooks("
                "bwd_hooks=...)` around forward and backward, or reset_hooks_end=False"
            )
        with self.hooks(fwd_hooks, bwd_hooks, reset_hooks_end):
            return self(*model_args, **model_kwargs)

    def get_caching_hooks(
        self,
        names_filter: NamesFilter = None,
        incl_bwd: bool = False,
        device: str | torch.device | None = None,
        cache: dict[str, torch.Tensor] | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[HookSpec], list[HookSpec]]:
        """Hooks storing detached activations (gradients as ``<name>_grad``) into ``cache``."""
        cache = {} if cache is None else cache
        keep = (lambda name: True) if names_filter is None else names_filter
        if not callable(keep):  # a name or a list of names (aliases allowed; typos are named)
            wanted = [*keep] if isinstance(keep, Iterable) and not isinstance(keep, str) else [keep]
            if not all(isinstance(n, str) for n in wanted):  # e.g. 5: "not iterable", unnamed
                forms = "None, a hook name, a list of hook names or a function name -> bool"
                raise TypeError(f"names_filter must be {forms}; got {names_filter!r:.80}")
            keep = {self.resolve_hook_name(n) for n in wanted}.__contains__
        names = [n for n in self.hook_dict if keep(n)]

        def save(tensor: torch.Tensor, hook: HookPoint, suffix: str = "") -> None:
            cache[hook.name + suffix] = tensor.detach().to(device or tensor.device)

        fwd: list[HookSpec] = [(n, save) for n in names]
        bwd = [(n, partial(save, suffix="_grad")) for n in names] if incl_bwd else []
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
        """Run the model and return ``(output, cache)``. ``names_filter``: None (every hook), a
        name, a list of names, or ``name -> bool``. ``incl_bwd``: also backpropagate
        ``backward_of(output)`` (or a scalar output) and cache gradients as ``<name>_grad``."""
        cache_dict, fwd, bwd = self.get_caching_hooks(names_filter, incl_bwd, device)
        with self.hooks(fwd, bwd, reset_hooks_end=reset_hooks_end):
            out = self(*model_args, **model_kwargs)
            if incl_bwd:
                target = backward_of(out) if backward_of is not None else out
                if not isinstance(target, torch.Tensor) or target.numel() != 1:
                    fix = "pass backward_of=lambda out: <scalar>, e.g. lambda out: out.value.sum()"
                    raise ValueError(f"incl_bwd=True needs a scalar to differentiate: {fix}")
                target.backward()
        cache = ActivationCache(cache_dict, self.hook_aliases)
        return out, cache.remove_batch_dim() if remove_batch_dim else cache
