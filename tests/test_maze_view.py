"""analyses.maze_view: one maze under a composed intervention (what the explorer shows).

Ground truths: each intervention's field equals the vector field under the toolkit's own
intervention built by hand; the flags reproduce the settings; the channel rankings of
constructed maps; the saved state round-trips.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from analyses.cheese_vector import cheese_vector
from analyses.core import cli as analyses_cli
from analyses.maze_view import (
    STATE_FILE,
    InterventionSettings,
    channel_maps,
    load_state,
    maps_figure,
    run,
    top_channels,
    view,
)
from analyses.measure.steering import activation_difference
from hooked_impala import load_pretrained
from hooked_impala.interventions import add_vector, clamp_channels, hooks_of, remove_relus
from hooked_impala.maze import Maze, MazeRenderer, layer_position
from hooked_impala.policy import vector_field

LAYER = "embedder.block2.res1.resadd_out"
#: An inner cell of easy seed 3 off the diagonal (rows and columns swapped would differ).
CLAMP_CELL = (11, 6)


@pytest.fixture(scope="module")
def standin():
    return load_pretrained("standin_s1", progress=False)


@pytest.fixture(scope="module")
def maze() -> Maze:
    return Maze.from_seed(3)  # easy, 15×15 world with a margin


def by_hand(model, maze: Maze, part: str):
    """The toolkit's own intervention for one part of the settings below."""
    size = model.hook_shapes(1)[LAYER][-1]
    if part == "cheese":
        return add_vector(LAYER, cheese_vector(model, maze, LAYER)[0], -2.0)
    if part == "top_right":
        vector = activation_difference(model, maze.with_top_right_path(), maze, LAYER)[0]
        return add_vector(LAYER, vector, 3.0)
    if part == "clamp":
        at = layer_position(CLAMP_CELL, maze.world_size, size)
        return clamp_channels(LAYER, (3, 7), 30.0, at=at)
    return remove_relus(model)


PARTS = {
    "cheese": {"cheese_coeff": -2.0},
    "top_right": {"top_right_coeff": 3.0},
    "clamp": {"clamp_channels": (3, 7), "clamp_value": 30.0},
    "relus": {"remove_relus": True},
}


@pytest.mark.parametrize("parts", [["cheese"], ["top_right"], ["clamp"], ["relus"], list(PARTS)])
def test_each_intervention_is_the_toolkits_own(standin, maze, parts) -> None:
    chosen = {k: v for part in parts for k, v in PARTS[part].items()}
    settings = InterventionSettings(clamp_cell=CLAMP_CELL, **chosen)
    hooks = hooks_of(*(by_hand(standin, maze, part) for part in parts))
    expected = vector_field(standin, maze, hooks, method="full")
    result = view(standin, maze, settings, rollout_kind="none")
    np.testing.assert_allclose(result.intervened.probs, expected.probs, atol=1e-5)
    # Each part changes the field on its own (the stand-in's policy is nearly deterministic,
    # so small coefficients change nothing visible).
    assert np.abs(result.intervened.probs - result.original.probs).max() > 0.01
    assert 0 < result.modified.fraction < 1
    assert result.episode is None


def test_no_intervention_is_the_original(standin, maze) -> None:
    result = view(standin, maze, InterventionSettings(clamp_channels=(3,)), max_steps=8)
    assert result.intervened is result.original  # channels without a cell clamp nothing
    assert result.modified is None
    np.testing.assert_array_equal(result.maps[0], result.maps[1])
    assert len(result.episode.cells) <= 9
    assert set(result.figures()) == {"field", "maps", "rollout"}


@pytest.mark.parametrize(
    ("settings", "edit", "message"),
    [
        (InterventionSettings(cheese_coeff=1.0), Maze.without_cheese, "needs a cheese"),
        (InterventionSettings(top_right_coeff=1.0), None, "needs a wall margin"),
        (InterventionSettings(clamp_channels=(99,), clamp_cell=(1, 1)), None, "99"),
        (InterventionSettings(layer="fc_policy_out", cheese_coeff=1.0), None, "fc_policy"),
    ],
)
def test_interventions_that_do_not_apply_say_why(standin, maze, settings, edit, message) -> None:
    target = Maze.from_seed(17, "hard") if "margin" in message else maze
    target = edit(target) if edit else target
    with pytest.raises(ValueError, match=message):
        settings.hooks(standin, target)


