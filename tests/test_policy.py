"""Vector fields and rollouts: the parts of the maze layer that run a policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hooked_impala import HookedImpala, ImpalaConfig, Movement
from hooked_impala.actions import movement_of_action
from hooked_impala.maze import Maze, MazeRenderer, Tile, mazes_from_seeds
from hooked_impala.policy import VectorField, rollout, vector_field, vector_field_cells

# One procgen action per movement, to force and recognise moves.
ACTION_OF_MOVEMENT = {
    Movement.LEFT: 1,
    Movement.DOWN: 3,
    Movement.UP: 5,
    Movement.RIGHT: 7,
    Movement.NOOP: 4,
}

RESADD = "embedder.block2.res1.resadd_out"


@pytest.fixture(scope="module")
def renderer():
    with MazeRenderer() as r:
        yield r


@pytest.fixture(scope="module")
def easy_maze() -> Maze:
    return Maze.from_seed(1000, distribution_mode="easy")


def test_vector_field_equals_one_forward_per_placed_mouse(ppo_s1, easy_maze, renderer) -> None:
    field = vector_field(ppo_s1, easy_maze, renderer=renderer)
    cells = vector_field_cells(easy_maze)
    assert field.cells == tuple(cells) and easy_maze.cheese not in field.cells
    obs = renderer.observe([easy_maze.with_mouse(c) for c in cells])
    with torch.no_grad():
        expected = ppo_s1(torch.from_numpy(obs)).movement_probs.numpy()
    assert np.allclose(field.probs, expected, atol=1e-6)
    assert np.allclose(field.probs.sum(1), 1.0, atol=1e-5)
    d_col, d_row = field.arrows[3]
    p = field.probs[3]
    assert d_col == pytest.approx(p[Movement.RIGHT] - p[Movement.LEFT])
    assert d_row == pytest.approx(p[Movement.UP] - p[Movement.DOWN])
    assert np.array_equal(field.at(cells[3]), p)
    with pytest.raises(KeyError, match=r"cell \(0, 0\) is not in this vector field"):
        field.at((0, 0))


def test_intervention_and_diff(ppo_s1, easy_maze, renderer) -> None:
    original = vector_field(ppo_s1, easy_maze, renderer=renderer, label="original")
    identity = vector_field(
        ppo_s1, easy_maze, fwd_hooks=[(RESADD, lambda a, hook: a)], renderer=renderer
    )
    assert np.array_equal(original.diff(identity).probs, np.zeros_like(original.probs))

    def ablate(activation, hook):
        return torch.zeros_like(activation)

    ablated = vector_field(
        ppo_s1, easy_maze, fwd_hooks=[(RESADD, ablate)], renderer=renderer, label="ablated"
    )
    diff = ablated.diff(original)
    assert diff.is_difference and not ablated.is_difference
    assert diff.figure().data[1].line.color != ablated.figure().data[1].line.color
    assert np.abs(diff.probs).max() > 0.01
    assert np.allclose(diff.probs, ablated.probs - original.probs)
    assert np.allclose(diff.probs.sum(1), 0.0, atol=1e-5)
    other = vector_field(ppo_s1, Maze.from_seed(1001, distribution_mode="easy"), renderer=renderer)
    with pytest.raises(ValueError, match="different mazes"):
        original.diff(other)
    assert all(len(p.fwd_hooks) == 0 for p in ppo_s1.hook_dict.values())


def test_vector_field_rejects_walls(tiny_model, easy_maze, renderer) -> None:
    wall = next(c for c in [(0, 0), (1, 1)] if easy_maze.tile(c) == Tile.WALL)
    with pytest.raises(ValueError, match=rf"must be open.*{wall}"):
        vector_field(tiny_model, easy_maze, cells=[wall], renderer=renderer)


def test_figure_renders_to_standalone_html(tiny_model, easy_maze, renderer, tmp_path) -> None:
    field = vector_field(tiny_model, easy_maze, renderer=renderer)
    fig = field.figure(title="seed 1000")
    assert len(fig.data) == 3  # maze image, arrow shafts, arrow tips
    assert len(fig.data[2].x) == len(field.cells)
    path = tmp_path / "field.html"
    fig.write_html(path, include_plotlyjs=True)
    html = path.read_text()
    assert "Plotly.newPlot" in html and "seed 1000" in html
    # The JavaScript is inside the file, not loaded from a CDN (unreachable offline).
    assert '<script src="https://cdn.plot.ly' not in html and len(html) > 1_000_000


def random_field(maze: Maze, is_difference: bool = False) -> VectorField:
    """A field with arbitrary probabilities: the figure tests need no model."""
    cells = tuple(vector_field_cells(maze))
    probs = np.random.default_rng(0).dirichlet(np.ones(len(Movement)), len(cells))
    return VectorField(maze, cells, probs, "random", is_difference)


def image_index(image, x: float, y: float) -> tuple[int, int]:
    """``z[row, col]`` of the pixel plotly draws at data point (x, y) of a go.Image."""
    return int(np.floor((y - image.y0) / image.dy + 0.5)), int(
        np.floor((x - image.x0) / image.dx + 0.5)
    )


def is_cheese_yellow(rgb) -> bool:
    r, g, b = (int(v) for v in rgb)
    return r > 220 and g > 200 and b < 150  # cheese (254, 231, 98); walls, floors are not


@pytest.mark.parametrize("seed,mode", [(1000, "easy"), (5, "hard")])
def test_vector_field_figure_draws_arrows_on_cell_centres_of_the_rendered_maze(
    renderer, seed, mode
) -> None:
    maze = Maze.from_seed(seed, distribution_mode=mode)
    field = random_field(maze)
    fig = field.figure(renderer=renderer)
    image, shafts = fig.data[0], fig.data[1]
    assert image.type == "image" and np.asarray(image.z).shape == (64, 64, 3)
    # The image is procgen's frame (flipped: array row 0 is world row 0, the bottom) with
    # only the mouse removed: equal to the real observation outside the mouse's cell.
    frame = np.flipud(np.asarray(image.z))
    obs = renderer.observe([maze])[0]
    size, px = maze.world_size, 64 / maze.world_size
    row, col = maze.mouse
    top, left = (size - 1 - row) * px, col * px
    patch = (
        slice(int(top) - 1, int(np.ceil(top + px)) + 1),
        slice(int(left) - 1, int(np.ceil(left + px)) + 1),
    )
    outside = np.ones((64, 64), bool)
    outside[patch] = False
    assert np.array_equal(frame[outside], obs[outside])
    assert not np.array_equal(frame[patch], obs[patch])
    # Upward y axis over the image's exact extent: the world, cell edges at k - 0.5.
    assert fig.layout.yaxis.autorange in (None, False) and list(fig.layout.yaxis.range) == [
        -0.5,
        size - 0.5,
    ]
    assert image.x0 - image.dx / 2 == pytest.approx(-0.5)
    assert image.y0 + 63.5 * image.dy == pytest.approx(size - 0.5)
    # Each shaft starts on its cell's centre in the rendered image: pixel coordinates
    # ((col + 0.5) * 64 / size, (size - row - 0.5) * 64 / size) from the top left.
    bases_x, bases_y = shafts.x[0::3], shafts.y[0::3]
    assert len(bases_x) == len(field.cells)
    for (row, col), x, y in zip(field.cells, bases_x, bases_y):
        assert (x - image.x0) / image.dx + 0.5 == pytest.approx((col + 0.5) * px)
        assert 64 - ((y - image.y0) / image.dy + 0.5) == pytest.approx((size - row - 0.5) * px)


@pytest.mark.parametrize("seed,mode", [(1000, "easy"), (5, "hard")])
def test_vector_field_figure_is_not_upside_down(renderer, seed, mode) -> None:
    maze = Maze.from_seed(seed, distribution_mode=mode)
    image = random_field(maze).figure(renderer=renderer).data[0]
    z = np.asarray(image.z)
    row, col = maze.cheese
    mirror = maze.world_size - 1 - row
    assert mirror != row
    # What plotly draws at the cheese cell's centre is the cheese; at its vertical mirror,
    # where an upside-down image would put it, it is not.
    assert is_cheese_yellow(z[image_index(image, col, row)])
    assert not is_cheese_yellow(z[image_index(image, col, mirror)])


def test_difference_field_figure_keeps_its_colour(renderer, easy_maze) -> None:
    plain = random_field(easy_maze).figure(renderer=renderer)
    diff = random_field(easy_maze, is_difference=True).figure(renderer=renderer)
    assert plain.data[0].type == diff.data[0].type == "image"
    assert diff.data[1].line.color != plain.data[1].line.color
    assert diff.data[2].marker.color == diff.data[1].line.color
    assert plain.layout.width is None  # no fixed width: the docs fit figures to their column


def force_movement(movement: Movement):
    """A hook on the logits that makes ``movement``'s canonical action certain."""

    def hook(logits, hook):
        forced = torch.full_like(logits, -1e4)
        forced[:, ACTION_OF_MOVEMENT[movement]] = 0.0
        return forced

    return ("fc_policy_out", hook)


