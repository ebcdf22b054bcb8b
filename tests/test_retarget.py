"""Retargeting by clamping channels at a target: exact identities on constructed networks and
hand-drawn mazes, path probabilities recomputed by hand, clear errors, the real agent."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from constructed import small_model
from maze_art import embed

from analyses import retarget
from analyses.core import cli as analyses_cli
from analyses.core.inputs import DEFAULT_LAYER, select_mazes
from analyses.measure import retarget as retarget_measure
from analyses.measure import retarget_paths
from analyses.measure.cheese_channels import score_channels
from analyses.measure.splits import selection_mazes
from hooked_impala import HookedImpala
from hooked_impala import cli as library_cli
from hooked_impala.actions import Movement
from hooked_impala.interventions import clamp_channels, count_modified, network_size
from hooked_impala.maze import Maze, MazeRenderer, Tile, distance_map, mazes_from_seeds
from hooked_impala.policy import PROCGEN_STEP_LIMIT, rollout
from hooked_impala.stats import spearman

CONSTANT = 0.5  # exactly representable: the clamp writes the very value already there
K = 2  # the constant channel

# An S-shaped corridor from the start (bottom left) to the top right; the cheese on the top
# row, so the two cells beyond it are reachable only through it.
CORRIDOR = """
. C . . .
. # # # #
. . . . .
# # # # .
S . . . .
"""


def constant_channel_model() -> HookedImpala:
    """Channel K of the default layer is CONSTANT everywhere, whatever the observation:
    block 2's conv writes only its bias there, the max-pool of a constant is that constant
    and res1's branch adds exactly zero to it."""
    model = small_model(1)
    with torch.no_grad():
        model.embedder.block2.conv.weight[K] = 0.0
        model.embedder.block2.conv.bias[K] = CONSTANT
        model.embedder.block2.res1.conv2.weight[K] = 0.0
        model.embedder.block2.res1.conv2.bias[K] = 0.0
    return model


@pytest.fixture(scope="module")
def easy_mazes() -> list[Maze]:
    with MazeRenderer() as renderer:
        return select_mazes(2, "easy", first_seed=0, renderer=renderer)


@pytest.fixture(scope="module")
def corridor() -> Maze:
    return embed(CORRIDOR, Maze.from_seed(0, "easy"))


def inner(maze: Maze, row: int, col: int) -> tuple[int, int]:
    return maze.to_world((row, col))


# --- pure pieces ----------------------------------------------------------------------------


def test_geometric_means_and_spearman_on_known_values() -> None:
    probs = np.array([0.5, 0.125, 0.9, 0.0, 0.3])
    segment = np.array([0, 0, 1, 2, 2])
    assert np.allclose(retarget_paths.geometric_means(probs, segment, 3), [0.25, 0.9, 0.0])
    assert spearman(np.arange(5.0), np.arange(5.0) ** 3) == pytest.approx(1.0)
    assert spearman(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)
    # Ties take their mean rank: ranks (0.5, 0.5, 2, 3) against (0, 1, 2, 3).
    assert spearman(np.array([1.0, 1, 2, 3]), np.arange(4.0)) == pytest.approx(
        np.corrcoef([0.5, 0.5, 2, 3], [0, 1, 2, 3])[0, 1]
    )
    assert spearman(np.ones(4), np.arange(4.0)) is None


def test_steps_to_a_path_through_the_maze() -> None:
    wall, open_ = int(Tile.WALL), int(Tile.OPEN)
    # Row 0 is the path; (1, 0) -> (2, 0) -> (2, 1) -> (2, 2) hangs off its left end, and
    # (1, 2) is a wall, so (2, 2) is 4 steps away though it is next to the path's right end.
    grid = np.array(
        [[open_, open_, open_], [open_, wall, wall], [open_, open_, open_]], dtype=np.int32
    )
    dist = distance_map(grid, [(0, 0), (0, 1), (0, 2)])
    assert dist.tolist() == [[0, 0, 0], [1, -1, -1], [2, 3, 4]]


