"""The Maze value object: coordinates, immutability, edits and their errors, from_grid."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from hooked_impala.maze import (
    Maze,
    MazeEditError,
    MazeStateError,
    Tile,
    mazes_from_seeds,
)
from hooked_impala.maze.procgen_env import ProcgenGym3Env


@pytest.fixture(scope="module")
def hard(renderer) -> Maze:
    m = Maze.from_seed(9, "hard", renderer=renderer)  # a 15x15 maze: margin 5
    assert m.maze_size == 15
    return m


@pytest.fixture(scope="module")
def easy(renderer) -> Maze:
    m = Maze.from_seed(5, "easy", renderer=renderer)  # a 7x7 maze: margin 4
    assert m.maze_size == 7
    return m


def test_coordinates_of_a_fresh_maze(hard, easy) -> None:
    for m, world, margin in [(hard, 25, 5), (easy, 15, 4)]:
        assert (m.world_size, m.margin) == (world, margin)
        assert m.world_grid.shape == (world, world) and m.world_grid.dtype == np.int32
        assert np.array_equal(
            m.inner_grid, m.world_grid[margin : world - margin, margin : world - margin]
        )
        assert np.array_equal(m.world_grid[m.inner_slices], m.inner_grid)
        # procgen spawns the mouse at the inner maze's bottom-left, facing left.
        assert m.mouse == m.start_cell == (margin, margin)
        assert (m.is_reflected, m.mouse_facing) == (False, "left")
        assert m.top_right_cell == (world - margin - 1,) * 2
        assert m.world_grid[m.top_right_cell] != Tile.WALL
        assert m.in_inner(m.cheese) and m.world_grid[m.cheese] == Tile.CHEESE
        assert m.to_inner(m.start_cell) == (0, 0)
        assert m.to_world((0, m.maze_size - 1)) == (margin, world - margin - 1)
        assert m.to_world(m.to_inner(m.cheese)) == m.cheese
        # The margin is walls; open_cells are the non-walls, cheese included.
        assert len(m.open_cells) == np.count_nonzero(m.inner_grid != Tile.WALL)
        assert m.cheese in m.open_cells and all(m.in_inner(c) for c in m.open_cells)
        assert m.tile(m.cheese) is Tile.CHEESE and m.tile((0, 0)) is Tile.WALL
    assert (hard.distribution_mode, easy.distribution_mode) == ("hard", "easy")
    assert (hard.seed, easy.seed) == (9, 5)


def test_row_zero_is_the_bottom_of_the_image(renderer, hard) -> None:
    """The mouse at the bottom-left cell shows in the bottom-left of the frame; moving it
    up a row (UP = row + 1) moves the changed pixels up the image."""
    up = next(
        c for c in hard.open_cells if c[1] == hard.start_cell[1] and c[0] > hard.start_cell[0]
    )
    base, moved = renderer.observe([hard.without_cheese(), hard.without_cheese().with_mouse(up)])
    rows_changed = np.flatnonzero((base != moved).any(axis=(1, 2)))
    px_per_cell = 64 / 25
    # Image row of a cell's centre: (world - 1 - row + 0.5) * px_per_cell.
    start_px = (25 - 1 - hard.start_cell[0] + 0.5) * px_per_cell
    up_px = (25 - 1 - up[0] + 0.5) * px_per_cell
    assert abs(rows_changed.max() - start_px) < 2 * px_per_cell
    assert abs(rows_changed.min() - up_px) < 2 * px_per_cell


def test_immutable(hard) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        hard.mouse = (6, 6)  # type: ignore[misc]
    with pytest.raises(ValueError):
        hard.world_grid[0, 0] = 100
    with pytest.raises(ValueError):
        hard.inner_grid[0, 0] = 51


def test_pickle_and_copy(hard) -> None:
    edited = hard.with_mouse(hard.top_right_cell, reflected=True).without_cheese()
    for back in (pickle.loads(pickle.dumps(edited)), copy.deepcopy(edited), copy.copy(edited)):
        assert back == edited and back.to_state() == edited.to_state()
        assert not back.world_grid.flags.writeable
    state = pickle.loads(pickle.dumps(edited.state))
    assert state == edited.state and not state.grid.flags.writeable


def test_edits_return_new_mazes(hard) -> None:
    before = hard.to_state()
    tr = hard.top_right_cell
    moved = hard.with_mouse(tr, reflected=True)
    assert (moved.mouse, moved.is_reflected, moved.mouse_facing) == (tr, True, "right")
    assert moved.with_mouse(hard.start_cell).is_reflected  # None keeps the flag
    assert not moved.with_mouse(hard.start_cell, reflected=False).is_reflected
    new_cheese = next(c for c in hard.open_cells if c not in (hard.cheese, hard.mouse))
    c2 = hard.with_cheese(new_cheese)
    assert c2.cheese == new_cheese and c2.world_grid[hard.cheese] == Tile.OPEN
    assert np.count_nonzero(c2.world_grid == Tile.CHEESE) == 1
    none = hard.without_cheese()
    assert none.cheese is None and none.without_cheese() is none
    assert none.with_cheese(hard.cheese) == hard
    walls = [c for c in hard.open_cells if c not in (hard.cheese, hard.mouse)][:3]
    walled = hard.with_walls(walls)
    assert all(walled.world_grid[c] == Tile.WALL for c in walls)
    assert walled.with_open(walls) == hard
    assert hard.with_tiles({walls[0]: Tile.WALL}) == hard.with_walls(walls[:1])
    assert hard.to_state() == before  # the original never changes
    assert moved != hard and hash(hard.with_mouse(hard.mouse)) == hash(hard)
    # An edited maze round-trips through bytes.
    assert Maze.from_state(walled.with_mouse(tr).to_state()) == walled.with_mouse(tr)


def test_edit_errors_name_the_cell(hard, as_in_production) -> None:
    wall = next((r, c) for r, c in np.argwhere(hard.inner_grid == Tile.WALL))
    wall = hard.to_world((int(wall[0]), int(wall[1])))
    free = next(c for c in hard.open_cells if c not in (hard.cheese, hard.mouse))
    cases = [
        (lambda: hard.with_mouse(wall), rf"mouse cell \({wall[0]}, {wall[1]}\) is a wall"),
        (lambda: hard.with_mouse((25, 3)), r"mouse cell \(25, 3\) is outside the 25x25 world"),
        (lambda: hard.with_mouse((-1, 3)), r"\(-1, 3\) is outside"),
        (lambda: hard.with_mouse(hard.cheese), "holds the cheese"),
        (lambda: hard.with_mouse((1.5, 2)), "pair of ints"),
        (lambda: hard.with_cheese(wall), rf"cheese cell \({wall[0]}, {wall[1]}\) is a wall"),
        (lambda: hard.with_cheese(hard.mouse), r"cheese cell \(5, 5\) is the mouse's cell"),
        (
            lambda: hard.with_cheese((2, 2)),
            r"cheese cell \(2, 2\) is outside the inner maze \(rows and cols 5..19\)",
        ),
        (lambda: hard.with_open([(4, 10)]), r"cell \(4, 10\) is outside the inner maze"),
        (lambda: hard.with_walls([(30, 0)]), r"cell \(30, 0\) is outside the 25x25 world"),
        (lambda: hard.with_walls([hard.mouse]), r"\(5, 5\) is the mouse's cell"),
        (lambda: hard.with_walls([hard.cheese]), "holds the cheese"),
        (lambda: hard.with_tiles({free: Tile.CHEESE}), "OPEN or WALL only"),
        (lambda: hard.with_tiles({free: 7}), "OPEN or WALL only"),
        (lambda: hard.to_inner((0, 0)), r"cell \(0, 0\) is outside the inner maze"),
        (lambda: hard.to_world((15, 0)), r"inner cell \(15, 0\) is outside the 15x15 maze"),
    ]
    for call, message in cases:
        with pytest.raises(MazeEditError, match=message):
            call()


def test_from_grid_rebuilds_a_maze_exactly(hard, easy) -> None:
    for m in (hard, easy):
        rebuilt = Maze.from_grid(m.world_grid, distribution_mode=m.distribution_mode, template=m)
        assert rebuilt.maze_size == m.maze_size  # inferred from the open cells
        assert rebuilt.to_state() == m.to_state()  # byte for byte
    other = Maze.from_grid(
        hard.world_grid, mouse=hard.top_right_cell, reflected=True
    )  # template: seed 0
    assert other.mouse == hard.top_right_cell and other.is_reflected
    assert np.array_equal(other.world_grid, hard.world_grid) and other.maze_size == 15


def test_from_grid_small_inner_maze(easy) -> None:
    grid = np.full((15, 15), int(Tile.WALL))
    grid[6:9, 6:9] = [[100, 100, 100], [51, 51, 100], [100, 100, 2]]  # rows bottom-up
    m = Maze.from_grid(grid, distribution_mode="easy", template=easy)
    assert (m.maze_size, m.margin, m.mouse, m.cheese) == (3, 6, (6, 6), (8, 8))
    assert m.to_ascii() == "..C\n##.\nM.."
    wider = Maze.from_grid(grid, mouse=(6, 6), distribution_mode="easy", template=easy, maze_size=7)
    assert (wider.maze_size, wider.margin, wider.start_cell) == (7, 4, (4, 4))


def test_from_grid_errors(hard, easy, as_in_production) -> None:
    with pytest.raises(
        MazeEditError, match=r"grid shape \(15, 15\) does not match the 25x25 world"
    ):
        Maze.from_grid(easy.world_grid, distribution_mode="hard", template=hard)
    grid = hard.world_grid.copy()
    grid[0, 3] = Tile.OPEN
    with pytest.raises(
        MazeEditError, match=r"cell \(0, 3\) outside the inner 15x15 maze is not a wall"
    ):
        Maze.from_grid(grid, template=hard, maze_size=15)
    grid = hard.world_grid.copy()
    grid[hard.top_right_cell] = Tile.CHEESE
    with pytest.raises(MazeEditError, match="more than one cheese"):
        Maze.from_grid(grid, template=hard)
    grid = hard.world_grid.copy()
    grid[7, 7] = 77
    with pytest.raises(MazeEditError, match=r"cell \(7, 7\) holds 77"):
        Maze.from_grid(grid, template=hard)
    with pytest.raises(MazeEditError, match="template is a 'easy' maze"):
        Maze.from_grid(hard.world_grid, template=easy)
    with pytest.raises(MazeEditError, match="maze_size 4 must be odd"):
        Maze.from_grid(hard.world_grid, template=hard, maze_size=4)
    with pytest.raises(MazeEditError, match=r"mouse cell \(0, 0\) is a wall"):
        Maze.from_grid(hard.world_grid, mouse=(0, 0), template=hard)
    with pytest.raises(ValueError, match="'medium'"):
        Maze.from_grid(hard.world_grid, distribution_mode="medium", template=hard)


def test_from_state_errors() -> None:
    heist = ProcgenGym3Env(num=1, env_name="heist").callmethod("get_state")[0]
    with pytest.raises(MazeStateError, match="heist"):
        Maze.from_state(heist)
    memory = ProcgenGym3Env(num=1, env_name="maze", distribution_mode="memory").callmethod(
        "get_state"
    )[0]
    with pytest.raises(MazeStateError, match="distribution_mode 10 is not supported"):
        Maze.from_state(memory)


def test_from_state_of_a_mid_episode_state(renderer) -> None:
    env = ProcgenGym3Env(
        num=1, env_name="maze", distribution_mode="hard", start_level=9, num_levels=1
    )
    for a in [7, 7, 5, 5, 7]:
        env.act(np.array([a], dtype=np.int32))
    m = Maze.from_state(env.callmethod("get_state")[0])
    assert m.state.cur_time == 5 and m.seed == 9
    assert np.array_equal(renderer.observe([m])[0], env.observe()[1]["rgb"][0])
    fresh = mazes_from_seeds([9], "hard", renderer=renderer)[0]
    assert np.array_equal(m.world_grid, fresh.world_grid)


# --- margin edits and the top-right path -------------------------------------------------


def test_margin_cells_open_only_when_asked(hard, renderer, as_in_production) -> None:
    cell = (hard.margin - 1, 10)  # the wall row just below the inner maze
    with pytest.raises(MazeEditError, match=r"cell \(4, 10\) is outside the inner maze"):
        hard.with_open([cell])
    opened = hard.with_open([cell], margin=True)
    assert opened.tile(cell) == Tile.OPEN and hard.tile(cell) == Tile.WALL
    assert cell in opened.open_cells
    # The opened maze stays valid through later edits and a state round trip.
    moved = opened.with_mouse(cell).with_cheese(hard.top_right_cell)
    assert Maze.from_state(moved.to_state()) == moved
    assert opened.with_walls([cell], margin=True).world_grid.tolist() == hard.world_grid.tolist()
    with pytest.raises(MazeEditError, match=r"cheese cell \(4, 10\) is outside the inner maze"):
        opened.with_cheese(cell)
    with pytest.raises(MazeEditError, match=r"cell \(25, 0\) is outside the 25x25 world"):
        hard.with_open([(25, 0)], margin=True)
    # from_grid refuses open margin cells unless told, and then needs the maze size.
    with pytest.raises(MazeEditError, match="pass margin=True"):
        Maze.from_grid(opened.world_grid, template=hard, maze_size=15)
    with pytest.raises(MazeEditError, match="needs maze_size"):
        Maze.from_grid(opened.world_grid, template=hard, margin=True)
    rebuilt = Maze.from_grid(opened.world_grid, template=hard, maze_size=15, margin=True)
    assert rebuilt.world_grid.tolist() == opened.world_grid.tolist()
    assert np.array_equal(renderer.observe([rebuilt]), renderer.observe([opened]))


def _published_top_right_grid(grid: np.ndarray, maze_size: int) -> np.ndarray:
    """The paper's construction written out independently: with p the margin and W the
    world size, open column W-1-p from row W-p up, and row W-1 from column W-p right."""
    world = grid.shape[0]
    pad = (world - maze_size) // 2
    out = grid.copy()
    corner = world - 1 - pad
    out[corner + 1 :, corner] = Tile.OPEN
    out[world - 1, corner + 1 :] = Tile.OPEN
    return out


@pytest.mark.parametrize(("mode", "seed"), [("hard", 9), ("hard", 2), ("easy", 5)])
def test_top_right_path_renders_like_the_published_construction(mode, seed) -> None:
    from hooked_impala.maze import MazeState

    level = {"start_level": seed, "num_levels": 1, "rand_seed": 0}
    env = ProcgenGym3Env(num=1, env_name="maze", distribution_mode=mode, **level)
    raw = env.callmethod("get_state")[0]
    parsed = MazeState.parse(raw)
    assert parsed.maze_dim < parsed.world_dim  # these levels have a margin
    grid = _published_top_right_grid(parsed.grid, parsed.maze_dim)
    env.callmethod("set_state", [parsed.replace(grid=grid).to_bytes()])
    _, expected, _ = env.observe()

    maze = Maze.from_state(raw)
    path = maze.with_top_right_path()
    _, original, _ = (env.callmethod("set_state", [raw]), *env.observe())[1:]
    env.callmethod("set_state", [path.to_state()])
    _, got, _ = env.observe()
    env.close()
    assert np.array_equal(got["rgb"], expected["rgb"])
    assert not np.array_equal(got["rgb"], original["rgb"])  # the path is visible
    # Exactly the L is opened: (world - 1 - top) cells up, as many along the top row.
    new = np.argwhere(path.world_grid != maze.world_grid)
    assert len(new) == 2 * (maze.world_size - 1 - maze.top_right_cell[0])
    assert path.mouse == maze.mouse and path.cheese == maze.cheese


def test_top_right_path_of_a_maze_without_margin_is_the_maze(renderer) -> None:
    full = next(m for m in mazes_from_seeds(range(40), "easy", renderer) if m.margin == 0)
    assert full.with_top_right_path() is full
