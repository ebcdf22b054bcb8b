"""Exact activation patching: one generic function, :func:`patch`, and thin grids over it.

For every (pair, component), the *base* run gets the *source* run's activation on the
component's slice of its hook, and the metric is read:

* ``"denoising"``: base = corrupted, source = clean (is this component *sufficient* to
  restore the clean behaviour?);
* ``"noising"``: base = clean, source = corrupted (is it *necessary*?).

Either way the effect is a fraction of the clean - corrupted metric gap (1: all of it):
denoising ``(patched - corrupted) / gap``, noising ``(clean - patched) / gap``, with ``gap``
the mean over pairs (a ratio of means: a pair with a tiny gap cannot blow it up).

Batching: the P x K patched variants of one hook are flattened and run ``batch_size`` at a
time. Each row runs only the layers after the hook (:mod:`.suffix`), when the model is a
plain ``HookedImpala`` with no hooks attached; otherwise (or ``from_hook=False``) a full
forward of its pair's base observation with the hook replaced, so attached hooks act as in
any run (``benchmarks/bench_patching.py`` measures both against a bare forward).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import torch
from tqdm.auto import tqdm

from hooked_impala.model import HookedImpala
from hooked_impala.patching.components import Component, Granularity, grid, masks
from hooked_impala.patching.pairs import PairBatch
from hooked_impala.patching.suffix import forward_from, supports, upstream_needed
from hooked_impala.stats import Estimate, bootstrap_over_mazes

Direction = Literal["denoising", "noising"]
#: Tolerance below which clean and corrupted runs count as the same (nothing to restore).
MIN_GAP = 1e-6


@dataclass(frozen=True, eq=False)
class PatchingResult:
    """Metric values of patched runs.

    ``values``: ``(P, K)`` the metric with component k patched in pair p (for attribution
    patching, its first-order estimate); ``clean``, ``corrupted``: ``(P,)`` the unpatched
    metrics; ``mazes``: ``(P,)`` maze ids; ``method``: "exact", "atp" or "atp_ig<steps>".
    """

    components: tuple[Component, ...]
    values: torch.Tensor
    clean: torch.Tensor
    corrupted: torch.Tensor
    mazes: tuple[int, ...]
    direction: Direction
    method: str = "exact"
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def hooks(self) -> list[str]:
        """The hooks of the components, in order of first appearance."""
        return list(dict.fromkeys(c.hook for c in self.components))

    @property
    def gap(self) -> float:
        """Mean clean - corrupted metric over pairs."""
        return float((self.clean - self.corrupted).mean())

    def per_pair(self) -> torch.Tensor:
        """``(P, K)``: each pair's share of the restored (denoising) or destroyed (noising)
        fraction; their mean over pairs is :meth:`fraction`."""
        if self.direction == "denoising":
            moved = self.values - self.corrupted[:, None]
        else:
            moved = self.clean[:, None] - self.values
        return moved / self.gap

    def fraction(self) -> torch.Tensor:
        """``(K,)``: the fraction of the mean gap each component restores (or destroys)."""
        return self.per_pair().mean(0)

    def select(self, hook: str) -> PatchingResult:
        """The components of one hook."""
        keep = [k for k, c in enumerate(self.components) if c.hook == hook]
        if not keep:
            raise KeyError(f"no component at {hook!r}; the hooks are {self.hooks}")
        return PatchingResult(
            tuple(self.components[k] for k in keep),
            self.values[:, keep],
            self.clean,
            self.corrupted,
            self.mazes,
            self.direction,
            self.method,
        )

    def estimate(self, k: int) -> Estimate | None:
        """Component k's fraction with a 95% interval from a bootstrap over mazes (the
        ratio of means recomputed in each resample; None below two mazes)."""
        moved = self.per_pair()[:, k].numpy() * self.gap
        rows = np.stack([moved, (self.clean - self.corrupted).numpy()], axis=1)
        return ratio_estimate(rows, self.mazes)


def ratio_estimate(rows: np.ndarray, mazes: Sequence[int]) -> Estimate | None:
    """``sum(rows[:, 0]) / sum(rows[:, 1])`` with a 95% interval from a bootstrap over
    mazes; None below two mazes, or when some resample's gaps sum to zero (with few mazes
    whose gaps differ in sign): no interval can be made then."""
    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # caught below as non-finite
            return bootstrap_over_mazes(
                rows, np.asarray(mazes), lambda r: float(r[:, 0].sum() / r[:, 1].sum())
            )
    except (ValueError, ZeroDivisionError):  # a non-finite ratio in some resample
        return None


def check_gap(clean: torch.Tensor, corrupted: torch.Tensor) -> None:
    """ValueError when the metric is not finite or clean and corrupted runs agree on average."""
    for name, values in (("clean", clean), ("corrupted", corrupted)):
        if not torch.isfinite(values).all():
            raise ValueError(f"the metric is NaN or infinite on {name} runs")
    gap = float((clean - corrupted).mean())
    if abs(gap) < MIN_GAP:
        raise ValueError(
            f"the mean clean - corrupted metric gap is {gap:.3g}: the corruption changes "
            "nothing the metric reads, so there is no gap to restore"
        )


def check_direction(direction: str) -> None:
    if direction not in get_args(Direction):
        raise ValueError(f"direction must be one of {get_args(Direction)}, got {direction!r}")


def run_both(
    model: HookedImpala, pairs: PairBatch, hooks: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, dict, dict]:
    """Clean and corrupted metrics ``(P,)`` and their activations at ``hooks`` (no grad)."""
    rows = torch.arange(len(pairs))
    device = model.device
    with torch.no_grad():
        out_c, cache_c = model.run_with_cache(pairs.clean.to(device), names_filter=list(hooks))
        out_x, cache_x = model.run_with_cache(pairs.corrupted.to(device), names_filter=list(hooks))
        clean, corrupted = pairs.metric(out_c, rows), pairs.metric(out_x, rows)
    check_gap(clean, corrupted)
    return clean.cpu(), corrupted.cpu(), dict(cache_c.items()), dict(cache_x.items())


def checked_components(
    model: HookedImpala, components: Sequence[Component]
) -> tuple[list[Component], dict[str, tuple[int, ...]]]:
    """Components with resolved hook names, checked against the hooks' shapes."""
    if not components:
        raise ValueError("no components to patch (an empty list)")
    shapes = model.hook_shapes()
    resolved = []
    for comp in components:
        name = model.resolve_hook_name(comp.hook)  # HookNameError naming the closest hook
        comp = Component(name, comp.channel, comp.rows, comp.cols)
        comp.check(shapes[name][1:])
        resolved.append(comp)
    return resolved, {name: shapes[name][1:] for name in {c.hook for c in resolved}}


