"""python -m hooked_impala.train --out DIR [--<config field> VALUE ...] [--resume]

Trains a maze policy (see ``hooked_impala.train.trainer``), then evaluates it on held-out
mazes in easy and hard mode and writes into DIR: ``model.pth`` (``{"state_dict": ...}``,
loadable with ``load_pretrained``), ``model_card.json`` and ``model_card.md``, next to the
resumable ``checkpoint.pt``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import sys
import time
from pathlib import Path

import torch

from hooked_impala.files import write_atomically
from hooked_impala.maze import Region
from hooked_impala.policy import evaluate
from hooked_impala.train.trainer import TrainConfig, Trainer, command_line, environment_facts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m hooked_impala.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument(
        "--final-eval-mazes",
        type=int,
        default=200,
        help="mazes per final evaluation (default: %(default)s)",
    )
    parser.add_argument(
        "--final-eval-max-steps",
        type=int,
        default=256,
        help="step limit of the final evaluation (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true")
    for f in dataclasses.fields(TrainConfig):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(f.default),
            default=f.default,
            help=f"(default: {f.default})",
        )
    return parser.parse_args(argv)


def model_card_markdown(card: dict) -> str:
    cfg, ev = card["config"], card["evaluation"]
    lines = [
        f"# Model card: {card['name']}",
        "",
        "An IMPALA maze policy trained by **imitation of a shortest-path oracle** (behaviour",
        "cloning, then DAgger) with hooked-impala. It is a stand-in for experiments that need a",
        "policy offline: **not** the paper's PPO network (Langosco et al.'s `maze_I`), and not",
        "trained with reinforcement learning.",
        "",
        f"- Command: `{card['command']}`",
        f"- Architecture: scale {cfg['scale']} (channels {card['channels']}),"
        f" {card['parameters']:,} parameters",
        f"- Training distribution: procgen maze, {cfg['distribution_mode']} mode,"
        f" cheese in region `{cfg['region']}`,"
        f" level seeds from {cfg['first_train_seed']:,}",
        f"- Data: {card['data']['behaviour_cloning_samples']:,} behaviour-cloning samples"
        f" from {cfg['bc_mazes']} mazes;"
        f" {card['data']['final_samples']:,} samples after {cfg['dagger_rounds']} DAgger rounds",
        f"- Optimizer steps: {card['steps']:,} (batch {cfg['batch_size']}); seed {cfg['seed']}",
        f"- Wall time: {card['wall_minutes']:.1f} minutes training"
        f" + {card['eval_minutes']:.1f} minutes final evaluation",
        f"- File: `{card['file']}`, sha256 `{card['sha256']}`",
        "",
        "## Evaluation (held-out level seeds, procgen rollouts)",
        "",
        "| mode | actions | (a) success, cheese in training region | (b) success, cheese anywhere |"
        " (c) top-right region first, cheese anywhere |",
        "| --- | --- | --- | --- | --- |",
    ]
    for mode, report in ev.items():
        for policy in ("sampled", "greedy"):
            r = report[policy]
            lines.append(
                f"| {mode} | {policy} | {r['a_success_cheese_in_region']:.1%} |"
                f" {r['b_success_cheese_anywhere']:.1%} |"
                f" {r['c_top_right_first_when_cheese_anywhere']:.1%} |"
            )
    lines += [
        "",
        f"{ev[next(iter(ev))]['mazes']} mazes per cell,"
        f" at most {ev[next(iter(ev))]['max_steps']} steps.",
        "",
        "## Training history",
        "",
        "```json",
    ]
    lines += [json.dumps(h) for h in card["history"]]
    lines += ["```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = TrainConfig(
            **{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    trainer = Trainer(cfg, args.out, progress=not args.no_progress)
    model = trainer.run(resume=args.resume)

    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict()}, buffer)
    weights = buffer.getvalue()
    model_path = write_atomically(args.out / "model.pth", weights)
    started = time.perf_counter()
    evaluation = {
        mode: evaluate(
            model,
            mode,
            args.final_eval_mazes,
            Region.parse(cfg.region),
            max_steps=args.final_eval_max_steps,
            progress=not args.no_progress,
        )
        for mode in ("easy", "hard")
    }
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
        "sha256": hashlib.sha256(weights).hexdigest(),
        "environment": environment_facts(),
    }
    write_atomically(args.out / "model_card.json", json.dumps(card, indent=2))
    write_atomically(args.out / "model_card.md", model_card_markdown(card))
    print(model_card_markdown(card))
    return 0


if __name__ == "__main__":
    sys.exit(main())
