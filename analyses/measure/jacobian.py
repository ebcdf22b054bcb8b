"""Per-observation Jacobians of the policy's outputs (or of a later activation) with respect
to a hook's activation, and the effective rank of a spectrum: shared by the Jacobian SVD and
the weight SVD analyses."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from jaxtyping import Float
from torch.func import jacrev, vmap
from tqdm.auto import tqdm

from hooked_impala.interventions import replace_activation
from hooked_impala.model import HookedImpala, PolicyOutput

Output = Literal["movement_log_probs", "logits", "value"]
OUTPUTS: tuple[str, ...] = get_args(Output)


def _select_output(out: PolicyOutput, output: Output) -> torch.Tensor:
    if output == "movement_log_probs":
        return out.movement_log_probs
    if output == "logits":
        return out.logits
    return out.value[..., None]


def effective_rank(singular_values: torch.Tensor) -> torch.Tensor:
    """exp(entropy of σ / Σσ) (Roy & Vetterli): 1 for a rank-one map, k for k equal σ."""
    p = singular_values / singular_values.sum(-1, keepdim=True).clamp_min(1e-30)
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum(-1)
    return entropy.exp()


def jacobians(
    model: HookedImpala,
    obs: torch.Tensor,
    wrt: str,
    output: Output = "movement_log_probs",
    of_hook: str | None = None,
    at: torch.Tensor | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> Float[torch.Tensor, "n out in"]:
    """Per-observation Jacobians ``(N, out_dim, in_dim)`` of ``output`` (or of the activation
    at ``of_hook``) with respect to the activation at hook ``wrt``.

    ``in_dim`` is the flattened activation (C·H·W); ``out_dim`` is 5, 15 or 1 for the
    outputs, or the flattened ``of_hook`` activation. ``at``: the activations ``(N, ...)``
    to differentiate at (default: the ones the observations produce).
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    wrt = model.resolve_hook_name(wrt)
    if of_hook is not None:
        of_hook = model.resolve_hook_name(of_hook)
        names = list(model.hook_dict)
        if names.index(of_hook) <= names.index(wrt):
            raise ValueError(f"of_hook {of_hook!r} must come after wrt {wrt!r} in the forward pass")
    if at is None:
        with torch.no_grad():
            _, cache = model.run_with_cache(obs, names_filter=[wrt])
        at = cache[wrt]
    base = at.detach()
    shape = base.shape[1:]

    def f(act_flat: torch.Tensor, single_obs: torch.Tensor) -> torch.Tensor:
        act = act_flat.reshape(1, *shape)
        swap = replace_activation(wrt, act).hooks()
        if of_hook is None:
            return _select_output(model.run_with_hooks(single_obs[None], fwd_hooks=swap), output)[0]
        captured = {}

        def grab(a, hook):
            captured["a"] = a

        with model.hooks(fwd_hooks=[*swap, (of_hook, grab)]):
            model(single_obs[None])
        return captured["a"].reshape(-1)

    per_obs = vmap(jacrev(f), in_dims=(0, 0))
    chunks = []
    flat = base.reshape(base.shape[0], -1)
    for start in tqdm(range(0, len(obs), batch_size), desc="jacobians", disable=not progress):
        chunks.append(
            per_obs(flat[start : start + batch_size], obs[start : start + batch_size]).detach()
        )
    return torch.cat(chunks)