def test_rollout_of_an_edited_maze_under_a_hook_follows_the_hand_computed_path(tiny_model) -> None:
    maze = Maze.from_seed(1000, distribution_mode="easy")
    # Walk right from the start until a wall: that corridor is where the cheese goes.
    grid, (row, col) = maze.world_grid, maze.start_cell
    corridor = [(row, col)]
    while grid[row, col + 1] != Tile.WALL:
        col += 1
        corridor.append((row, col))
    if len(corridor) < 2:
        pytest.skip("no corridor to the right of the start in this maze")
    edited = maze.with_mouse(corridor[0]).with_cheese(corridor[-1])
    result = rollout(
        tiny_model,
        [edited],
        max_steps=50,
        fwd_hooks=[force_movement(Movement.RIGHT)],
        progress=False,
    )
    episode = result.episodes[0]
    assert episode.reached_cheese
    assert episode.cells == tuple(corridor)
    assert episode.steps == len(corridor) - 1
    assert set(episode.actions) == {ACTION_OF_MOVEMENT[Movement.RIGHT]}


def test_rollout_stops_at_max_steps_and_tracks_walls(tiny_model) -> None:
    maze = Maze.from_seed(1000, distribution_mode="easy")
    result = rollout(
        tiny_model, [maze], max_steps=7, fwd_hooks=[force_movement(Movement.DOWN)], progress=False
    )
    episode = result.episodes[0]
    # From the bottom-left start, DOWN hits the outer wall at once: the mouse never moves.
    assert episode.steps == 7 and not episode.reached_cheese
    assert set(episode.cells) == {maze.start_cell}


