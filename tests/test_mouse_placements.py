"""The composited mouse sweep equals one procgen render per cell, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest

from hooked_impala.maze import Maze, MazeRenderer
from hooked_impala.maze.mouse_placements import observe_mouse_on_cells
from hooked_impala.policy import vector_field_cells


@pytest.fixture(scope="module")
def renderer():
    with MazeRenderer() as r:
        yield r


@pytest.mark.parametrize("mode,seed", [("hard", 17), ("hard", 3), ("easy", 5), ("easy", 1000)])
@pytest.mark.parametrize("reflected", [None, True, False])
def test_sweep_equals_single_renders(renderer, mode, seed, reflected) -> None:
    maze = Maze.from_seed(seed, distribution_mode=mode)
    cells = vector_field_cells(maze)
    swept = observe_mouse_on_cells(maze.to_state(), cells, renderer, reflected=reflected)
    singles = renderer.observe([maze.with_mouse(c, reflected=reflected) for c in cells])
    assert swept.shape == (len(cells), 64, 64, 3) and swept.dtype == np.uint8
    mismatched = [cells[i] for i in np.flatnonzero((swept != singles).any(axis=(1, 2, 3)))]
    assert mismatched == []
    # Not vacuous: the mouse is visible, so different cells give different frames.
    assert (swept[0] != swept[-1]).any()


def test_sweep_after_edits(renderer) -> None:
    maze = Maze.from_seed(42, distribution_mode="hard")
    cheese = maze.cheese
    moved = maze.with_cheese(maze.top_right_cell) if maze.top_right_cell != cheese else maze
    cells = vector_field_cells(moved)
    swept = observe_mouse_on_cells(moved.to_state(), cells, renderer)
    singles = renderer.observe([moved.with_mouse(c) for c in cells])
    assert np.array_equal(swept, singles)
