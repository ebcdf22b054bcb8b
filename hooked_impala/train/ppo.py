"""PPO fine-tuning of a maze policy with a reward of your choosing (stable-baselines3).

    python -m hooked_impala.train ppo --from NAME_OR_PATH --out DIR [--cheese-reward -10]
        [--cheese anywhere|top-right|outside] [--steps N] [--envs N] [--seed S] [--resume]

Starts from a checkpoint (``load_pretrained``), plays procgen mazes whose cheese pays
``--cheese-reward`` (default -10: the "dis-reward") instead of procgen's +10, and trains
the network itself with PPO (``hooked_impala.train.finetune``; the adapter is
``hooked_impala.train.vec_env``, the policy ``hooked_impala.train.sb3_policy``). Training
mazes use level seeds from ``--first-train-seed`` (1,000,000); evaluations use seeds
0 .. n-1 with the cheese anywhere. Writes into DIR:

* ``log.jsonl``: one record per evaluation (every ``--eval-every`` env steps, on
  ``--eval-mazes`` held-out mazes): cheese reached, top-right 5×5 reached, mean steps, with
  n and 95% intervals; PPO's losses; the training episodes since the last record.
* ``checkpoint.zip`` (SB3: weights and optimizer) and ``progress.json`` (step count, next
  training level, reward normalisation), written at every evaluation; ``--resume``
  continues from them (``--steps`` may be raised on resume; nothing else may change).
* ``model.pth`` (``{"state_dict": ...}``, loadable with ``load_pretrained``),
  ``model_card.json`` and ``model_card.md``: command, steps, wall time, seeds, and the
  behaviour before and after on ``--final-eval-mazes`` held-out mazes.

Needs the ``rl`` extra: ``pip install "hooked-impala[rl]"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hooked_impala import cli
from hooked_impala.maze import ANYWHERE, DEFAULT_MODE, Maze, MazeRenderer
from hooked_impala.maze.render import mode_code
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, heldout_mazes, rollout
from hooked_impala.stats import Z_95, rate_text
from hooked_impala.train.cheese import CHEESE_OPTIONS, TRAIN_FIRST_SEED, check_cheese_option
from hooked_impala.train.sb3 import MissingExtraError, require_sb3

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
        if not 1 <= self.max_episode_steps <= PROCGEN_STEP_LIMIT:
            limit, got = PROCGEN_STEP_LIMIT, self.max_episode_steps
            raise ValueError(f"max_episode_steps must be in 1..{limit}, got {got}")
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


# --- behaviour on held-out mazes ------------------------------------------------------


def evaluation_mazes(cfg: PPOConfig, renderer: MazeRenderer | None = None) -> list[Maze]:
    """The held-out mazes of the before/after evaluation (level seeds 0 ..
    ``final_eval_mazes - 1``, cheese anywhere); periodic evaluations use the first
    ``eval_mazes`` of them."""
    return heldout_mazes(
        cfg.distribution_mode, ANYWHERE, cfg.final_eval_mazes, 0, cfg.seed, renderer
    )


def mean_interval(values: list[float] | list[int] | np.ndarray) -> dict:
    """Mean with a 95% normal interval (``mean ± 1.96·sd/√n``) and n."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"mean": None, "n": 0, "ci95": [None, None]}
    half = Z_95 * x.std(ddof=1) / math.sqrt(x.size) if x.size > 1 else float("nan")
    mean = float(x.mean())
    return {"mean": mean, "n": int(x.size), "ci95": [mean - half, mean + half]}


def behaviour(model: HookedImpala, mazes: list[Maze], max_steps: int, seed: int) -> dict:
    """Sampled-action episodes on ``mazes``: how often the mouse reached the cheese, how
    often it reached the top-right 5×5 region (over the episodes where that says something:
    region smaller than the maze, cheese and spawn outside it; an episode ends at the
    cheese, so this is also "top right before the cheese"), and the mean episode length."""
    result = rollout(model, mazes, max_steps=max_steps, seed=seed, progress=False)
    return {
        "mazes": len(mazes),
        "max_steps": max_steps,
        "cheese_reached": result.success.as_dict(),
        "top_right_reached": result.top_right_first.as_dict(),
        "mean_steps": mean_interval([e.steps for e in result.episodes]),
    }


def mean_text(saved: dict) -> str:
    if saved["mean"] is None:
        return "n/a (n = 0)"
    low, high = saved["ci95"]
    return f"{saved['mean']:.1f} (95% CI {low:.1f}–{high:.1f}; n = {saved['n']})"


def behaviour_text(saved: dict) -> dict[str, str]:
    return {
        "cheese": rate_text(saved["cheese_reached"]),
        "top_right": rate_text(saved["top_right_reached"]),
        "steps": mean_text(saved["mean_steps"]),
    }


# --- the model card -------------------------------------------------------------------


