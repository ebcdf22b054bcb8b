"""The weight analyses: a checkpoint against itself changes nothing, one perturbed channel
ranks first, full-rank truncation is the model itself, and Eckart–Young on a constructed
layer."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from analyses import weight_diff, weight_svd
from analyses.measure.weights import as_matrix, weight_layers
from hooked_impala import HookedImpala, ImpalaConfig, load_pretrained
from hooked_impala.maze import decision_square, mazes_from_seeds

LAYER = "embedder.block2.res1.conv2"


@pytest.fixture(scope="module")
def standin() -> HookedImpala:
    return load_pretrained("standin_s1", device="cpu")


def perturbed(model: HookedImpala, layer: str, channel: int) -> HookedImpala:
    other = copy.deepcopy(model)
    with torch.no_grad():
        weight_layers(other)[layer].weight[channel] += 0.1
    return other


def test_a_checkpoint_against_itself_changed_nothing(standin) -> None:
    layers, channels = weight_diff.relative_changes(standin, copy.deepcopy(standin))
    assert set(layers) == set(weight_layers(standin)) and len(layers) == 18
    assert all(v == 0.0 for v in layers.values())
    assert all(not c.any() for c in channels.values())


def test_one_perturbed_channel_ranks_first(standin) -> None:
    layers, channels = weight_diff.relative_changes(standin, perturbed(standin, LAYER, 5))
    assert max(layers, key=layers.get) == LAYER
    assert [name for name, v in layers.items() if v] == [LAYER]
    assert int(np.argmax(channels[LAYER])) == 5
    assert np.count_nonzero(channels[LAYER]) == 1
    # ‖Δ‖/‖W‖ of that channel, by hand: 0.1 on each of its in·k·k weights.
    layer = weight_layers(standin)[LAYER]
    row = torch.cat([as_matrix(layer.weight)[5], layer.bias[5:6]]).double()
    expected = 0.1 * np.sqrt(as_matrix(layer.weight).shape[1]) / float(row.norm())
    assert channels[LAYER][5] == pytest.approx(expected, rel=1e-5)


def test_before_must_be_named_and_of_the_same_architecture(standin, tmp_path) -> None:
    with pytest.raises(ValueError, match="names no parent: pass --before"):
        weight_diff.load_before(standin, None)
    wide = tmp_path / "s2.pth"
    torch.save({"state_dict": HookedImpala(ImpalaConfig.from_scale(2)).state_dict()}, wide)
    with pytest.raises(ValueError, match="differ in architecture: parameter 'embedder.block1"):
        weight_diff.load_before(standin, str(wide))


def test_full_rank_truncation_is_the_model_itself(standin) -> None:
    obs = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        expected = standin(obs).logits
        full = {n: weight_svd.full_rank(layer) for n, layer in weight_layers(standin).items()}
        with weight_svd.truncated_weights(standin, full):
            assert torch.equal(standin(obs).logits, expected)
        with weight_svd.truncated_weights(standin, {LAYER: 1}):
            assert not torch.allclose(standin(obs).logits, expected)
        assert torch.equal(standin(obs).logits, expected)  # restored


def test_weights_are_restored_after_an_error(standin) -> None:
    before = {k: v.clone() for k, v in standin.state_dict().items()}
    with (
        pytest.raises(RuntimeError, match="inside"),
        weight_svd.truncated_weights(standin, {LAYER: 2}),
    ):
        raise RuntimeError("inside")
    assert all(torch.equal(before[k], v) for k, v in standin.state_dict().items())
    with pytest.raises(ValueError, match="unknown weight layers"):
        with weight_svd.truncated_weights(standin, {"embedder.block9.conv": 1}):
            pass


def test_truncation_of_a_constructed_kernel_follows_eckart_young() -> None:
    """A 4x(2·3·3) kernel with singular values 5, 3, 2, 1: rank r keeps the first r, and
    the error's Frobenius norm is the root sum of squares of the rest."""
    g = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(18, 4, generator=g, dtype=torch.float64))
    s = torch.tensor([5.0, 3.0, 2.0, 1.0], dtype=torch.float64)
    kernel = ((u * s) @ v.T).reshape(4, 2, 3, 3)
    assert torch.allclose(torch.linalg.svdvals(as_matrix(kernel)), s)
    for rank in (1, 2, 3):
        error = (weight_svd.truncated(kernel, rank) - kernel).norm()
        assert float(error) == pytest.approx(float(s[rank:].square().sum().sqrt()), rel=1e-9)
    assert weight_svd.truncated(kernel, 4) is kernel
    assert weight_svd.rank_grid(4) == [1, 2, 3, 4]
    assert weight_svd.rank_grid(15) == [1, 2, 4, 6, 8, 10, 12, 14, 15]
    assert weight_svd.rank_grid(32) == [1, 2, 4, 8, 12, 16, 20, 24, 28, 32]


