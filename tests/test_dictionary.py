"""Sparse dictionaries (hooked_impala.dictionary) against ground truth: a planted dictionary
is recovered, an identity autoencoder spliced through a hook changes nothing, steering with a
latent is adding its direction by hand, a resumed training equals an uninterrupted one, and
bad input gets an error naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hooked_impala.activation_cache import HookNameError
from hooked_impala.dictionary import (
    DEFAULT_HOOKS,
    CheckpointError,
    SAEConfig,
    TopKSAE,
    TrainConfig,
    add_latent,
    card_path,
    from_vectors,
    gather_activations,
    identity_sae,
    load_sae,
    mean_max_cosine,
    measure,
    spatial_hooks,
    splice,
    split_mazes,
    to_vectors,
    train_sae,
)
from hooked_impala.interventions import replace_activation

LAYER = "embedder.block2.res1.resadd_out"


def planted(channels=16, atoms=32, k=3, n=20000, seed=0):
    """Vectors made of ``k`` of ``atoms`` unit-norm atoms with positive coefficients."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.randn(channels, atoms, generator=g)
    truth /= truth.norm(dim=0, keepdim=True)
    chosen = torch.rand(n, atoms, generator=g).argsort(-1)[:, :k]
    codes = torch.zeros(n, atoms).scatter(-1, chosen, 0.5 + torch.rand(n, k, generator=g))
    return codes @ truth.T, truth


SMALL = TrainConfig(steps=400, batch=1024, lr=5e-3, dead_after=20000, checkpoint_every=50)


@pytest.fixture(scope="module")
def recovered():
    vectors, truth = planted()
    config = SAEConfig(channels=16, size=32, k=3, aux_k=12)
    trained = train_sae(vectors, config, hook="synthetic", train=SMALL, evaluate_on=vectors[:4000])
    return trained, truth


def test_training_recovers_a_planted_dictionary(recovered) -> None:
    trained, truth = recovered
    assert mean_max_cosine(trained.sae.W_dec.detach(), truth) >= 0.9
    # A random dictionary of the same size is far from it: the measure can fail.
    assert mean_max_cosine(TopKSAE(trained.sae.config).W_dec.detach(), truth) < 0.7
    quality = trained.quality
    assert quality.l0 <= 3 and quality.fvu < 0.2 and quality.dead_fraction < 0.5


def test_quality_is_measured_as_defined() -> None:
    sae = identity_sae(4)
    x = torch.randn(500, 4)
    q = measure(sae, x)
    assert q.fvu == pytest.approx(0.0, abs=1e-12)
    # Each channel fires as +x or -x: every latent fires on about half the vectors.
    assert 3.9 < q.l0 <= 4 and q.dead_fraction == 0.0 and q.dense_fraction == 1.0
    zero = identity_sae(4)
    with torch.no_grad():
        zero.W_dec.zero_()
    assert measure(zero, x).fvu == pytest.approx(float((x**2).sum() / ((x - x.mean(0)) ** 2).sum()))


def test_vectors_round_trip_position_by_position() -> None:
    act = torch.randn(2, 3, 4, 5)
    vectors = to_vectors(act)
    assert torch.equal(vectors[(1 * 4 + 2) * 5 + 3], act[1, :, 2, 3])
    assert torch.equal(from_vectors(vectors, 4, 5), act)


