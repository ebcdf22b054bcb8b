"""The top-right vector: exact identities of activation addition on the real agent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analyses import top_right_vector
from analyses.core.inputs import DEFAULT_LAYER, select_mazes
from analyses.measure.steering import SteeringExtras, activation_difference, activations_at
from hooked_impala.interventions import add_vector
from hooked_impala.maze import MazeRenderer, decision_points, observe


@pytest.fixture(scope="module")
def mazes():
    with MazeRenderer() as r:
        chosen = select_mazes(6, "easy", first_seed=0, renderer=r)
    return [m for m in chosen if m.margin > 0]


def test_adding_the_vector_gives_the_top_right_maze_activations(ppo_s1, mazes) -> None:
    maze = mazes[0]
    path = maze.with_top_right_path()
    vector = activation_difference(ppo_s1, path, maze)
    with torch.no_grad(), ppo_s1.hooks(fwd_hooks=add_vector(DEFAULT_LAYER, vector, 1.0).hooks()):
        out, cache = ppo_s1.run_with_cache(torch.from_numpy(observe([maze])))
    clean = ppo_s1(torch.from_numpy(observe([path])))
    assert torch.allclose(
        cache[DEFAULT_LAYER], activations_at(ppo_s1, [path], DEFAULT_LAYER), atol=1e-5
    )
    assert torch.allclose(out.logits, clean.logits, atol=1e-4)
    assert vector.abs().max() > 0  # the path changes the layer


def test_sweep_identities_and_composition(ppo_s1, mazes, tmp_path) -> None:
    result = top_right_vector.run(
        ppo_s1, mazes, coeffs=(0.0, 1.0), extras=SteeringExtras(rollout_max_steps=32)
    )
    points = [p for p in decision_points(mazes) if p.maze.margin > 0]
    assert result.p_cheese.shape == (2, 2, len(points))
    with torch.no_grad():
        probs = ppo_s1(torch.from_numpy(observe([p.maze for p in points]))).movement_probs
    rows = torch.arange(len(points))
    top = probs[rows, torch.tensor([int(p.top_right_move) for p in points])]
    cheese = probs[rows, torch.tensor([int(p.cheese_move) for p in points])]
    # Coefficient 0 changes nothing, for the own and the transferred vector alike.
    for kind in range(2):
        assert torch.allclose(result.p_top_right[kind, 0], top, atol=1e-6)
        assert torch.allclose(result.p_cheese[kind, 0], cheese, atol=1e-6)
    # "neither" is the unsteered policy; "top-right x(+1)" is the sweep's own vector at +1.
    assert torch.allclose(result.composed_p_top_right[0], top, atol=1e-6)
    assert torch.allclose(result.composed_p_top_right[2], result.p_top_right[0, 1], atol=1e-6)
    comp = result.numbers()["composition"]
    gap = comp["additivity_p_top_right"]
    assert (
        gap["mean_abs_gap"]
        >= abs(gap["mean_joint_effect"] - gap["mean_sum_of_single_effects"]) - 1e-9
    )
    assert set(result.rollouts) == {"original", "top-right vector x(+1)"}
    assert result.rollouts["original"]["success"]["n"] == len(points)
    saved = {p.name for p in result.save(tmp_path)}
    assert {"coefficient_sweep.html", "composition.html", "vector_field_diff.html"} <= saved


def test_mazes_without_margin_are_refused(ppo_s1, as_in_production) -> None:
    from hooked_impala.maze import mazes_from_seeds

    full = [m for m in mazes_from_seeds(range(60), "easy") if m.margin == 0]
    with pytest.raises(ValueError, match="wall margin"):
        top_right_vector.run(ppo_s1, full, extras=SteeringExtras(rollouts=False, field=False))


def test_the_pair_figure_boxes_the_pixels_that_differ() -> None:
    """Two planted frames differing in a 2x2 patch: a red box around it on both panels."""
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    frames[0, 3:5, 60:62] = 255
    holder = type("Pair", (), {"pair_observations": frames})()
    fig = top_right_vector.TopRightVectorResult.pair_figure(holder)
    boxes = [(s.x0, s.x1, s.y0, s.y1) for s in fig.layout.shapes]
    assert boxes == [(58.5, 62.5, 1.5, 5.5)] * 2 and "4 pixels differ" in fig.layout.title.text