def test_targets_skip_the_start_and_the_cells_behind_the_cheese(corridor) -> None:
    paths, skipped = retarget_paths.target_paths(corridor)
    assert skipped == {
        corridor.start_cell: retarget_paths.SKIP_START,
        inner(corridor, 4, 2): retarget_paths.SKIP_THROUGH_CHEESE,
        inner(corridor, 4, 3): retarget_paths.SKIP_THROUGH_CHEESE,
        inner(corridor, 4, 4): retarget_paths.SKIP_THROUGH_CHEESE,
    }
    assert corridor.cheese in paths  # the cheese's own cell is a target
    assert len(paths[inner(corridor, 2, 0)]) - 1 == 10
    assert retarget_measure.reached_within([(1, 1), (1, 2), (2, 2)], (2, 2), budget=2)
    assert not retarget_measure.reached_within([(1, 1), (1, 2), (2, 2)], (2, 2), budget=1)


# --- known answers ----------------------------------------------------------------------------


def test_path_probabilities_equal_the_geometric_mean_of_direct_forwards(corridor) -> None:
    model = small_model(2)
    target = inner(corridor, 2, 0)
    path = [inner(corridor, 0, c) for c in range(5)] + [inner(corridor, 1, 4)]
    path += [inner(corridor, 2, c) for c in (4, 3, 2, 1, 0)]
    moves = [Movement.RIGHT] * 4 + [Movement.UP] * 2 + [Movement.LEFT] * 4
    # Block 2's grid is 16x16 over the 15x15 world: the square under the cell's centre,
    # counted from the image's top.
    world = corridor.world_size
    square = (
        (2 * (world - 1 - target[0]) + 1) * 16 // (2 * world),
        (2 * target[1] + 1) * 16 // (2 * world),
    )
    clamp = clamp_channels(DEFAULT_LAYER, [3, 5], 4.0, at=square).hooks()
    with MazeRenderer() as renderer:
        here = torch.from_numpy(renderer.observe([corridor.with_mouse(c) for c in path[:-1]]))
        moved = corridor.with_cheese(target)
        there = torch.from_numpy(renderer.observe([moved.with_mouse(c) for c in path[:-1]]))
    steps = torch.arange(len(moves))
    expected = {}
    with torch.no_grad():
        for name, obs, hooks in (
            ("original", here, []),
            ("clamped", here, clamp),
            ("moved_cheese", there, []),
        ):
            probs = model.run_with_hooks(obs, fwd_hooks=hooks).movement_probs.double()
            expected[name] = math.prod(probs[steps, torch.tensor(moves)].tolist()) ** (1 / 10)
    result = retarget_paths.retarget_maze(
        model,
        corridor,
        layer=DEFAULT_LAYER,
        channels=[3, 5],
        magnitude=4.0,
        targets=[target, inner(corridor, 0, 2)],
        batch_size=3,
    )
    assert result.targets[0] == target and result.path_steps.tolist() == [10, 2]
    for name, value in expected.items():
        assert getattr(result, name)[0] == pytest.approx(value, rel=1e-5), name
    assert result.clamped[0] != pytest.approx(expected["original"], rel=1e-3)  # it does act
    assert result.success_ratio[0] == pytest.approx(expected["clamped"] / expected["moved_cheese"])
    assert result.steps_to_top_right_path.tolist() == [0, 0]  # a corridor: all on the path


