"""python -m hooked_impala.train --out DIR [--<config field> VALUE ...] [--resume]
python -m hooked_impala.train ppo --from NAME --out DIR [--cheese-reward -10] [...]

Two modes:

* imitation (the default): trains a maze policy by imitating the shortest-path oracle (see
  ``hooked_impala.train.trainer``), then evaluates it on held-out mazes in easy and hard
  mode and writes into DIR: ``model.pth`` (``{"state_dict": ...}``, loadable with
  ``load_pretrained``), ``model_card.json`` and ``model_card.md``, next to the resumable
  ``checkpoint.pt``. A run stopped during the final evaluation says so; ``--resume`` then
  evaluates the finished model and writes the card.
* ``ppo``: fine-tunes a checkpoint with PPO (stable-baselines3, the ``rl`` extra) under a
  reward of your choosing for the cheese, e.g. -10; see
  ``python -m hooked_impala.train ppo --help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from hooked_impala import cli
from hooked_impala.maze import Region
from hooked_impala.policy import PROCGEN_STEP_LIMIT
from hooked_impala.pretrained import default_device
from hooked_impala.train.card import evaluate_modes, model_card_markdown, write_card
from hooked_impala.train.trainer import (
    TrainConfig,
    Trainer,
    command_line,
    environment_facts,
    write_model,
)

# argparse types of the config's fields, by name, then by the type of their default.
CONFIG_TYPES = {
    "distribution_mode": cli.mode,
    "region": lambda text: str(cli.region(text)),
    "seed": cli.seed,
    "first_train_seed": cli.seed,
    int: cli.integer(0),
    float: cli.nonnegative,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = cli.training_parser("python -m hooked_impala.train", __doc__, "checkpoint.pt")
    parser.add_argument(
        "--final-eval-mazes",
        type=cli.positive_int,
        default=200,
        help="mazes per final evaluation (default: %(default)s)",
    )
    parser.add_argument(
        "--final-eval-max-steps",
        type=cli.integer(1, PROCGEN_STEP_LIMIT),
        default=256,
        help="step limit of the final evaluation (default: %(default)s)",
    )
    for f in dataclasses.fields(TrainConfig):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=CONFIG_TYPES.get(f.name) or CONFIG_TYPES[type(f.default)],
            default=f.default,
            help=f"(default: {f.default})",
        )
    args = parser.parse_args(argv)
    try:  # the config's own cross-field checks, before any work, as a flag error
        args.config = TrainConfig(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
        )
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["ppo"]:
        from hooked_impala.train.ppo import main as ppo_main  # needs no SB3 to parse flags

        return ppo_main(argv[1:])
    args = parse_args(argv)
    cfg = args.config
    trainer = Trainer(
        cfg, args.out, progress=not args.no_progress, device=args.device or default_device()
    )
    model = trainer.run(resume=args.resume)

    model_path, sha256 = write_model(model, args.out / "model.pth")
    started = time.perf_counter()
    try:
        evaluation = evaluate_modes(
            model,
            Region.parse(cfg.region),
            args.final_eval_mazes,
            args.final_eval_max_steps,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:  # the weights are safe; only the card's numbers are missing
        print(
            f"\ninterrupted during the final evaluation: {model_path} and "
            f"{trainer.checkpoint_path} are written, the model card is not. Run the same "
            "command with --resume to evaluate the finished model and write its card "
            "(no training is repeated).",
            file=sys.stderr,
        )
        return 130  # the shell's status for a run stopped by Ctrl-C
    card = {
        "name": args.out.name,
        "command": command_line(),
        "config": dataclasses.asdict(cfg),
        "channels": list(model.cfg.channels),
        "parameters": sum(p.numel() for p in model.parameters()),
        "data": {
            "behaviour_cloning_samples": trainer.state.history[0]["samples"],
            "final_samples": trainer.state.history[-1]["samples"],
        },
        "steps": trainer.state.step,
        "wall_minutes": trainer.state.wall_seconds / 60,
        "eval_minutes": (time.perf_counter() - started) / 60,
        "history": trainer.state.history,
        "evaluation": evaluation,
        "file": model_path.name,
        "sha256": sha256,
        "environment": environment_facts(),
    }
    markdown = model_card_markdown(card)
    write_card(args.out / "model_card.json", card, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
