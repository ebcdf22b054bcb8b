"""Batched episodes in procgen for a policy, optionally under hooks.

``rollout(model, mazes)`` plays one episode per maze, all mazes in one procgen env, one
batched forward pass per step. Episodes end on reaching the cheese or after ``max_steps``.
When an episode ends procgen resets that env to a fresh, unedited level, so each episode
is tracked until its first end only. The mouse's cell is read from the state after every
step, which gives the trajectory and whether (and when) it entered the top-right k×k
region of the inner maze.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from hooked_impala.hooks import HookSpec
from hooked_impala.maze import TOP_RIGHT_5, Cell, Maze, MazeState, Region
from hooked_impala.maze.procgen_env import ProcgenGym3Env
from hooked_impala.model import HookedImpala
from hooked_impala.stats import Rate

PROCGEN_STEP_LIMIT = 500  # procgen ends a maze episode after 500 steps on its own


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


def _mouse_cell(state: bytes) -> Cell:
    parsed = MazeState.parse(state)
    return int(parsed.mouse_y), int(parsed.mouse_x)


def rollout(
    model: HookedImpala,
    mazes: Sequence[Maze],
    *,
    max_steps: int = PROCGEN_STEP_LIMIT,
    greedy: bool = False,
    seed: int = 0,
    fwd_hooks: Sequence[HookSpec] = (),
    region: Region = TOP_RIGHT_5,
    keep_observations: bool = False,
    progress: bool = True,
) -> RolloutResult:
    """Play one episode per maze, in the mazes' own distribution mode.

    Args:
        model: the policy.
        mazes: ``Maze`` values (possibly edited), all of one distribution mode; for level
            seeds use ``mazes_from_seeds(seeds, mode)``.
        max_steps: at most this many steps per episode (procgen's own limit is 500).
        greedy: take the most probable action instead of sampling.
        seed: seeds the action sampling; the same inputs and seed give the same episodes.
        fwd_hooks: hooks active during every forward pass (an intervention).
        region: the region for ``reached_top_right_first`` (default the top-right 5×5).
        keep_observations: store each episode's observations (``Episode.observations``).
    """
    if not 1 <= max_steps <= PROCGEN_STEP_LIMIT:
        raise ValueError(f"max_steps must be in 1..{PROCGEN_STEP_LIMIT}, got {max_steps}")
    start_mazes = list(mazes)
    if not start_mazes:
        return RolloutResult(())
    if not all(isinstance(m, Maze) for m in start_mazes):
        kinds = sorted({type(m).__name__ for m in start_mazes})
        raise TypeError(f"rollout takes Maze values (mazes_from_seeds makes them), got {kinds}")
    modes = sorted({m.distribution_mode for m in start_mazes})
    if len(modes) > 1:
        raise ValueError(f"one rollout plays one distribution mode; these mazes mix {modes}")

    n = len(start_mazes)
    env = ProcgenGym3Env(num=n, env_name="maze", distribution_mode=modes[0], num_threads=0)
    try:
        env.callmethod("set_state", [m.to_state() for m in start_mazes])
        regions = [set(region.cells(m)) for m in start_mazes]
        informative = [
            not region.covers_maze(m) and m.cheese not in regions[i] and m.mouse not in regions[i]
            for i, m in enumerate(start_mazes)
        ]
        cells: list[list[Cell]] = [[m.mouse] for m in start_mazes]
        actions: list[list[int]] = [[] for _ in range(n)]
        frames: list[list[np.ndarray]] = [[] for _ in range(n)]
        reached = [False] * n
        top_right_step = [0 if m.mouse in regions[i] else None for i, m in enumerate(start_mazes)]
        live = np.ones(n, dtype=bool)
        generator = torch.Generator().manual_seed(seed)
        with (
            model.hooks(fwd_hooks=fwd_hooks),
            torch.no_grad(),
            tqdm(total=max_steps, desc="rollout", disable=not progress, unit="step") as bar,
        ):
            for step in range(max_steps):
                _, obs, _ = env.observe()
                logits = model(torch.from_numpy(obs["rgb"]).to(model.device)).logits.cpu()
                if greedy:
                    chosen = logits.argmax(-1)
                else:
                    chosen = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)[
                        :, 0
                    ]
                env.act(chosen.numpy().astype(np.int32))
                reward, _, first = env.observe()
                states = env.callmethod("get_state")
                for i in np.flatnonzero(live):
                    actions[i].append(int(chosen[i]))
                    if keep_observations:
                        frames[i].append(obs["rgb"][i].copy())
                    if first[i]:  # the episode ended: procgen already reset this env
                        live[i] = False
                        reached[i] = bool(reward[i] > 0)
                        cells[i].append(start_mazes[i].cheese if reached[i] else cells[i][-1])
                    else:
                        cells[i].append(_mouse_cell(states[i]))
                    if top_right_step[i] is None and cells[i][-1] in regions[i]:
                        top_right_step[i] = step + 1
                bar.update(1)
                bar.set_postfix(live=int(live.sum()), cheese=sum(reached), refresh=False)
                if not live.any():
                    break
    finally:
        env.close()
    return RolloutResult(
        tuple(
            Episode(
                maze=start_mazes[i],
                cells=tuple(cells[i]),
                actions=tuple(actions[i]),
                reached_cheese=reached[i],
                steps=len(actions[i]),
                top_right_step=top_right_step[i],
                top_right_informative=informative[i],
                observations=np.stack(frames[i]) if keep_observations and frames[i] else None,
            )
            for i in range(n)
        )
    )
