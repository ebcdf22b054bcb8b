"""The incremental forward: the same numbers as a full forward (up to float rounding) on
vector fields of easy, hard and tiny mazes, both scales, under every toolkit intervention;
windows that really stay small; hooks that cannot run on windows see full activations."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from hooked_impala import HookedImpala, ImpalaConfig, load_pretrained
from hooked_impala.incremental import incremental_forward, incremental_pays, window_fractions
from hooked_impala.interventions import (
    ablate_channels,
    add_vector,
    clamp_channels,
    remove_relus,
    replace_activation,
)
from hooked_impala.maze import Maze, MazeRenderer
from hooked_impala.policy import vector_field, vector_field_cells
from tests.maze_art import embed

TOL = 1e-5
LAYER = "embedder.block2.res1.resadd_out"  # the cheese-vector layer


def observations(maze: Maze) -> torch.Tensor:
    with MazeRenderer() as renderer:
        cells = vector_field_cells(maze)
        return torch.from_numpy(renderer.observe([maze.with_mouse(c) for c in cells]))


TINY = embed("S . C\n. # .\n. . .", Maze.from_seed(0, distribution_mode="easy"))
MAZES = {
    "hard 25x25": Maze.from_seed(17, distribution_mode="hard"),
    "easy": Maze.from_seed(3, distribution_mode="easy"),
    "tiny 3x3": TINY,
}


@pytest.fixture(scope="module")
def standin() -> HookedImpala:
    return load_pretrained("standin_s1", device="cpu")


@pytest.fixture(scope="module")
def wide() -> HookedImpala:
    """A random s=4 network, its policy head scaled up so that its field varies from cell
    to cell (a random head gives nearly the same distribution everywhere, testing little)."""
    torch.manual_seed(4)
    model = HookedImpala(ImpalaConfig.from_scale(4)).eval()
    with torch.no_grad():
        model.fc_policy.weight.mul_(30.0)
    return model


def movement_probs(model, obs, fwd_hooks=(), method="full", max_window_fraction=0.5):
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
        if method == "incremental":
            return incremental_forward(model, obs, None, max_window_fraction).movement_probs
        return model(obs).movement_probs


def test_the_tiny_maze_is_three_by_three() -> None:
    assert TINY.world_size == 15 and len(vector_field_cells(TINY)) == 7


@pytest.mark.parametrize("name", list(MAZES))
def test_incremental_equals_full_on_every_maze_at_s1(standin, name) -> None:
    obs = observations(MAZES[name])
    full = movement_probs(standin, obs)
    incremental = movement_probs(standin, obs, method="incremental")
    assert (incremental - full).abs().max() <= TOL
    with torch.no_grad():
        values = incremental_forward(standin, obs).value, standin(obs).value
    assert (values[0] - values[1]).abs().max() <= 1e-4


@pytest.mark.parametrize("name", ["hard 25x25", "tiny 3x3"])
def test_incremental_equals_full_at_s4(wide, name) -> None:
    obs = observations(MAZES[name])
    assert (
        movement_probs(wide, obs, method="incremental") - movement_probs(wide, obs)
    ).abs().max() <= TOL


def test_windows_stay_small_early_and_grow_one_position_per_convolution(standin) -> None:
    """The point of the method: block 1 recomputes a few percent of its grid."""
    fractions = window_fractions(standin, observations(MAZES["hard 25x25"]))
    assert fractions["embedder.block1.conv_out"] < 0.01
    assert fractions["embedder.block1.res2.conv2_out"] < 0.2
    side = lambda name: round((fractions[name] * 32 * 32) ** 0.5)
    grow = side("embedder.block1.res1.conv2_out") - side("embedder.block1.res1.conv1_out")
    assert grow == 2  # one more position on each side per 3x3 convolution
    # Every spatial layer up to block 2 ran on windows (max_window_fraction 1.0).
    assert "embedder.block2.res2.resadd_out" in fractions


def interventions(model: HookedImpala, obs: torch.Tensor) -> dict:
    """Each toolkit intervention, with values shared by every observation (positionwise) or
    given per observation (not), and whether the incremental pass keeps windows through it."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        _, cache = model.run_with_cache(obs, names_filter=LAYER)
    c, h, w = cache[LAYER].shape[1:]
    scale = float(cache[LAYER].std())  # vectors the size of the activations, as a cheese vector
    vector = scale * torch.randn(c, h, w, generator=g, dtype=torch.float64)
    return {
        "add vector": (add_vector(LAYER, vector, -2.0), True),
        "add vector per observation": (
            add_vector(
                LAYER, scale * torch.randn(len(obs), c, h, w, generator=g, dtype=torch.float64)
            ),
            False,
        ),
        "clamp at a position": (clamp_channels(LAYER, [1, 5], float(10 * scale), at=(3, 12)), True),
        "clamp per observation": (
            clamp_channels(
                LAYER, [1], float(10 * scale), at=torch.randint(0, h, (len(obs), 2), generator=g)
            ),
            False,
        ),
        "clamp everywhere": (clamp_channels(LAYER, [0, 2], 1.5), True),
        "zero ablation": (ablate_channels(LAYER, [3, 4]), True),
        "mean ablation": (ablate_channels(LAYER, range(8), "mean", cache[LAYER]), False),
        "replace activation": (replace_activation(LAYER, cache[LAYER][0]), True),
        "remove every ReLU": (remove_relus(model), True),
    }


