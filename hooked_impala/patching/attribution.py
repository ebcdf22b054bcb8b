"""Attribution patching: the exact grid's first-order estimate, from gradients.

For component k of hook h in pair p (base and source runs as in :mod:`.exact`)::

    metric(patched) - metric(base)  ~  sum over k's slice of  grad_h(base) * (source - base)

``grad_h`` is the metric's gradient at h in the base run: one forward and one backward per
pair give every component of every hook (``steps=1``, Nanda's AtP). The first-order
estimate misses what a ReLU or a max-pool switches on or off between the two runs (a unit
dead in the base run has zero gradient however much the source would change it: AtP's known
false negatives). ``steps > 1`` integrates instead: the gradient averaged over ``steps``
midpoints on the straight line from base to source activation at h (the patched hook
replaced, everything downstream recomputed), one forward and backward per step per hook.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hooked_impala.model import HookedImpala, to_model_input
from hooked_impala.patching.components import Component, masks
from hooked_impala.patching.exact import (
    Direction,
    PatchingResult,
    check_direction,
    checked_components,
    run_both,
)
from hooked_impala.patching.pairs import PairBatch
from hooked_impala.stats import spearman

#: Components whose masks are built at once when summing contributions (bounds memory).
MASK_CHUNK = 512


def _gradients(
    model: HookedImpala,
    obs: torch.Tensor,
    rows: torch.Tensor,
    pairs: PairBatch,
    hooks: Sequence[str],
    replace: tuple[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """d sum(metric) / d activation at each of ``hooks`` in one forward and backward; with
    ``replace = (hook, value)`` the activation there is ``value`` (and the gradient is
    taken at it)."""
    # A float input that requires grad: every activation is then in the graph, whether or
    # not the model's parameters require grad.
    x = to_model_input(obs).to(model.fc_policy.weight.dtype).requires_grad_(True)
    seen: dict[str, torch.Tensor] = {}

    def keep(act, hook):
        if replace is not None and hook.name == replace[0]:
            act = replace[1]
        seen[hook.name] = act
        return act

    with torch.enable_grad():
        out = model.run_with_hooks(x, fwd_hooks=[(h, keep) for h in hooks])
        total = pairs.metric(out, rows).sum()
        grads = torch.autograd.grad(total, [seen[h] for h in hooks], allow_unused=True)
    return {h: torch.zeros_like(seen[h]) if g is None else g.detach() for h, g in zip(hooks, grads)}


def _contributions(
    products: torch.Tensor, comps: Sequence[Component], shape: tuple[int, ...]
) -> torch.Tensor:
    """``(P, K)``: the gradient x difference summed over each component's slice."""
    flat = products.flatten(1)
    out = []
    for start in range(0, len(comps), MASK_CHUNK):
        m = masks(comps[start : start + MASK_CHUNK], shape, products.device)
        out.append(flat @ m.flatten(1).to(flat.dtype).T)
    return torch.cat(out, dim=1)


def attribution_patch(
    model: HookedImpala,
    pairs: PairBatch,
    components: Sequence[Component],
    *,
    direction: Direction = "denoising",
    steps: int = 1,
    batch_size: int = 64,
) -> PatchingResult:
    """Estimate :func:`~hooked_impala.patching.exact.patch`'s grid (module docstring).

    Args:
        steps: 1: gradient at the base run (AtP); more: integrated over ``steps`` midpoints
            per hook.
        batch_size: pairs per forward and backward.

    Returns:
        :class:`PatchingResult` whose ``values`` are ``metric(base) + estimate`` (so its
        fractions read as the exact grid's), ``method`` "atp" or "atp_ig<steps>".
    """
    check_direction(direction)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    components, shapes = checked_components(model, components)
    hooks = list(dict.fromkeys(c.hook for c in components))
    clean, corrupted, cache_c, cache_x = run_both(model, pairs, hooks)
    denoise = direction == "denoising"
    base, source = (cache_x, cache_c) if denoise else (cache_c, cache_x)
    base_obs = (pairs.corrupted if denoise else pairs.clean).to(model.device)
    grads = {h: torch.zeros_like(base[h]) for h in hooks}
    for rows in torch.arange(len(pairs)).split(batch_size):
        if steps == 1:
            for h, g in _gradients(model, base_obs[rows], rows, pairs, hooks).items():
                grads[h][rows] = g
            continue
        for h in hooks:
            diff = source[h][rows] - base[h][rows]
            for j in range(steps):
                point = base[h][rows] + (j + 0.5) / steps * diff
                point = point.detach().requires_grad_(True)
                g = _gradients(model, base_obs[rows], rows, pairs, [h], replace=(h, point))[h]
                grads[h][rows] += g / steps
    values = torch.empty(len(pairs), len(components))
    base_metric = corrupted if denoise else clean
    for h in hooks:
        ks = [k for k, c in enumerate(components) if c.hook == h]
        products = grads[h] * (source[h] - base[h])
        estimate = _contributions(products, [components[k] for k in ks], shapes[h]).cpu()
        values[:, ks] = base_metric[:, None] + estimate
    if not torch.isfinite(values).all():
        raise ValueError("the attribution estimates hold NaN or infinite values")
    method = "atp" if steps == 1 else f"atp_ig{steps}"
    return PatchingResult(
        tuple(components), values, clean, corrupted, pairs.mazes, direction, method
    )


def agreement(exact: PatchingResult, estimate: PatchingResult, top: int = 20) -> dict:
    """Per hook: Spearman over components of the two fractions, and the recall of the exact
    top-``top`` components (by |fraction|) among the estimate's top-``top``."""
    if exact.components != estimate.components:
        raise ValueError("the two results patch different components")
    out = {}
    for hook in exact.hooks:
        a, b = exact.select(hook).fraction(), estimate.select(hook).fraction()
        n = min(top, len(a))
        best_a = set(a.abs().argsort(descending=True)[:n].tolist())
        best_b = set(b.abs().argsort(descending=True)[:n].tolist())
        out[hook] = {
            "spearman": spearman(a.numpy(), b.numpy()),
            f"top{top}_recall": len(best_a & best_b) / n,
            "components": len(a),
        }
    return out
