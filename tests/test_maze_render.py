"""Observations and generated levels equal procgen's own, pixel for pixel and field for field."""

from __future__ import annotations

import numpy as np
import pytest

from hooked_impala.maze import Maze, MazeRenderer, MazeStateError, Tile, mazes_from_seeds, observe
from hooked_impala.maze.procgen_env import ProcgenGym3Env
from hooked_impala.maze.state import state_fields

SEEDS = {"easy": [0, 1, 6, 4242, 2**31 - 2], "hard": [0, 3, 17, 99999, 2**31 - 2]}
# Fields a generated level may differ in from the reference env (procgen bookkeeping).
BOOKKEEPING = {
    "game_n",
    "level_seed_rand_gen.state",
    "prev_level_seed",
    "episode_done",
    "move_action",
    "step_rand_int",
}
# Movement actions and their (d_row, d_col): LEFT, DOWN, UP, RIGHT; UP increases the row.
MOVES = {1: (0, -1), 3: (-1, 0), 5: (1, 0), 7: (0, 1)}


def _reference(mode: str, seed: int, num: int = 1):
    return ProcgenGym3Env(
        num=num,
        env_name="maze",
        distribution_mode=mode,
        start_level=seed,
        num_levels=1,
        num_threads=0,
    )


@pytest.fixture(scope="module")
def renderer():
    with MazeRenderer() as r:
        yield r


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_unedited_seed_equals_procgen_first_frame(renderer, mode) -> None:
    mazes = mazes_from_seeds(SEEDS[mode], mode, renderer=renderer)
    got = renderer.observe(mazes)
    for i, (seed, maze) in enumerate(zip(SEEDS[mode], mazes)):
        ref = _reference(mode, seed)
        ref_state = ref.callmethod("get_state")[0]
        assert np.array_equal(got[i], ref.observe()[1]["rgb"][0]), f"seed {seed}"
        ref_maze = Maze.from_state(ref_state)
        assert np.array_equal(maze.world_grid, ref_maze.world_grid)
        assert (maze.seed, maze.mouse, maze.maze_size) == (seed, ref_maze.mouse, ref_maze.maze_size)
        a = {f.name: f.value for f in state_fields(maze.to_state())}
        b = {f.name: f.value for f in state_fields(ref_state)}
        differ = {k for k in b if not np.array_equal(a[k], b[k])}
        assert differ <= BOOKKEEPING, f"seed {seed}: unexpected differences {differ - BOOKKEEPING}"
        assert a["rand_gen.state"] == b["rand_gen.state"]  # same level RNG => same future
    assert len({m.maze_size for m in mazes}) > 1


def test_generation_ignores_what_was_rendered_before(renderer) -> None:
    """Slots keep the last rendered state; generation must not inherit its options."""
    plain = ProcgenGym3Env(
        num=1, env_name="maze", use_backgrounds=False, start_level=7, num_levels=1
    )
    frame = renderer.observe_states(plain.callmethod("get_state"))[0]
    assert np.array_equal(frame, plain.observe()[1]["rgb"][0])  # options honoured
    got = renderer.observe(mazes_from_seeds([7], "hard", renderer=renderer))[0]
    assert np.array_equal(got, _reference("hard", 7).observe()[1]["rgb"][0])
    assert not np.array_equal(got, frame)


def test_one_renderer_serves_both_modes_in_one_batch(renderer) -> None:
    easy = mazes_from_seeds([5, 6], "easy", renderer=renderer)
    hard = mazes_from_seeds([5, 6], "hard", renderer=renderer)
    mixed = [easy[0], hard[0], easy[1], hard[1]]
    got = renderer.observe(mixed)
    for i, m in enumerate(mixed):
        ref = _reference(m.distribution_mode, m.seed).observe()[1]["rgb"][0]
        assert np.array_equal(got[i], ref), f"{m}"
    assert {m.world_size for m in mixed} == {15, 25}


def _random_walk(mode: str, seed: int, rng, num: int = 8, steps: int = 40):
    """Real rollouts of one level; returns [(cell, reflected, frame)], tracking the mouse
    with the game's rules (walls block, RIGHT sets the flag, LEFT clears it)."""
    env = _reference(mode, seed, num)
    start = Maze.from_state(env.callmethod("get_state")[0])
    grid = start.world_grid
    cell = [start.mouse] * num
    flag = [False] * num
    alive = [True] * num
    records = []
    for _ in range(steps):
        acts = rng.choice(list(MOVES), size=num)
        env.act(acts.astype(np.int32))
        _, ob, first = env.observe()
        states = env.callmethod("get_state")
        for i in range(num):
            if not alive[i] or first[i]:  # reached the cheese: procgen reset the level
                alive[i] = False
                continue
            dr, dc = MOVES[int(acts[i])]
            target = (cell[i][0] + dr, cell[i][1] + dc)
            inside = all(0 <= v < grid.shape[0] for v in target)  # outside counts as wall
            if inside and grid[target] != Tile.WALL:
                cell[i] = target
            if acts[i] in (1, 7):
                flag[i] = bool(acts[i] == 7)
            real = Maze.from_state(states[i])
            assert (real.mouse, real.is_reflected) == (cell[i], flag[i])
            records.append((cell[i], flag[i], ob["rgb"][i].copy()))
    return start, records