def test_weight_svd_runs_and_leaves_the_model_as_it_was(standin) -> None:
    from hooked_impala.maze import mazes_from_seeds

    before = {k: v.clone() for k, v in standin.state_dict().items()}
    result = weight_svd.run(
        standin, mazes_from_seeds(range(2), "easy"), max_observations=24, jacobian_observations=2
    )
    assert all(torch.equal(before[k], v) for k, v in standin.state_dict().items())
    numbers = result.numbers()
    # Full rank is within any tolerance: every layer's answer is at most its full rank.
    for name, layer in numbers["layers"].items():
        assert 1 <= layer["smallest_rank_within_tolerance"] <= layer["full_rank"]
        assert result.single[name][-1][1] == 0.0  # full rank: KL exactly 0
    assert result.joint[-1][1:] == (0.0, 1.0)
    assert numbers["jacobian_mean_effective_rank"] > 1.0


def test_scripts_explain_themselves() -> None:
    for name in ("weight_diff", "weight_svd"):
        out = subprocess.run(
            [sys.executable, "-m", f"analyses.{name}", "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "--tolerance" in out if name == "weight_svd" else "--before" in out


def test_weight_diff_end_to_end_with_a_perturbed_checkpoint(standin, tmp_path) -> None:
    after = tmp_path / "after.pth"
    torch.save({"state_dict": perturbed(standin, LAYER, 3).state_dict()}, after)
    out = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analyses.weight_diff",
            "--checkpoint",
            str(after),
            "--before",
            "standin_s1",
            "--mazes",
            "4",
            "--field-mazes",
            "1",
            "--out",
            str(out),
            "--max-steps",
            "30",
            "--device",
            "cpu",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    numbers = json.loads((out / "result.json").read_text())["numbers"]
    assert numbers["most_changed_layer"] == LAYER
    assert numbers["most_changed_channels"][LAYER][0] == 3
    assert numbers["behaviour"]["before"]["cheese_reached"]["n"] == 4


def test_overlap_and_its_chance_by_hand() -> None:
    """Top 2 of 4 channels against a ranking's top 2: overlap 1 has P(>= 1) = 1 - C(2,2)/C(4,2)
    = 5/6, and chance alone gives 2·2/4 = 1 channel."""
    o = weight_diff._overlap([0, 1, 2, 3], [1, 3, 0, 2], top=2, channels=4)
    assert (o["overlap"], o["channels"], o["chance"]) == (1, [1], 1.0)
    assert o["p_value"] == pytest.approx(5 / 6)
    assert weight_diff._overlap([0, 1], [0, 1], top=2, channels=4)["p_value"] == pytest.approx(
        1 / 6
    )


def test_behaviour_of_a_policy_that_never_moves() -> None:
    """A policy whose every action is a no-op stays put at every step and visits only the
    cell it started on; the same mazes under the stand-in move almost always."""
    from hooked_impala.actions import ACTIONS_OF_MOVEMENT, Movement
    from hooked_impala.maze import mazes_from_seeds

    still = HookedImpala(ImpalaConfig()).eval()
    with torch.no_grad():
        still.fc_policy.weight.zero_()
        still.fc_policy.bias.fill_(-1e4)
        still.fc_policy.bias[list(ACTIONS_OF_MOVEMENT[Movement.NOOP])] = 0.0
    mazes = mazes_from_seeds([0, 1])
    seen = weight_diff.behaviour(still, mazes, max_steps=12, seed=0, progress=False)
    assert seen["stayed_put"][0] == 1.0
    assert seen["mean_steps"][0] == 12
    expected = np.mean([1 / len(m.open_cells) for m in mazes])
    assert seen["cells_visited"][0] == pytest.approx(expected)
    assert seen["cheese_reached"]["k"] == 0


def test_the_drawn_fields_are_of_typical_mazes() -> None:
    """Levels 0-7 (easy): sizes 3, 11, 11, 9, 13, 7, 15, 15, median 11; the drawn ones have
    a decision square and sizes nearest 11 among those that do; the 3×3 level 0 is not."""
    mazes = mazes_from_seeds(range(8), "easy")
    chosen = weight_diff.representative(mazes, 2)
    forks = [m for m in mazes if decision_square(m) is not None]
    assert all(decision_square(m) is not None for m in chosen)
    distance = lambda ms: sorted(abs(m.maze_size - 11) for m in ms)  # noqa: E731
    assert distance(chosen) == distance(forks)[:2]
    assert 0 not in [m.seed for m in chosen]
    assert weight_diff.representative(mazes, 0) == [] and weight_diff.representative([], 2) == []
