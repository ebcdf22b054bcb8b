"""A stable-baselines3 ``VecEnv`` over procgen's batched maze env, for PPO fine-tuning.

* ``n_envs`` procgen envs step in one ``ProcgenGym3Env`` (its own thread, no workers).
  Observations are procgen's uint8 ``(64, 64, 3)`` RGB frames, the same pixels
  ``MazeRenderer`` and ``rollout`` give; actions are the 15 procgen actions.
* Every episode starts from a maze of our choosing: level seeds ``first_seed``,
  ``first_seed + 1``, ... (training seeds; evaluation uses seeds below 1,000,000), with the
  cheese moved to a cell drawn from the ``cheese`` option: ``anywhere`` in the inner maze,
  the ``top-right`` 5×5 region (the distribution the agents were trained on) or ``outside``
  it. procgen resets an env by itself when its episode ends (on its own level), so the
  adapter loads the next maze into that env right after the step that ended the episode,
  and returns that maze's first frame.
* Reward: procgen pays +10 when the mouse reaches the cheese (which ends the episode); the
  adapter pays ``cheese_reward`` instead (default -10, the "dis-reward") and 0 otherwise.
* Episodes also end after ``max_episode_steps`` steps: a truncation, reported the gymnasium
  way (``info["TimeLimit.truncated"]`` and the last frame as ``info["terminal_observation"]``)
  so PPO bootstraps its value instead of treating the time limit as a goal.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hooked_impala.actions import NUM_ACTIONS
from hooked_impala.maze import DEFAULT_MODE, DistributionMode, Maze, MazeRenderer
from hooked_impala.maze.procgen_env import ProcgenGym3Env, set_env_state
from hooked_impala.maze.render import OBS_SHAPE
from hooked_impala.policy.rollout import check_steps
from hooked_impala.train.cheese import (
    TRAIN_FIRST_SEED,
    CheeseOption,
    EpisodeMazes,
    check_cheese_option,
)
from hooked_impala.train.sb3 import require_sb3

require_sb3()

from gymnasium import spaces  # noqa: E402  (after the check that names the extra)
from stable_baselines3.common.vec_env import VecEnv  # noqa: E402


class ProcgenMazeVecEnv(VecEnv):
    """``n_envs`` procgen maze episodes for stable-baselines3 (see the module docstring).

    Args:
        n_envs: envs stepped side by side.
        cheese_reward: the reward for reaching the cheese (procgen's +10 is replaced).
        cheese: where each episode's cheese goes: "anywhere", "top-right" or "outside".
        distribution_mode: "easy" (15×15 world) or "hard".
        first_seed: the first training level seed.
        seed: keys the cheese cells (with the level seed).
        max_episode_steps: episodes are truncated after this many steps (at most procgen's
            own limit, 500; at 500 procgen's reset hides the last frame, so that one step
            is not bootstrapped).

    Attributes:
        mazes: the start maze of each env's current episode.
        episodes, cheese_episodes: episodes finished so far, and those that reached the
            cheese (counters for the training log).
    """

    def __init__(
        self,
        n_envs: int,
        *,
        cheese_reward: float = -10.0,
        cheese: CheeseOption = "anywhere",
        distribution_mode: DistributionMode = DEFAULT_MODE,
        first_seed: int = TRAIN_FIRST_SEED,
        seed: int = 0,
        max_episode_steps: int = 256,
    ) -> None:
        if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
            raise ValueError(f"n_envs must be a positive int, got {n_envs!r}")
        check_steps("max_episode_steps", max_episode_steps)
        check_cheese_option(cheese)
        if not np.isfinite(cheese_reward):
            raise ValueError(f"cheese_reward must be a finite number, got {cheese_reward!r}")
        self.render_mode = None  # read by VecEnv.__init__ through get_attr
        super().__init__(
            n_envs,
            spaces.Box(0, 255, OBS_SHAPE, dtype=np.uint8),
            spaces.Discrete(NUM_ACTIONS),
        )
        self.cheese_reward = float(cheese_reward)
        self.max_episode_steps = int(max_episode_steps)
        self.renderer = MazeRenderer(max_batch=64)  # generates the levels
        self.episode_mazes = EpisodeMazes(
            cheese, distribution_mode, first_seed, seed, self.renderer
        )
        self.procgen = ProcgenGym3Env(
            num=n_envs, env_name="maze", distribution_mode=distribution_mode, num_threads=0
        )
        self.mazes: list[Maze | None] = [None] * n_envs
        self.steps = np.zeros(n_envs, dtype=np.int64)
        self.returns = np.zeros(n_envs, dtype=np.float64)
        self.episodes = self.cheese_episodes = 0
        self._actions = np.zeros(n_envs, dtype=np.int32)
        self._started = time.perf_counter()

    # --- episodes ----------------------------------------------------------------------

    def _load(self, i: int) -> None:
        """Start env ``i``'s next episode on the next training maze."""
        maze = next(self.episode_mazes)
        set_env_state(self.procgen, i, maze.to_state())
        self.mazes[i] = maze
        self.steps[i] = 0
        self.returns[i] = 0.0

    def _frames(self) -> np.ndarray:
        """uint8 ``(n_envs, 64, 64, 3)``: each env's current frame (a copy: procgen reuses
        its buffer)."""
        _, obs, _ = self.procgen.observe()
        return obs["rgb"].copy()

    def reset(self) -> np.ndarray:
        """Every env on a new training maze; returns uint8 ``(n_envs, 64, 64, 3)``."""
        for i in range(self.num_envs):
            self._load(i)
        return self._frames()

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions).reshape(-1)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"expected {self.num_envs} actions, got shape {actions.shape}")
        if actions.min() < 0 or actions.max() >= NUM_ACTIONS:
            raise ValueError(f"actions must be in 0..{NUM_ACTIONS - 1}, got {actions.tolist()}")
        self._actions = actions.astype(np.int32)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        self.procgen.act(self._actions)
        raw, obs, ended = self.procgen.observe()  # ended: procgen finished (and reset) it
        frames = obs["rgb"].copy()
        self.steps += 1
        reached = ended & (raw > 0)
        rewards = np.where(reached, self.cheese_reward, 0.0).astype(np.float32)
        self.returns += rewards
        truncated = ~ended & (self.steps >= self.max_episode_steps)
        dones = ended | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones).tolist():
            info = infos[i]
            info["episode"] = {  # what SB3's Monitor reports, for its episode statistics
                "r": float(self.returns[i]),
                "l": int(self.steps[i]),
                "t": round(time.perf_counter() - self._started, 6),
            }
            info["reached_cheese"] = bool(reached[i])
            info["level_seed"] = self.mazes[i].seed
            if not reached[i]:
                info["TimeLimit.truncated"] = True
                if truncated[i]:  # procgen's own 500-step reset leaves no last frame
                    info["terminal_observation"] = frames[i].copy()
            self.episodes += 1
            self.cheese_episodes += int(reached[i])
            self._load(i)
        if dones.any():
            frames = self._frames()  # the new episodes' first frames
        return frames, rewards, dones, infos

    def close(self) -> None:
        self.procgen.close()
        self.renderer.close()

    # --- the rest of SB3's VecEnv interface: one object plays every env ----------------

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any):
        result = getattr(self, method_name)(*args, **kwargs)
        return [result] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> list[np.ndarray]:
        return list(self._frames())
