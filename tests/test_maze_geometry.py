"""Geometry on hand-drawn mazes with hand-computed answers, plus invariants on real mazes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from maze_art import embed, inner_grid

from hooked_impala.actions import Movement
from hooked_impala.maze import (
    TOP_RIGHT_5,
    Maze,
    MazeRenderer,
    Region,
    Tile,
    decision_points,
    decision_square,
    distance_map,
    fork_cell,
    maze_features,
    mazes_from_seeds,
    path_to_cheese,
    path_to_top_right,
    shortest_path,
)

# Inner mazes, top row first (as they look on screen). S = start (bottom-left), C = cheese.
DS5 = """
. . . . .
. # # # .
. . C # .
. # # # .
S # . . .
"""  # paths split at inner (2, 0): cheese goes right, the top-right path goes up.
NO_DS5 = """
. . . . .
. # # # .
. # C . .
. # # # .
S # . . .
"""  # the only way to the cheese passes the top-right cell.
DS3 = """
C # .
. # .
S . .
"""  # paths split at the start itself.
NO_DS3 = """
. . .
. # C
S # .
"""  # the cheese lies beyond the top-right cell.
ON_THE_WAY3 = """
. . .
C # .
S # .
"""  # the cheese lies on the way to the top-right cell.


@pytest.fixture(scope="module")
def renderer():
    with MazeRenderer() as r:
        yield r


@pytest.fixture(scope="module")
def templates(renderer):
    return {mode: Maze.from_seed(0, mode, renderer=renderer) for mode in ("easy", "hard")}


# ---------------------------------------------------------------- grid level


def test_shortest_paths_on_the_inner_grid() -> None:
    g = inner_grid(DS5)
    assert shortest_path(g, (0, 0), (2, 2)) == [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2)]
    assert shortest_path(g, (0, 0), (4, 4)) == [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 0),
        (4, 1),
        (4, 2),
        (4, 3),
        (4, 4),
    ]
    assert shortest_path(g, (2, 2), (2, 2)) == [(2, 2)]
    assert shortest_path(g, (0, 0), (0, 1)) is None  # a wall
    assert shortest_path(g, (0, 1), (0, 0)) is None


def test_distance_map_by_hand() -> None:
    d = distance_map(inner_grid(DS5), (0, 0))
    assert d.shape == (5, 5)
    assert d[0, 0] == 0 and d[2, 2] == 4 and d[4, 4] == 8
    assert d[0, 2] == 14  # the long way round: up, across, down the right side, left
    assert (d[inner_grid(DS5) == Tile.WALL] == -1).all()
    g = inner_grid(DS5)
    g[2, 0] = Tile.WALL  # cut the left column: the top and the cheese become unreachable
    d = distance_map(g, (0, 0))
    assert d[1, 0] == 1 and d[2, 2] == -1 and d[4, 4] == -1
    assert shortest_path(g, (0, 0), (4, 4)) is None


def test_distance_map_from_several_sources() -> None:
    """The nearest source counts: in an open 3x5 strip with both end columns as sources,
    the middle column is farthest; no source reaches nothing; a wall source is skipped."""
    g = np.full((3, 5), int(Tile.OPEN), dtype=np.int64)
    d = distance_map(g, [(0, 0), (0, 4)])
    assert d[0].tolist() == [0, 1, 2, 1, 0] and d[2].tolist() == [2, 3, 4, 3, 2]
    assert (distance_map(g, []) == -1).all()
    g[0, 4] = Tile.WALL
    assert distance_map(g, [(0, 0), (0, 4)])[0, 3] == 3
    assert (distance_map(g, [(0, 0), (0, 4)]) == distance_map(g, (0, 0))).all()


def test_tie_breaking_moves_vertically_first() -> None:
    """In an open 3x3 there are 6 shortest paths; BFS expanding UP, DOWN, LEFT, RIGHT
    with first-come parents moves vertically first: from the bottom-left up the left
    column then right, from the top-right down the right column then left."""
    g = np.full((3, 3), int(Tile.OPEN), dtype=np.int32)
    assert shortest_path(g, (0, 0), (2, 2)) == [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2)]
    assert shortest_path(g, (2, 2), (0, 0)) == [(2, 2), (1, 2), (0, 2), (0, 1), (0, 0)]


def test_grid_errors() -> None:
    g = inner_grid(DS3)
    with pytest.raises(ValueError, match=r"goal \(3, 0\) is outside the 3x3 grid"):
        shortest_path(g, (0, 0), (3, 0))
    with pytest.raises(ValueError, match=r"source \(-1, 0\)"):
        distance_map(g, (-1, 0))


def test_fork_cell() -> None:
    a = [(0, 0), (1, 0), (2, 0), (2, 1)]
    assert fork_cell(a, [(0, 0), (1, 0), (1, 1)]) == (1, 0)
    assert fork_cell(a, [(0, 0), (0, 1)]) == (0, 0)
    assert fork_cell(a, a[:2]) is None and fork_cell(a[:2], a) is None  # no real fork
    assert fork_cell(a, a) is None
    assert fork_cell(a, None) is None and fork_cell(None, a) is None


# ---------------------------------------------------------------- maze level


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_features_with_a_decision_square(templates, mode) -> None:
    maze = embed(DS5, templates[mode])
    m = maze.margin
    assert m == {"easy": 5, "hard": 10}[mode]

    def w(r, c):
        return (r + m, c + m)

    assert decision_square(maze) == w(2, 0)
    assert path_to_cheese(maze) == [w(0, 0), w(1, 0), w(2, 0), w(2, 1), w(2, 2)]
    assert path_to_top_right(maze)[-1] == maze.top_right_cell == w(4, 4)
    f = maze_features(maze)
    assert f.as_dict() == {
        "maze_size": 5,
        "start": w(0, 0),
        "cheese": w(2, 2),
        "top_right": w(4, 4),
        "decision_square": w(2, 0),
        "steps_to_cheese": 4,
        "steps_to_top_right": 8,
        "steps_decision_to_cheese": 2,
        "euclid_decision_to_cheese": 2.0,
        "steps_decision_to_top_right": 6,  # up 2, right 4
        "euclid_decision_to_top_right": math.sqrt(20),
        "steps_decision_to_top_right_region": 0,  # the 5x5 region is the whole maze
        "euclid_decision_to_top_right_region": 0.0,
        "steps_cheese_to_top_right": 8,  # back left 2, up 2, right 4
        "euclid_cheese_to_top_right": math.sqrt(8),
        "steps_cheese_to_top_right_region": 0,
        "euclid_cheese_to_top_right_region": 0.0,
        "cheese_up_right_from_decision": True,  # two steps right
        "decision_to_left_wall": 0,
        "cheese_in_top_right_region": True,
    }
    f3 = maze_features(maze, k=3)  # region rows/cols 2..4: nearest open cell is the cheese
    assert (f3.euclid_decision_to_top_right_region, f3.cheese_in_top_right_region) == (2.0, True)
    f2 = maze_features(maze, k=2)  # region rows/cols 3..4; open (3,4), (4,3), (4,4)
    assert f2.euclid_decision_to_top_right_region == pytest.approx(math.sqrt(13))
    assert f2.cheese_in_top_right_region is False
    assert (f2.steps_decision_to_top_right_region, f2.steps_cheese_to_top_right_region) == (5, 7)
    assert f2.euclid_cheese_to_top_right_region == pytest.approx(math.sqrt(5))  # to (3, 4)
    # From the inner top-left the cheese lies below: not reachable by up/right moves.
    assert maze_features(maze, start=w(4, 0)).cheese_up_right_from_decision is False
    # From another start (inner top-left) the paths split right there.
    assert decision_square(maze, start=w(4, 0)) == w(4, 0)
    assert maze_features(maze, start=w(4, 0)).steps_to_cheese == 4
    # The default start is the spawn cell, wherever the mouse is now.
    assert decision_square(maze.with_mouse(w(4, 0))) == w(2, 0)


def test_features_without_a_decision_square(templates) -> None:
    maze = embed(NO_DS5, templates["hard"])

    def w(r, c):
        return (r + 10, c + 10)

    assert path_to_cheese(maze)[8] == maze.top_right_cell
    f = maze_features(maze)
    assert f.decision_square is None and decision_square(maze) is None
    assert (f.steps_to_cheese, f.steps_to_top_right) == (12, 8)
    assert f.steps_decision_to_cheese is None and f.euclid_decision_to_cheese is None
    assert f.euclid_decision_to_top_right_region is None
    assert f.euclid_cheese_to_top_right == pytest.approx(math.sqrt(8))
    assert f.cheese == w(2, 2)


@pytest.mark.parametrize("art,expected_inner", [(DS3, (0, 0)), (NO_DS3, None), (ON_THE_WAY3, None)])
def test_three_by_three(templates, art, expected_inner) -> None:
    maze = embed(art, templates["hard"])
    assert (maze.maze_size, maze.margin) == (3, 11)
    expected = None if expected_inner is None else maze.to_world(expected_inner)
    assert decision_square(maze) == expected
    f = maze_features(maze)
    if art is DS3:
        assert (f.steps_decision_to_cheese, f.euclid_decision_to_cheese) == (2, 2.0)
        assert f.euclid_cheese_to_top_right == 2.0
        assert f.euclid_decision_to_top_right_region == 0.0  # clipped region = whole maze
    # No cheese, no decision square.
    assert decision_square(maze.without_cheese()) is None
    assert maze_features(maze.without_cheese()).cheese_in_top_right_region is None


def test_top_right_region(templates) -> None:
    small = embed(DS3, templates["hard"])
    assert TOP_RIGHT_5.cells(small) == [(r, c) for r in range(11, 14) for c in range(11, 14)]
    assert TOP_RIGHT_5.covers_maze(small)  # a 3x3 maze lies wholly in its top-right 5x5
    big = embed(DS5, templates["easy"])
    assert Region("top-right", 2).cells(big) == [(8, 8), (8, 9), (9, 8), (9, 9)]
    assert not Region("top-right", 2).covers_maze(big)
    with pytest.raises(ValueError, match="size >= 1"):
        Region("top-right", 0)


def test_invariants_on_real_mazes(renderer) -> None:
    mazes = mazes_from_seeds(range(40), "hard", renderer=renderer)
    with_ds = 0
    for maze in mazes:
        d = distance_map(maze.world_grid, maze.start_cell)
        pc, pt = path_to_cheese(maze), path_to_top_right(maze)
        for path, end in [(pc, maze.cheese), (pt, maze.top_right_cell)]:
            assert path[0] == maze.start_cell and path[-1] == end
            assert len(path) - 1 == d[end]  # shortest
            assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(path, path[1:]))
            assert all(maze.world_grid[c] != Tile.WALL for c in path)
        ds = decision_square(maze)
        if ds is not None:
            with_ds += 1
            i = pc.index(ds)
            assert pt.index(ds) == i and pc[: i + 1] == pt[: i + 1]
            assert pc[i + 1] != pt[i + 1]  # they split right after it
            f = maze_features(maze)
            assert f.steps_decision_to_cheese == len(pc) - 1 - i
        else:
            assert maze.cheese in pt or maze.top_right_cell in pc
    assert 0 < with_ds < len(mazes)


def test_decision_points_name_the_two_competing_moves(templates) -> None:
    with_ds, without = embed(DS5, templates["easy"]), embed(NO_DS5, templates["easy"])
    (point,) = decision_points([with_ds, without])  # the maze without one is skipped
    m = with_ds.margin
    assert point.cell == (2 + m, 0 + m) and point.maze.mouse == point.cell
    # From inner (2, 0) the cheese path turns right, the top-right path goes on up.
    assert (point.cheese_move, point.top_right_move) == (Movement.RIGHT, Movement.UP)