# Mazes of sizes 11, 15 (no margin), 5 in easy and 21, 25 (no margin), 5 in hard.
@pytest.mark.parametrize("mode,seeds", [("easy", [2, 6, 20]), ("hard", [8, 17, 3])])
def test_mouse_edit_equals_walked_there_frame(renderer, mode, seeds) -> None:
    rng = np.random.default_rng(0)
    for seed in seeds:
        fresh, records = _random_walk(mode, seed, rng)
        edited = [fresh.with_mouse(cell, reflected=flag) for cell, flag, _ in records]
        frames = np.stack([frame for _, _, frame in records])
        got = renderer.observe(edited)
        bad = [records[i][:2] for i in np.flatnonzero((got != frames).any(axis=(1, 2, 3)))]
        assert bad == [], f"{mode} seed {seed}: {len(bad)} of {len(records)} frames differ"
        # Not vacuous: many cells, both sprite orientations, and the flag is visible.
        assert len({c for c, _, _ in records}) >= 5
        assert {f for _, f, _ in records} == {True, False}
        flipped = renderer.observe(
            [e.with_mouse(e.mouse, reflected=not e.is_reflected) for e in edited]
        )
        # (In a small 64x64 sprite the flip does not always change a pixel.)
        assert (flipped != frames).any(axis=(1, 2, 3)).mean() > 0.2


def _open_neighbour(maze: Maze, cell, avoid=()):
    for action, (dr, dc) in MOVES.items():
        n = (cell[0] + dr, cell[1] + dc)
        if maze.in_inner(n) and maze.world_grid[n] == Tile.OPEN and n not in avoid:
            return action, n
    raise AssertionError(f"no open neighbour of {cell}")


def _step(maze: Maze, action: int):
    """Load ``maze`` into a real env, take one action: (reward, episode ended, next Maze)."""
    env = ProcgenGym3Env(
        num=1, env_name="maze", distribution_mode=maze.distribution_mode, num_threads=0
    )
    env.callmethod("set_state", [maze.to_state()])
    env.act(np.array([action], dtype=np.int32))
    rew, _, first = env.observe()
    return float(rew[0]), bool(first[0]), Maze.from_state(env.callmethod("get_state")[0])


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_edits_are_real_to_procgen(renderer, mode) -> None:
    maze = Maze.from_seed(11, mode, renderer=renderer)
    action, n = _open_neighbour(maze, maze.start_cell, avoid=[maze.cheese])
    # Control: the plain maze lets the mouse step to n.
    assert _step(maze, action)[2].mouse == n
    # A wall put there blocks it.
    assert _step(maze.with_walls([n]), action)[2].mouse == maze.start_cell
    # Cheese put there is eaten: reward 10 and the episode ends.
    rew, ended, _ = _step(maze.with_cheese(n), action)
    assert (rew, ended) == (10.0, True)
    # A moved mouse moves on from its new cell.
    far = max(c for c in maze.open_cells if c != maze.cheese)
    a2, n2 = _open_neighbour(maze, far, avoid=[maze.cheese])
    assert _step(maze.with_mouse(far), a2)[2].mouse == n2


def test_edits_change_the_picture(renderer) -> None:
    maze = Maze.from_seed(4, "hard", renderer=renderer)
    action, n = _open_neighbour(maze, maze.start_cell, avoid=[maze.cheese])
    frames = renderer.observe(
        [maze, maze.without_cheese(), maze.with_walls([n]), maze.with_mouse(n)]
    )
    for i in range(1, 4):
        assert (frames[i] != frames[0]).any()


def test_chunking_and_growth(renderer) -> None:
    mazes = mazes_from_seeds(range(10), "hard", renderer=renderer)
    want = renderer.observe(mazes)
    small = MazeRenderer(max_batch=4)
    assert small.capacity == 0
    assert np.array_equal(small.observe(mazes), want)
    assert small.capacity == 4
    grow = MazeRenderer()
    grow.observe(mazes[:1])
    assert grow.capacity == 1
    assert np.array_equal(grow.observe(mazes), want)
    assert grow.capacity == 16
    assert np.array_equal(observe(mazes[:3]), want[:3])  # temporary renderer
    assert [m.seed for m in mazes_from_seeds(range(10), "hard", renderer=small)] == list(range(10))
    small.close()
    grow.close()


def test_bad_inputs_fail_cleanly(renderer, as_in_production) -> None:
    assert renderer.observe([]).shape == (0, 64, 64, 3)
    with pytest.raises(TypeError, match=r"mazes\[0\] is a str"):
        renderer.observe(["maze"])
    heist = ProcgenGym3Env(num=1, env_name="heist").callmethod("get_state")[0]
    with pytest.raises(MazeStateError, match="heist"):  # procgen itself would abort the process
        renderer.observe_states([heist])
    for seed in [-1, 2**31 - 1, 1.5, True]:
        with pytest.raises(ValueError, match="seed"):
            mazes_from_seeds([seed], "hard", renderer=renderer)
    with pytest.raises(ValueError, match="memory"):
        mazes_from_seeds([1], "memory", renderer=renderer)
