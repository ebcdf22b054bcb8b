"""Model cards of trained policies: the markdown view, and re-running the final evaluation
of an existing card (when the evaluation's definition changes, the weights do not). Also
what the PPO run's card (``ppo_card``) shares with this one: the history section of the
markdown and writing the two files.

    python -m hooked_impala.train.card --card DIR/model_card.json --checkpoint DIR/model.pth

The checkpoint must be the card's own weights (its sha256 is compared). The card's JSON and
its markdown (same name, ``.md``) are rewritten atomically.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hooked_impala import cli
from hooked_impala.files import write_atomically
from hooked_impala.maze import Region
from hooked_impala.model import HookedImpala
from hooked_impala.policy import PROCGEN_STEP_LIMIT, evaluate
from hooked_impala.stats import rate_text

MODES = ("easy", "hard")


def evaluate_modes(
    model: HookedImpala, region: Region, mazes: int, max_steps: int, progress: bool
) -> dict:
    """The final evaluation of a card: ``evaluate`` in every mode."""
    return {
        mode: evaluate(model, mode, mazes, region, max_steps=max_steps, progress=progress)
        for mode in MODES
    }


def markdown_with_history(lines: list[str], heading: str, history: list[dict]) -> str:
    """A card's markdown: ``lines``, then the section ``heading`` with the run's ``history``,
    one JSON record a line as the run kept them, so the numbers can be copied back out."""
    block = ["```json", *(json.dumps(h) for h in history), "```"]
    return "\n".join([*lines, "", f"## {heading}", "", *block, ""])


def write_card(path: Path, card: dict, markdown: str) -> None:
    """``card`` as JSON at ``path`` and its ``markdown`` beside it (same name, ``.md``), each
    written atomically: an interrupted write leaves the previous file, not half of one."""
    write_atomically(path, json.dumps(card, indent=2))
    write_atomically(path.with_suffix(".md"), markdown)


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
        " (c) top-right region first, cheese anywhere, informative episodes only |",
        "| --- | --- | --- | --- | --- |",
    ]
    for mode, report in ev.items():
        for policy in ("sampled", "greedy"):
            r = report[policy]
            lines.append(
                f"| {mode} | {policy} | {rate_text(r['a_success_cheese_in_region'])} |"
                f" {rate_text(r['b_success_cheese_anywhere'])} |"
                f" {rate_text(r['c_top_right_first_when_cheese_anywhere'])} |"
            )
    lines += [
        "",
        f"{ev[next(iter(ev))]['mazes']} mazes per cell,"
        f" at most {ev[next(iter(ev))]['max_steps']} steps. Rates: k/n with a 95% Wilson"
        " interval. (c) counts only episodes where going to the top-right 5×5 first is not"
        " decided by the maze: the maze is larger than the region, the cheese lies outside it"
        " and the mouse does not start inside it.",
    ]
    return markdown_with_history(lines, "Training history", card["history"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hooked_impala.train.card",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--card", type=Path, required=True, help="the card's JSON file")
    parser.add_argument("--checkpoint", required=True, help="the card's weights: name or path")
    parser.add_argument("--mazes", type=cli.positive_int, help="default: the card's own")
    parser.add_argument("--max-steps", type=cli.integer(1, PROCGEN_STEP_LIMIT))
    parser.add_argument("--no-progress", action="store_true")
    cli.add_device_argument(parser)
    args = parser.parse_args(argv)
    try:
        card = json.loads(args.card.read_text())
        previous = next(iter(card["evaluation"].values()))
    except (OSError, ValueError, KeyError, StopIteration) as err:
        parser.error(f"--card {args.card}: not a readable model card ({err})")
    model = cli.load_model(args.checkpoint, args.device)
    if model is None:
        return 1
    if model.checkpoint.sha256 != card["sha256"]:
        parser.error(
            f"--checkpoint {args.checkpoint} has sha256 {model.checkpoint.sha256}, but the card "
            f"describes {card['sha256']}"
        )
    started = time.perf_counter()
    card["evaluation"] = evaluate_modes(
        model,
        Region.parse(card["config"]["region"]),
        args.mazes or previous["mazes"],
        args.max_steps or previous["max_steps"],
        progress=not args.no_progress,
    )
    card["eval_minutes"] = (time.perf_counter() - started) / 60
    markdown = model_card_markdown(card)
    write_card(args.card, card, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
