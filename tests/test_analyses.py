"""The four analyses: ground truth on constructed networks, exact identities (the protocol
they share: test_protocol.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import squared
from constructed import only_channel_reaches_output, small_model

from analyses import channel_attribution, cheese_vector, jacobian_svd, relu_removal
from analyses.core import cli
from analyses.core.inputs import DEFAULT_LAYER, select_mazes
from analyses.measure.steering import SteeringExtras, activations_at
from hooked_impala import HookedImpala
from hooked_impala.interventions import add_vector, relu_names, remove_relus
from hooked_impala.maze import MazeRenderer, decision_points

B3 = "embedder.block3.maxpool_out"


@pytest.fixture(scope="module")
def mazes():
    with MazeRenderer() as r:
        return select_mazes(4, "easy", first_seed=0, renderer=r)


@pytest.fixture(scope="module")
def obs(mazes):
    from hooked_impala.maze import observe

    return torch.from_numpy(observe([p.maze for p in decision_points(mazes)]))


# --- Jacobian SVD --------------------------------------------------------------------------


def linear_tail(model: HookedImpala, a: torch.Tensor) -> torch.Tensor:
    """Logits from block3.maxpool_out with every ReLU removed, from the weights by hand."""
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    x = a
    for r in (1, 2):
        p = f"embedder.block3.res{r}."
        h = F.conv2d(x, sd[p + "conv1.weight"], sd[p + "conv1.bias"], padding=1)
        h = F.conv2d(h, sd[p + "conv2.weight"], sd[p + "conv2.bias"], padding=1)
        x = x + h
    x = F.linear(x.flatten(1), sd["embedder.fc.weight"], sd["embedder.fc.bias"])
    return F.linear(x, sd["fc_policy.weight"], sd["fc_policy.bias"])


def test_jacobian_of_relu_free_tail_equals_the_composed_linear_map(obs) -> None:
    model = small_model()
    with model.hooks(fwd_hooks=remove_relus(model).hooks()):
        J = jacobian_svd.jacobians(model, obs[:2], B3, output="logits")
    with torch.no_grad():
        _, cache = model.run_with_cache(obs[:1], names_filter=[B3])
    a0 = cache[B3][0]
    # The map is affine: its matrix is the difference of images of the basis vectors.
    basis = torch.eye(a0.numel()).reshape(-1, *a0.shape)
    with torch.no_grad():
        matrix = (linear_tail(model, basis) - linear_tail(model, torch.zeros_like(basis))).T
    assert J.shape == (2, 15, a0.numel())
    assert torch.allclose(J[0], matrix, atol=1e-5) and torch.allclose(J[1], matrix, atol=1e-5)


def test_jacobian_matches_finite_differences_on_the_real_model(ppo_s1, obs) -> None:
    model = HookedImpala(ppo_s1.cfg).double().eval()
    model.load_state_dict({k: v.double() for k, v in ppo_s1.state_dict().items()})
    x = obs[:2].permute(0, 3, 1, 2).double() / 255
    with torch.no_grad():
        _, cache = model.run_with_cache(x, names_filter=[DEFAULT_LAYER])
    gen = torch.Generator().manual_seed(0)
    # Maze images have flat regions, so max-pools downstream see exact ties, where the
    # derivative is one-sided. A small random offset breaks them.
    at = cache[DEFAULT_LAYER] + 1e-2 * torch.randn(
        cache[DEFAULT_LAYER].shape, generator=gen, dtype=torch.float64
    )
    J = jacobian_svd.jacobians(model, x, DEFAULT_LAYER, at=at)
    for i in range(2):
        a = at[i : i + 1]
        v = torch.randn(a.shape, generator=gen, dtype=torch.float64)
        eps = 1e-7  # small, so no ReLU or max-pool kink lies within eps of the point

        def f(act):
            return model.run_with_hooks(
                x[i : i + 1], fwd_hooks=[(DEFAULT_LAYER, lambda _, hook: act)]
            ).movement_log_probs[0]

        with torch.no_grad():
            fd = (f(a + eps * v) - f(a - eps * v)) / (2 * eps)
        assert torch.allclose(J[i] @ v.flatten(), fd, atol=1e-6, rtol=1e-4)


def test_layer_to_layer_jacobian_and_bad_requests(obs) -> None:
    model = small_model()
    J = jacobian_svd.jacobians(
        model, obs[:1], "embedder.block3.res2.conv1_out", of_hook="embedder.block3.res2.conv2_out"
    )
    w = model.embedder.block3.res2.conv2.weight.detach()
    # conv2_out = conv2(relu(conv1_out)): row for output (c, y, x) has w[c, :, 1, 1] on the
    # centre tap of input (:, y, x), times relu'(conv1_out).
    with torch.no_grad():
        _, cache = model.run_with_cache(obs[:1], names_filter=["embedder.block3.res2.conv1_out"])
    gate = (cache["embedder.block3.res2.conv1_out"][0] > 0).double()
    C, H, W = gate.shape
    Jr = J[0].reshape(C, H, W, C, H, W)
    assert torch.allclose(
        Jr[:, 3, 4, :, 3, 4].double(), w[:, :, 1, 1].double() * gate[:, 3, 4][None, :], atol=1e-6
    )
    with pytest.raises(ValueError, match="must come after"):
        jacobian_svd.jacobians(model, obs[:1], DEFAULT_LAYER, of_hook="embedder.block1.conv_out")
    with pytest.raises(ValueError, match="output must be one of"):
        jacobian_svd.jacobians(model, obs[:1], DEFAULT_LAYER, output="probs")
    with pytest.raises(KeyError, match="unknown hook name"):
        jacobian_svd.run(model, obs[:1], layer="embedder.block9")


def test_jacobian_svd_result_is_consistent_and_saves(ppo_s1, obs, tmp_path) -> None:
    result = jacobian_svd.run(ppo_s1, obs, stack=True)
    J = jacobian_svd.jacobians(ppo_s1, obs, DEFAULT_LAYER)
    assert torch.allclose(result.singular_values, torch.linalg.svdvals(J), atol=1e-5)
    assert result.top_vectors.shape == (len(obs), 3, 32, 16, 16)
    assert torch.allclose(
        result.top_vectors.flatten(2).norm(dim=-1), torch.ones(len(obs), 3), atol=1e-5
    )
    assert (result.effective_rank >= 1).all() and (result.effective_rank <= 5).all()
    assert jacobian_svd.effective_rank(torch.tensor([2.0, 2.0, 2.0])).item() == pytest.approx(3.0)
    assert jacobian_svd.effective_rank(torch.tensor([1.0, 0.0])).item() == pytest.approx(1.0)
    written = result.save(tmp_path)
    names = {p.name for p in written}
    assert {"result.json", "arrays.npz", "spectrum.html", "top_vectors.html"} <= names
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["metadata"]["checkpoint"]["name"] == "model_160022528"
    assert saved["numbers"]["mean_effective_rank"] == pytest.approx(
        float(result.effective_rank.mean())
    )
    assert np.allclose(
        np.load(tmp_path / "arrays.npz")["singular_values"], result.singular_values.numpy()
    )


# --- ReLU removal ---------------------------------------------------------------------------


def test_removing_no_relu_changes_nothing(obs) -> None:
    model = small_model()
    with torch.no_grad():
        assert torch.equal(
            model.run_with_hooks(obs, fwd_hooks=remove_relus(model, []).hooks()).logits,
            model(obs).logits,
        )
    assert len(relu_names(model)) == 14


def test_removing_all_relus_makes_the_tail_affine(obs) -> None:
    model = small_model(1)
    hooks = remove_relus(model).hooks()
    with torch.no_grad():
        _, cache = model.run_with_cache(obs[:2], names_filter=[B3])
        a, b = cache[B3][0:1], cache[B3][1:2]

        def f(act):
            with model.hooks(fwd_hooks=[*hooks, (B3, lambda _, hook: act)]):
                return model(obs[:1]).logits

        for t in (-0.5, 0.3, 2.0):
            assert torch.allclose(f(t * a + (1 - t) * b), t * f(a) + (1 - t) * f(b), atol=1e-4)

        # With the ReLUs in place, the same check fails: the identity is not vacuous.
        def g(act):
            return model.run_with_hooks(obs[:1], fwd_hooks=[(B3, lambda _, hook: act)]).logits

        assert not torch.allclose(g(-0.5 * a + 1.5 * b), -0.5 * g(a) + 1.5 * g(b), atol=1e-4)


def test_a_relu_whose_input_is_always_positive_can_be_removed(obs) -> None:
    model = small_model(2)
    with torch.no_grad():
        model.embedder.fc.weight.mul_(1e-3)
        model.embedder.fc.bias.fill_(50.0)  # relufc's input > 0 for any observation
    result = relu_removal.run(model, obs, tolerance=1e-9)
    assert result.single_kl["embedder.relufc"] == pytest.approx(0.0, abs=1e-10)
    assert result.single_agreement["embedder.relufc"] == 1.0
    assert max(result.single_kl.values()) > 0  # other ReLUs do matter


def test_relu_removal_on_the_real_agent(ppo_s1, obs, tmp_path) -> None:
    result = relu_removal.run(ppo_s1, obs, tolerance=0.05)
    assert result.all_removed_kl.shape == (len(obs),) and (result.all_removed_kl >= -1e-6).all()
    kls = [kl for _, kl in result.restore_order]
    assert kls[-1] <= 0.05 or len(kls) == 14
    # Restoring everything is the original network.
    assert relu_removal.movement_log_probs_without(ppo_s1, obs, []).equal(
        ppo_s1(obs).movement_log_probs
    )
    again = relu_removal.run(ppo_s1, obs, tolerance=0.05)
    assert again.restore_order == result.restore_order  # reproducible
    with pytest.raises(ValueError, match="unknown ReLUs \\['embedder.relu9'\\]"):
        remove_relus(ppo_s1, ["embedder.relu9"])
    assert {"single_relu_kl.html", "greedy_restoration.html"} <= {
        p.name for p in result.save(tmp_path)
    }
    sampled = relu_removal.run(ppo_s1, obs, tolerance=0.05, max_observations=3, seed=1)
    assert sampled.all_removed_kl.shape == (3,) and sampled.metadata.parameters["observations"] == 3
    # The sample is a subset of the inputs: its KLs are among the full run's.
    full = result.all_removed_kl
    assert all(torch.isclose(full, kl, atol=1e-5).any() for kl in sampled.all_removed_kl)


# --- channel attribution --------------------------------------------------------------------


def test_all_methods_rank_the_only_channel_first(obs) -> None:
    k = 5
    model = only_channel_reaches_output(k)

    def metric(out):
        return out.logits[:, 3] - out.logits[:, 7]

    result = channel_attribution.run(model, obs, metric=metric, ig_steps=16, ablation="zero")
    for method, ranking in result.rankings().items():
        assert ranking[0] == k, method
    others = [c for c in range(8) if c != k]
    assert result.grad_x_act[:, others].abs().max() == 0
    assert result.ablation[:, others].abs().max() == 0


def test_integrated_gradients_are_complete_on_the_real_agent(ppo_s1, mazes, tmp_path) -> None:
    result = channel_attribution.run(ppo_s1, mazes, ig_steps=256, ablation="resample")
    assert result.completeness_error < 0.01
    assert result.integrated_gradients.shape == (len(decision_points(mazes)), 32)
    again = channel_attribution.run(ppo_s1, mazes, ig_steps=8, ablation="resample")
    assert torch.equal(again.ablation, result.ablation)  # seeded resampling
    assert {"channel_attributions.html", "spatial_maps.html"} <= {
        p.name for p in result.save(tmp_path)
    }
    assert squared(result.figures()["spatial_maps"])
    assert all(p.grad is None for p in ppo_s1.parameters())  # no gradients left on the model
    with pytest.raises(ValueError, match="ablation must be one of"):
        channel_attribution.run(ppo_s1, mazes, ablation="noise")


# --- cheese vector -------------------------------------------------------------------------


def test_subtracting_the_cheese_vector_gives_the_no_cheese_activations(ppo_s1, mazes) -> None:
    maze = mazes[0]
    vector = cheese_vector.cheese_vector(ppo_s1, maze)
    no_cheese = activations_at(ppo_s1, [maze.without_cheese()], DEFAULT_LAYER)
    from hooked_impala.maze import observe

    obs = torch.from_numpy(observe([maze]))
    with torch.no_grad(), ppo_s1.hooks(fwd_hooks=add_vector(DEFAULT_LAYER, vector, -1.0).hooks()):
        out, cache = ppo_s1.run_with_cache(obs)
    _, clean = ppo_s1.run_with_cache(torch.from_numpy(observe([maze.without_cheese()])))
    assert torch.allclose(cache[DEFAULT_LAYER], no_cheese, atol=1e-5)
    for name in (
        "embedder.block3.res2.resadd_out",
        "embedder.fc_out",
        "fc_policy_out",
        "fc_value_out",
    ):
        assert torch.allclose(cache[name], clean[name], atol=1e-5), name
    assert vector.abs().max() > 0


def test_cheese_vector_sweep(ppo_s1, mazes, tmp_path) -> None:
    result = cheese_vector.run(
        ppo_s1, mazes, coeffs=(-1.0, 0.0), extras=SteeringExtras(rollout_max_steps=64)
    )
    points = decision_points(mazes)
    zero = result.coeffs.index(0.0)
    from hooked_impala.maze import observe

    with torch.no_grad():
        probs = ppo_s1(torch.from_numpy(observe([p.maze for p in points]))).movement_probs
    expected = probs[torch.arange(len(points)), torch.tensor([int(p.cheese_move) for p in points])]
    assert torch.allclose(result.p_cheese[0, zero], expected, atol=1e-6)  # coeff 0 = no change
    assert torch.allclose(result.p_cheese[1, zero], expected, atol=1e-6)
    assert set(result.rollouts) == {"original", "cheese vector x(-1)"}
    assert result.field is not None and np.abs(result.field.probs).max() > 0
    assert {"coefficient_sweep.html", "vector_field_diff.html"} <= {
        p.name for p in result.save(tmp_path)
    }


def test_cli_smoke(shared_checkpoints, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOOKED_IMPALA_HOME", str(shared_checkpoints))
    for module, extra in (
        (jacobian_svd, []),
        (relu_removal, ["--tolerance", "0.1"]),
        (channel_attribution, ["--ig-steps", "4"]),
        (cheese_vector, ["--coeffs", "-1", "0", "--no-rollouts"]),
    ):
        out = tmp_path / module.__name__
        assert (
            cli.main(
                module.run.analysis,
                ["--checkpoint", "model_160022528", "--mazes", "2", "--out", str(out), *extra],
            )
            == 0
        )
        assert (out / "result.json").exists()
    with pytest.raises(SystemExit):
        cli.main(jacobian_svd.run.analysis, ["--help"])


# --- trajectory view and the report ------------------------------------------------------


def test_trajectory_view_renders_offline(ppo_s1, mazes, tmp_path) -> None:
    from analyses import trajectory_view

    result = trajectory_view.run(ppo_s1, mazes, max_steps=12)
    steps = len(result.tokens)
    assert 1 <= steps <= 12 and result.activations.shape == (steps, 3, 32)
    assert result.tokens[0].startswith("t=0 ") and str(mazes[0].start_cell) in result.tokens[0]
    # The values are the per-channel maxima of the cached activations.
    from hooked_impala.policy import rollout

    episode = rollout(
        ppo_s1, mazes[:1], max_steps=12, seed=0, keep_observations=True, progress=False
    ).episodes[0]
    with torch.no_grad():
        _, cache = ppo_s1.run_with_cache(
            torch.from_numpy(episode.observations), names_filter=[DEFAULT_LAYER]
        )
    # The values are each channel's maxima, the channels in decreasing variance.
    maxima = cache[DEFAULT_LAYER].amax((2, 3))
    order = result.order[0]
    assert sorted(order) == list(range(32))
    assert torch.allclose(result.activations[:, 0, :], maxima[:, order])
    spread = maxima.var(dim=0, unbiased=False)[order]
    assert (spread[:-1] >= spread[1:]).all()
    assert (result.frames == episode.observations[[0, -1]]).all()
    files = {p.name: p for p in result.save(tmp_path)}
    page = files["trajectory.html"].read_text()
    assert "CircuitsVis" in page and "<script src=" not in page  # JavaScript inlined
    assert len(page) > 100_000
    assert page.count("data:image/png;base64,") == 2  # the maze, first and last step
    assert f"rank 1 = ch {order[0]}" in page