@pytest.mark.parametrize("hook", DEFAULT_HOOKS)
def test_splicing_an_identity_dictionary_changes_nothing(tiny_model, procgen_obs, hook) -> None:
    obs = torch.from_numpy(procgen_obs)
    channels = tiny_model.hook_shapes(1)[hook][1]
    plain = tiny_model(obs)
    spliced = tiny_model.run_with_hooks(obs, fwd_hooks=splice(hook, identity_sae(channels)).hooks())
    torch.testing.assert_close(spliced.logits, plain.logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(spliced.value, plain.value, atol=1e-6, rtol=0)


def test_splice_puts_the_reconstruction_in(tiny_model, procgen_obs, recovered) -> None:
    obs = torch.from_numpy(procgen_obs)
    _, cache = tiny_model.run_with_cache(obs, names_filter=LAYER)
    sae = TopKSAE(SAEConfig(channels=32, size=64, k=4, aux_k=0))
    sae.initialise(to_vectors(cache[LAYER]))
    by_hand = replace_activation(LAYER, sae.reconstruct(cache[LAYER]).detach())
    expected = tiny_model.run_with_hooks(obs, fwd_hooks=by_hand.hooks())
    spliced = tiny_model.run_with_hooks(obs, fwd_hooks=splice(LAYER, sae).hooks())
    torch.testing.assert_close(spliced.logits, expected.logits, atol=1e-6, rtol=0)
    assert not torch.allclose(spliced.logits, tiny_model(obs).logits, atol=1e-3)


def test_latent_steering_is_adding_its_direction_by_hand(tiny_model, procgen_obs) -> None:
    obs = torch.from_numpy(procgen_obs)
    sae = TopKSAE(SAEConfig(channels=32, size=64, k=4, aux_k=0), torch.Generator().manual_seed(1))
    with torch.no_grad():
        sae.scale.fill_(2.5)
    direction = 2.5 * sae.W_dec[:, 7].detach()

    def by_hand(activation, hook):
        out = activation.clone()
        out[:, :, 3, 11] += 4.0 * direction
        return out

    expected = tiny_model.run_with_hooks(obs, fwd_hooks=[(LAYER, by_hand)])
    steered = tiny_model.run_with_hooks(
        obs, fwd_hooks=add_latent(LAYER, sae, 7, 4.0, at=(3, 11)).hooks()
    )
    torch.testing.assert_close(steered.logits, expected.logits, atol=1e-6, rtol=0)
    # One square per observation: observation n at (n, n).
    at = torch.stack([torch.arange(8), torch.arange(8)], 1)
    hooked = add_latent(LAYER, sae, 7, 1.0, at=at).hooks()[0][1]
    act = torch.randn(8, 32, 16, 16)
    out = hooked(act, tiny_model.hook_dict[LAYER])
    changed = (out != act).any(1)
    assert changed.sum() == 8 and all(changed[n, n, n] for n in range(8))


def test_resumed_training_equals_an_uninterrupted_run(tmp_path) -> None:
    vectors, _ = planted(n=4000)
    config = SAEConfig(channels=16, size=32, k=3, aux_k=8)
    train = TrainConfig(steps=60, batch=256, dead_after=2000, checkpoint_every=20)
    whole = train_sae(vectors, config, hook="synthetic", train=train)
    path = tmp_path / "sae.pt"
    first = train_sae(vectors, config, hook="synthetic", train=train, checkpoint=path, until=30)
    assert first.steps_done == 30 and load_sae(path).steps_done == 30
    resumed = train_sae(vectors, config, hook="synthetic", train=train, checkpoint=path)
    assert resumed.steps_done == 60
    for name, value in whole.sae.state_dict().items():
        assert torch.equal(value, resumed.sae.state_dict()[name]), name
    assert resumed.curve == whole.curve
    card = json.loads(card_path(path).read_text())
    assert card["hook"] == "synthetic" and card["sae"]["k"] == 3 and card["steps_done"] == 60
    assert torch.equal(load_sae(path).sae.W_dec, whole.sae.W_dec)
    other = TrainConfig(steps=60, batch=128, dead_after=2000, checkpoint_every=20)
    with pytest.raises(CheckpointError, match="other settings.*train"):
        train_sae(vectors, config, hook="synthetic", train=other, checkpoint=path)


def test_a_broken_checkpoint_is_named(tmp_path) -> None:
    path = tmp_path / "sae.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="sae.pt is not a dictionary checkpoint"):
        load_sae(path)


def test_gathered_activations_keep_their_mazes(tiny_model) -> None:
    seeds = [3, 5, 8, 13, 21]
    data = gather_activations(tiny_model, seeds, per_maze=3, max_steps=12, chunk_size=2)
    again = gather_activations(tiny_model, seeds, per_maze=3, max_steps=12, chunk_size=5)
    assert data.mazes == seeds and len(data) <= 15
    assert np.array_equal(data.maze_seeds, again.maze_seeds)
    for hook in DEFAULT_HOOKS:
        np.testing.assert_allclose(data.activations[hook], again.activations[hook], atol=1e-5)
    assert data.activations[LAYER].shape[1:] == (32, 16, 16)
    assert data.vectors(LAYER, data.rows_of([5])).shape == (256 * (data.maze_seeds == 5).sum(), 32)
    # Each observation is the maze with the mouse on the recorded cell, at that step.
    assert (np.diff(data.steps[data.maze_seeds == 8]) > 0).all()


def test_activation_sets_round_trip(tiny_model, tmp_path) -> None:
    data = gather_activations(tiny_model, [1, 2], hooks=[LAYER], per_maze=2, max_steps=5)
    back = type(data).load(data.save(tmp_path / "acts.npz"))
    assert np.array_equal(back.activations[LAYER], data.activations[LAYER])
    assert back.settings == data.settings and np.array_equal(back.mouse, data.mouse)


def test_maze_splits_are_disjoint_and_cover() -> None:
    parts = split_mazes(list(range(100, 200)), (0.7, 0.15, 0.15), seed=3)
    assert [len(p) for p in parts] == [70, 15, 15]
    assert sorted(sum(parts, [])) == list(range(100, 200))
    assert parts == split_mazes(list(range(100, 200)), (0.7, 0.15, 0.15), seed=3)
    assert all(len(p) == 1 for p in split_mazes([1, 2, 3], (0.8, 0.1, 0.1)))


def test_bad_inputs_get_clear_errors(tiny_model) -> None:
    with pytest.raises(HookNameError, match="unknown hook name 'embedder.block2.res1.resad'"):
        spatial_hooks(tiny_model, ["embedder.block2.res1.resad"])
    with pytest.raises(ValueError, match="'embedder.fc_out' is not spatial"):
        gather_activations(tiny_model, [1], hooks=["embedder.fc_out"])
    with pytest.raises(ValueError, match="k = 9 latents per vector exceeds the size 8"):
        SAEConfig(channels=4, size=8, k=9, aux_k=0)
    nan = torch.randn(100, 4)
    nan[17, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite values \\(1 of 100 vectors\\)"):
        train_sae(nan, SAEConfig.default(4), hook="x")
    with pytest.raises(ValueError, match=r"must be \(n, 4\) channel vectors"):
        train_sae(torch.randn(10, 5), SAEConfig.default(4), hook="x")
    obs = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    poison = [(LAYER, lambda a, hook: torch.full_like(a, float("nan")))]
    with pytest.raises(ValueError, match="activation at 'embedder.block2.res1.resadd_out' holds"):
        tiny_model.run_with_hooks(obs, fwd_hooks=poison + splice(LAYER, identity_sae(32)).hooks())
    with pytest.raises(ValueError, match="the dictionary takes 16 channels.*has 32"):
        tiny_model.run_with_hooks(obs, fwd_hooks=splice(LAYER, identity_sae(16)).hooks())
    with pytest.raises(ValueError, match="needs a spatial"):
        fc = splice("embedder.fc_out", identity_sae(256))
        tiny_model.run_with_hooks(obs, fwd_hooks=fc.hooks())
    with pytest.raises(ValueError, match="latent must be >= 0 and <= 7, got 8"):
        add_latent(LAYER, identity_sae(4), 8, 1.0, at=(0, 0))
    with pytest.raises(ValueError, match="must lie in the 16x16 grid"):
        tiny_model.run_with_hooks(
            obs, fwd_hooks=add_latent(LAYER, identity_sae(32), 0, 1.0, at=(16, 0)).hooks()
        )
