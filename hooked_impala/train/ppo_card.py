"""What a PPO fine-tuning run reports: the behaviour of a network on the held-out mazes
before and after training, and the model card. Shared by the run (``finetune``) and the
command line (``ppo``); needs no stable-baselines3."""

from __future__ import annotations

import math

import numpy as np

from hooked_impala.maze import ANYWHERE, Maze, MazeRenderer, heldout_mazes
from hooked_impala.model import HookedImpala
from hooked_impala.policy import rollout
from hooked_impala.stats import Z_95, rate_text
from hooked_impala.train.card import markdown_with_history
from hooked_impala.train.ppo_config import PPOConfig

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
    ]
    return markdown_with_history(lines, "Log (`log.jsonl`)", card["history"])
