"""Resampling channel subsets: exact identities, a constructed network whose answer is known,
a hand computation on one observation, bad inputs, and a real run that saves."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from constructed import only_channel_reaches_output

from analyses import resample
from analyses.core.inputs import DEFAULT_LAYER, select_mazes
from analyses.measure.cheese_channels import score_channels
from analyses.measure.splits import selection_mazes
from analyses.resample import compute as resample_compute
from hooked_impala.interventions import replace_activation
from hooked_impala.maze import MazeRenderer, Tile, observe

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mazes():
    with MazeRenderer() as r:
        return select_mazes(4, "easy", first_seed=0, renderer=r)


def test_total_variation_by_hand() -> None:
    p = torch.tensor([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0]])
    q = torch.tensor([[0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    tv = resample_compute.total_variation(p, q)
    assert torch.allclose(tv, torch.tensor([0.3, 1.0]))  # 0.5 (0.3 + 0 + 0.3); disjoint: 1
    assert torch.equal(tv, resample_compute.total_variation(q, p))  # symmetric
    assert torch.equal(resample_compute.total_variation(p, p), torch.zeros(2))
    with pytest.raises(ValueError, match="different shapes"):
        resample_compute.total_variation(p, q[:, :2])
    assert (
        resample_compute.default_subset_size(128) == 11
        and resample_compute.default_subset_size(32) == 3
    )


def test_resampling_a_maze_from_itself_changes_nothing(ppo_s1, mazes) -> None:
    result = resample.run(
        ppo_s1,
        mazes[:3],
        channels=[1, 2, 3],
        sources=mazes[:3],
        positions_per_maze=5,
        random_draws=2,
    )
    assert result.tv.shape == (2, 1 + 2 + 1 + 3, result.tv.shape[2]) and result.tv.shape[2] > 0
    # "same" = the target maze itself: every subset, even the whole layer, changes nothing.
    assert result.tv[0].abs().max() == 0 and result.tv_moves[0].abs().max() == 0
    assert not any(result.skipped.values())
    # "different" = the same maze with its cheese moved: the whole layer does notice.
    assert result.tv[1, result.group("all")].mean() > 0
    n = result.numbers()
    assert n["groups"]["set"]["same"]["mean"] == 0 and n["groups"]["set"]["same"]["ci95"] == [0, 0]


def test_only_the_channel_that_reaches_the_output_matters(mazes) -> None:
    k = 5
    model = only_channel_reaches_output(k)
    result = resample.run(model, mazes, channels=[k], positions_per_maze=4, random_draws=4)
    random = result.group("random")
    assert all(k not in result.subsets[g] for g in random)
    assert result.tv[:, random].abs().max() == 0  # every random subset misses k
    assert (result.tv[:, result.group("set")].mean((1, 2)) > 0).all()  # k's own: both sources
    assert result.tv[:, result.group("single")].mean() > 0
    others = resample.run(model, mazes, channels=[0, 2, 7], positions_per_maze=4, random_draws=0)
    assert others.tv[:, others.group("set")].abs().max() == 0
    assert others.tv[:, others.group("single")].abs().max() == 0
    assert others.tv[:, others.group("all")].mean() > 0  # the whole layer includes k


def test_tv_matches_a_hand_computation_on_one_observation(ppo_s1, mazes) -> None:
    channels = [4, 9, 20]
    result = resample.run(ppo_s1, mazes, channels=channels, positions_per_maze=3, random_draws=1)
    position = 1
    pair = result.pairs[int(result.maze_index[position])]
    cell = tuple(result.cells[position].tolist())
    target = pair.target.with_mouse(cell)
    for c, source_maze in enumerate((pair.same, pair.different)):
        source = source_maze.with_mouse(cell, reflected=target.is_reflected)
        obs = torch.from_numpy(observe([target, source]))
        with torch.no_grad():
            original, cache = ppo_s1.run_with_cache(obs[:1], names_filter=[DEFAULT_LAYER])
            source_act = ppo_s1.run_with_cache(obs[1:], names_filter=[DEFAULT_LAYER])[1]
            mixed = cache[DEFAULT_LAYER].clone()
            mixed[:, channels] = source_act[DEFAULT_LAYER][:, channels]
            patched = ppo_s1.run_with_hooks(
                obs[:1], fwd_hooks=replace_activation(DEFAULT_LAYER, mixed).hooks()
            )
        p = original.probs[0].double().numpy()
        q = patched.probs[0].double().numpy()
        by_hand = 0.5 * sum(abs(a - b) for a, b in zip(p, q))
        assert result.tv[c, 0, position].item() == pytest.approx(by_hand, abs=1e-5)
    assert result.tv[1, 0, position] > 0


def test_bad_channels_layers_and_options(tiny_model, mazes) -> None:
    two = mazes[:2]
    cases = [
        ({"channels": [32]}, ValueError, r"channels \[32\] do not exist .* 32 channels"),
        ({"channels": [-1]}, ValueError, "channels must be >= 0"),
        ({"channels": [3, 3]}, ValueError, "distinct"),
        ({"channels": []}, ValueError, "at least one channel"),
        ({"channels": [1], "cheese_channels": 2}, ValueError, "not both"),
        ({"channels": list(range(20))}, ValueError, "disjoint from the chosen"),
        ({"channels": [1], "layer": "embedder.fc_out"}, ValueError, r"\(N, C, H, W\)"),
        ({"channels": [1], "layer": "embedder.block9"}, KeyError, "unknown hook name"),
        ({"channels": [1], "positions_per_maze": 0}, ValueError, "positions_per_maze"),
        ({"channels": [1], "random_draws": -1}, ValueError, "random_draws"),
        ({"channels": [1], "source": "elsewhere"}, ValueError, "source must be one of"),
        ({"channels": [1], "sources": two[:1]}, ValueError, "one per input"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            resample.run(tiny_model, two, **options)
    with pytest.raises(ValueError, match="list of Maze values"):
        resample.run(tiny_model, [], channels=[1])
    assert resample.count_or_all("all") is None and resample.count_or_all("7") == 7
    with pytest.raises(argparse.ArgumentTypeError, match=">= 1"):
        resample.count_or_all("0")


def test_run_on_the_real_agent_is_consistent_and_saves(ppo_s1, mazes, tmp_path) -> None:
    result = resample.run(
        ppo_s1, mazes, channels=[0, 7, 21], positions_per_maze=4, random_draws=3, seed=1
    )
    n_positions = result.tv.shape[2]
    assert result.positions_considered == 4 * len(mazes)
    assert n_positions + sum(result.skipped.values()) == result.positions_considered
    for i, cell in zip(result.maze_index.tolist(), map(tuple, result.cells.tolist())):
        pair = result.pairs[i]
        assert pair.same.cheese == pair.target.cheese != pair.different.cheese
        assert pair.same.seed == pair.different.seed != pair.target.seed
        assert pair.different.world_grid[cell] == Tile.OPEN  # open, not the cheese
    assert ((result.tv >= 0) & (result.tv <= 1)).all()
    # The movement distribution groups actions, so it moves no more than the actions do.
    assert (result.tv_moves <= result.tv + 1e-6).all()
    again = resample.run(
        ppo_s1, mazes, channels=[0, 7, 21], positions_per_maze=4, random_draws=3, seed=1
    )
    assert torch.equal(again.tv, result.tv) and again.subsets == result.subsets  # seeded

    names = {p.name for p in result.save(tmp_path)}
    assert {"result.json", "arrays.npz", "groups.html", "single_channels.html"} <= names
    saved = json.loads((tmp_path / "result.json").read_text())
    numbers = saved["numbers"]
    assert saved["metadata"]["checkpoint"]["name"] == "model_160022528"
    assert numbers["positions"] == n_positions and numbers["channels"] == [0, 7, 21]
    different = numbers["groups"]["set"]["different"]
    assert different["n"] == n_positions
    assert different["mean"] == pytest.approx(float(result.tv[1, 0].double().mean()), rel=1e-6)
    low, high = different["ci95"]
    assert low <= different["mean"] <= high
    assert set(numbers["single_channels"]) == {"0", "7", "21"}
    assert np.array_equal(np.load(tmp_path / "arrays.npz")["tv"], result.tv.numpy())
    assert "different cheese cell" in result.summary()


def test_subset_from_the_cheese_channel_ranking(ppo_s1, mazes) -> None:
    selection = selection_mazes(mazes[:3])  # ranked on other mazes than it is scored on
    ranking = score_channels(ppo_s1, selection, layer=DEFAULT_LAYER, seed=0).ranked()
    # By default k is 11/128 of the layer: 3 of the agent's 32 channels.
    result = resample.run(ppo_s1, mazes[:3], positions_per_maze=3, random_draws=2)
    assert result.channels == tuple(int(c) for c in list(ranking)[:3])
    assert result.channels_from == "cheese_channels top 3 (ranked on selection mazes)"
    assert result.group_labels()["set"].startswith("cheese channels")
