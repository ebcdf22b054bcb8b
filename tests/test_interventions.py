"""Interventions as named values: exact effects on a model, composition, clear errors."""

from __future__ import annotations

import pytest
import torch

from hooked_impala import HookedImpala, ImpalaConfig
from hooked_impala.interventions import (
    AddVector,
    ClampAt,
    ReplaceActivation,
    ReplaceChannels,
    ablate_channels,
    ablation_values,
    add_vector,
    clamp_channels,
    count_modified,
    hooks_of,
    network_size,
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


# --- clamps at one position, and counting what an intervention changes ----------------------


def test_clamp_at_positions_changes_only_those_values(model, obs, as_in_production) -> None:
    clean = seen_downstream(model, obs)
    at = torch.tensor([[0, 0], [3, 7], [15, 15]])  # one (i, j) per observation
    got = seen_downstream(model, obs, clamp_channels(LAYER, [1, 5], 2.5, at=at))
    changed = torch.zeros_like(clean, dtype=torch.bool)
    for n, (i, j) in enumerate(at.tolist()):
        assert got[n, [1, 5], i, j].eq(2.5).all()
        changed[n, [1, 5], i, j] = True
    assert torch.equal(got[~changed], clean[~changed])
    one_for_all = seen_downstream(model, obs, clamp_channels(LAYER, [0], -1.0, at=(2, 3)))
    assert one_for_all[:, 0, 2, 3].eq(-1.0).all()
    for bad, says in (
        (dict(at=(16, 0)), r"must lie in the 16x16 grid"),
        (dict(at=torch.zeros(2, 2, dtype=torch.long)), r"2 clamp positions .* batch of 3"),
        (dict(at=(1.5, 2.0)), r"\(i, j\) pair or \(N, 2\) ints"),
        (dict(channels=[8]), r"channels \[8\] at .* it has 8"),
        (dict(channels=[]), "at least one channel"),
    ):
        kwargs = {"channels": [0], "at": (0, 0), **bad}
        with pytest.raises(ValueError, match=says):
            seen_downstream(
                model, obs, clamp_channels(LAYER, kwargs["channels"], 1.0, at=kwargs["at"])
            )


def test_count_modified_counts_exactly_what_changed(model, obs) -> None:
    with torch.no_grad():  # the same batch: convolutions may round differently per batch size
        _, cache = model.run_with_cache(obs[:1], names_filter=[LAYER])
    own = float(cache[LAYER][0, 2, 4, 4])
    same = clamp_channels(LAYER, [2], own, at=(4, 4))  # observation 0 keeps its value
    counted = count_modified(model, obs[:1], same.hooks())
    assert counted.changed == 0 and counted.at_hooks == cache[LAYER][0].numel()
    two = count_modified(model, obs, clamp_channels(LAYER, [1, 2], 1e3, at=(4, 4)).hooks())
    assert two.changed == 2 * len(obs)
    assert two.fraction == pytest.approx(2 / network_size(model))
    # The network's size: every layer's output once (not the *_in copies, the flattened
    # view or the observation), counted here from the model's own hook shapes.
    shapes = model.hook_shapes(1)
    expected = sum(
        torch.Size(shape[1:]).numel()
        for name, shape in shapes.items()
        if name != "input" and not name.endswith(("_in", "flatten_out"))
    )
    assert network_size(model) == expected
    assert network_size(HookedImpala(ImpalaConfig()).eval()) == 401_936  # s = 1, as documented


def test_layer_positions() -> None:
    from hooked_impala.maze import layer_position, layer_positions

    # A layer as fine as the world: each cell is its own square, rows counted from the top.
    for world in (15, 25):
        cells = [(r, c) for r in range(world) for c in range(world)]
        got = layer_positions(cells, world, world)
        assert got.tolist() == [[world - 1 - r, c] for r, c in cells]
    # Block 2's 16x16 grid: centres of cells (row, col) at pixel (w-1-row+1/2)*64/w.
    assert layer_position((0, 0), 25, 16) == (15, 0)
    assert layer_position((24, 24), 25, 16) == (0, 15)
    assert layer_position((12, 12), 25, 16) == (8, 8)  # pixel 32.0: the square below/right
    assert layer_position((7, 7), 15, 64) == (32, 32)
    with pytest.raises(ValueError, match=r"cell \(15, 0\) is outside the 15x15 world"):
        layer_positions([(15, 0)], 15, 16)
    with pytest.raises(ValueError, match="layer_size"):
        layer_positions([(0, 0)], 15, 65)


# --- non-finite numbers: refused when the intervention is made, naming the argument -------------

NAN, INF = float("nan"), float("inf")
GOOD = torch.ones(8, 16, 16)
HOLED = GOOD.clone().index_put_(
    (torch.tensor(0), torch.tensor(3), torch.tensor(4)), torch.tensor(NAN)
)


def case(id: str, make, argument: str):
    return pytest.param(make, argument, id=id)


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        case("add_vector nan coeff", lambda: add_vector(LAYER, GOOD, NAN), "coeff"),
        case("add_vector -inf coeff", lambda: add_vector(LAYER, GOOD, -INF), "coeff"),
        case("add_vector nan in vector", lambda: add_vector(LAYER, HOLED), "vector"),
        case("add_vector inf vector", lambda: add_vector(LAYER, GOOD * INF), "vector"),
        case("AddVector nan coeff", lambda: AddVector(LAYER, GOOD, NAN), "coeff"),
        case("AddVector nan in vector", lambda: AddVector(LAYER, HOLED), "vector"),
        case("replace_activation nan", lambda: replace_activation(LAYER, HOLED), "value"),
        case("ReplaceActivation -inf", lambda: ReplaceActivation(LAYER, -INF * GOOD), "value"),
        case("ReplaceChannels nan", lambda: ReplaceChannels(LAYER, (1,), HOLED), "replacement"),
        case("clamp_channels nan", lambda: clamp_channels(LAYER, [1], NAN), "value"),
        case("clamp_channels at, inf", lambda: clamp_channels(LAYER, [1], INF, at=(2, 3)), "value"),
        case("ClampAt nan", lambda: ClampAt(LAYER, (1,), NAN, torch.tensor([2, 3])), "value"),
        case(
            "ablate_channels mean of nan",
            lambda: ablate_channels(LAYER, [1], "mean", reference=torch.stack([HOLED, GOOD])),
            "reference",
        ),
        case(
            "ablation_values resample of nan",
            lambda: ablation_values(torch.stack([HOLED, GOOD]), "resample"),
            "reference",
        ),
    ],
)
def test_non_finite_numbers_are_refused_naming_the_argument(make, argument) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} .*(nan|inf|NaN or infinite)"):
        make()
