"""The settings of a PPO fine-tuning run (``python -m hooked_impala.train ppo``): one
dataclass whose fields are the command line's flags, checked together, saved with the run's
checkpoint and card, and compared on resume. Needs no stable-baselines3."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from hooked_impala.maze import DEFAULT_MODE
from hooked_impala.maze.render import mode_code
from hooked_impala.policy.rollout import check_steps
from hooked_impala.train.cheese import TRAIN_FIRST_SEED, check_cheese_option

#: The default run: about 50 minutes of training on 2 shared CPU cores for the scale-1
#: stand-in (about 100 env steps/s; docs/training.md, "Fine-tuning with PPO").
DEFAULT_STEPS = 300_000


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class PPOConfig:
    """Everything that determines a fine-tuning run (saved with the checkpoint and card)."""

    from_checkpoint: str = field(metadata=_help("starting checkpoint: registry name or path"))
    cheese_reward: float = field(default=-10.0, metadata=_help("reward for reaching the cheese"))
    cheese: str = field(default="anywhere", metadata=_help("where training episodes' cheese goes"))
    distribution_mode: str = field(default=DEFAULT_MODE, metadata=_help("procgen maze mode"))
    steps: int = field(default=DEFAULT_STEPS, metadata=_help("env steps to train (all envs)"))
    envs: int = field(default=32, metadata=_help("procgen envs stepped side by side"))
    n_steps: int = field(default=128, metadata=_help("steps per env per PPO rollout"))
    batch_size: int = field(default=512, metadata=_help("PPO minibatch size"))
    epochs: int = field(default=3, metadata=_help("PPO epochs per rollout"))
    # Lower than procgen's from-scratch 5e-4: Adam's first steps move every weight by about
    # lr at once, which already shifts a trained policy a lot (approx. KL ~0.9 in 3 steps
    # at 2.5e-4 on the stand-in).
    lr: float = field(default=1e-4, metadata=_help("Adam learning rate (constant)"))
    gamma: float = field(default=0.99, metadata=_help("discount"))
    gae_lambda: float = field(default=0.95, metadata=_help("GAE lambda"))
    clip_range: float = field(default=0.2, metadata=_help("PPO clip range"))
    ent_coef: float = field(default=0.01, metadata=_help("entropy bonus"))
    vf_coef: float = field(default=0.5, metadata=_help("value loss weight"))
    max_grad_norm: float = field(default=0.5, metadata=_help("gradient norm clip"))
    target_kl: float = field(
        default=0.0,
        metadata=_help("stop an update's epochs once approx. KL > 1.5x this (0: never)"),
    )
    normalize_reward: bool = field(
        default=True,
        metadata=_help("divide rewards by the running std of returns, as procgen's PPO did"),
    )
    max_episode_steps: int = field(
        default=256, metadata=_help("episode length limit (a truncation, bootstrapped)")
    )
    seed: int = field(default=0, metadata=_help("seeds PPO, the cheese cells and evaluation"))
    first_train_seed: int = field(
        default=TRAIN_FIRST_SEED, metadata=_help("first training level seed")
    )
    eval_every: int = field(default=50_000, metadata=_help("env steps between evaluations"))
    eval_mazes: int = field(default=100, metadata=_help("held-out mazes per evaluation"))
    final_eval_mazes: int = field(
        default=200, metadata=_help("held-out mazes of the before/after evaluation")
    )

    def __post_init__(self) -> None:
        check_cheese_option(self.cheese)
        mode_code(self.distribution_mode)
        if not math.isfinite(self.cheese_reward):
            raise ValueError(f"cheese_reward must be finite, got {self.cheese_reward}")
        for name in ("steps", "envs", "n_steps", "batch_size", "epochs", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("eval_mazes", "final_eval_mazes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_steps("max_episode_steps", self.max_episode_steps)
        if self.eval_mazes > self.final_eval_mazes:
            raise ValueError(
                f"eval_mazes ({self.eval_mazes}) must not exceed final_eval_mazes "
                f"({self.final_eval_mazes}): periodic evaluations use the first of those mazes"
            )
        if self.first_train_seed < self.final_eval_mazes:
            raise ValueError(
                f"first_train_seed {self.first_train_seed} overlaps the evaluation seeds "
                f"0..{self.final_eval_mazes - 1}"
            )
        for name in ("gamma", "gae_lambda"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in ("lr", "clip_range", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("ent_coef", "vf_coef", "target_kl"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def rollout_size(self) -> int:
        """Env steps per PPO update (a run's steps round up to a multiple of it)."""
        return self.envs * self.n_steps

    def differences(self, other: PPOConfig, allowed: tuple[str, ...] = ("steps",)) -> list[str]:
        """Fields (other than ``allowed``) whose values differ, as ``name: a -> b``."""
        return [
            f"{f.name}: {getattr(self, f.name)!r} -> {getattr(other, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.name not in allowed and getattr(self, f.name) != getattr(other, f.name)
        ]
