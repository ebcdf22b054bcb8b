"""Batched episodes in procgen for a policy, optionally under hooks.

``rollout(model, mazes)`` plays one episode per maze; ``play`` is the engine under it, which
streams episodes as they finish, for thousands of mazes. A fixed number of procgen envs
(slots) run side by side with one batched forward pass per step over the slots in play; when
an episode ends (the cheese, or ``max_steps``) its slot is loaded with the next maze, so the
batch stays full until the mazes run out.

* The mouse's cell is not read back from procgen: the maze moves it one cell per step in the
  action's direction unless a wall (or the world's edge) is there, horizontal winning for the
  diagonal actions (0, 2, 6, 8), and the engine applies the same rule to the maze's grid
  (``tests/test_policy.py`` replays episodes in procgen and compares every cell). Reading
  procgen's 23 KB state after every step cost more than the env step itself.
* Sampled actions draw from each maze's own stream of uniforms, seeded by (run seed, maze
  seed, mode): an episode does not depend on which slot it ran in nor on the other mazes,
  up to float rounding: a convolution may round differently for another batch size, which
  changes a sampled action only if its uniform lies within that rounding (~1e-7) of a
  boundary of the cumulative distribution.
* Once the mazes run out, the batch shrinks as episodes end. Stepping all the envs for a
  handful of live episodes would make env stepping the larger cost of that tail, so when at
  most half the envs are in play the live episodes move (procgen's serialized state) into a
  new env of their size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from hooked_impala import checks
from hooked_impala.actions import NUM_ACTIONS, movement_of_action
from hooked_impala.hooks import HookSpec
from hooked_impala.maze import TOP_RIGHT_5, Cell, Maze, Region, Tile
from hooked_impala.maze.procgen_env import ProcgenGym3Env, get_env_state, set_env_state
from hooked_impala.maze.render import mode_code
from hooked_impala.model import HookedImpala
from hooked_impala.stats import Rate

PROCGEN_STEP_LIMIT = 500  # procgen ends a maze episode after 500 steps on its own


def check_steps(name: str, value: int) -> int:
    """``value`` as a step limit: an integer in 1..PROCGEN_STEP_LIMIT, or ValueError naming
    ``name``."""
    return checks.integer(name, value, minimum=1, maximum=PROCGEN_STEP_LIMIT)


#: Hooks for every forward pass, or a function of the indices (into the mazes) of the
#: episodes in the batch returning them — for interventions with one value per maze.
Hooks = Sequence[HookSpec] | Callable[[np.ndarray], Sequence[HookSpec]]

_MOVES = [movement_of_action(a).delta for a in range(NUM_ACTIONS)]
_NOOP = 4
_WALL = int(Tile.WALL)  # a plain int: numpy compares with an IntEnum member ~10x slower


def action_uniforms(run_seed: int, maze: Maze, steps: int) -> np.ndarray:
    """The uniforms that sample the actions of ``maze``'s episode: one per step."""
    key = [int(run_seed), int(maze.seed), mode_code(maze.distribution_mode)]
    return np.random.default_rng(key).random(steps)


def _moved(grid: np.ndarray, cell: Cell, action: int) -> Cell:
    """Where the mouse is after ``action`` from ``cell``: procgen's grid step."""
    d_row, d_col = _MOVES[action]
    row, col = cell[0] + d_row, cell[1] + d_col
    size = grid.shape[0]
    if 0 <= row < size and 0 <= col < size and grid[row, col] != _WALL:
        return row, col
    return cell


@dataclass(frozen=True)
class Episode:
    """One episode.

    Attributes:
        maze: the maze it started from.
        cells: the mouse's cell before each step and after the last, ``steps + 1`` cells
            (the last is the cheese's when it got there).
        actions: the procgen action taken at each step (0..14).
        reached_cheese: it got the cheese within the step limit.
        steps: steps taken.
        top_right_step: the first step index at which the mouse stood in the top-right
            region (None if never), for ``reached_top_right_first``.
        top_right_informative: whether "went to the top-right region first" can say
            anything about this episode: the region is smaller than the maze, the cheese
            lies outside it and the mouse does not start inside it. Otherwise entering the
            region is forced or meaningless, and rates leave the episode out.
        observations: uint8 ``(steps, 64, 64, 3)``, what the policy saw before each step,
            when the rollout was asked to keep them (else None).
    """

    maze: Maze
    cells: tuple[Cell, ...]
    actions: tuple[int, ...]
    reached_cheese: bool
    steps: int
    top_right_step: int | None
    top_right_informative: bool
    observations: np.ndarray | None = None

    @property
    def reached_top_right_first(self) -> bool:
        """It entered the top-right region before reaching the cheese, or without reaching it.

        With the cheese inside that region, reaching the cheese means entering it, so this
        is True only if the region was entered at an earlier step.
        """
        if self.top_right_step is None:
            return False
        return not self.reached_cheese or self.top_right_step < self.steps