def test_rollouts_are_reproducible_and_consistent(ppo_s1) -> None:
    seeds = list(range(2000, 2006))
    a = rollout(ppo_s1, mazes_from_seeds(seeds, "easy"), max_steps=40, seed=3, progress=False)
    b = rollout(ppo_s1, mazes_from_seeds(seeds, "easy"), max_steps=40, seed=3, progress=False)
    assert [e.cells for e in a.episodes] == [e.cells for e in b.episodes]
    assert [e.actions for e in a.episodes] == [e.actions for e in b.episodes]
    for episode in a.episodes:
        assert len(episode.cells) == episode.steps + 1
        for here, there in zip(episode.cells, episode.cells[1:]):
            assert abs(here[0] - there[0]) + abs(here[1] - there[1]) <= 1  # one cell per step


def test_real_agent_reaches_the_cheese_in_most_easy_mazes(ppo_s1) -> None:
    # Measured independently: 58 of 64 levels from start_level 1000 (sampled, 500 steps).
    result = rollout(ppo_s1, mazes_from_seeds(range(1000, 1032), "easy"), seed=0, progress=False)
    assert len(result) == 32
    assert result.success_rate >= 0.75
    for episode in result.episodes:
        if episode.reached_cheese:
            assert episode.cells[-1] == episode.maze.cheese


def test_rollout_takes_its_mode_from_the_mazes(tiny_model, as_in_production) -> None:
    easy, hard = mazes_from_seeds([1], "easy")[0], mazes_from_seeds([1], "hard")[0]
    result = rollout(tiny_model, [hard], max_steps=2, progress=False)
    assert result.episodes[0].maze.world_size == 25
    with pytest.raises(ValueError, match=r"mix \['easy', 'hard'\]"):
        rollout(tiny_model, [easy, hard], max_steps=2, progress=False)
    with pytest.raises(TypeError, match="mazes_from_seeds makes them"):
        rollout(tiny_model, [1, 2], max_steps=2, progress=False)


# --- the rollout engine: grid steps, refilled slots, per-maze sampling ----------------------


