"""``HookedImpala``'s forward started at a hook: the layers after it only.

Patching replaces one hook's activation and reads the output; the layers before the hook
compute the same thing in every patched variant of a pair, so recomputing them is waste.
:func:`forward_from` runs the rest of the network from a given activation at ``hook``.
Every later ``HookPoint`` is called as in ``model(obs)`` (hooks attached to the model act);
the hooks *at* ``hook`` do not run (the given activation is what that hook put out).

A residual add needs its block's input: if that lies before ``hook`` it is read from
``upstream(name)`` (the base run's activation there, one row per variant; see
:func:`upstream_needed`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from hooked_impala.model import HookedImpala, PolicyOutput

_RES_PARTS = ("relu1_in", "relu1_out", "conv1_out", "relu2_in", "relu2_out", "conv2_out")


def _steps(model: HookedImpala) -> list[tuple[str, Callable, str | None]]:
    """``(hook name, fn(x, resid))`` for every hook after ``input``, forward order; ``resid``
    names the residual add's block input (None elsewhere)."""
    emb = model.embedder
    steps: list[tuple[str, Callable, str | None]] = []
    for b, block in enumerate((emb.block1, emb.block2, emb.block3), start=1):
        pre = f"embedder.block{b}"
        steps.append((f"{pre}.conv_out", lambda x, r, k=block: k.conv_out(k.conv(x)), None))
        steps.append(
            (
                f"{pre}.maxpool_out",
                lambda x, r, k=block: k.maxpool_out(F.max_pool2d(x, 3, 2, padding=1)),
                None,
            )
        )
        for name, res in (("res1", block.res1), ("res2", block.res2)):
            at = f"{pre}.{name}"
            resid = f"{pre}.maxpool_out" if name == "res1" else f"{pre}.res1.resadd_out"
            steps += [
                (f"{at}.relu1_in", lambda x, r, m=res: m.relu1_in(x), None),
                (f"{at}.relu1_out", lambda x, r, m=res: m.relu1_out(F.relu(x)), None),
                (f"{at}.conv1_out", lambda x, r, m=res: m.conv1_out(m.conv1(x)), None),
                (f"{at}.relu2_in", lambda x, r, m=res: m.relu2_in(x), None),
                (f"{at}.relu2_out", lambda x, r, m=res: m.relu2_out(F.relu(x)), None),
                (f"{at}.conv2_out", lambda x, r, m=res: m.conv2_out(m.conv2(x)), None),
                (f"{at}.resadd_out", lambda x, r, m=res: m.resadd_out(x + r), resid),
            ]
    steps += [
        ("embedder.relu3_in", lambda x, r: emb.relu3_in(x), None),
        ("embedder.relu3_out", lambda x, r: emb.relu3_out(F.relu(x)), None),
        ("embedder.flatten_out", lambda x, r: emb.flatten_out(x.flatten(start_dim=1)), None),
        ("embedder.fc_out", lambda x, r: emb.fc_out(emb.fc(x)), None),
        ("embedder.relufc_in", lambda x, r: emb.relufc_in(x), None),
        ("embedder.relufc_out", lambda x, r: emb.relufc_out(F.relu(x)), None),
    ]
    return steps


def supports(model: HookedImpala, hook: str) -> bool:
    """True when :func:`forward_from` can start at ``hook`` (every hook of the embedder
    after ``input``, for a ``HookedImpala`` exactly: a subclass may change its forward)."""
    return type(model) is HookedImpala and any(name == hook for name, _, _ in _steps(model))


def upstream_needed(model: HookedImpala, hook: str) -> list[str]:
    """The hooks before ``hook`` whose activations :func:`forward_from` reads (the input of
    the residual block ``hook`` lies inside, if any)."""
    names = [name for name, _, _ in _steps(model)]
    start = names.index(hook)
    return [
        resid
        for name, _, resid in _steps(model)[start + 1 :]
        if resid is not None and names.index(resid) < start
    ]


def forward_from(
    model: HookedImpala,
    hook: str,
    activation: torch.Tensor,
    upstream: Callable[[str], torch.Tensor],
) -> PolicyOutput:
    """The network's output with ``activation`` ``(B, ...)`` as the output of ``hook``,
    running only the layers after it (module docstring)."""
    steps = _steps(model)
    names = [name for name, _, _ in steps]
    if hook not in names:
        raise ValueError(f"cannot start a forward at {hook!r}; one of {names}")
    seen = {hook: activation}
    x = activation
    for name, fn, resid in steps[names.index(hook) + 1 :]:
        r = None if resid is None else seen[resid] if resid in seen else upstream(resid)
        x = fn(x, r)
        seen[name] = x
    logits = model.fc_policy_out(model.fc_policy(x))
    value = model.fc_value_out(model.fc_value(x))
    return PolicyOutput(logits, value.squeeze(-1))