@dataclass(frozen=True)
class RolloutResult:
    episodes: tuple[Episode, ...]

    @property
    def success(self) -> Rate:
        """Episodes that reached the cheese, of all episodes."""
        return Rate.of(e.reached_cheese for e in self.episodes)

    @property
    def top_right_first(self) -> Rate:
        """Episodes that entered the top-right region before (or without) reaching the
        cheese, of the informative ones only (``Episode.top_right_informative``): never true
        by construction."""
        return Rate.of(e.reached_top_right_first for e in self.episodes if e.top_right_informative)

    @property
    def success_rate(self) -> float | None:
        return self.success.value

    @property
    def top_right_first_rate(self) -> float | None:
        return self.top_right_first.value

    def __len__(self) -> int:
        return len(self.episodes)


class _Slot:
    """One env's current episode."""

    def __init__(self, index: int, maze: Maze, region: Region, max_steps: int, seed: int):
        self.index, self.maze = index, maze
        self.grid = maze.world_grid
        self.cells = [maze.mouse]
        self.actions: list[int] = []
        self.frames: list[np.ndarray] = []
        self.region = set(region.cells(maze))
        self.informative = (
            not region.covers_maze(maze)
            and maze.cheese not in self.region
            and maze.mouse not in self.region
        )
        self.top_right_step = 0 if maze.mouse in self.region else None
        self.uniforms = action_uniforms(seed, maze, max_steps)
        self.reached = False

    def advance(self, action: int, ended: bool, rewarded: bool) -> None:
        self.actions.append(action)
        if ended:  # procgen already reset this env: the last cell is the cheese's or stays
            self.reached = rewarded
            self.cells.append(self.maze.cheese if rewarded else self.cells[-1])
        else:
            self.cells.append(_moved(self.grid, self.cells[-1], action))
        if self.top_right_step is None and self.cells[-1] in self.region:
            self.top_right_step = len(self.actions)

    def episode(self) -> Episode:
        return Episode(
            maze=self.maze,
            cells=tuple(self.cells),
            actions=tuple(self.actions),
            reached_cheese=self.reached,
            steps=len(self.actions),
            top_right_step=self.top_right_step,
            top_right_informative=self.informative,
            observations=np.stack(self.frames) if self.frames else None,
        )


def play(
    model: HookedImpala,
    mazes: Iterable[Maze],
    *,
    max_steps: int = PROCGEN_STEP_LIMIT,
    greedy: bool = False,
    seed: int = 0,
    fwd_hooks: Hooks = (),
    region: Region = TOP_RIGHT_5,
    keep_observations: bool = False,
    slots: int = 256,
) -> Iterator[tuple[int, Episode]]:
    """Play one episode per maze and yield ``(index of the maze, episode)`` as each ends
    (not in input order).

    Args:
        model: the policy.
        mazes: ``Maze`` values (possibly edited), all of one distribution mode, possibly a
            lazy iterable; for level seeds use ``mazes_from_seeds(seeds, mode)``.
        max_steps: at most this many steps per episode (procgen's own limit is 500).
        greedy: take the most probable action instead of sampling.
        seed: seeds the action sampling, per maze (see the module docstring): the same maze
            and seed give the same episode, whatever else is in the batch.
        fwd_hooks: hooks active during every forward pass (an intervention), or a function
            of the indices into ``mazes`` of the episodes in the batch returning them.
        region: the region for ``reached_top_right_first`` (default the top-right 5×5).
        keep_observations: store each episode's observations (``Episode.observations``).
        slots: envs played side by side (the forward batch).
    """
    check_steps("max_steps", max_steps)
    if not (isinstance(slots, int) and slots >= 1):
        raise ValueError(f"slots must be a positive int, got {slots!r}")
    queue = enumerate(mazes)
    first = next(queue, None)
    if first is None:
        return
    mode = first[1].distribution_mode if isinstance(first[1], Maze) else None
    if isinstance(mazes, Sequence):
        slots = min(slots, len(mazes))

    def checked(item: tuple[int, object]) -> tuple[int, Maze]:
        index, maze = item
        if not isinstance(maze, Maze):
            raise TypeError(
                "rollout takes Maze values (mazes_from_seeds makes them), got "
                f"{type(maze).__name__} at index {index}"
            )
        if maze.distribution_mode != mode:
            raise ValueError(
                f"one rollout plays one distribution mode; maze {index} is "
                f"{maze.distribution_mode!r}, the first is {mode!r}"
            )
        return index, maze

    pending = iter([checked(first)])

    def new_env(size: int) -> ProcgenGym3Env:
        return ProcgenGym3Env(num=size, env_name="maze", distribution_mode=mode, num_threads=0)

    env = new_env(slots)
    try:
        table: list[_Slot | None] = [None] * slots
        exhausted = False

        def load(i: int) -> None:
            nonlocal exhausted
            item = None if exhausted else next(pending, None) or next(queue, None)
            if item is None:
                exhausted, table[i] = True, None
                return
            index, maze = checked(item)
            set_env_state(env, i, maze.to_state())
            table[i] = _Slot(index, maze, region, max_steps, seed)

        for i in range(slots):
            load(i)
        static = None if callable(fwd_hooks) else list(fwd_hooks)
        with torch.no_grad(), model.hooks(fwd_hooks=static or []):
            while True:
                busy = [i for i, slot in enumerate(table) if slot is not None]
                if not busy:
                    break
                if exhausted and len(busy) <= len(table) // 2:
                    env = _moved_into(new_env(len(busy)), env, busy)
                    table = [table[i] for i in busy]
                    busy = list(range(len(table)))
                _, obs, _ = env.observe()
                full = len(busy) == len(table)
                rgb = obs["rgb"] if full else obs["rgb"][busy]  # no copy if full
                batch = torch.from_numpy(rgb).to(model.device)
                if static is None:
                    indices = np.array([table[i].index for i in busy])
                    with model.hooks(fwd_hooks=list(fwd_hooks(indices))):
                        logits = model(batch).logits
                else:
                    logits = model(batch).logits
                chosen = _choose(logits.double().cpu(), [table[i] for i in busy], greedy)
                actions = np.full(len(table), _NOOP, dtype=np.int32)
                actions[busy] = chosen
                env.act(actions)
                reward, _, ended = env.observe()
                for k, i in enumerate(busy):
                    slot = table[i]
                    if keep_observations:
                        slot.frames.append(obs["rgb"][i].copy())
                    slot.advance(int(chosen[k]), bool(ended[i]), bool(reward[i] > 0))
                    if ended[i] or len(slot.actions) == max_steps:
                        yield slot.index, slot.episode()
                        load(i)
    finally:
        env.close()