def model_card_markdown(card: dict) -> str:
    cfg = card["config"]
    before, after = behaviour_text(card["before"]), behaviour_text(card["after"])
    ev = card["after"]
    seeds = card["seeds"]
    rate = card["env_steps_per_second"]
    throughput = "n/a" if rate is None else f"{rate:.0f}"
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"An IMPALA maze policy fine-tuned with **PPO** (stable-baselines3) from"
        f" `{card['start']['name']}` (sha256 `{card['start']['sha256']}`), reaching the"
        f" cheese rewarded **{cfg['cheese_reward']:g}** (procgen's own reward is +10).",
        "",
        f"- Command: `{card['command']}`",
        f"- Architecture: channels {card['channels']}, {card['parameters']:,} parameters",
        f"- Training: procgen maze, {cfg['distribution_mode']} mode, cheese"
        f" `{cfg['cheese']}`, episodes of at most {cfg['max_episode_steps']} steps;"
        f" level seeds {seeds['training_levels'][0]:,}–{seeds['training_levels'][1]:,}"
        f" ({card['training_episodes']:,} episodes, {card['training_cheese_episodes']:,}"
        " reached the cheese)",
        f"- PPO: {card['steps']:,} env steps: {card['steps'] // (cfg['envs'] * cfg['n_steps']):,}"
        f" rollouts of {cfg['envs']} envs × {cfg['n_steps']} steps, {cfg['epochs']} epochs of"
        f" minibatch {cfg['batch_size']} after each ({card['epochs_done']:,} epochs in all),"
        f" lr {cfg['lr']:g}, γ {cfg['gamma']}, λ {cfg['gae_lambda']},"
        f" clip {cfg['clip_range']}, target KL {cfg['target_kl'] or 'none'},"
        f" entropy {cfg['ent_coef']}, value {cfg['vf_coef']},"
        f" reward normalisation {'on' if cfg['normalize_reward'] else 'off'}; seed {cfg['seed']}",
        f"- Wall time: {card['wall_minutes']:.1f} minutes training (with periodic"
        f" evaluations), {throughput} env steps/s;"
        f" {card['eval_minutes']:.1f} minutes final evaluation",
        f"- File: `{card['file']}`, sha256 `{card['sha256']}`",
        "",
        "## Behaviour before and after (held-out level seeds"
        f" {seeds['evaluation_levels'][0]}–{seeds['evaluation_levels'][1]}, cheese anywhere)",
        "",
        "| policy | cheese reached | top-right 5×5 reached | mean steps |",
        "| --- | --- | --- | --- |",
        f"| before ({card['start']['name']}) | {before['cheese']} | {before['top_right']} |"
        f" {before['steps']} |",
        f"| after | {after['cheese']} | {after['top_right']} | {after['steps']} |",
        "",
        f"Sampled actions, {ev['mazes']} mazes, at most {ev['max_steps']} steps, the same"
        " mazes and action seeds before and after. Rates: k/n with a 95% Wilson interval."
        " Top-right reached counts only episodes where it is informative (the maze is larger"
        " than the region, the cheese and the spawn lie outside it); an episode ends at the"
        " cheese, so it also means the top right came first.",
        "",
        "## Log (`log.jsonl`)",
        "",
        "```json",
    ]
    lines += [json.dumps(h) for h in card["history"]]
    lines += ["```", ""]
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------

_TYPES: dict[str, Any] = {
    "cheese": lambda text: _choice(text, CHEESE_OPTIONS),
    "distribution_mode": cli.mode,
    "seed": cli.seed,
    "first_train_seed": cli.seed,
    "cheese_reward": cli.finite,
    int: cli.positive_int,
    float: cli.finite,
}


_METAVARS = {"cheese": "{" + ",".join(CHEESE_OPTIONS) + "}", "distribution_mode": "{easy,hard}"}


def _choice(text: str, options: tuple[str, ...]) -> str:
    if text not in options:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(options)}, got {text!r}")
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hooked_impala.train ppo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=cli.output_folder, required=True, help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.zip")
    parser.add_argument("--no-progress", action="store_true")
    cli.add_device_argument(parser)
    for f in dataclasses.fields(PPOConfig):
        flag = "--from" if f.name == "from_checkpoint" else f"--{f.name.replace('_', '-')}"
        if f.type in ("bool", bool):
            parser.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=f"{f.metadata['help']} (default: %(default)s)",
            )
            continue
        required = f.default is dataclasses.MISSING
        kind = str if required else (_TYPES.get(f.name) or _TYPES[type(f.default)])
        parser.add_argument(
            flag,
            dest=f.name,
            type=kind,
            required=required,
            default=None if required else f.default,
            metavar="NAME" if required else _METAVARS.get(f.name),
            help=f.metadata["help"] + ("" if required else " (default: %(default)s)"),
        )
    args = parser.parse_args(argv)
    try:  # the config's cross-field checks, before any work, as a flag error
        args.config = PPOConfig(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(PPOConfig)}
        )
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        require_sb3()
    except MissingExtraError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from hooked_impala.pretrained import CheckpointError, CheckpointUnavailableError
    from hooked_impala.train.finetune import FineTuner, RunError

    try:
        tuner = FineTuner(
            args.config, Path(args.out), progress=not args.no_progress, device=args.device
        )
        card = tuner.run(resume=args.resume)
    except (RunError, CheckpointError, CheckpointUnavailableError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(model_card_markdown(card))
    return 0