def _replayed_cells(maze, actions):
    """The mouse's cells when ``actions`` are played from ``maze`` in a fresh procgen env,
    read back from procgen's state after every step (the ground truth the engine's grid
    steps must match)."""
    from hooked_impala.maze import MazeState
    from hooked_impala.maze.procgen_env import ProcgenGym3Env

    env = ProcgenGym3Env(num=1, env_name="maze", distribution_mode=maze.distribution_mode)
    env.callmethod("set_state", [maze.to_state()])
    cells = [maze.mouse]
    for action in actions:
        env.act(np.array([action], dtype=np.int32))
        reward, _, ended = env.observe()
        if ended[0]:
            cells.append(maze.cheese if reward[0] > 0 else cells[-1])
            break
        state = MazeState.parse(env.callmethod("get_state")[0])
        cells.append((int(state.mouse_y), int(state.mouse_x)))
    env.close()
    return cells


@pytest.mark.parametrize("mode", ["easy", "hard"])
def test_engine_cells_match_procgen_and_slots_do_not_matter(mode) -> None:
    torch.manual_seed(1)
    model = HookedImpala(ImpalaConfig()).eval()  # random weights: varied, wall-bumping moves
    mazes = mazes_from_seeds(range(10), mode)
    few = rollout(model, mazes, max_steps=40, seed=3, slots=3, progress=False)
    many = rollout(model, mazes, max_steps=40, seed=3, slots=16, progress=False)
    for a, b in zip(few.episodes, many.episodes):
        assert a.actions == b.actions and a.cells == b.cells  # refills change nothing
    bumped = 0
    for episode in few.episodes:
        assert episode.maze in mazes
        assert list(episode.cells) == _replayed_cells(episode.maze, episode.actions)
        moves = zip(episode.actions, episode.cells, episode.cells[1:])
        bumped += sum(movement_of_action(a) != Movement.NOOP and x == y for a, x, y in moves)
    assert bumped > 0  # the check covered blocked moves, not only free ones
    assert rollout(model, mazes[:3], max_steps=40, seed=4, progress=False).episodes != tuple(
        few.episodes[:3]
    )  # another seed samples other actions


def test_engine_moves_the_tail_into_smaller_envs_without_changing_an_episode(
    monkeypatch,
) -> None:
    """Once the mazes run out, live episodes move into smaller procgen envs: each move must
    continue the game exactly (observations, cells, the end at the cheese)."""
    import importlib

    from hooked_impala import load_pretrained

    engine = importlib.import_module("hooked_impala.policy.rollout")  # the module, not the function

    model = load_pretrained("standin_s1", progress=False)  # solves small mazes at varied speeds
    mazes = mazes_from_seeds(range(12), "easy")
    moved = []
    read = engine.get_env_state
    monkeypatch.setattr(engine, "get_env_state", lambda env, i: moved.append(i) or read(env, i))
    batched = rollout(model, mazes, max_steps=60, seed=5, keep_observations=True, progress=False)
    assert len(moved) > 0  # the tail did move
    assert len({e.steps for e in batched.episodes}) > 3 and any(
        e.reached_cheese for e in batched.episodes
    )
    for maze, episode in zip(mazes, batched.episodes):
        alone = rollout(
            model, [maze], max_steps=60, seed=5, keep_observations=True, progress=False
        ).episodes[0]  # one env, never moved
        assert episode.actions == alone.actions and episode.cells == alone.cells
        assert episode.reached_cheese == alone.reached_cheese
        np.testing.assert_array_equal(episode.observations, alone.observations)


# --- non-finite outputs: an error, never a silent action 0 -------------------------------------


def poison_logits(value: float):
    def hook(logits, hook):
        poisoned = logits.clone()
        poisoned[-1, 2] = value  # one logit of the last observation in the batch
        return poisoned

    return ("fc_policy_out", hook)


@pytest.mark.parametrize("greedy", [False, True], ids=["sampled", "greedy"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_rollout_with_non_finite_logits_names_them(tiny_model, greedy, value) -> None:
    mazes = mazes_from_seeds([1000, 1001], "easy")
    with pytest.raises(ValueError, match=r"logits.*(nan|inf).*maze seed 1001.*step 0"):
        rollout(
            tiny_model,
            mazes,
            max_steps=5,
            greedy=greedy,
            fwd_hooks=[poison_logits(value)],
            progress=False,
        )


def test_vector_field_with_non_finite_probabilities_names_them(tiny_model, easy_maze) -> None:
    with pytest.raises(ValueError, match=r"vector field.*NaN or infinite.*cell \("):
        vector_field(tiny_model, easy_maze, [poison_logits(float("nan"))], method="full")
