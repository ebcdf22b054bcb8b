"""A minimal circuit: the fewest channels of one hook that, with every other channel
mean-ablated, keep the behaviour's metric gap.

For a set S of channels at hook h, every channel outside S is replaced by its mean over
reference mazes (a ``(C, H, W)`` map per channel, so position-specific structure shared by
all mazes survives) in both the clean and the corrupted run; the *kept fraction* is

    sum over pairs of (clean_S - corrupted_S) / sum over pairs of (clean - corrupted)

Channels enter S in a given order (attribution order: most restoring first); the curve of
kept fraction against |S| is the faithfulness curve. The circuit is the smallest prefix
keeping at least ``threshold`` of the gap on *selection* pairs; its kept fraction is then
reported on separate *test* pairs (chosen on one set, scored on another).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hooked_impala.model import HookedImpala
from hooked_impala.patching.exact import check_gap, ratio_estimate
from hooked_impala.patching.pairs import PairBatch
from hooked_impala.stats import Estimate


def mean_activation(
    model: HookedImpala, reference: torch.Tensor, hook: str, batch_size: int = 256
) -> torch.Tensor:
    """``(C, H, W)`` (or ``(F,)``): the mean activation at ``hook`` over ``reference``
    observations."""
    if len(reference) == 0:
        raise ValueError("no reference observations to take means over")
    hook = model.resolve_hook_name(hook)
    total = None
    with torch.no_grad():
        for chunk in reference.split(batch_size):
            _, cache = model.run_with_cache(chunk.to(model.device), names_filter=[hook])
            part = cache[hook].sum(0)
            total = part if total is None else total + part
    return total / len(reference)


def kept_metrics(
    model: HookedImpala,
    pairs: PairBatch,
    hook: str,
    keep: torch.Tensor,
    mean: torch.Tensor,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean and corrupted metrics ``(S, P)`` with, for each of ``S`` channel sets ``keep``
    ``(S, C)`` bool, the channels outside the set mean-ablated at ``hook``."""
    hook = model.resolve_hook_name(hook)
    n_sets, n = keep.shape[0], len(pairs)
    obs = torch.cat([pairs.clean, pairs.corrupted]).to(model.device)
    rows = torch.arange(2 * n) % n  # the pair of each observation
    out = torch.empty(n_sets, 2 * n)
    flat = torch.arange(n_sets * 2 * n)
    view = (-1,) + (1,) * (mean.ndim - 1)
    with torch.no_grad():
        for chunk in flat.split(batch_size):
            s, i = chunk // (2 * n), chunk % (2 * n)
            kept = keep[s].to(model.device).view(len(chunk), *view)

            def ablate(act, hook, kept=kept):
                return torch.where(kept, act, mean.to(act))

            result = model.run_with_hooks(obs[i], fwd_hooks=[(hook, ablate)])
            out[s, i] = pairs.metric(result, rows[i]).cpu()
    return out[:, :n], out[:, n:]


@dataclass(frozen=True, eq=False)
class FaithfulnessCurve:
    """Kept fraction against the number of channels kept, in ``order``.

    ``kept``: ``(C + 1, P)`` clean - corrupted metric per pair with the first n channels
    kept (row n); ``gap``: ``(P,)`` the unablated gap; ``mazes``: ``(P,)`` maze ids.
    """

    hook: str
    order: tuple[int, ...]
    kept: torch.Tensor
    gap: torch.Tensor
    mazes: tuple[int, ...]

    def fractions(self) -> torch.Tensor:
        """``(C + 1,)``: kept fraction with the first n channels kept."""
        return self.kept.sum(1) / self.gap.sum()

    def estimate(self, n: int) -> Estimate | None:
        """The kept fraction with n channels and a 95% interval over mazes."""
        rows = np.stack([self.kept[n].numpy(), self.gap.numpy()], axis=1)
        return ratio_estimate(rows, self.mazes)

    def smallest(self, threshold: float) -> int | None:
        """The fewest channels keeping at least ``threshold`` (None: not even all)."""
        hits = torch.nonzero(self.fractions() >= threshold)
        return int(hits[0]) if len(hits) else None


def faithfulness_curve(
    model: HookedImpala,
    pairs: PairBatch,
    hook: str,
    order: Sequence[int],
    mean: torch.Tensor,
    batch_size: int = 256,
) -> FaithfulnessCurve:
    """The curve for channels entering in ``order`` (a permutation of the hook's channels)."""
    hook = model.resolve_hook_name(hook)
    channels = mean.shape[0]
    if sorted(order) != list(range(channels)):
        raise ValueError(f"order must be a permutation of the {channels} channels of {hook!r}")
    keep = torch.zeros(channels + 1, channels, dtype=torch.bool)
    for n in range(1, channels + 1):
        keep[n, list(order[:n])] = True
    with torch.no_grad():
        rows = torch.arange(len(pairs))
        clean = pairs.metric(model(pairs.clean.to(model.device)), rows).cpu()
        corrupted = pairs.metric(model(pairs.corrupted.to(model.device)), rows).cpu()
    check_gap(clean, corrupted)
    kept_clean, kept_corrupted = kept_metrics(model, pairs, hook, keep, mean, batch_size)
    return FaithfulnessCurve(
        hook, tuple(order), kept_clean - kept_corrupted, clean - corrupted, pairs.mazes
    )


@dataclass(frozen=True, eq=False)
class Circuit:
    """The channels chosen on selection pairs and the curves on both sets.

    ``channels``: the circuit (None when no prefix reached ``threshold`` on selection pairs).
    """

    hook: str
    threshold: float
    channels: tuple[int, ...] | None
    selection: FaithfulnessCurve
    test: FaithfulnessCurve

    @property
    def size(self) -> int | None:
        return None if self.channels is None else len(self.channels)

    def test_estimate(self) -> Estimate | None:
        """Kept fraction on the test pairs at the chosen size, with its maze interval."""
        return None if self.size is None else self.test.estimate(self.size)


def minimal_circuit(
    model: HookedImpala,
    selection: PairBatch,
    test: PairBatch,
    reference: torch.Tensor,
    hook: str,
    order: Sequence[int],
    *,
    threshold: float = 0.9,
    batch_size: int = 256,
) -> Circuit:
    """The smallest prefix of ``order`` keeping ``threshold`` of the gap on ``selection``
    pairs, with every other channel of ``hook`` mean-ablated (means over ``reference``
    observations); scored on ``test`` pairs (module docstring)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")
    if set(selection.mazes) & set(test.mazes):
        raise ValueError("selection and test pairs share mazes; choose on one, score on another")
    mean = mean_activation(model, reference, hook)
    chosen = faithfulness_curve(model, selection, hook, order, mean, batch_size)
    scored = faithfulness_curve(model, test, hook, order, mean, batch_size)
    size = chosen.smallest(threshold)
    channels = None if size is None else tuple(order[:size])
    return Circuit(chosen.hook, threshold, channels, chosen, scored)
