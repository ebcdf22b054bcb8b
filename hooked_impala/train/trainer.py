"""Behaviour cloning of the shortest-path oracle, then DAgger rounds.

1. Behaviour cloning: random procgen mazes (level seeds from ``first_train_seed``), the
   cheese moved to a random cell of the configured region, the mouse on *every* other open
   cell with a random sprite orientation; loss = cross-entropy of the oracle's movement
   under the policy's five-way movement distribution (the 15 actions summed per movement).
2. DAgger rounds: roll the current policy out (sampled actions) on fresh training mazes,
   label every cell it visited with the oracle, add those samples (once per visit, so the
   loops and dead ends a policy actually falls into weigh most), train again on everything.

Everything is seeded; a checkpoint (weights, optimizer, progress and the sample specs) is
written after every phase, and ``--resume`` continues from it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hooked_impala.files import write_atomically, write_atomically_with
from hooked_impala.maze import (
    DEFAULT_MODE,
    TOP_RIGHT_5,
    DistributionMode,
    MazeRenderer,
    Region,
    mazes_from_seeds,
    place_cheese,
)
from hooked_impala.maze.render import mode_code
from hooked_impala.model import HookedImpala, ImpalaConfig
from hooked_impala.policy import rollout, success_in_region
from hooked_impala.pretrained import CheckpointError, load_weights_only
from hooked_impala.train.data import (
    Samples,
    all_cell_samples,
    concat,
    samples_for_maze,
    samples_from_specs,
)


@dataclass
class TrainConfig:
    """Everything that determines a training run (saved in the checkpoint and model card)."""

    distribution_mode: DistributionMode = DEFAULT_MODE
    region: str = str(TOP_RIGHT_5)  # a Region's text form, so the config stays plain JSON
    scale: int = 1
    seed: int = 0
    first_train_seed: int = 1_000_000  # evaluation uses seeds below this
    bc_mazes: int = 3000
    bc_steps: int = 6000
    dagger_rounds: int = 4
    dagger_mazes: int = 400
    dagger_max_steps: int = 128
    dagger_steps: int = 2000  # optimizer steps after each round
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    eval_mazes: int = 200  # per periodic evaluation (held-out seeds)
    eval_max_steps: int = 256

    def __post_init__(self) -> None:
        mode_code(self.distribution_mode)
        Region.parse(self.region)
        for name in (
            "scale",
            "bc_mazes",
            "bc_steps",
            "batch_size",
            "eval_mazes",
            "eval_max_steps",
            "dagger_max_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dagger_rounds", "dagger_mazes", "dagger_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def total_steps(self) -> int:
        return self.bc_steps + self.dagger_rounds * self.dagger_steps


@dataclass
class TrainState:
    """Progress saved in the resumable checkpoint."""

    phase: int = 0  # 0 = behaviour cloning, r = DAgger round r
    step: int = 0  # optimizer steps done
    history: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0


def movement_loss(
    model: HookedImpala, obs: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of the oracle movements and the accuracy of the argmax movement."""
    log_probs = model(obs).movement_log_probs
    loss = torch.nn.functional.nll_loss(log_probs, labels)
    accuracy = (log_probs.argmax(-1) == labels).float().mean()
    return loss, accuracy


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up over 200 steps, then cosine decay to 5% over the whole run."""
    warmup = min(200, cfg.total_steps // 10 + 1)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.total_steps - warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class Trainer:
    """Holds the model, optimizer, data and progress of one run; ``run()`` does the rest."""

    def __init__(
        self,
        cfg: TrainConfig,
        out: Path,
        progress: bool = True,
        device: str | torch.device = "cpu",
    ) -> None:
        # The device is not part of the config: a run may resume on another device (its
        # numbers then differ only by float rounding).
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        torch.manual_seed(cfg.seed)
        self.model = HookedImpala(ImpalaConfig.from_scale(cfg.scale)).to(device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.state = TrainState()
        self.samples = Samples.empty()
        self.renderer = MazeRenderer()
        self.batch_generator = torch.Generator().manual_seed(cfg.seed + 1)

    # --- data ------------------------------------------------------------------------

    def _training_mazes(self, first: int, count: int, salt: int) -> list:
        rng = np.random.default_rng([self.cfg.seed, salt])
        seeds = range(first, first + count)
        return [
            place_cheese(m, Region.parse(self.cfg.region), rng)
            for m in mazes_from_seeds(seeds, self.cfg.distribution_mode, self.renderer)
        ]

    def behaviour_cloning_samples(self) -> Samples:
        mazes = self._training_mazes(self.cfg.first_train_seed, self.cfg.bc_mazes, salt=0)
        rng = np.random.default_rng([self.cfg.seed, 1])
        with tqdm(
            total=len(mazes), desc="render BC data", unit="maze", disable=not self.progress
        ) as bar:
            return all_cell_samples(mazes, self.renderer, rng, progress=bar)

    def dagger_samples(self, round_: int) -> tuple[Samples, float]:
        """Samples at every cell the current policy visits on fresh mazes, and its success."""
        first = self.cfg.first_train_seed + self.cfg.bc_mazes + (round_ - 1) * self.cfg.dagger_mazes
        mazes = self._training_mazes(first, self.cfg.dagger_mazes, salt=100 + round_)
        self.model.eval()
        result = rollout(
            self.model,
            mazes,
            max_steps=self.cfg.dagger_max_steps,
            seed=self.cfg.seed * 1000 + round_,
            progress=self.progress,
        )
        rng = np.random.default_rng([self.cfg.seed, 200 + round_])
        parts = []
        for episode in result.episodes:
            cells = [c for c in episode.cells if c != episode.maze.cheese]
            if cells:
                flags = rng.integers(0, 2, size=len(cells)).astype(bool).tolist()
                parts.append(samples_for_maze(episode.maze, cells, flags, self.renderer))
        return concat(parts), result.success_rate

    # --- optimisation ----------------------------------------------------------------

    def train_steps(self, steps: int, desc: str) -> dict:
        model, n = self.model.train(), len(self.samples)
        losses, accuracies = [], []
        with tqdm(total=steps, desc=desc, unit="step", disable=not self.progress) as bar:
            for _ in range(steps):
                for group in self.optimizer.param_groups:
                    group["lr"] = learning_rate(self.cfg, self.state.step)
                idx = torch.randint(n, (self.cfg.batch_size,), generator=self.batch_generator)
                loss, accuracy = movement_loss(
                    model,
                    self.samples.obs[idx].to(model.device),
                    self.samples.labels[idx].to(model.device),
                )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                self.optimizer.step()
                self.state.step += 1
                losses.append(loss.item())
                accuracies.append(accuracy.item())
                if len(losses) % 50 == 0:
                    bar.set_postfix(
                        loss=f"{np.mean(losses[-50:]):.3f}",
                        acc=f"{np.mean(accuracies[-50:]):.3f}",
                        refresh=False,
                    )
                bar.update(1)
        model.eval()
        tail = max(1, min(200, steps // 4))  # first vs last quarter (at most 200 steps each)
        return {
            "loss_first": float(np.mean(losses[:tail])),
            "loss_last": float(np.mean(losses[-tail:])),
            "accuracy_last": float(np.mean(accuracies[-tail:])),
        }

    def quick_eval(self) -> dict:
        """Sampled-action success on held-out mazes with the cheese in the training region."""
        return {
            "heldout_success": success_in_region(
                self.model,
                self.cfg.distribution_mode,
                Region.parse(self.cfg.region),
                self.cfg.eval_mazes,
                max_steps=self.cfg.eval_max_steps,
                renderer=self.renderer,
                progress=self.progress,
            )
        }

    # --- checkpoints -----------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        payload = {
            "config": asdict(self.cfg),
            "state": asdict(self.state),
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "specs": torch.from_numpy(self.samples.specs),
            "batch_generator": self.batch_generator.get_state(),
        }
        write_atomically_with(self.checkpoint_path, lambda f: torch.save(payload, f))

    def load_checkpoint(self) -> None:
        path = self.checkpoint_path
        # A run killed mid-write cannot leave a broken file (it is written atomically), but a
        # disk error, a copy or another program's checkpoint.pt can: name it and the way out.
        fix = f"delete {path} to start afresh, or run without --resume"
        try:
            payload = load_weights_only(path)  # its errors omit torch's weights_only=False advice
        except CheckpointError as err:
            raise CheckpointError(f"{err}; {fix}") from None
        try:
            saved = TrainConfig(**payload["config"])
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise CheckpointError(
                f"{path}: not a training checkpoint of this version (no usable config: "
                f"{type(err).__name__}: {err}); {fix}"
            ) from None
        if saved != self.cfg:
            raise ValueError(
                f"{path} was written with a different config:\n  saved {saved}\n  now   {self.cfg}"
            )
        try:
            self.model.load_state_dict(payload["model_state_dict"])
            self.optimizer.load_state_dict(payload["optimizer_state_dict"])
            self.state = TrainState(**payload["state"])
            self.batch_generator.set_state(payload["batch_generator"])
            specs = payload["specs"].numpy()
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
            first_line = next(iter(str(err).strip().splitlines()), "")
            raise CheckpointError(
                f"{path}: a damaged training checkpoint ({type(err).__name__}: {first_line}); {fix}"
            ) from None
        if self.state.phase <= self.cfg.dagger_rounds:  # a finished run trains no more
            self.samples = samples_from_specs(specs, self.cfg.distribution_mode, self.renderer)

    # --- the run ---------------------------------------------------------------------

    def run(self, resume: bool = False) -> HookedImpala:
        self.out.mkdir(parents=True, exist_ok=True)
        if resume and self.checkpoint_path.exists():
            self.load_checkpoint()
            done = self.state.phase > self.cfg.dagger_rounds
            where = "training had finished" if done else f"{len(self.samples)} samples"
            print(
                f"resumed from {self.checkpoint_path}: phase {self.state.phase}, "
                f"step {self.state.step}, {where}",
                file=sys.stderr,
            )
        started = time.perf_counter() - self.state.wall_seconds
        for phase in range(self.state.phase, self.cfg.dagger_rounds + 1):
            record: dict = {"phase": phase}
            if phase == 0:
                self.samples = self.behaviour_cloning_samples()
                steps, desc = self.cfg.bc_steps, "behaviour cloning"
            else:
                new, success = self.dagger_samples(phase)
                self.samples = concat([self.samples, new])
                record.update(dagger_new_samples=len(new), dagger_rollout_success=success)
                steps, desc = self.cfg.dagger_steps, f"DAgger round {phase}"
            record["samples"] = len(self.samples)
            if steps:
                record.update(self.train_steps(steps, desc))
            record.update(self.quick_eval())
            record["step"] = self.state.step
            record["wall_seconds"] = round(time.perf_counter() - started, 1)
            self.state.history.append(record)
            self.state.phase = phase + 1
            self.state.wall_seconds = time.perf_counter() - started
            self.save_checkpoint()
            print(json.dumps(record), file=sys.stderr, flush=True)
        self.renderer.close()
        return self.model


def command_line() -> str:
    return " ".join(["python -m hooked_impala.train", *sys.argv[1:]]) if sys.argv else ""


def environment_facts() -> dict:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count()}


def write_model(model: HookedImpala, path: Path) -> tuple[Path, str]:
    """``model``'s weights written atomically to ``path`` as ``{"state_dict": ...}`` of CPU
    tensors (the original checkpoint format: ``load_pretrained`` reads it anywhere, whatever
    device trained it); the path and the file's sha256."""
    buffer = io.BytesIO()
    torch.save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, buffer)
    weights = buffer.getvalue()
    return write_atomically(path, weights), hashlib.sha256(weights).hexdigest()