def test_clamping_a_channel_to_the_value_it_has_changes_nothing(corridor, easy_mazes) -> None:
    model = constant_channel_model()
    maze = easy_mazes[0]
    with MazeRenderer() as renderer:
        obs = torch.from_numpy(renderer.observe([maze, corridor]))
    with torch.no_grad():
        _, cache = model.run_with_cache(obs, names_filter=[DEFAULT_LAYER])
    assert (cache[DEFAULT_LAYER][:, K] == CONSTANT).all()  # the construction holds
    auto = retarget_measure.auto_magnitude(model, [maze, corridor], DEFAULT_LAYER, [K])
    assert auto == retarget_measure.AUTO_MAGNITUDE_MULTIPLE * CONSTANT  # its typical peak is 0.5

    paths, _ = retarget_paths.target_paths(maze)
    targets = list(paths)[::12]
    same = retarget_paths.retarget_maze(
        model, maze, layer=DEFAULT_LAYER, channels=[K], magnitude=CONSTANT, targets=targets
    )
    assert np.array_equal(same.clamped, same.original)
    other = retarget_paths.retarget_maze(
        model, maze, layer=DEFAULT_LAYER, channels=[K], magnitude=CONSTANT + 1, targets=targets
    )
    assert not np.array_equal(other.clamped, other.original)

    cells = targets[: len(obs)]
    for value, changed in ((CONSTANT, 0), (CONSTANT + 1, len(obs))):
        clamp = retarget_paths.clamp_at_cells(DEFAULT_LAYER, [K], value, cells, maze.world_size, 16)
        count = count_modified(model, obs, clamp.hooks())
        assert count.changed == changed
        assert count.fraction == changed / (network_size(model) * len(obs))

    # Rollouts: targets the unmodified mouse visits, so it reaches them by construction; the
    # no-op clamp plays exactly the unmodified episodes (same random numbers), so it does too.
    episode = rollout(model, [maze], max_steps=12, progress=False).episodes[0]
    visited = [c for c in dict.fromkeys(episode.cells) if c != maze.start_cell][:2]
    assert visited  # the mouse moved
    reached = retarget_measure.target_rollouts(
        model,
        [maze] * len(visited),
        visited,
        layer=DEFAULT_LAYER,
        channels=[K],
        magnitude=CONSTANT,
        budget=12,
    )
    assert reached["original"] == reached["clamped"] == [True] * len(visited)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"channels": [8], "cheese_channels": 0}, r"channels \[8\] do not exist .* 8 channels"),
        ({"channels": [-1], "cheese_channels": 0}, r"channels must be >= 0, got -1"),
        ({"channels": [], "cheese_channels": 0}, "at least one channel"),
        ({"channels": [1, 1], "cheese_channels": 0}, "channels must be distinct"),
        ({"channels": [1], "cheese_channels": 2}, "both choose the channels"),
        ({"cheese_channels": 9}, "cheese_channels must be >= 0 and <= 8"),
        (
            {"channels": [1], "cheese_channels": 0, "magnitude": math.nan},
            "magnitude must be a finite",
        ),
        ({"channels": [1], "cheese_channels": 0, "magnitude": "5"}, "magnitude must be a number"),
        ({"channels": [1], "cheese_channels": 0, "layer": "embedder.fc_out"}, "spatial"),
        ({"channels": [1], "cheese_channels": 0, "rollout_steps": 0}, "rollout_steps must be >= 1"),
        ({"channels": [1], "cheese_channels": 0, "batch_size": 0}, "batch_size must be >= 1"),
        (
            {"mazes": torch.zeros(2, 64, 64, 3, dtype=torch.uint8)},
            r"Maze values .*got \['Tensor'\]",
        ),
    ],
)
def test_bad_options_are_named(options, says, easy_mazes, monkeypatch) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("a bad option reached the forward passes")

    monkeypatch.setattr(retarget, "retarget_maze", no_work)
    options = dict(options)
    mazes = options.pop("mazes", easy_mazes)
    with pytest.raises(ValueError, match=says):
        retarget.run(small_model(), mazes, **options)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--magnitude", "nan"], "finite"),
        (["--channels", "-1"], ">= 0"),
        (["--cheese-channels", "-2"], ">= 0"),
        (["--rollout-steps", "501"], "<= 500"),
        (["--layer", "embedder.block9"], "unknown hook name"),
    ],
)
def test_bad_flags_stop_before_loading(argv, says, capsys, monkeypatch) -> None:
    def refuse(name):
        raise AssertionError(f"a bad flag reached load_model({name!r})")

    monkeypatch.setattr(library_cli, "load_model", refuse)
    with pytest.raises(SystemExit) as stop:
        analyses_cli.main(retarget.run.analysis, argv)
    assert stop.value.code == 2 and says in capsys.readouterr().err


# --- the real agent ---------------------------------------------------------------------------


