"""Interventions as named values: exact effects on a model, composition, clear errors."""

from __future__ import annotations

import pytest
import torch

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.interventions import (
    ReplaceChannels,
    ablate_channels,
    ablation_values,
    add_vector,
    clamp_channels,
    hooks_of,
    relu_names,
    remove_relus,
    replace_activation,
)

LAYER = "embedder.block2.res1.resadd_out"
LATER = "embedder.block2.res2.relu1_in"  # = LAYER's activation, one hook downstream


@pytest.fixture(scope="module")
def model() -> HookedImpala:
    torch.manual_seed(0)
    return HookedImpala(ImpalaConfig(channels=(4, 8, 8), fc_features=32)).eval()


@pytest.fixture(scope="module")
def obs() -> torch.Tensor:
    return torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def seen_downstream(model, obs, *interventions) -> torch.Tensor:
    """What the next hook sees under the interventions."""
    with model.hooks(fwd_hooks=hooks_of(*interventions)), torch.no_grad():
        _, cache = model.run_with_cache(obs, names_filter=[LATER])
    return cache[LATER]


def test_add_vector_adds_exactly_and_per_observation(model, obs) -> None:
    clean = seen_downstream(model, obs)
    vector = torch.randn(clean.shape[1:], generator=torch.Generator().manual_seed(2))
    assert torch.allclose(
        seen_downstream(model, obs, add_vector(LAYER, vector, -2.0)), clean - 2 * vector, atol=1e-6
    )
    per_obs = torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(
        seen_downstream(model, obs, add_vector(LAYER, per_obs)), clean + per_obs, atol=1e-6
    )
    with pytest.raises(ValueError, match="holds 2 rows for a batch of 3"):
        seen_downstream(model, obs, add_vector(LAYER, per_obs[:2]))


def test_replace_and_clamp(model, obs) -> None:
    clean = seen_downstream(model, obs)
    other = torch.randn(clean.shape, generator=torch.Generator().manual_seed(4))
    assert torch.equal(seen_downstream(model, obs, replace_activation(LAYER, other)), other)
    clamped = seen_downstream(model, obs, clamp_channels(LAYER, [1, 5], 3.5))
    assert (clamped[:, [1, 5]] == 3.5).all()
    keep = [c for c in range(clean.shape[1]) if c not in (1, 5)]
    assert torch.equal(clamped[:, keep], clean[:, keep])
    with pytest.raises(ValueError, match="it has 8 channels"):
        seen_downstream(model, obs, clamp_channels(LAYER, [8], 0.0))


def test_ablations(model, obs, as_in_production) -> None:
    clean = seen_downstream(model, obs)
    zeroed = seen_downstream(model, obs, ablate_channels(LAYER, [2]))
    assert (zeroed[:, 2] == 0).all() and torch.equal(zeroed[:, 3], clean[:, 3])
    meaned = seen_downstream(model, obs, ablate_channels(LAYER, [2], "mean", reference=clean))
    assert torch.allclose(meaned[:, 2], clean[:, 2].mean(0, keepdim=True).expand_as(clean[:, 2]))
    generator = torch.Generator().manual_seed(5)
    resampled = ablation_values(clean, "resample", generator)
    # A derangement: every observation takes another observation's activation.
    for i in range(len(clean)):
        sources = [j for j in range(len(clean)) if torch.equal(resampled[i], clean[j])]
        assert sources and i not in sources
    with pytest.raises(ValueError, match="needs reference activations"):
        ablate_channels(LAYER, [0], "mean")
    with pytest.raises(ValueError, match="ablation must be"):
        ablation_values(clean, "noise")  # type: ignore[arg-type]
    assert isinstance(ablate_channels(LAYER, [0]), ReplaceChannels)


def test_remove_relus_composes_with_other_interventions(model, obs) -> None:
    assert len(relu_names(model)) == 14
    with torch.no_grad():
        out_none = model.run_with_hooks(obs, fwd_hooks=remove_relus(model, []).hooks()).logits
        assert torch.equal(out_none, model(obs).logits)
        vector = torch.ones(8, 16, 16)
        both = hooks_of(add_vector(LAYER, vector), remove_relus(model))
        combined = model.run_with_hooks(obs, fwd_hooks=both).logits
        alone = model.run_with_hooks(obs, fwd_hooks=remove_relus(model).hooks()).logits
    assert not torch.allclose(combined, alone)
    assert sum(len(p.fwd_hooks) for p in model.hook_dict.values()) == 0
    with pytest.raises(ValueError, match="unknown ReLUs"):
        remove_relus(model, ["embedder.relu9"])