def _moved_into(target: ProcgenGym3Env, source: ProcgenGym3Env, envs: list[int]) -> ProcgenGym3Env:
    """``target`` (``len(envs)`` envs) now playing the games of ``source``'s ``envs`` in
    order; ``source`` is closed (``target`` too if the move fails)."""
    try:
        for k, i in enumerate(envs):
            set_env_state(target, k, get_env_state(source, i))
    except BaseException:
        target.close()
        raise
    source.close()
    return target


def _choose(logits: torch.Tensor, slots: list[_Slot], greedy: bool) -> np.ndarray:
    """Each slot's action: the most probable, or the inverse CDF at its next uniform.
    ValueError for non-finite logits: no action can be read off them (the inverse CDF of NaN
    probabilities would silently pick action 0 at every step)."""
    finite = torch.isfinite(logits).all(-1)
    if not finite.all():
        k = int((~finite).nonzero()[0, 0])
        slot = slots[k]
        raise ValueError(
            f"the policy's logits hold NaN or infinite values ({logits[k].tolist()}) for maze "
            f"seed {slot.maze.seed} (index {slot.index}) at step {len(slot.actions)}; a hook "
            "or the weights produce them"
        )
    if greedy:
        return logits.argmax(-1).numpy()
    cdf = torch.softmax(logits, -1).cumsum(-1).numpy()
    u = np.array([slot.uniforms[len(slot.actions)] for slot in slots])
    return np.minimum((cdf < u[:, None]).sum(-1), NUM_ACTIONS - 1)


def rollout(
    model: HookedImpala, mazes: Sequence[Maze], *, progress: bool = True, **settings
) -> RolloutResult:
    """Play one episode per maze, in the mazes' own distribution mode, with a progress bar.

    ``settings`` are :func:`play`'s keywords (``max_steps``, ``greedy``, ``seed``,
    ``fwd_hooks``, ``region``, ``keep_observations``, ``slots``), documented there.

    Returns:
        The episodes in the order of ``mazes``.
    """
    start_mazes = list(mazes)
    if not all(isinstance(m, Maze) for m in start_mazes):
        kinds = sorted({type(m).__name__ for m in start_mazes})
        raise TypeError(f"rollout takes Maze values (mazes_from_seeds makes them), got {kinds}")
    modes = sorted({m.distribution_mode for m in start_mazes})
    if len(modes) > 1:
        raise ValueError(f"one rollout plays one distribution mode; these mazes mix {modes}")
    episodes: list[Episode | None] = [None] * len(start_mazes)
    with tqdm(total=len(start_mazes), desc="rollout", disable=not progress, unit="ep") as bar:
        for index, episode in play(model, start_mazes, **settings):
            episodes[index] = episode
            bar.update(1)
    return RolloutResult(tuple(episodes))