def test_run_on_the_real_agent_saves_a_result(ppo_s1, easy_mazes, tmp_path) -> None:
    result = retarget.run(
        ppo_s1,
        easy_mazes,
        cheese_channels=2,
        max_targets=6,
        targets_per_maze=1,
        rollout_steps=16,
    )
    selection = selection_mazes(easy_mazes)  # chosen on other mazes than it is scored on
    assert not {m.seed for m in selection} & {m.seed for m in easy_mazes}
    assert result.channels == score_channels(ppo_s1, selection).ranked()[:2]
    assert result.numbers()["split"]["selection_seeds"] == [m.seed for m in selection]
    n = result.numbers()
    assert n["targets"] == 12 and n["mazes"] == 2
    # One clamped square per forward pass: 2 channels of the 401,936 values of an s=1 pass.
    assert n["modified"]["changed_per_forward"] == 2
    assert n["modified"]["fraction"] == pytest.approx(2 / 401_936)
    assert n["modified"]["percent_of_hooked"] == pytest.approx(100 * 2 / (32 * 16 * 16))
    for condition in ("clamped", "original", "cheese_moved"):  # one target in each of 2 mazes
        rate = n["rollouts"][condition]
        assert rate["episodes"] == 2 and rate["n"] == 2 and rate["unit"] == "mazes"
        assert rate["value"] == rate["k"] / 2 and "maze bootstrap" in rate["method"]
    arrays = result.arrays()
    assert np.allclose(arrays["success_ratio"], arrays["clamped"] / arrays["moved_cheese"])
    # The means over targets, with intervals over the 2 mazes (not the 12 targets).
    means = n["over_mazes"]
    for key in ("original", "clamped", "moved_cheese"):
        assert means[key]["value"] == pytest.approx(arrays[key].mean()), key
        assert means[key]["n"] == 2 and means[key]["unit"] == "mazes"
    ratio = arrays["clamped"].mean() / arrays["moved_cheese"].mean()
    assert means["ratio_of_means"]["value"] == pytest.approx(ratio)
    names = {p.name for p in result.save(tmp_path)}
    assert {"result.json", "arrays.npz", "heatmap.html", "ratio_by_distance.html"} <= names
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["numbers"]["channels"] == result.channels
    assert "of the network" in result.summary()


def test_corners_use_the_largest_mazes_and_the_top_right_budget(ppo_s1) -> None:
    small = mazes_from_seeds([54, 15], "easy")  # sizes 7 and 9: short episodes
    corners = retarget_measure.corner_experiment(
        ppo_s1, small, layer=DEFAULT_LAYER, channels=[10], magnitude=3.0
    )
    chosen = [m for m in small if m.maze_size == 9]
    assert corners["maze_size"] == 9 and corners["mazes"] == len(chosen) == 1
    assert corners["is_world_size"] is False  # the largest present, not the world's 15
    # The budget: the mean steps to a top-right cheese, rounded up, recomputed here.
    to_top = rollout(
        ppo_s1,
        [m.with_cheese(m.top_right_cell) for m in chosen],
        max_steps=PROCGEN_STEP_LIMIT,
        progress=False,
    )
    steps = [e.steps for e in to_top.episodes if e.reached_cheese]
    assert corners["budget"] == math.ceil(np.mean(steps))
    for name in ("top_left", "bottom_right"):
        entry = corners["targets"][name]
        assert entry["clamped"]["n"] + entry["skipped"] == len(chosen)
        assert entry["path_within_budget"]["n"] == entry["clamped"]["n"]
    assert corners["modified"]["changed_per_forward"] == 1


def test_distance_bins_from_too_few_mazes_are_not_drawn() -> None:
    """Three mazes' targets at distance 1, one maze's at distance 2: only distance 1 is drawn;
    the per-size traces are points, not lines joining bins."""
    from types import SimpleNamespace

    from analyses.retarget.figures import ratio_by_distance

    per_maze = [
        SimpleNamespace(targets=[0, 1], maze=SimpleNamespace(maze_size=9, seed=1)),
        SimpleNamespace(targets=[0], maze=SimpleNamespace(maze_size=9, seed=2)),
        SimpleNamespace(targets=[0], maze=SimpleNamespace(maze_size=11, seed=3)),
    ]
    columns = {
        "steps_to_top_right_path": np.array([1, 2, 1, 1]),
        "success_ratio": np.array([0.5, 0.9, 0.7, 0.6]),
    }
    result = SimpleNamespace(per_maze=per_maze, flat=columns.__getitem__)
    fig = ratio_by_distance(result)
    everything = [t for t in fig.data if t.name == "all mazes"]
    assert len(everything) == 1 and list(everything[0].x) == [1]
    assert everything[0].y[0] == 0.6 and "in 3 mazes" in everything[0].text[0]
    assert [t.name for t in fig.data] == ["all mazes"]  # no size has 3 mazes in a bin