def test_flags_reproduce_the_settings(standin, maze, tmp_path) -> None:
    settings = InterventionSettings(
        cheese_coeff=-1.5, clamp_channels=(3, 7), clamp_value=2.5, clamp_cell=(5, 6)
    )
    state = tmp_path / "m.state"
    state.write_bytes(maze.to_state())
    argv = [
        "--state",
        str(state),
        *settings.flags(),
        "--rollout",
        "none",
        "--out",
        str(tmp_path / "out"),
    ]
    assert analyses_cli.main(run.analysis, argv) == 0
    saved = json.loads((tmp_path / "out" / "result.json").read_text())
    assert (
        InterventionSettings(
            **{
                **saved["metadata"]["parameters"]["intervention"],
                "clamp_channels": (3, 7),
                "clamp_cell": (5, 6),
            }
        )
        == settings
    )
    assert saved["metadata"]["parameters"]["intervention"]["clamp_cell"] == [5, 6]
    assert load_state(tmp_path / "out" / STATE_FILE) == maze
    assert InterventionSettings().flags() == []


def test_channel_maps_see_the_intervention(standin, maze) -> None:
    """Adding 2·v at the maps' own hook moves the intervened maps by exactly 2·v."""
    obs = torch.from_numpy(MazeRenderer().observe([maze]))
    shape = standin.hook_shapes(1)[LAYER][1:]
    vector = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    maps = channel_maps(standin, obs, LAYER, add_vector(LAYER, vector, 2.0).hooks())
    assert maps.shape == (2, *vector.shape)
    torch.testing.assert_close(maps[1] - maps[0], 2.0 * vector, atol=1e-5, rtol=0)


def test_top_channels_by_each_ranking(maze) -> None:
    i, j = layer_position(maze.mouse, maze.world_size, 3)
    maps = torch.zeros(2, 4, 3, 3)
    maps[0, 1, (i + 1) % 3, j] = 5.0  # the largest value, not at the mouse's square
    maps[0, 2, i, j] = -3.0  # the largest at the mouse's square
    maps[1] = maps[0]
    maps[1, 3] += 1.0  # the only channel the intervention changes
    assert top_channels(maps, "peak", maze, 2) == [1, 2]
    assert top_channels(maps, "mouse", maze, 1) == [2]
    assert top_channels(maps, "change", maze, 1) == [3]
    assert top_channels(maps, "change", maze, 4) == [3]  # unchanged channels are not listed
    with pytest.raises(ValueError, match="ranking"):
        top_channels(maps, "loudest", maze, 1)


def test_bad_state_files_are_named(tmp_path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_state(tmp_path / "missing.state")
    bad = tmp_path / "bad.state"
    bad.write_bytes(b"not a maze")
    with pytest.raises(ValueError, match="bad.state is not a maze state"):
        load_state(bad)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--state", "no/such.state"], "cannot read the maze state file no/such.state"),
        (["--clamp-channels", "3", "--clamp-cell", "1", "2", "3"], "--clamp-cell takes ROW COL"),
        (["--clamp-channels", "3"], "--clamp-channels needs --clamp-cell"),
        (["--clamp-channels", "3", "--clamp-cell", "0", "0"], "outside the maze"),
    ],
)
def test_the_script_names_bad_arguments(argv, says, tmp_path, capsys) -> None:
    assert analyses_cli.main(run.analysis, [*argv, "--mazes", "1", "--out", str(tmp_path)]) == 2
    assert says in capsys.readouterr().err


def test_no_channels_to_show_is_said_not_drawn() -> None:
    fig = maps_figure(
        np.zeros((2, 0, 3, 3)), [], "embedder.block2.res1.resadd_out", "change", (1, 1)
    )
    assert "none changed" in fig.layout.annotations[0].text
