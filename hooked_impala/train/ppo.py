"""PPO fine-tuning of a maze policy with a reward of your choosing (stable-baselines3).

    python -m hooked_impala.train ppo --from NAME_OR_PATH --out DIR [--cheese-reward -10]
        [--cheese anywhere|top-right|outside] [--steps N] [--envs N] [--seed S] [--resume]

Starts from a checkpoint (``load_pretrained``), plays procgen mazes whose cheese pays
``--cheese-reward`` (default -10: the "dis-reward") instead of procgen's +10, and trains
the network itself with PPO (``hooked_impala.train.finetune``, settings in
``hooked_impala.train.ppo_config``, reports in ``hooked_impala.train.ppo_card``; the adapter is
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
import sys
from pathlib import Path
from typing import Any

from hooked_impala import cli
from hooked_impala.pretrained import CheckpointError, CheckpointUnavailableError
from hooked_impala.train.cheese import CHEESE_OPTIONS
from hooked_impala.train.ppo_card import model_card_markdown
from hooked_impala.train.ppo_config import PPOConfig
from hooked_impala.train.sb3 import MissingExtraError, require_sb3

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
    parser = cli.training_parser("python -m hooked_impala.train ppo", __doc__, "checkpoint.zip")
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
    # Only now: the run's module subclasses stable-baselines3's classes (checked just above).
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