def patch(
    model: HookedImpala,
    pairs: PairBatch,
    components: Sequence[Component],
    *,
    direction: Direction = "denoising",
    batch_size: int = 256,
    from_hook: bool = True,
    progress: bool = False,
) -> PatchingResult:
    """Exact activation patching of every component in every pair (module docstring).

    Args:
        model: the network (its attached hooks act in every run).
        pairs: ``P`` clean/corrupted pairs with their metric.
        components: ``K`` slices of any hooks (:func:`grid` builds the usual ones).
        direction: "denoising" (clean into corrupted) or "noising" (corrupted into clean).
        batch_size: patched variants per forward.
        from_hook: run only the layers after each hook where possible (module docstring);
            False: full forwards (the results agree to float rounding).

    Returns:
        :class:`PatchingResult` with ``values`` ``(P, K)``.
    """
    check_direction(direction)
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    components, shapes = checked_components(model, components)
    hooked = any(p.fwd_hooks or p.bwd_hooks for p in model.hook_dict.values())
    suffix = {h: from_hook and not hooked and supports(model, h) for h in shapes}
    needed = {n for h in shapes if suffix[h] for n in upstream_needed(model, h)}
    clean, corrupted, cache_c, cache_x = run_both(model, pairs, [*shapes, *needed])
    denoise = direction == "denoising"
    base_obs = (pairs.corrupted if denoise else pairs.clean).to(model.device)
    values = torch.empty(len(pairs), len(components))
    by_hook: dict[str, list[int]] = {}
    for k, comp in enumerate(components):
        by_hook.setdefault(comp.hook, []).append(k)
    for hook, ks in tqdm(by_hook.items(), desc="exact patching", disable=not progress):
        base, source = (cache_x, cache_c) if denoise else (cache_c, cache_x)
        comps = [components[k] for k in ks]
        flat = torch.arange(len(pairs) * len(ks))
        with torch.no_grad():
            for chunk in flat.split(batch_size):
                pair, k = chunk // len(ks), chunk % len(ks)
                mask = masks([comps[i] for i in k.tolist()], shapes[hook], model.device)
                patched = torch.where(mask, source[hook][pair], base[hook][pair])
                if suffix[hook]:
                    out = forward_from(model, hook, patched, lambda n, p=pair, b=base: b[n][p])
                else:
                    out = model.run_with_hooks(
                        base_obs[pair], fwd_hooks=[(hook, lambda act, hook, p=patched: p)]
                    )
                metric = pairs.metric(out, pair).cpu()
                values[pair, torch.as_tensor(ks)[k]] = metric
    if not torch.isfinite(values).all():
        raise ValueError("the metric of some patched runs is NaN or infinite")
    return PatchingResult(tuple(components), values, clean, corrupted, pairs.mazes, direction)


def patch_grid(
    model: HookedImpala,
    pairs: PairBatch,
    hooks: Sequence[str],
    granularity: Granularity | str,
    *,
    block: int = 1,
    **kwargs,
) -> PatchingResult:
    """:func:`patch` over the ``granularity`` grid of every hook in ``hooks``."""
    if not hooks:
        raise ValueError("no hooks to patch (an empty list)")
    shapes = model.hook_shapes()
    components = []
    for hook in hooks:
        name = model.resolve_hook_name(hook)
        components += grid(name, shapes[name][1:], granularity, block)
    return patch(model, pairs, components, **kwargs)


def patch_channels(model, pairs, hooks, **kwargs) -> PatchingResult:
    """Every channel of every hook in ``hooks``."""
    return patch_grid(model, pairs, hooks, Granularity.CHANNEL, **kwargs)


def patch_positions(model, pairs, hooks, *, block: int = 1, **kwargs) -> PatchingResult:
    """Every ``block x block`` square of positions (all channels at once) of ``hooks``."""
    return patch_grid(model, pairs, hooks, Granularity.POSITION, block=block, **kwargs)


def patch_channel_positions(model, pairs, hooks, *, block: int = 4, **kwargs) -> PatchingResult:
    """Every (channel, ``block x block`` square) of ``hooks``."""
    return patch_grid(model, pairs, hooks, Granularity.CHANNEL_POSITION, block=block, **kwargs)


def default_hooks(model: HookedImpala) -> list[str]:
    """Every residual add and every convolution output, forward order."""
    return [
        n
        for n in model.hook_dict
        if n.endswith(("resadd_out", "conv_out", "conv1_out", "conv2_out"))
    ]
