"""How good a dictionary is, the way the field measures it: fraction of variance unexplained,
L0, dead and dense latents; and how close a learned dictionary is to a known one."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from beartype import beartype
from jaxtyping import Float, jaxtyped

from hooked_impala.dictionary.sae import TopKSAE, checked

#: A latent that fires on more than this fraction of vectors is "dense" (a threshold of ours:
#: the field has no fixed one; 10% is ten times a typical TopK latent's share at k/size=1/32).
DENSE_ABOVE = 0.1
#: Vectors encoded at a time when measuring (memory, not results).
EVAL_BATCH = 65536


@dataclass(frozen=True)
class Quality:
    """A dictionary measured on a set of vectors.

    Attributes:
        fvu: fraction of variance unexplained: sum ||x - x̂||² / sum ||x - mean x||².
        l0: mean number of active latents per vector.
        dead_fraction: latents that never fire on these vectors.
        dense_fraction: latents that fire on more than ``DENSE_ABOVE`` of them.
        vectors: how many vectors.
        firing: per latent, the fraction of vectors on which it fires.
    """

    fvu: float
    l0: float
    dead_fraction: float
    dense_fraction: float
    vectors: int
    firing: list[float]

    def as_dict(self, with_firing: bool = False) -> dict:
        out = asdict(self)
        if not with_firing:
            out.pop("firing")
        return out


@torch.no_grad()
def measure(sae: TopKSAE, vectors: Float[torch.Tensor, "n c"]) -> Quality:
    """FVU, L0, dead and dense fractions of ``sae`` on ``vectors`` (finite, ``(n, C)``)."""
    checked(vectors, sae.config.channels, "the vectors")
    if len(vectors) == 0:
        raise ValueError("measuring a dictionary needs at least one vector")
    mean = vectors.double().mean(0)
    error = total = active = 0.0
    fired = torch.zeros(sae.config.size, dtype=torch.float64)
    for start in range(0, len(vectors), EVAL_BATCH):
        x = vectors[start : start + EVAL_BATCH]
        codes = sae.encode(x)
        error += float((sae.decode(codes) - x).double().pow(2).sum())
        total += float((x.double() - mean).pow(2).sum())
        on = codes > 0
        active += float(on.sum())
        fired += on.sum(0).double()
    firing = fired / len(vectors)
    return Quality(
        fvu=error / total if total > 0 else float(error > 0),
        l0=active / len(vectors),
        dead_fraction=float((firing == 0).double().mean()),
        dense_fraction=float((firing > DENSE_ABOVE).double().mean()),
        vectors=len(vectors),
        firing=firing.tolist(),
    )


@jaxtyped(typechecker=beartype)
def mean_max_cosine(
    learned: Float[torch.Tensor, "c m"], truth: Float[torch.Tensor, "c t"]
) -> float:
    """For each true atom (a column of ``truth``), the largest cosine similarity with any
    learned atom; their mean (1: every true atom was found)."""
    a = learned / learned.norm(dim=0, keepdim=True).clamp_min(1e-12)
    b = truth / truth.norm(dim=0, keepdim=True).clamp_min(1e-12)
    return float((b.T @ a).max(dim=1).values.mean())
