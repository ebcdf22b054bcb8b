"""The PPO fine-tuning loop (``python -m hooked_impala.train ppo``; see ``ppo.py``).

stable-baselines3's ``PPO`` with ``HookedImpalaPolicy`` (the network is a ``HookedImpala``)
on ``ProcgenMazeVecEnv`` (the reward of the cheese replaced), by default under SB3's
``VecNormalize`` for the rewards only: rewards divided by the running std of discounted
returns, as procgen's reference PPO training did (baselines' ``VecNormalize(ob=False)``).

Progress is saved at every evaluation, at the start of a rollout, when every update of the
steps counted so far has been applied: ``checkpoint.zip`` (SB3's weights and optimizer,
loaded back with ``set_parameters``, whose loads are ``weights_only``) and
``progress.json`` (step and update counts, the next training level seed, the reward
normaliser's statistics, the evaluation before training). A resumed run starts fresh
episodes on the next training levels (the episodes in flight when it stopped are lost).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hooked_impala.files import write_atomically, write_atomically_with
from hooked_impala.model import HookedImpala
from hooked_impala.pretrained import default_device, load_pretrained
from hooked_impala.stats import Rate
from hooked_impala.train.card import write_card
from hooked_impala.train.ppo_card import behaviour, evaluation_mazes, model_card_markdown
from hooked_impala.train.ppo_config import PPOConfig
from hooked_impala.train.sb3 import require_sb3
from hooked_impala.train.trainer import command_line, environment_facts, write_model

require_sb3()

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.vec_env import VecEnv, VecNormalize  # noqa: E402

from hooked_impala.train.sb3_policy import HookedImpalaPolicy  # noqa: E402
from hooked_impala.train.vec_env import ProcgenMazeVecEnv  # noqa: E402


class RunError(ValueError):
    """A run folder that cannot be started or resumed; the message names the way out."""


@dataclass
class Progress:
    """What ``progress.json`` holds besides the config."""

    num_timesteps: int = 0
    n_updates: int = 0
    next_level_seed: int = 0
    skipped_levels: int = 0  # levels with no cell for the cheese option
    episodes: int = 0  # training episodes finished
    cheese_episodes: int = 0  # ... of which reached the cheese
    wall_seconds: float = 0.0  # training and periodic evaluations, over every session
    next_eval: int = 0
    reward_rms: dict | None = None  # VecNormalize's return statistics
    start: dict | None = None  # the starting checkpoint: name, sha256
    before: dict | None = None  # its behaviour on the evaluation mazes


class _Hooks(BaseCallback):
    """The progress bar, and evaluation + checkpoint at the start of a rollout once
    ``eval_every`` more steps are done."""

    def __init__(self, tuner: FineTuner) -> None:
        super().__init__()
        self.tuner = tuner
        self.bar: tqdm | None = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(
            total=self.tuner.cfg.steps,
            initial=self.model.num_timesteps,
            desc="PPO",
            unit="step",
            disable=not self.tuner.progress,
        )

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps >= self.tuner.state.next_eval:
            record = self.tuner.checkpoint()
            ev = record["eval"]
            self.bar.set_postfix(
                cheese=f"{ev['cheese_reached']['rate']:.2f}",
                top_right=f"{ev['top_right_reached']['rate'] or 0:.2f}",
                refresh=False,
            )

    def _on_training_end(self) -> None:
        self.bar.close()


class FineTuner:
    """One fine-tuning run in ``out``; ``run()`` trains, evaluates and writes the card."""

    def __init__(
        self,
        cfg: PPOConfig,
        out: Path,
        progress: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        self.device = torch.device(device) if device is not None else default_device()
        self.state = Progress(next_level_seed=cfg.first_train_seed, next_eval=cfg.eval_every)
        self.ppo: PPO | None = None
        self.env: ProcgenMazeVecEnv | None = None

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.zip"

    @property
    def progress_path(self) -> Path:
        return self.out / "progress.json"

    @property
    def log_path(self) -> Path:
        return self.out / "log.jsonl"

    # --- progress files ----------------------------------------------------------------

    def _load_progress(self) -> None:
        path, fix = self.progress_path, f"delete {self.out} to start afresh"
        if not self.checkpoint_path.is_file():
            raise RunError(f"{path} has no {self.checkpoint_path.name} beside it; {fix}")
        try:
            saved = json.loads(path.read_text())
            cfg = PPOConfig(**saved["config"])
            self.state = Progress(**saved["progress"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            why = f"not a PPO progress file of this version ({type(err).__name__}: {err})"
            raise RunError(f"{path}: {why}; {fix}") from None
        changed = cfg.differences(self.cfg)
        if changed:
            raise RunError(
                f"{path} was written with another config (only --steps may change on "
                f"resume): {'; '.join(changed)}"
            )

    def _save_progress(self) -> None:
        payload = {"config": asdict(self.cfg), "progress": asdict(self.state)}
        write_atomically(self.progress_path, json.dumps(payload, indent=2))

    # --- building ----------------------------------------------------------------------

    def _build(self, start: HookedImpala, resumed: bool) -> None:
        cfg, state = self.cfg, self.state
        self.env = ProcgenMazeVecEnv(
            cfg.envs,
            cheese_reward=cfg.cheese_reward,
            cheese=cfg.cheese,
            distribution_mode=cfg.distribution_mode,
            first_seed=state.next_level_seed,
            seed=cfg.seed,
            max_episode_steps=cfg.max_episode_steps,
        )
        venv: VecEnv = self.env
        if cfg.normalize_reward:
            venv = VecNormalize(self.env, norm_obs=False, norm_reward=True, gamma=cfg.gamma)
            if state.reward_rms is not None:
                venv.ret_rms.mean = np.float64(state.reward_rms["mean"])
                venv.ret_rms.var = np.float64(state.reward_rms["var"])
                venv.ret_rms.count = float(state.reward_rms["count"])
        # A resumed session draws other random numbers than the first one did.
        seed = cfg.seed
        if resumed:
            seed = int(np.random.SeedSequence([cfg.seed, state.num_timesteps]).generate_state(1)[0])
        self.ppo = PPO(
            HookedImpalaPolicy,
            venv,
            learning_rate=cfg.lr,
            n_steps=cfg.n_steps,
            batch_size=cfg.batch_size,
            n_epochs=cfg.epochs,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            clip_range=cfg.clip_range,
            ent_coef=cfg.ent_coef,
            vf_coef=cfg.vf_coef,
            max_grad_norm=cfg.max_grad_norm,
            target_kl=cfg.target_kl or None,
            policy_kwargs={
                "impala_config": {
                    "channels": list(start.cfg.channels),
                    "fc_features": start.cfg.fc_features,
                }
            },
            seed=seed % 2**31,
            device=self.device,
            verbose=0,
        )
        if resumed:
            self.ppo.set_parameters(str(self.checkpoint_path), exact_match=True, device=self.device)
            self.ppo.num_timesteps = state.num_timesteps
            self.ppo._n_updates = state.n_updates
        else:
            self.ppo.policy.model.load_state_dict(start.state_dict())

    # --- evaluation and checkpoints ----------------------------------------------------

    def checkpoint(self, final: bool = False) -> dict:
        """Save the run, evaluate the current network and append the record to the log."""
        ppo, env, cfg, state = self.ppo, self.env, self.cfg, self.state
        now = time.perf_counter()
        steps_done = ppo.num_timesteps - self._session_steps
        train_seconds = now - self._session_started - self._session_eval_seconds
        state.num_timesteps, state.n_updates = ppo.num_timesteps, ppo._n_updates
        state.next_level_seed = env.episode_mazes.next_seed
        state.skipped_levels = self._skipped_before + env.episode_mazes.skipped
        new_episodes = env.episodes - self._logged_episodes[0]
        new_cheese = env.cheese_episodes - self._logged_episodes[1]
        self._logged_episodes = (env.episodes, env.cheese_episodes)
        state.episodes += new_episodes
        state.cheese_episodes += new_cheese
        if cfg.normalize_reward:
            rms = self._normalizer.ret_rms
            state.reward_rms = {
                "mean": float(rms.mean),
                "var": float(rms.var),
                "count": float(rms.count),
            }
        while state.next_eval <= ppo.num_timesteps:
            state.next_eval += cfg.eval_every
        started = time.perf_counter()
        mazes = self.mazes if final else self.mazes[: cfg.eval_mazes]
        ppo.policy.set_training_mode(False)
        ev = behaviour(ppo.policy.model, mazes, cfg.max_episode_steps, cfg.seed)
        eval_seconds = time.perf_counter() - started
        self._session_eval_seconds += eval_seconds
        state.wall_seconds = self._wall_before + time.perf_counter() - self._session_started
        write_atomically_with(self.checkpoint_path, lambda f: ppo.save(f))
        self._save_progress()
        train_stats = {
            key.split("/", 1)[1]: float(value)
            for key, value in ppo.logger.name_to_value.items()
            if key.startswith("train/")
        }
        record = {
            "step": ppo.num_timesteps,
            "epochs_done": ppo._n_updates,  # SB3 counts an epoch over the rollout as an update
            "final": final,
            "wall_seconds": round(state.wall_seconds, 1),
            "env_steps_per_second": round(steps_done / train_seconds, 1)
            if steps_done and train_seconds > 0
            else None,
            "eval_seconds": round(eval_seconds, 1),
            "train": train_stats,
            "training_episodes": Rate(new_cheese, new_episodes).as_dict(),
            "eval": ev,
        }
        self._log(record)
        return record

    def _log(self, record: dict) -> None:
        with open(self.log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if not self.progress:
            return
        ev = record["eval"]
        print(
            f"step {record['step']:,}: cheese reached {ev['cheese_reached']['rate']:.3f}, "
            f"top-right reached {ev['top_right_reached']['rate']}, "
            f"mean steps {ev['mean_steps']['mean']:.1f} (n = {ev['mazes']})",
            file=sys.stderr,
            flush=True,
        )

    # --- the run -----------------------------------------------------------------------

    def run(self, resume: bool = False) -> dict:
        """Train (or continue), evaluate and write ``model.pth`` and the model card;
        returns the card."""
        cfg = self.cfg
        resumed = resume and self.progress_path.is_file()
        if resumed:
            self._load_progress()
            print(
                f"resumed from {self.checkpoint_path}: step {self.state.num_timesteps:,}",
                file=sys.stderr,
            )
        elif self.progress_path.exists():
            raise RunError(
                f"{self.out} holds a run already ({self.progress_path.name}); pass --resume "
                "to continue it, or choose another --out"
            )
        start = load_pretrained(cfg.from_checkpoint, device="cpu", progress=self.progress)
        record = {"name": start.checkpoint.name, "sha256": start.checkpoint.sha256}
        if resumed and self.state.start != record:
            raise RunError(
                f"--from {cfg.from_checkpoint} is {record}, but the run in {self.out} started "
                f"from {self.state.start}"
            )
        self.state.start = record
        self.out.mkdir(parents=True, exist_ok=True)
        self.mazes = evaluation_mazes(cfg)
        if not resumed:
            self.log_path.unlink(missing_ok=True)
        self._session_started = time.perf_counter()
        self._session_eval_seconds = 0.0
        self._wall_before = self.state.wall_seconds
        self._skipped_before = self.state.skipped_levels
        if self.state.before is None:
            self.state.before = behaviour(start, self.mazes, cfg.max_episode_steps, cfg.seed)
            self._log({"step": 0, "final": False, "eval": self.state.before})
            self._session_eval_seconds += time.perf_counter() - self._session_started
        self._build(start.to(self.device), resumed)
        self._normalizer = self.ppo.get_vec_normalize_env()
        self._session_steps = self.ppo.num_timesteps
        self._logged_episodes = (0, 0)
        try:
            remaining = cfg.steps - self.ppo.num_timesteps
            if remaining > 0:
                self.ppo.learn(remaining, callback=_Hooks(self), reset_num_timesteps=False)
            final = self.checkpoint(final=True)
        finally:
            self.env.close()
        return self._write_outputs(final)

    def _write_outputs(self, final: dict) -> dict:
        cfg, state = self.cfg, self.state
        model = self.ppo.policy.model.eval()
        model_path, sha256 = write_model(model, self.out / "model.pth")
        history = [json.loads(line) for line in self.log_path.read_text().splitlines()]
        rates = [h["env_steps_per_second"] for h in history if h.get("env_steps_per_second")]
        card: dict[str, Any] = {
            "name": self.out.name,
            "command": command_line(),
            "config": dataclasses.asdict(cfg),
            "start": state.start,
            "channels": list(model.cfg.channels),
            "parameters": sum(p.numel() for p in model.parameters()),
            "steps": state.num_timesteps,
            "epochs_done": state.n_updates,
            "training_episodes": state.episodes,
            "training_cheese_episodes": state.cheese_episodes,
            "seeds": {
                "seed": cfg.seed,
                "training_levels": [cfg.first_train_seed, state.next_level_seed - 1],
                "skipped_training_levels": state.skipped_levels,
                "evaluation_levels": [0, cfg.final_eval_mazes - 1],
            },
            "wall_minutes": (state.wall_seconds - final["eval_seconds"]) / 60,
            "eval_minutes": final["eval_seconds"] / 60,
            # The last session's mean, evaluations excluded.
            "env_steps_per_second": rates[-1] if rates else None,
            "before": state.before,
            "after": final["eval"],
            "history": history,
            "file": model_path.name,
            "sha256": sha256,
            "environment": environment_facts(),
        }
        write_card(self.out / "model_card.json", card, model_card_markdown(card))
        return card