@pytest.mark.parametrize("model_name", ["standin", "wide"])
def test_incremental_equals_full_under_every_intervention(request, model_name) -> None:
    # In float64, so that rounding (amplified by the larger interventions) cannot hide an
    # error: the two methods must agree to 1e-9.
    model = copy.deepcopy(request.getfixturevalue(model_name)).double()
    obs = observations(MAZES["hard 25x25"])
    if model_name == "wide":
        obs = obs[::8]  # an eighth of the cells: s=4 float64 passes are slow
    for label, (intervention, positionwise) in interventions(model, obs).items():
        hooks = intervention.hooks()
        full = movement_probs(model, obs, hooks)
        # Windows all the way through block 2, so that they pass the intervention's layer.
        incremental = movement_probs(model, obs, hooks, "incremental", max_window_fraction=1.0)
        assert (incremental - full).abs().max() <= 1e-9, label
        if label != "remove every ReLU":  # it changes the field (checked below for the rest)
            assert (full - movement_probs(model, obs)).abs().max() > 10 * TOL, label
        with model.hooks(fwd_hooks=hooks):
            windowed = window_fractions(model, obs)
        # Positionwise interventions keep the windows through their layer; the others end
        # them just before it.
        assert (LAYER in windowed) == positionwise, label
        assert ("embedder.block1.res1.relu1_out" in windowed) == (
            positionwise or label != "remove every ReLU"
        ), label


def test_a_hook_that_cannot_run_on_windows_sees_full_activations(standin) -> None:
    obs = observations(MAZES["easy"])
    seen = []

    def double(activation, hook):
        seen.append(tuple(activation.shape))
        return activation * 2

    hooks = [("embedder.block1.res2.conv1_out", double)]
    full = movement_probs(standin, obs, hooks)
    seen.clear()
    incremental = movement_probs(standin, obs, hooks, method="incremental")
    assert (incremental - full).abs().max() <= TOL
    assert seen == [(len(obs), 16, 32, 32)]


def test_any_reference_gives_the_same_numbers(standin) -> None:
    """The reference only decides where windows are; a poor one (another maze) costs time."""
    obs = observations(MAZES["easy"])
    other = observations(MAZES["hard 25x25"])[:1]
    with torch.no_grad():
        expected = standin(obs).movement_probs
        got = incremental_forward(standin, obs, reference=other).movement_probs
    assert (got - expected).abs().max() <= TOL


def test_vector_field_methods_agree_and_auto_picks_incremental_for_big_batches(
    standin, wide
) -> None:
    maze = MAZES["hard 25x25"]
    fields = {m: vector_field(standin, maze, method=m) for m in ("full", "incremental", "auto")}
    assert np.abs(fields["incremental"].probs - fields["full"].probs).max() <= TOL
    assert np.array_equal(fields["auto"].probs, fields["incremental"].probs)
    assert incremental_pays(standin, 336) and not incremental_pays(standin, 40)
    assert incremental_pays(wide, 40)


def test_bad_arguments_name_the_problem(standin, as_in_production) -> None:
    obs = observations(MAZES["tiny 3x3"])
    with pytest.raises(ValueError, match="reference must be one observation"):
        incremental_forward(standin, obs, reference=obs[:2])
    with pytest.raises(ValueError, match="max_window_fraction"):
        incremental_forward(standin, obs, max_window_fraction=1.5)
    with pytest.raises(ValueError, match="method must be"):
        vector_field(standin, MAZES["tiny 3x3"], method="fast")


@pytest.mark.parametrize("shape", [(16, 16, 16), (32, 8, 8), (1, 32, 16, 15)])
@pytest.mark.parametrize("method", ["full", "incremental"])
def test_a_wrong_shaped_vector_names_the_hook_either_way(standin, shape, method) -> None:
    steer = add_vector(LAYER, torch.ones(shape)).hooks()
    with pytest.raises(ValueError, match=re.escape(f"vector at '{LAYER}' has shape {shape}")):
        vector_field(standin, MAZES["tiny 3x3"], steer, method=method)


def test_an_empty_batch_gives_an_empty_output_as_the_full_forward(standin) -> None:
    for empty in (torch.zeros(0, 64, 64, 3, dtype=torch.uint8), torch.zeros(0, 3, 64, 64)):
        with torch.no_grad():
            full, incremental = standin(empty), incremental_forward(standin, empty)
        assert incremental.logits.shape == full.logits.shape == (0, 15)
        assert incremental.value.shape == full.value.shape == (0,)
        assert window_fractions(standin, empty) == {}
